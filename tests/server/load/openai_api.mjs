// The API features of `bitflash serve` through the official `openai` client, on a random tiny model (issue #17
// items 1, 2, 4, 5): tool calls forced by the grammar (whole and streamed) whose arguments validate against
// their schema (ajv), sent back with tool results for a final answer; response_format json_schema; /metrics;
// /slots save, erase and restore (plain fetch: the client has no method for them); logprobs shapes.
// Usage: node openai_api.mjs BASE_URL (http://HOST:PORT/v1; the server needs --slot-save-path). Exit 0 = pass.
import OpenAI from 'openai';
import Ajv from 'ajv';

const baseURL = process.argv[2];
const root = baseURL.replace(/\/v1\/?$/, '');
const client = new OpenAI({ baseURL, apiKey: 'unused', maxRetries: 0, timeout: 120_000 });
const ajv = new Ajv({ strict: true });
const problems = [];
const check = (ok, msg) => { if (!ok) problems.push(msg); };

const tools = [
  { type: 'function', function: { name: 'get_weather', description: 'Current weather in a city', parameters: {
    type: 'object', additionalProperties: false, required: ['city', 'unit'], properties: {
      city: { type: 'string', maxLength: 16 }, unit: { enum: ['celsius', 'fahrenheit'] }, days: { type: 'integer' } } } } },
  { type: 'function', function: { name: 'get_time', description: 'Current time in a time zone', parameters: {
    type: 'object', additionalProperties: false, required: ['zone'], properties: { zone: { type: 'string', maxLength: 8 } } } } },
];
const validators = Object.fromEntries(tools.map((t) => [t.function.name, ajv.compile(t.function.parameters)]));

function checkCalls(where, calls, onlyName) {
  check(Array.isArray(calls) && calls.length >= 1, `${where}: no tool_calls`);
  const ids = new Set();
  for (const c of calls ?? []) {
    check(typeof c.id === 'string' && c.id.startsWith('call_') && !ids.has(c.id), `${where}: bad or repeated id ${c.id}`);
    ids.add(c.id);
    check(c.type === 'function', `${where}: type ${c.type}`);
    const validate = validators[c.function?.name];
    check(validate && (!onlyName || c.function.name === onlyName), `${where}: called '${c.function?.name}'`);
    let args;
    try { args = JSON.parse(c.function.arguments); } catch (e) { problems.push(`${where}: arguments not JSON: ${c.function.arguments}`); continue; }
    if (validate && !validate(args)) problems.push(`${where}: arguments ${c.function.arguments} fail the schema: ${ajv.errorsText(validate.errors)}`);
  }
}

// Required call -> tool results sent back -> a final answer that is text.
async function toolRoundTrip(stream) {
  const where = stream ? 'tools (stream)' : 'tools';
  const messages = [{ role: 'system', content: 'You answer with tools.' }, { role: 'user', content: `Weather in Oslo? (${where})` }];
  // Every call is bounded by its schema (maxLength, enum, no extra properties), but a random model may go on
  // adding calls: the streamed case asks for one, and max_tokens leaves room for several (byte-level tokens).
  const req = { model: 'tiny', messages, tools, tool_choice: 'required', max_tokens: 1500, temperature: 0.9, seed: stream ? 7 : 8,
    ...(stream ? { parallel_tool_calls: false } : {}) };
  let message, finish, first;
  if (stream) {
    // The SDK's stream helper assembles the `delta.tool_calls` pieces by index, as it does for OpenAI's.
    const runner = client.beta.chat.completions.stream(req);
    let chunks = 0;
    runner.on('chunk', () => { chunks++; });
    const final = await runner.finalChatCompletion();
    check(chunks > 1, `${where}: ${chunks} chunks`);
    message = final.choices[0].message;
    finish = final.choices[0].finish_reason;
  } else {
    first = await client.chat.completions.create(req);
    message = first.choices[0].message;
    finish = first.choices[0].finish_reason;
  }
  check(finish === 'tool_calls', `${where}: finish_reason ${finish}`);
  checkCalls(where, message.tool_calls);
  messages.push({ role: 'assistant', content: message.content ?? null, tool_calls: message.tool_calls });
  for (const c of message.tool_calls ?? [])
    messages.push({ role: 'tool', tool_call_id: c.id, content: JSON.stringify({ result: `${c.function.name} done` }) });
  const r = await client.chat.completions.create({ model: 'tiny', messages, tools, max_tokens: 12, temperature: 0 });
  check(['stop', 'length'].includes(r.choices[0].finish_reason), `${where}: final finish_reason ${r.choices[0].finish_reason}`);
  check(typeof r.choices[0].message.content === 'string' && !r.choices[0].message.tool_calls, `${where}: final answer not text`);
  // The history re-renders the first prompt unchanged, so its checkpoint is reused.
  if (first) check(r.timings?.cache_n >= first.usage.prompt_tokens, `${where}: cache_n ${r.timings?.cache_n} < ${first.usage.prompt_tokens}`);
}

async function namedCall() {
  const r = await client.chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'Time?' }], tools,
    tool_choice: { type: 'function', function: { name: 'get_time' } }, parallel_tool_calls: false, max_tokens: 200, temperature: 1, seed: 5 });
  check(r.choices[0].message.tool_calls?.length === 1, `named: ${r.choices[0].message.tool_calls?.length} calls`);
  checkCalls('named', r.choices[0].message.tool_calls, 'get_time');
}

async function refusals() {
  for (const [body, text] of [[{ tools: [{ type: 'retrieval' }] }, 'tools[0].type'],
    [{ tools, tool_choice: { type: 'function', function: { name: 'nope' } } }, 'lacks'],
    [{ tools, parallel_tool_calls: false }, 'parallel_tool_calls']]) {
    try {
      await client.chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'x' }], max_tokens: 2, ...body });
      problems.push(`refusal: ${text} was accepted`);
    } catch (e) {
      check(e.status === 400 && String(e.message).includes(text), `refusal: ${e.status} ${e.message}`);
    }
  }
}

async function jsonSchema() {
  const schema = { type: 'object', additionalProperties: false, required: ['name', 'age'], properties: {
    name: { type: 'string', maxLength: 10 }, age: { type: 'integer' }, tags: { type: 'array', maxItems: 3, items: { enum: ['a', 'b'] } } } };
  const validate = ajv.compile(schema);
  for (const seed of [1, 2, 3]) {
    const r = await client.chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'A person, please.' }],
      response_format: { type: 'json_schema', json_schema: { name: 'person', strict: true, schema } }, max_tokens: 300, temperature: 0.9, seed });
    const text = r.choices[0].message.content;
    check(r.choices[0].finish_reason === 'stop', `json_schema ${seed}: finish_reason ${r.choices[0].finish_reason}`);
    let v;
    try { v = JSON.parse(text); } catch (e) { problems.push(`json_schema ${seed}: not JSON: ${text}`); continue; }
    if (!validate(v)) problems.push(`json_schema ${seed}: ${text} fails: ${ajv.errorsText(validate.errors)}`);
  }
}

async function scrape() {
  const r = await fetch(`${root}/metrics`);
  check(r.status === 200 && (r.headers.get('content-type') ?? '').startsWith('text/plain'), `metrics: ${r.status} ${r.headers.get('content-type')}`);
  const values = {};
  for (const line of (await r.text()).split('\n')) {
    if (line === '' || line.startsWith('# HELP ') || line.startsWith('# TYPE ')) continue;
    const m = line.match(/^(bitflash:[a-z_]+(?:\{code="\d+"\})?) (-?[0-9.e+]+)$/);
    if (!m) { problems.push(`metrics: bad line '${line}'`); continue; }
    values[m[1]] = Number(m[2]);
  }
  return values;
}

async function metrics() {
  const before = await scrape();
  await client.chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'count me' }], max_tokens: 3, temperature: 0 });
  const after = await scrape();
  for (const k of ['bitflash:requests_finished_total', 'bitflash:tokens_predicted_total', 'bitflash:prompt_tokens_total'])
    check(after[k] > (before[k] ?? 0), `metrics: ${k} ${before[k]} -> ${after[k]}`);
  check(after['bitflash:http_requests_total{code="400"}'] >= 3, 'metrics: the refusals are not counted as 400s');
  check(after['bitflash:slots'] === 4 && after['bitflash:requests_processing'] >= 0, 'metrics: slots');
}

async function post(path, body) {
  const r = await fetch(`${root}${path}`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  return { status: r.status, json: await r.json() };
}

async function slots() {
  // max_tokens 1: the slot's state then holds exactly the prompt (the last token is returned, not fed).
  const messages = [{ role: 'system', content: 'Slot test. '.repeat(30) }, { role: 'user', content: 'Remember this.' }];
  const r1 = await client.chat.completions.create({ model: 'tiny', messages, max_tokens: 1, temperature: 0 });
  const n = r1.usage.prompt_tokens;
  const list = await (await fetch(`${root}/slots`)).json();
  const slot = list.find((s) => s.n_past === n);
  if (!slot) { problems.push(`slots: no slot with n_past ${n}: ${JSON.stringify(list)}`); return; }
  const saved = await post(`/slots/${slot.id}?action=save`, { filename: 'openai-api.bin' });
  check(saved.status === 200 && saved.json.n_saved === n && saved.json.n_written > 0, `slots save: ${JSON.stringify(saved)}`);
  const erased = await post(`/slots/${slot.id}?action=erase`, {});
  check(erased.status === 200 && erased.json.n_erased === n, `slots erase: ${JSON.stringify(erased)}`);
  check((await (await fetch(`${root}/slots`)).json())[slot.id].n_past === 0, 'slots: erased slot still has state');
  const restored = await post(`/slots/${slot.id}?action=restore`, { filename: 'openai-api.bin' });
  check(restored.status === 200 && restored.json.n_restored === n, `slots restore: ${JSON.stringify(restored)}`);
  const missing = await post(`/slots/${slot.id}?action=restore`, { filename: 'missing.bin' });
  check(missing.status === 404 && missing.json.error, `slots restore of a missing file: ${missing.status}`);
  const badName = await post(`/slots/${slot.id}?action=save`, { filename: '../x' });
  check(badName.status === 400, `slots save with a bad name: ${badName.status}`);
  // The restored state serves the next turn: only the new part is prefilled.
  messages.push({ role: 'assistant', content: r1.choices[0].message.content ?? '' }, { role: 'user', content: 'And now?' });
  const r2 = await client.chat.completions.create({ model: 'tiny', messages, max_tokens: 2, temperature: 0 });
  check(r2.timings?.cache_n >= n, `slots: after restore cache_n ${r2.timings?.cache_n} < ${n}`);
}

function checkTop(where, e, k) {
  check(typeof e.token === 'string' && e.logprob <= 0 && Array.isArray(e.bytes) && e.bytes.every((b) => Number.isInteger(b) && b >= 0 && b < 256), `${where}: entry ${JSON.stringify(e)}`);
  if (k === undefined) return;
  check(e.top_logprobs?.length === k, `${where}: ${e.top_logprobs?.length} top_logprobs`);
  for (let i = 1; i < (e.top_logprobs?.length ?? 0); i++) check(e.top_logprobs[i - 1].logprob >= e.top_logprobs[i].logprob, `${where}: top_logprobs not sorted`);
  for (const t of e.top_logprobs ?? []) checkTop(where, t);
}

async function logprobs() {
  const req = { model: 'tiny', messages: [{ role: 'user', content: 'logprobs' }], max_tokens: 6, temperature: 0, logprobs: true, top_logprobs: 2, ignore_eos: true };
  const r = await client.chat.completions.create(req);
  const content = r.choices[0].logprobs?.content ?? [];
  check(content.length === r.usage.completion_tokens, `logprobs: ${content.length} entries for ${r.usage.completion_tokens} tokens`);
  content.forEach((e) => checkTop('logprobs', e, 2));
  const streamed = [];
  for await (const chunk of await client.chat.completions.create({ ...req, stream: true }))
    streamed.push(...(chunk.choices[0]?.logprobs?.content ?? []));
  check(JSON.stringify(streamed) === JSON.stringify(content), 'logprobs: the stream differs from the whole response');
  const t = await client.completions.create({ model: 'tiny', prompt: 'Hello', max_tokens: 5, temperature: 0, logprobs: 2, ignore_eos: true });
  const lp = t.choices[0].logprobs;
  check(lp && [lp.tokens, lp.token_logprobs, lp.top_logprobs, lp.text_offset].every((a) => a.length === 5), `completions logprobs: ${JSON.stringify(lp)}`);
  check(lp?.top_logprobs.every((o) => Object.keys(o).length >= 1 && Object.keys(o).length <= 2), 'completions top_logprobs');
  check(lp?.text_offset.every((o, i) => i === 0 || o >= lp.text_offset[i - 1]), 'completions text_offset');
}

for (const [name, f] of [['tools', () => toolRoundTrip(false)], ['tools stream', () => toolRoundTrip(true)], ['named', namedCall],
  ['refusals', refusals], ['json_schema', jsonSchema], ['metrics', metrics], ['slots', slots], ['logprobs', logprobs]]) {
  try { await f(); } catch (e) { problems.push(`${name}: ${e.stack ?? e}`); }
}
if (problems.length) {
  console.error(`openai_api: ${problems.length} problems:\n  ` + problems.join('\n  '));
  process.exit(1);
}
console.log('openai_api: tool calls, json_schema, metrics, slots and logprobs as the openai client expects');
