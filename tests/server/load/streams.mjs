// 64 concurrent streaming chat completions through the official `openai` client against a running
// `bitflash serve`; every stream must be well formed and finish in time. Usage: node streams.mjs BASE_URL [N]
import OpenAI from 'openai';

const baseURL = process.argv[2];
const N = Number(process.argv[3] || 64);
const MAX_TOKENS = 24;
const client = new OpenAI({ baseURL, apiKey: 'unused', maxRetries: 0, timeout: 600_000 });
const problems = [];

async function one(i) {
  const stream = await client.chat.completions.create({
    model: 'tiny',
    messages: [{ role: 'system', content: 'You are a test.' }, { role: 'user', content: `Request number ${i}: count.` }],
    max_tokens: MAX_TOKENS, temperature: 0.8, seed: i, stream: true, stream_options: { include_usage: true },
  });
  let first = true, finish = null, usage = null, id = null, text = '';
  for await (const chunk of stream) {
    if (chunk.usage) { usage = chunk.usage; if (chunk.choices.length !== 0) problems.push(`${i}: usage chunk has choices`); continue; }
    if (chunk.object !== 'chat.completion.chunk') problems.push(`${i}: object ${chunk.object}`);
    if (id === null) id = chunk.id; else if (chunk.id !== id) problems.push(`${i}: id changed`);
    if (chunk.choices.length !== 1) { problems.push(`${i}: ${chunk.choices.length} choices`); continue; }
    const c = chunk.choices[0];
    if (first && c.delta.role !== 'assistant') problems.push(`${i}: first delta has no assistant role`);
    first = false;
    if (finish !== null) problems.push(`${i}: chunk after finish_reason`);
    if (typeof c.delta.content === 'string') text += c.delta.content;
    if (c.finish_reason) finish = c.finish_reason;
  }
  if (finish !== 'stop' && finish !== 'length') problems.push(`${i}: finish_reason ${finish}`);
  if (!usage) problems.push(`${i}: no usage chunk`);
  else {
    if (usage.completion_tokens > MAX_TOKENS) problems.push(`${i}: ${usage.completion_tokens} tokens > max_tokens`);
    if (finish === 'length' && usage.completion_tokens !== MAX_TOKENS) problems.push(`${i}: length after ${usage.completion_tokens}`);
    if (usage.total_tokens !== usage.prompt_tokens + usage.completion_tokens) problems.push(`${i}: usage sum`);
  }
  return text;
}

const t0 = Date.now();
// Generous, so it only catches a hang, never a slow or busy machine (speed is not tested here).
const deadline = new Promise((_, reject) => setTimeout(() => reject(new Error('no answer after 600 s: hung?')), 600_000).unref());
try {
  const results = await Promise.race([Promise.allSettled(Array.from({ length: N }, (_, i) => one(i))), deadline]);
  results.forEach((r, i) => { if (r.status === 'rejected') problems.push(`${i}: ${r.reason}`); });
  // The same seed gives the same text (also under concurrency).
  const [a, b] = await Promise.all([one(1000), one(1000)]);
  if (!a) problems.push('seed 1000 gave an empty text');
  else if (a !== b) problems.push('seed 1000 gave two different texts');
  const nonStream = await client.chat.completions.create({
    model: 'tiny', messages: [{ role: 'user', content: 'hi' }], max_tokens: 4, temperature: 0,
  });
  if (nonStream.choices[0].message.role !== 'assistant' || !nonStream.usage) problems.push('non-streaming shape');
  const models = await client.models.list();
  if (models.data.length !== 1) problems.push('models list');
} catch (e) {
  problems.push(String(e));
}
const secs = (Date.now() - t0) / 1000;
if (problems.length) {
  console.error(`streams: ${problems.length} problems:\n  ` + problems.slice(0, 20).join('\n  '));
  process.exit(1);
}
console.log(`streams: ${N} concurrent streams well formed and finished in ${secs.toFixed(1)} s`);
