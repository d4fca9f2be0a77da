// A 5-turn conversation through the official `openai` client, sending back each reply the way clients do:
// only `content` (a reasoning model's `reasoning_content` is dropped), here also trimmed and with a note
// appended, so the history never matches the tokens the slot generated. Every turn after the first must
// still reuse state (`timings.cache_n` > 0), at least the previous turn's whole prompt (its checkpoint).
// Each request carries `X-Conversation-Id: conv-C`, the key a load balancer hashes (docs/SERVER.md).
// Usage: node conversation.mjs BASE_URL [CONVERSATIONS=2] [TURNS=5] [AT_ONCE=CONVERSATIONS]
import OpenAI from 'openai';

const baseURL = process.argv[2];
const N = Number(process.argv[3] || 2);
const TURNS = Number(process.argv[4] || 5);
const AT_ONCE = Number(process.argv[5] || N);
const client = new OpenAI({ baseURL, apiKey: 'unused', maxRetries: 0, timeout: 600_000 });
const problems = [];

async function conversation(c) {
  const messages = [{ role: 'system', content: `Conversation ${c}.` }];
  let prevPrompt = 0;
  for (let turn = 0; turn < TURNS; turn++) {
    messages.push({ role: 'user', content: `Turn ${turn} of conversation ${c}: tell me more.` });
    // The client keeps fields it does not know, such as llama-server's `timings`.
    const r = await client.chat.completions.create({ model: 'tiny', messages, max_tokens: 12, temperature: 0.7, seed: c * 10 + turn },
      { headers: { 'X-Conversation-Id': `conv-${c}` } });
    const t = r.timings;
    if (!t) { problems.push(`${c}/${turn}: no timings`); return; }
    if (turn > 0 && !(t.cache_n > 0)) problems.push(`${c}/${turn}: cache_n ${t.cache_n} (prompt_n ${t.prompt_n})`);
    if (turn > 0 && t.cache_n < prevPrompt) problems.push(`${c}/${turn}: cache_n ${t.cache_n} < previous prompt ${prevPrompt}`);
    if (r.usage.prompt_tokens !== t.prompt_n + t.cache_n) problems.push(`${c}/${turn}: prompt_tokens != prompt_n + cache_n`);
    prevPrompt = r.usage.prompt_tokens;
    const reply = r.choices[0].message.content ?? '';
    messages.push({ role: 'assistant', content: reply.trim() + ' (edited)' });
    if (process.env.VERBOSE) console.log(`conversation ${c} turn ${turn}: prompt ${r.usage.prompt_tokens} tokens, cache_n ${t.cache_n}`);
  }
}

try {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(AT_ONCE, N) }, async () => {
    while (next < N) await conversation(next++);
  }));
} catch (e) {
  problems.push(String(e));
}
if (problems.length) {
  console.error(`conversation: ${problems.length} problems:\n  ` + problems.join('\n  '));
  process.exit(1);
}
console.log(`conversation: ${N} conversations of ${TURNS} turns reused their state on every turn after the first`);
