// Soak test of `bitflash serve` under faults (issue #19 item 3), loopback only, plain node (no npm deps).
// Starts the server, then for SECONDS runs a seeded mix of valid requests (chat and completions, streaming or
// not) and faulty clients: disconnects before the headers / mid-body / mid-stream, slow readers, trickled
// (slowloris) headers, bodies over --max-body, wrong API keys, and bursts beyond the queue. Every answer is
// parsed and checked; the server's RSS is sampled from /proc. At the end it sends SIGTERM while requests are
// in flight: they must finish, new ones must be refused, and the exit code must be 0.
// Usage: node soak.mjs BITFLASH MODEL SECONDS [SEED]     Prints a JSON summary; exit code 0 = every invariant held.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';

const [BIN, MODEL, SECONDS_ARG, SEED_ARG] = process.argv.slice(2);
const SECONDS = Number(SECONDS_ARG || 120);
const SLOTS = 4, QUEUE = 8, MAX_BODY = 65536, CTX = 2048, GRACE = 60;
const KEY = 'soak-key-0123456789abcdef';
const MAX_REQUESTS = 2_000_000;  // a bound besides the time
const REQUEST_TIMEOUT_MS = 120_000;  // only catches a hang, never a slow machine
if (!BIN || !MODEL || !(SECONDS > 0)) {
  console.error('usage: node soak.mjs BITFLASH MODEL SECONDS [SEED]');
  process.exit(2);
}

// Seeded choices (mulberry32), so a run's mix can be replayed.
let seed = Number(SEED_ARG || 12345) >>> 0;
function rand() {
  seed = (seed + 0x6d2b79f5) >>> 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const randInt = (lo, hi) => lo + Math.floor(rand() * (hi - lo + 1));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const outcomes = {};  // outcome name -> count
const problems = [];  // invariant violations (malformed answers, wrong codes, hangs, ...)
const latency = { nonstream: [], stream: [] };  // ms of complete 200 answers
const count = (k) => { outcomes[k] = (outcomes[k] || 0) + 1; };
const problem = (s) => { if (problems.length < 200) problems.push(s); count('problem'); };

// ---- the server ----
const server = spawn(BIN, ['serve', '-m', MODEL, '--host', '127.0.0.1', '--port', '0', '-np', String(SLOTS),
  '-c', String(CTX), '-t', '1', '--max-queue', String(QUEUE), '--max-body', String(MAX_BODY),
  '--api-key', KEY, '--shutdown-grace', String(GRACE), '-a', 'soak'], { stdio: ['ignore', 'ignore', 'pipe'] });
let log = '';
let exited = null;  // {code, signal}
let sigtermSent = false;
server.stderr.on('data', (d) => { log += d.toString(); if (log.length > 1 << 20) log = log.slice(-(1 << 19)); });
const exitPromise = new Promise((resolve) => server.on('exit', (code, signal) => {
  exited = { code, signal };
  if (!sigtermSent) problem(`the server exited during the soak: code ${code} signal ${signal}`);
  resolve(exited);
}));
let PORT = 0;
for (let i = 0; i < 600 && !PORT && !exited; i++) {
  const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(log);
  if (m) PORT = Number(m[1]); else await sleep(100);
}
if (!PORT) { console.error(`soak: the server did not start:\n${log}`); process.exit(1); }
for (let i = 0; i < 600; i++) {  // the model loads after the server listens
  if (/model loaded/.test(log)) break;
  await sleep(100);
}

function rssKb() {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${server.pid}/status`, 'utf8'));
    return m ? Number(m[1]) : null;
  } catch { return null; }
}
const rss = [];  // [seconds since start, kB]
const t0 = Date.now();
const sampleRss = () => { const v = rssKb(); if (v !== null) rss.push([(Date.now() - t0) / 1000, v]); };
sampleRss();
const rssTimer = setInterval(sampleRss, 2000);

// ---- checks of answers ----
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
const AUTH = { Authorization: `Bearer ${KEY}` };

function checkError(name, status, headers, body) {
  let j;
  try { j = JSON.parse(body); } catch { return problem(`${name}: ${status} body is not JSON: ${body.slice(0, 120)}`); }
  if (!j.error || j.error.code !== status || typeof j.error.message !== 'string' || typeof j.error.type !== 'string')
    problem(`${name}: ${status} error body ${body.slice(0, 160)}`);
  if (status === 503 && !(Number(headers['retry-after']) > 0)) problem(`${name}: 503 without Retry-After`);
}

function checkUsage(name, u, maxTokens) {
  if (!u || !(u.prompt_tokens > 0) || !(u.completion_tokens >= 0) || u.total_tokens !== u.prompt_tokens + u.completion_tokens)
    return problem(`${name}: usage ${JSON.stringify(u)}`);
  if (u.completion_tokens > maxTokens) problem(`${name}: ${u.completion_tokens} tokens > max_tokens ${maxTokens}`);
}

function checkCompletion(name, chat, body, maxTokens) {
  let j;
  try { j = JSON.parse(body); } catch { return problem(`${name}: 200 body is not JSON: ${body.slice(0, 120)}`); }
  if (j.object !== (chat ? 'chat.completion' : 'text_completion') || !Array.isArray(j.choices) || j.choices.length !== 1)
    return problem(`${name}: shape ${body.slice(0, 160)}`);
  const c = j.choices[0];
  if (chat ? (c.message?.role !== 'assistant' || typeof c.message.content !== 'string') : typeof c.text !== 'string')
    problem(`${name}: choice ${JSON.stringify(c).slice(0, 160)}`);
  if (c.finish_reason !== 'stop' && c.finish_reason !== 'length') problem(`${name}: finish_reason ${c.finish_reason}`);
  checkUsage(name, j.usage, maxTokens);
}

// Checks a complete SSE body: framing, one id, the first chat delta's role, one finish_reason, usage, [DONE] last.
function checkStream(name, chat, body, maxTokens) {
  const events = body.split('\n\n');
  if (events.pop() !== '') return problem(`${name}: stream does not end with a blank line`);
  if (events[events.length - 1] !== 'data: [DONE]') return problem(`${name}: stream does not end with [DONE]`);
  let id = null, finish = null, usage = null;
  for (let i = 0; i < events.length - 1; i++) {
    if (!events[i].startsWith('data: ')) return problem(`${name}: event ${i} ${events[i].slice(0, 80)}`);
    let j;
    try { j = JSON.parse(events[i].slice(6)); } catch { return problem(`${name}: event ${i} is not JSON`); }
    if (j.error) return problem(`${name}: error event ${JSON.stringify(j.error)}`);
    if (j.object !== (chat ? 'chat.completion.chunk' : 'text_completion')) return problem(`${name}: object ${j.object}`);
    if (id === null) id = j.id; else if (j.id !== id) problem(`${name}: the id changed`);
    if (j.usage) { usage = j.usage; continue; }
    if (j.choices?.length !== 1) return problem(`${name}: ${j.choices?.length} choices`);
    const c = j.choices[0];
    if (chat && i === 0 && c.delta?.role !== 'assistant') problem(`${name}: first delta without the assistant role`);
    if (finish !== null) problem(`${name}: a chunk after finish_reason`);
    if (c.finish_reason) finish = c.finish_reason;
  }
  if (finish !== 'stop' && finish !== 'length') problem(`${name}: finish_reason ${finish}`);
  checkUsage(name, usage, maxTokens);
}

// One request through node's HTTP parser (a malformed status line or framing is an error here). A request sent
// on a reused keep-alive socket just as the server closes it (its 5 s idle timeout) fails with ECONNRESET
// before any answer: the HTTP keep-alive race, which Node documents (`req.reusedSocket`) as safe to retry once.
async function request(method, path, opts = {}) {
  const r = await request1(method, path, opts);
  if (!r.raceOnReusedSocket) return r;
  count('keep-alive race (retried)');
  return request1(method, path, opts);
}
function request1(method, path, { headers = {}, body = null, timeout = REQUEST_TIMEOUT_MS, onResponse = null } = {}) {
  return new Promise((resolve) => {
    const buf = body === null ? null : Buffer.isBuffer(body) ? body : Buffer.from(body);
    const req = http.request({ host: '127.0.0.1', port: PORT, method, path, agent,
      headers: { 'Content-Type': 'application/json', ...(buf ? { 'Content-Length': buf.length } : {}), ...headers } });
    const timer = setTimeout(() => { req.destroy(new Error('timeout')); }, timeout);
    req.on('response', (res) => {
      if (onResponse && onResponse(req, res)) { clearTimeout(timer); return resolve({ status: res.statusCode, aborted: true }); }
      const chunks = [];
      res.on('data', (d) => chunks.push(d));
      res.on('end', () => { clearTimeout(timer); resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }); });
      res.on('error', (e) => { clearTimeout(timer); resolve({ error: e.message }); });
    });
    let answered = false;
    req.on('response', () => { answered = true; });
    req.on('error', (e) => {
      clearTimeout(timer);
      resolve({ error: e.message, raceOnReusedSocket: !answered && req.reusedSocket && e.code === 'ECONNRESET' });
    });
    if (buf) req.write(buf);
    req.end();
  });
}

const words = ['alpha', 'beta', 'gamma', 'delta', 'soak', 'server', 'token', 'stream', 'queue', 'slot'];
const text = (n) => Array.from({ length: n }, () => words[randInt(0, words.length - 1)]).join(' ');
function genBody(chat, stream, maxTokens, extra = {}) {
  const b = chat ? { messages: [{ role: 'system', content: 'Soak.' }, { role: 'user', content: text(randInt(1, 40)) }] }
    : { prompt: text(randInt(1, 40)) };
  Object.assign(b, { max_tokens: maxTokens, temperature: rand() < 0.3 ? 0 : 0.9, seed: randInt(0, 1e6), stream, ...extra });
  if (stream) b.stream_options = { include_usage: true };
  return JSON.stringify(b);
}

// A valid generation request; 503 (queue full) is a legal answer.
async function valid(chat, stream, maxTokens = randInt(1, 48), extra = {}, onHeaders = null) {
  const name = `${chat ? 'chat' : 'completion'}${stream ? ' stream' : ''}`;
  const start = Date.now();
  const r = await request('POST', chat ? '/v1/chat/completions' : '/v1/completions',
    { headers: AUTH, body: genBody(chat, stream, maxTokens, extra), onResponse: onHeaders && (() => { onHeaders(); return false; }) });
  if (r.error) return problem(`${name}: ${r.error}`);
  if (r.status === 503) { checkError(name, 503, r.headers, r.body); return count('503 queue full'); }
  if (r.status !== 200) { checkError(name, r.status, r.headers, r.body); return problem(`${name}: status ${r.status}`); }
  if (stream) checkStream(name, chat, r.body, maxTokens); else checkCompletion(name, chat, r.body, maxTokens);
  latency[stream ? 'stream' : 'nonstream'].push(Date.now() - start);
  count(stream ? '200 stream' : '200');
}

// Raw TCP for clients that misbehave below HTTP. Resolves with what the server sent, when it closes or `ms` pass.
function raw(chunksAndDelays, { closeAfterMs = null, timeout = REQUEST_TIMEOUT_MS } = {}) {
  return new Promise((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port: PORT });
    const got = [];
    let done = false;
    const finish = (how) => { if (done) return; done = true; sock.destroy(); resolve({ how, text: Buffer.concat(got).toString('latin1') }); };
    sock.setTimeout(timeout, () => finish('timeout'));
    sock.on('data', (d) => got.push(d));
    sock.on('error', (e) => finish(`error ${e.code}`));
    sock.on('close', () => finish('closed'));
    sock.on('connect', async () => {
      for (const part of chunksAndDelays) {
        if (done) return;
        if (typeof part === 'number') await sleep(part); else sock.write(part);
      }
      if (closeAfterMs !== null) setTimeout(() => finish('client closed'), closeAfterMs);
    });
  });
}
const headOf = (path, len, extra = '') => `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${KEY}\r\n` +
  `Content-Type: application/json\r\nContent-Length: ${len}\r\n${extra}\r\n`;
const statusOf = (t) => { const m = /^HTTP\/1\.[01] (\d{3}) /.exec(t); return m ? Number(m[1]) : null; };

async function disconnectBeforeHeaders() {
  const body = genBody(true, rand() < 0.5, 16);
  const head = headOf('/v1/chat/completions', Buffer.byteLength(body));
  await raw([head.slice(0, randInt(0, head.length - 1))], { closeAfterMs: randInt(0, 50) });
  count('client left before the headers');
}

async function disconnectMidBody() {
  const body = genBody(true, rand() < 0.5, 16);
  await raw([headOf('/v1/chat/completions', Buffer.byteLength(body)) + body.slice(0, randInt(0, body.length - 1))],
    { closeAfterMs: randInt(0, 50) });
  count('client left mid-body');
}

async function disconnectMidStream() {
  const body = genBody(rand() < 0.5, true, 200, { ignore_eos: true });
  const path = body.includes('"messages"') ? '/v1/chat/completions' : '/v1/completions';
  const wantEvents = randInt(1, 20);
  const r = await request('POST', path, { headers: AUTH, body, onResponse: (req, res) => {
    if (res.statusCode !== 200) return false;
    let events = 0;
    res.on('data', (d) => { events += d.toString().split('\n\n').length - 1; if (events >= wantEvents) req.destroy(); });
    res.on('error', () => {});
    return true;
  } });
  if (r.error) return problem(`mid-stream: ${r.error}`);
  if (r.status === 200) return count('client left mid-stream');
  if (r.status !== 503) problem(`mid-stream: status ${r.status}`);
  else count('503 queue full');
}

// A reader that stops reading for a while, then reads the rest: the stream must still be complete and valid.
async function slowReader() {
  const maxTokens = randInt(32, 128);
  const chat = rand() < 0.5;
  const body = genBody(chat, true, maxTokens, { ignore_eos: true });
  const start = Date.now();
  const r = await new Promise((resolve) => {
    request('POST', chat ? '/v1/chat/completions' : '/v1/completions', { headers: AUTH, body, onResponse: (req, res) => {
      if (res.statusCode !== 200) return false;
      const chunks = [];
      res.pause();
      setTimeout(() => res.resume(), randInt(500, 3000));
      res.on('data', (d) => { chunks.push(d); res.pause(); setTimeout(() => res.resume(), randInt(0, 30)); });
      res.on('end', () => resolve({ status: 200, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', (e) => resolve({ error: e.message }));
      return true;
    } }).then((x) => { if (!x.aborted) resolve(x); });
  });
  if (r.error) return problem(`slow reader: ${r.error}`);
  if (r.status === 503) return count('503 queue full');
  if (r.status !== 200) return problem(`slow reader: status ${r.status}`);
  checkStream('slow reader', chat, r.body, maxTokens);
  latency.stream.push(Date.now() - start);
  count('slow reader complete');
}

// Headers trickled a few bytes at a time (slowloris); half of them complete the request, half give up.
async function slowloris() {
  const complete = rand() < 0.5;
  const req = `GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: ${'p'.repeat(randInt(10, 200))}\r\nConnection: close\r\n\r\n`;
  const parts = [];
  const end = complete ? req.length : randInt(1, req.length - 1);
  for (let i = 0; i < end; i += 3) parts.push(req.slice(i, Math.min(i + 3, end)), randInt(20, 150));
  const r = await raw(parts, complete ? {} : { closeAfterMs: 0 });
  if (!complete) return count('slowloris gave up');
  if (statusOf(r.text) !== 200 || !r.text.endsWith('{"status":"ok"}')) return problem(`slowloris: ${r.how} ${r.text.slice(0, 120)}`);
  count('slowloris complete');
}

async function oversized() {
  const n = MAX_BODY + randInt(1, 4 * MAX_BODY);
  const r = await raw([headOf('/v1/chat/completions', n, 'Connection: close\r\n') + 'x'.repeat(n)]);
  const st = statusOf(r.text);
  if (st === null && /ECONNRESET|EPIPE/.test(r.how)) return count('413 sent, connection reset before it was read');
  if (st !== 413) return problem(`oversized: ${r.how} ${r.text.slice(0, 120)}`);
  const sep = r.text.indexOf('\r\n\r\n');
  checkError('oversized', 413, {}, r.text.slice(sep + 4));
  count('413 body too large');
}

async function wrongKey() {
  const variants = [{ Authorization: `Bearer ${KEY.slice(0, -1)}x` }, { Authorization: `Bearer ${KEY}x` },
    { Authorization: 'Bearer ' }, {}, { 'X-Api-Key': KEY.slice(1) }, { Authorization: KEY }];
  const h = variants[randInt(0, variants.length - 1)];
  const r = await request('POST', '/v1/chat/completions', { headers: h, body: genBody(true, false, 4) });
  if (r.error) return problem(`wrong key: ${r.error}`);
  if (r.status !== 401) return problem(`wrong key ${JSON.stringify(h)}: status ${r.status}`);
  checkError('wrong key', 401, r.headers, r.body);
  count('401 wrong key');
}

// More requests at once than slots + queue: the excess must get 503 with Retry-After, the rest 200.
let burst503 = 0;
async function burst() {
  const n = 3 * (SLOTS + QUEUE);
  const before = outcomes['503 queue full'] || 0;
  await Promise.all(Array.from({ length: n }, () => valid(rand() < 0.5, false, 400, { ignore_eos: true })));
  burst503 += (outcomes['503 queue full'] || 0) - before;
  count('burst');
}

const scenarios = [
  [30, () => valid(true, false)], [30, () => valid(true, true)], [10, () => valid(false, false)], [10, () => valid(false, true)],
  [6, disconnectBeforeHeaders], [6, disconnectMidBody], [8, disconnectMidStream], [3, slowReader], [3, slowloris],
  [4, oversized], [6, wrongKey],
];
const totalWeight = scenarios.reduce((a, [w]) => a + w, 0);
function pick() {
  let x = rand() * totalWeight;
  for (const [w, f] of scenarios) if ((x -= w) < 0) return f;
  return scenarios[0][1];
}

// ---- the soak ----
const endAt = t0 + SECONDS * 1000;
let started = 0;
const WORKERS = 8;
const workers = Array.from({ length: WORKERS }, async () => {
  while (Date.now() < endAt && started < MAX_REQUESTS && !exited) { started++; await pick()(); }
});
const bursts = (async () => {
  while (Date.now() + 10_000 < endAt && !exited) { await sleep(randInt(5_000, 15_000)); started += 3 * (SLOTS + QUEUE); await burst(); }
})();
const health = (async () => {
  while (Date.now() < endAt && !exited) {
    const r = await request('GET', '/health');
    if (r.status !== 200) problem(`/health: ${r.status ?? r.error}`);
    await sleep(1000);
  }
})();
await Promise.all([...workers, bursts, health]);
const soakSeconds = (Date.now() - t0) / 1000;

// Every slot must be free again once the load stops (disconnected clients' slots were released).
let idle = false;
for (let i = 0; i < 300 && !idle && !exited; i++) {
  const r = await request('GET', '/slots', { headers: AUTH });
  try { idle = r.status === 200 && JSON.parse(r.body).every((s) => !s.is_processing); } catch { problem('/slots body'); break; }
  if (!idle) await sleep(100);
}
if (!idle) problem('slots still busy after the load stopped');
sampleRss();
const rssEnd = rss[rss.length - 1][1];

// ---- SIGTERM under load ----
// In flight: a full set of slots streaming long answers plus non-streaming ones waiting in the queue. A
// stream's headers come once the scheduler has accepted it; 1500 tokens each are still running at the signal.
const inflight = [];
let streaming = 0;
for (let i = 0; i < SLOTS; i++) inflight.push(valid(i % 2 === 0, true, 1500, { ignore_eos: true }, () => streaming++));
for (let i = 0; i < 2; i++) inflight.push(valid(true, false, 200, { ignore_eos: true }));
for (let i = 0; i < 6000 && streaming < SLOTS; i++) await sleep(10);
await sleep(50);  // the two non-streaming requests were sent with them
const before = { ...outcomes };
sigtermSent = true;
const termAt = Date.now();
server.kill('SIGTERM');
for (let i = 0; i < 100 && !/shutting down/.test(log); i++) await sleep(20);
const atSignal = Number(/(\d+) running or queued/.exec(log)?.[1] ?? -1);
if (atSignal < 1) problem(`the server reported ${atSignal} requests running or queued at SIGTERM`);
// New requests after the server logged the shutdown: refused, reset, or 503 — never served.
const after = { refused: 0, '503': 0 };
while (!exited && Date.now() - termAt < 5_000) {
  const r = await request('POST', '/v1/chat/completions', { headers: { ...AUTH, Connection: 'close' }, body: genBody(true, false, 4), timeout: 10_000 });
  if (r.status === 503) { checkError('after SIGTERM', 503, r.headers, r.body); after['503']++; }
  else if (r.error && /ECONNREFUSED|ECONNRESET|socket hang up/.test(r.error)) after.refused++;
  else if (!exited) problem(`a request after SIGTERM got ${r.status ?? r.error}`);
  await sleep(50);
}
await Promise.all(inflight);
const inflightOk = ['200', '200 stream'].reduce((a, k) => a + (outcomes[k] || 0) - (before[k] || 0), 0);
if (inflightOk !== inflight.length) problem(`${inflightOk} of ${inflight.length} in-flight requests finished after SIGTERM`);
const killTimer = setTimeout(() => { problem('the server did not exit within the grace period'); server.kill('SIGKILL'); }, (GRACE + 40) * 1000);
const ex = await exitPromise;
clearTimeout(killTimer);
clearInterval(rssTimer);
const exitSeconds = (Date.now() - termAt) / 1000;
if (ex.code !== 0) problem(`exit code ${ex.code} signal ${ex.signal} after SIGTERM`);
if (/AddressSanitizer|runtime error:|LeakSanitizer/.test(log)) problem('a sanitizer report in the server log');
agent.destroy();

// ---- summary and invariants ----
const pct = (a, p) => { if (!a.length) return null; const s = [...a].sort((x, y) => x - y); return s[Math.min(s.length - 1, Math.floor(p * s.length))]; };
const all = [...latency.nonstream, ...latency.stream];
const warm = rss.find(([t]) => t >= Math.min(30, SECONDS * 0.25)) ?? rss[0];
const rssMax = Math.max(...rss.map(([, v]) => v));
// Leak check: the RSS once warm (slots allocated, thread pool grown) against the end; generous for allocator noise.
if (rssEnd > warm[1] * 1.25 + 32 * 1024) problem(`RSS grew from ${warm[1]} kB (warm) to ${rssEnd} kB`);
if (burst503 === 0 && (outcomes.burst || 0) >= 3) problem('no burst got a 503: the queue limit was never reached');
const served = (outcomes['200'] || 0) + (outcomes['200 stream'] || 0) + (outcomes['slow reader complete'] || 0);
if (served === 0) problem('nothing was served');
const summary = {
  seconds: Math.round(soakSeconds), seed: Number(SEED_ARG || 12345), requests_started: started, outcomes,
  latency_ms: { p50: pct(all, 0.5), p99: pct(all, 0.99), nonstream_p50: pct(latency.nonstream, 0.5), nonstream_p99: pct(latency.nonstream, 0.99),
    stream_p50: pct(latency.stream, 0.5), stream_p99: pct(latency.stream, 0.99) },
  rss_kb: { start: rss[0][1], warm: warm[1], max: rssMax, end: rssEnd, samples: rss.length },
  sigterm: { in_flight: inflight.length, server_reported_open: atSignal, finished: inflightOk, refused_after: after.refused, '503_after': after['503'],
    exit_code: ex.code, exit_signal: ex.signal, exit_seconds: Number(exitSeconds.toFixed(1)) },
  burst_503: burst503, problems: problems.length,
};
console.log(JSON.stringify(summary, null, 1));
if (problems.length) {
  console.error(`soak: FAIL, ${problems.length} problems:\n  ${problems.slice(0, 40).join('\n  ')}\nserver log tail:\n${log.slice(-2000)}`);
  process.exit(1);
}
console.log('soak: PASS');
