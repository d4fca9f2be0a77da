// The chat page of `bitflash serve` in headless Chromium (puppeteer-core): starts the server on a free loopback
// port with a tiny random model, sends messages by keyboard and button, watches the reply stream in, stops a
// long generation, clears, and feeds the page a canned stream to check reasoning and HTML escaping.
// Usage: node chat.mjs path/to/bitflash [SOURCE_DIR]   (BF_CHROMIUM: the browser, default /usr/bin/chromium)
// Exit code 0 = pass.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import puppeteer from 'puppeteer-core';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const [bin, srcDir = path.resolve(HERE, '../../..')] = process.argv.slice(2);
const chromium = process.env.BF_CHROMIUM || '/usr/bin/chromium';
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'bitflash_web_'));
const failures = [];
let server = null, browser = null;

function check(ok, what) {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
  if (!ok) failures.push(what);
}

async function cleanup() {
  if (browser) await browser.close().catch(() => {});
  if (server) server.kill('SIGTERM');
  fs.rmSync(work, { recursive: true, force: true });
}
const deadline = setTimeout(async () => {
  console.error('chat.mjs: FAIL (no end after 300 s)');
  await cleanup();
  process.exit(1);
}, 300_000);

// -np 1 and a long context: a generation that kept running after Stop would hold the only slot for minutes.
async function startServer() {
  const tok = path.join(work, 'tok'), gguf = path.join(work, 'tiny.gguf');
  execFileSync('node', [path.join(srcDir, 'tests/server/load/make_model.mjs'), tok, srcDir]);
  execFileSync(bin, ['convert', '--random', path.join(tok, 'config.json'), '--tokenizer-dir', tok, '-o', gguf, '-q']);
  server = spawn(bin, ['serve', '-m', gguf, '--host', '127.0.0.1', '--port', '0', '-np', '1', '-c', '65536', '-t', '1',
    '-a', 'tiny-web', '-v'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  server.stderr.on('data', (d) => { log += d; });
  for (let i = 0; i < 300; i++) {
    const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(log);
    if (m && /model loaded/.test(log)) return { base: m[1], log: () => log };
    if (server.exitCode !== null) throw new Error(`the server exited:\n${log}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`the server did not start:\n${log}`);
}

const state = (page) => page.$eval('body', (b) => b.dataset.state);
const text = (page, sel) => page.$$eval(sel, (els) => els.map((e) => e.textContent));
const waitIdle = (page, ms) => page.waitForFunction(() => document.body.dataset.state === 'idle', { timeout: ms });

async function setField(page, id, value) {
  await page.$eval(`#${id}`, (el, v) => { el.value = v; }, value);
}

async function main() {
  const { base, log } = await startServer();
  browser = await puppeteer.launch({ executablePath: chromium, headless: true, args: ['--no-sandbox'] });
  const page = await browser.newPage();
  const problems = [], foreign = [], chatBodies = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });
  page.on('request', (r) => {
    if (!r.url().startsWith(base + '/')) foreign.push(r.url());
    if (r.url().endsWith('/v1/chat/completions')) chatBodies.push(JSON.parse(r.postData()));
  });

  await page.goto(base + '/', { waitUntil: 'load' });
  await page.waitForFunction(() => document.getElementById('model').textContent !== '', { timeout: 10_000 });
  check((await text(page, '#model'))[0] === 'tiny-web', 'the page shows the model id from /v1/models');

  // 1. A message sent with Enter streams a greedy reply, the same text the API gives for the same request.
  await setField(page, 'temperature', '0');
  await setField(page, 'max_tokens', '48');
  await page.evaluate(() => {  // counts the separate text appends while generating
    window.appends = 0;
    window.counter = new MutationObserver(() => { if (document.body.dataset.state === 'generating') window.appends++; });
    window.counter.observe(document.getElementById('log'), { childList: true, subtree: true, characterData: true });
  });
  await page.focus('#input');
  await page.keyboard.type('Hello there');
  await page.keyboard.press('Enter');
  await waitIdle(page, 60_000);
  const [reply] = await text(page, '.msg.assistant .content');
  check(reply.length > 0, 'a reply appeared');
  check(await page.evaluate(() => { window.counter.disconnect(); return window.appends; }) >= 3,
    'the reply arrived in several streamed pieces');
  check(/^(Done|Stopped at the token limit): \d+ tokens/.test((await text(page, '#status'))[0]), 'the status tells the end');
  const direct = await (await fetch(base + '/v1/chat/completions', {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ ...chatBodies[0], stream: false }),
  })).json();
  check(direct.choices[0].message.content === reply, 'the page shows exactly the text the API returns');
  check(chatBodies[0].stream === true && chatBodies[0].temperature === 0 && chatBodies[0].max_tokens === 48 &&
    chatBodies[0].top_p === 0.95 && chatBodies[0].top_k === 40, 'the settings go into the request');

  // 2. The second turn (Send button) carries the conversation, with a system prompt from the settings.
  await setField(page, 'system', 'Be brief.');
  await page.type('#input', 'And again');
  await page.click('#send');
  await waitIdle(page, 60_000);
  const roles = chatBodies[1].messages.map((m) => m.role).join(',');
  check(roles === 'system,user,assistant,user', `the second request carries the conversation (${roles})`);
  check(chatBodies[1].messages[2].content === reply, 'the earlier reply is sent back as it was shown');

  // 3. Stop during a long generation (no token limit, end-of-text ignored): the request ends, the page is usable.
  await setField(page, 'max_tokens', '');
  await setField(page, 'temperature', '0.8');
  await page.setRequestInterception(true);
  const addIgnoreEos = (r) => {
    if (!r.url().endsWith('/v1/chat/completions')) return r.continue();
    r.continue({ postData: JSON.stringify({ ...JSON.parse(r.postData()), ignore_eos: true }) });
  };
  page.on('request', addIgnoreEos);
  const ended = () => (log().match(/POST \/v1\/chat\/completions -> /g) || []).length;
  const endedBefore = ended();
  await page.type('#input', 'Go on forever');
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => document.querySelectorAll('.msg.assistant .content')[2]?.textContent.length > 200,
    { timeout: 60_000 });
  check(await page.$eval('#stop', (b) => !b.disabled), 'Stop is enabled while generating');
  await page.click('#stop');
  await waitIdle(page, 5_000);
  check((await text(page, '#status'))[0] === 'Stopped.', 'the status says stopped');
  const stoppedLen = (await text(page, '.msg.assistant .content'))[2].length;
  await new Promise((r) => setTimeout(r, 1000));
  check((await text(page, '.msg.assistant .content'))[2].length === stoppedLen, 'no text arrives after Stop');
  for (let i = 0; i < 50 && ended() === endedBefore; i++) await new Promise((r) => setTimeout(r, 100));
  check(ended() === endedBefore + 1, 'the server saw the streaming request end');
  page.off('request', addIgnoreEos);
  await page.setRequestInterception(false);
  check(await page.$eval('#send', (b) => !b.disabled) && await page.$eval('#stop', (b) => b.disabled),
    'after Stop, Send is enabled and Stop disabled');
  // The single slot must be free again: a short request is answered long before the stopped one could end.
  await setField(page, 'max_tokens', '8');
  const t0 = Date.now();
  await page.type('#input', 'Short one');
  await page.keyboard.press('Enter');
  await waitIdle(page, 20_000);
  check((await text(page, '.msg.assistant .content')).length === 4 && /^(Done|Stopped at the token limit)/.test(
    (await text(page, '#status'))[0]), `a new message is answered after Stop (${Date.now() - t0} ms)`);
  const last = chatBodies[chatBodies.length - 1].messages;
  check(last.length === 8 && last[6].role === 'assistant' && last[6].content === (await text(page, '.msg.assistant .content'))[2],
    'the stopped partial reply stays in the conversation');

  // 4. Clear empties the conversation: the next request holds only the system prompt and the new message.
  await page.click('#clear');
  check((await page.$$('.msg')).length === 0, 'Clear empties the page');
  await page.type('#input', 'Fresh start');
  await page.keyboard.press('Enter');
  await waitIdle(page, 20_000);
  check(chatBodies[chatBodies.length - 1].messages.length === 2, 'after Clear the request starts a new conversation');

  // 5. A canned stream: reasoning goes into a closed <details>, HTML in model text stays text.
  const html = '<img src=x onerror="window.pwned=1"><b>bold</b> & done';
  const sse = [{ role: 'assistant', content: '' }, { reasoning_content: 'Let me <i>think</i>' },
    { reasoning_content: ' twice.' }, { content: html.slice(0, 20) }, { content: html.slice(20) }]
    .map((delta) => `data: ${JSON.stringify({ choices: [{ index: 0, delta, finish_reason: null }] })}\n\n`).join('') +
    `data: ${JSON.stringify({ choices: [{ index: 0, delta: {}, finish_reason: 'stop' }], timings: { predicted_n: 2 } })}\n\n` +
    'data: [DONE]\n\n';
  await page.setRequestInterception(true);
  page.on('request', (r) => r.url().endsWith('/v1/chat/completions')
    ? r.respond({ status: 200, contentType: 'text/event-stream', body: sse }) : r.continue());
  await page.click('#clear');
  await page.type('#input', 'Think first');
  await page.keyboard.press('Enter');
  await waitIdle(page, 10_000);
  check((await text(page, '.msg.assistant .reasoning-text'))[0] === 'Let me <i>think</i> twice.', 'reasoning is shown as text');
  check(await page.$eval('.msg.assistant details.reasoning', (d) => !d.open), 'the reasoning block starts collapsed');
  check((await text(page, '.msg.assistant .content'))[0] === html, 'the reply is shown literally');
  check((await page.$$('#log img, #log b, #log i')).length === 0 && !(await page.evaluate(() => window.pwned)),
    'no HTML from the model is rendered');

  check(problems.length === 0, `no script errors or policy violations (${problems.join('; ')})`);
  check(foreign.length === 0, `no request leaves the server's origin (${foreign.join(', ')})`);
}

try {
  await main();
} catch (e) {
  failures.push(String(e.stack || e));
  console.error(e);
}
clearTimeout(deadline);
await cleanup();
console.log(failures.length ? `chat.mjs: FAIL (${failures.length})` : 'chat.mjs: PASS');
process.exit(failures.length ? 1 : 0);
