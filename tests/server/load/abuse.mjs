// A barrage of malformed requests (raw TCP, so nothing is sanitized by a client library): bad JSON, wrong
// types, unknown routes and methods, huge headers, truncated and oversized bodies, invalid UTF-8. Each
// deterministic case must get its status code with a JSON error body; afterwards /health must still be 200.
// Usage: node abuse.mjs PORT [N]
import net from 'node:net';

const port = Number(process.argv[2]);
const N = Number(process.argv[3] || 1200);
const CONCURRENCY = 32;

// Sends raw bytes, returns {status, body} or {status: 'closed'} if the server closed without an answer.
function raw(payload, { endEarly = false } = {}) {
  return new Promise((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    const chunks = [];
    let settled = false;
    const done = () => {
      if (settled) return;
      settled = true;
      const text = Buffer.concat(chunks).toString('latin1');
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(text);
      const sep = text.indexOf('\r\n\r\n');
      resolve(m ? { status: Number(m[1]), body: sep >= 0 ? text.slice(sep + 4) : '' } : { status: 'closed', body: text });
    };
    sock.setTimeout(20_000, () => { sock.destroy(); done(); });
    sock.on('data', (d) => chunks.push(d));
    sock.on('error', done);
    sock.on('close', done);
    sock.on('connect', () => {
      sock.write(payload);
      if (endEarly) setTimeout(() => sock.destroy(), 50);
    });
  });
}

function req(method, path, body, extraHeaders = '') {
  const b = Buffer.isBuffer(body) ? body : Buffer.from(body ?? '', 'utf8');
  const head = `${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/json\r\n` +
    `Content-Length: ${b.length}\r\n${extraHeaders}\r\n`;
  return Buffer.concat([Buffer.from(head, 'latin1'), b]);
}

const chat = '/v1/chat/completions';
const okMsg = '[{"role":"user","content":"x"}]';
const cases = [
  // [name, payload, expected status (null: any answer or a close is fine), options]
  ...['{', '{"messages":', 'nul', '[1,2', '{"a":1}}', '\u0000', 'not json at all', '{"messages": [}', '""', '42', '[]'].map(
    (b) => ['bad json', req('POST', chat, b), 400]),
  ['bad json completions', req('POST', '/v1/completions', '{"prompt": "x",'), 400],
  ['messages string', req('POST', chat, '{"messages":"x"}'), 400],
  ['role number', req('POST', chat, '{"messages":[{"role":1,"content":"x"}]}'), 400],
  ['role unknown', req('POST', chat, '{"messages":[{"role":"wizard","content":"x"}]}'), 400],
  ['messages empty', req('POST', chat, '{"messages":[]}'), 400],
  ['messages missing', req('POST', chat, '{"model":"x"}'), 400],
  ['max_tokens string', req('POST', chat, `{"messages":${okMsg},"max_tokens":"5"}`), 400],
  ['max_tokens -5', req('POST', chat, `{"messages":${okMsg},"max_tokens":-5}`), 400],
  ['max_tokens 1.5', req('POST', chat, `{"messages":${okMsg},"max_tokens":1.5}`), 400],
  ['temperature string', req('POST', chat, `{"messages":${okMsg},"temperature":"hot"}`), 400],
  ['temperature nan-ish', req('POST', chat, `{"messages":${okMsg},"temperature":1e999}`), 400],
  ['top_p 7', req('POST', chat, `{"messages":${okMsg},"top_p":7}`), 400],
  ['stop number', req('POST', chat, `{"messages":${okMsg},"stop":5}`), 400],
  ['stream string', req('POST', chat, `{"messages":${okMsg},"stream":"yes"}`), 400],
  ['seed negative', req('POST', chat, `{"messages":${okMsg},"seed":-3}`), 400],
  ['n 3', req('POST', chat, `{"messages":${okMsg},"n":3}`), 400],
  ['unknown field', req('POST', chat, `{"messages":${okMsg},"logit_bias":{"1":5}}`), 400],
  ['unknown stream_options field', req('POST', chat, `{"messages":${okMsg},"stream_options":{"x":1}}`), 400],
  ['field of another endpoint', req('POST', '/tokenize', '{"content":"x","tokens":[1]}'), 400],
  ['empty body', req('POST', chat, ''), 400],
  ['no body, no length', Buffer.from(`POST ${chat} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`), 400],
  ['content object', req('POST', chat, '{"messages":[{"role":"user","content":{"a":1}}]}'), 400],
  ['prompt object', req('POST', '/v1/completions', '{"prompt":{}}'), 400],
  ['prompt too long', req('POST', '/v1/completions', JSON.stringify({ prompt: 'a'.repeat(5000) })), 400],
  ['tokenize number', req('POST', '/tokenize', '{"content":5}'), 400],
  ['detokenize strings', req('POST', '/detokenize', '{"tokens":["a"]}'), 400],
  ['detokenize out of range', req('POST', '/detokenize', '{"tokens":[-1, 99999999999]}'), 400],
  ['apply-template empty', req('POST', '/apply-template', '{}'), 400],
  ['invalid utf-8', req('POST', chat, Buffer.from([...Buffer.from('{"messages":[{"role":"user","content":"'), 0xc3, 0x28, 0xff, ...Buffer.from('"}]}')])), 400],
  ['unknown route', req('GET', '/nope', ''), 404],
  ['unknown route post', req('POST', '/v2/chat/completions', '{}'), 404],
  ['wrong method get', req('GET', chat, ''), 405],
  ['wrong method delete', req('DELETE', '/health', ''), 405],
  ['huge header', req('POST', chat, `{"messages":${okMsg}}`, `X-Big: ${'a'.repeat(64 * 1024)}\r\n`), null],
  ['many headers', req('GET', '/health', '', Array.from({ length: 200 }, (_, i) => `X-H${i}: ${'b'.repeat(100)}\r\n`).join('')), null],
  ['truncated body', Buffer.from(`POST ${chat} HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{"messages":[`), null, { endEarly: true }],
  ['truncated headers', Buffer.from(`POST ${chat} HTTP/1.1\r\nHost: x\r\nContent-Le`), null, { endEarly: true }],
  ['garbage request line', Buffer.from('GARBAGE\r\n\r\n'), null],
  ['bad content-length', Buffer.from(`POST ${chat} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: abc\r\n\r\n{}`), null],
  ['binary junk', Buffer.from(Array.from({ length: 300 }, (_, i) => (i * 37) & 255)), null],
];
const bigBody = req('POST', chat, 'x'.repeat(2 * 1024 * 1024));

const failures = [];
let sent = 0, statusSeen = {};
async function runCase(i) {
  const big = i % 100 === 99;  // a few oversized bodies: 413
  const [name, payload, expect, opts] = big ? ['oversized body', bigBody, 413, {}] : cases[i % cases.length];
  const r = await raw(payload, opts);
  sent++;
  statusSeen[r.status] = (statusSeen[r.status] || 0) + 1;
  if (expect === null) return;
  if (r.status !== expect) { failures.push(`${name}: got ${r.status}, want ${expect}`); return; }
  try {
    const j = JSON.parse(r.body);
    if (!j.error || j.error.code !== expect || typeof j.error.message !== 'string' || typeof j.error.type !== 'string')
      failures.push(`${name}: error body ${r.body.slice(0, 200)}`);
  } catch {
    failures.push(`${name}: body is not JSON: ${r.body.slice(0, 200)}`);
  }
}

const t0 = Date.now();
let next = 0;
await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
  while (next < N) await runCase(next++);
}));
const health = await raw(req('GET', '/health', ''));
const ok = await raw(req('POST', '/v1/completions', '{"prompt":"still alive","max_tokens":3}'));
if (health.status !== 200) failures.push(`/health after the barrage: ${health.status}`);
if (ok.status !== 200) failures.push(`a valid completion after the barrage: ${ok.status} ${ok.body.slice(0, 200)}`);
const secs = ((Date.now() - t0) / 1000).toFixed(1);
if (failures.length) {
  console.error(`abuse: ${failures.length} of ${sent} failed:\n  ` + failures.slice(0, 30).join('\n  '));
  process.exit(1);
}
console.log(`abuse: ${sent} malformed requests in ${secs} s, statuses ${JSON.stringify(statusSeen)}; server still healthy`);
