// Aggregate generation speed of a running `bitflash serve`: C concurrent streaming requests, each generating
// exactly T tokens (ignore_eos), repeated R rounds. Prints tokens/s over wall time of each round, the median
// and the best (the machine may be shared: the best round is the least disturbed one).
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
const rates = [];
for (let r = 0; r < R; r++) {
  const t0 = performance.now();
  const got = await Promise.all(Array.from({ length: C }, (_, i) => one(r * 1000 + i)));
  const s = (performance.now() - t0) / 1000;
  rates.push(got.reduce((a, b) => a + b, 0) / s);
}
const sorted = [...rates].sort((a, b) => a - b);
console.log(`concurrency ${C}: ${C} x ${T} tokens, ${R} rounds: median ${sorted[Math.floor(R / 2)].toFixed(1)} tokens/s, ` +
  `best ${sorted[R - 1].toFixed(1)} tokens/s (rounds: ${rates.map((x) => x.toFixed(0)).join(' ')})`);
