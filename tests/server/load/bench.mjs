// Aggregate generation speed of a running `bitflash serve`: C concurrent streaming requests, each generating
// exactly T tokens (ignore_eos), repeated R rounds. Prints tokens/s over wall time.
// Usage: node bench.mjs BASE_URL C [T=64] [R=2]
const [base, cArg, tArg, rArg] = process.argv.slice(2);
const C = Number(cArg), T = Number(tArg || 64), R = Number(rArg || 2);

async function one(i) {
  const res = await fetch(`${base}/v1/completions`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ prompt: `Benchmark stream ${i}: `, max_tokens: T, ignore_eos: true, temperature: 0.8, seed: i, stream: true }),
  });
  const text = await res.text();
  const m = text.match(/"predicted_n":(\d+)/);
  if (!m || Number(m[1]) !== T) throw new Error(`stream ${i}: bad response ${text.slice(-300)}`);
  return T;
}

await one(-1);  // warm up
let tokens = 0;
const t0 = performance.now();
for (let r = 0; r < R; r++) {
  const got = await Promise.all(Array.from({ length: C }, (_, i) => one(r * 1000 + i)));
  tokens += got.reduce((a, b) => a + b, 0);
}
const s = (performance.now() - t0) / 1000;
console.log(`concurrency ${C}: ${tokens} tokens in ${s.toFixed(2)} s = ${(tokens / s).toFixed(1)} tokens/s`);
