// Tokenizer oracle: builds the Phi-4-mini tokenizer.json equivalent from OpenAI's o200k_base ranks (npm
// `tiktoken`), assembles a multilingual corpus from this machine's text, and records tiktoken's ids.
// Usage: node gen.js OUTDIR REPO_DIR
"use strict";
const fs = require("fs");
const path = require("path");
const zlib = require("zlib");
const { get_encoding } = require("tiktoken");
const o200k = require("tiktoken/encoders/o200k_base.json");

const outdir = process.argv[2];
const repo = process.argv[3];
if (!outdir || !repo) throw new Error("usage: node gen.js OUTDIR REPO_DIR");
fs.mkdirSync(outdir, { recursive: true });

// ---- (a) tokenizer.json --------------------------------------------------------------------------
// bpe_ranks is "<prefix> <first rank> base64 base64 ...", ranks consecutive.
const fields = o200k.bpe_ranks.split(/\s+/).filter((s) => s.length);
const first = parseInt(fields[1], 10);
const tokens = fields.slice(2).map((b) => Buffer.from(b, "base64"));
const rank = new Map(); // latin1 string of the token bytes -> rank
tokens.forEach((t, i) => rank.set(t.toString("latin1"), first + i));

// GPT-2 bytes_to_unicode, written out independently of the C++ code.
const byteToChar = [];
{
  const keep = [];
  for (let b = 0x21; b <= 0x7e; b++) keep.push(b);
  for (let b = 0xa1; b <= 0xac; b++) keep.push(b);
  for (let b = 0xae; b <= 0xff; b++) keep.push(b);
  let extra = 0;
  for (let b = 0; b < 256; b++) byteToChar[b] = String.fromCodePoint(keep.includes(b) ? b : 256 + extra++);
}
const toByteLevel = (buf) => Array.from(buf, (b) => byteToChar[b]).join("");

// tiktoken's byte-pair merge restricted to ranks below maxRank; returns the parts (latin1 strings).
function bpeParts(bytes, maxRank) {
  let parts = Array.from(bytes, (b) => String.fromCharCode(b));
  for (;;) {
    let best = -1, bestRank = Infinity;
    for (let i = 0; i + 1 < parts.length; i++) {
      const r = rank.get(parts[i] + parts[i + 1]);
      if (r !== undefined && r < maxRank && r < bestRank) { bestRank = r; best = i; }
    }
    if (best < 0) return parts;
    parts.splice(best, 2, parts[best] + parts[best + 1]);
  }
}

const vocab = {};
const merges = [];
tokens.forEach((t, i) => {
  const r = first + i;
  vocab[toByteLevel(t)] = r;
  if (t.length < 2) return;
  const parts = bpeParts(t, r);
  if (parts.length !== 2) throw new Error(`token ${r} does not reduce to two parts`);
  merges.push(toByteLevel(Buffer.from(parts[0], "latin1")) + " " + toByteLevel(Buffer.from(parts[1], "latin1")));
});
if (merges.length !== 199742) throw new Error(`expected 199742 merges, got ${merges.length}`);

// Phi-4-mini added tokens (architecture.md section 7): [id, content, special, rstrip].
const added = [
  [199999, "<|endoftext|>", true, false], [200018, "<|endofprompt|>", true, false],
  [200019, "<|assistant|>", true, true], [200020, "<|end|>", true, true],
  [200021, "<|user|>", true, true], [200022, "<|system|>", true, true],
  [200023, "<|tool|>", false, true], [200024, "<|/tool|>", false, true],
  [200025, "<|tool_call|>", false, true], [200026, "<|/tool_call|>", false, true],
  [200027, "<|tool_response|>", false, true], [200028, "<|tag|>", true, true],
];
const tokenizerJson = {
  version: "1.0",
  truncation: null,
  padding: null,
  added_tokens: added.map(([id, content, special, rstrip]) =>
    ({ id, content, single_word: false, lstrip: false, rstrip, normalized: false, special })),
  normalizer: null,
  pre_tokenizer: {
    type: "Sequence",
    pretokenizers: [
      { type: "Split", pattern: { Regex: o200k.pat_str }, behavior: "Isolated", invert: false },
      { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: false },
    ],
  },
  post_processor: null,
  decoder: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
  model: {
    type: "BPE", dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null,
    fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab, merges,
  },
};
fs.writeFileSync(path.join(outdir, "tokenizer.json"), JSON.stringify(tokenizerJson));

// ---- (b) corpus ----------------------------------------------------------------------------------
const utf8 = new TextDecoder("utf-8", { fatal: true });
const docs = []; // strings
let total = 0;
function addDoc(text) {
  if (!text) return;
  docs.push(text);
  total += Buffer.byteLength(text);
}
function addFile(file, gz) {
  try {
    let buf = fs.readFileSync(file);
    if (gz) buf = zlib.gunzipSync(buf);
    addDoc(utf8.decode(buf)); // files that are not valid UTF-8 are skipped: JS strings cannot hold them
  } catch (e) { /* unreadable or not UTF-8 */ }
}
const ls = (dir) => { try { return fs.readdirSync(dir).sort(); } catch (e) { return []; } };
function walk(dir, pred, out = []) {
  for (const name of ls(dir)) {
    const p = path.join(dir, name);
    let st;
    try { st = fs.lstatSync(p); } catch (e) { continue; }
    if (st.isDirectory()) walk(p, pred, out);
    else if (st.isFile() && pred(p)) out.push(p);
  }
  return out;
}
function addSome(files, budget, gz) { // every k-th file, so the sample spans the whole list
  const start = total;
  const step = Math.max(1, Math.floor(files.length / 400));
  for (let i = 0; i < files.length && total - start < budget; i += step) addFile(files[i], gz);
}

for (const f of ls("/usr/share/common-licenses")) addFile(path.join("/usr/share/common-licenses", f), false);
addSome(ls("/usr/share/doc").map((d) => `/usr/share/doc/${d}/copyright`), 700e3, false);
addSome(walk("/usr/share/man", (p) => /\/man\/man[0-9]\//.test(p) && p.endsWith(".gz")), 500e3, true);
for (const lang of ls("/usr/share/man").filter((d) => !d.startsWith("man")))
  addSome(walk(`/usr/share/man/${lang}`, (p) => p.endsWith(".gz")), 40e3, true);
for (const d of ["src", "tests", "tools", "scripts", "docs"])
  addSome(walk(path.join(repo, d), (p) => /\.(cpp|h|py|sh|md|js|json|txt)$/.test(p) && !p.includes("node_modules")), 300e3, false);

// Embedded samples: scripts, emoji sequences, combining marks, contractions, case mixes.
const samples = [
  "日本語のテキストを正しく分割できるか確認します。東京は2024年に晴れでした。",
  "中文分词测试：我爱北京天安门，天安门上太阳升。",
  "한국어 문장도 포함합니다. 안녕하세요, 세계!",
  "العربية: مرحبا بالعالم، هذا اختبار للتقطيع. ١٢٣٤٥",
  "Русский текст: Съешь же ещё этих мягких французских булок, да выпей чаю. ПРИВЕТ Мир",
  "हिन्दी: नमस्ते दुनिया, यह एक परीक्षण है। ०१२३",
  "Ελληνικά: Καλημέρα κόσμε! ΑΒΓ αβγ",
  "עברית: שלום עולם",
  "ไทย: สวัสดีชาวโลก",
  "emoji: 👩‍👩‍👧‍👦 👍🏽 🏳️‍🌈 🇩🇪🇯🇵 ❤️ 🧑🏾‍💻 😀😃😄",
  "combining: e\u0301 a\u0300\u0316 n\u0303 Z\u0351\u036b\u0343\u036a\u0302 \u0915\u094d\u0937",
  "contractions: I'm you're he's we've they'll she'd IT'S I'M YOU'RE We'Ve don't",
  "CamelCase HTTPServer getHTTPResponseCode iPhone XMLHttpRequest ΣΊΣΥΦΟΣ ǅemal ǈubljana",
  "numbers: 1 12 123 1234 12345 123456 1234567 3.14159 1,000,000 0x1F 1e-9 ١٢٣ ４５６",
  "punctuation!!! ??? ... --- /// \\\\ ((()))) [[ ]] {{}} <<>> ;; :: @@ ## $$ %% ^^ && ** __",
  "path/to/file.txt\r\nC:\\Windows\\System32\r\n\r\n  \t\n",
  // Letters added in Unicode 15.0/15.1/16.0 (CJK Ext H/I, Kawi, Nag Mundari, Garay): regex tables differ by version.
  "ab\u{31350}\u{31351}cd x\u{11F04}\u{11F05}y a\u{1E4D0}b a\u{2EBF0}b q\u{1FAE8}r A\u{10D40}b",
  // Whitespace whose class differs between regex engines (Rust \\s = White_Space, PCRE2 UCP \\s = Z + \\t-\\r).
  ...["\u0085", "\u00a0", "\u1680", "\u2000", "\u200a", "\u2028", "\u2029", "\u202f", "\u205f", "\u3000",
      "\u180e", "\u200b", "\ufeff", "\u001c", "\u001f", "\u000b", "\u000c"].map((w) =>
    `a${w}b ${w} c${w}${w}d\n${w}\n${w}${w} ${w}x ${w}!${w}1${w}`),
  "special-looking text: <|endoftext|> and <|endofprompt|> inside prose<|endoftext|>x",
];
for (const s of samples) addDoc(s);
addDoc(" ".repeat(1000) + "x" + " ".repeat(777) + "\n" + "\t".repeat(300) + "y\n\n\n\n" + "\n".repeat(500));
addDoc("0123456789".repeat(200) + " " + "9".repeat(1001));
addDoc("a".repeat(3000) + " " + "ab".repeat(1500) + " " + "!".repeat(2000) + " " + "🙂".repeat(300));
addDoc(" \n \n\t \r\n  x  \n\n  ");

// Random strings of random Unicode scalar values (fixed seed; mulberry32).
let seed = 0x5eed1234;
const rnd = () => {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const pools = [[0x20, 0x7e], [0x09, 0x0d], [0x80, 0x7ff], [0x800, 0xffff], [0x10000, 0x10ffff], [0x0, 0x10ffff]];
for (let d = 0; d < 300; d++) {
  let s = "";
  const len = 1 + Math.floor(rnd() * 200);
  for (let i = 0; i < len; i++) {
    const [lo, hi] = pools[Math.floor(rnd() * pools.length)];
    let cp = lo + Math.floor(rnd() * (hi - lo + 1));
    if (cp >= 0xd800 && cp <= 0xdfff) cp -= 0x800; // scalar values only
    s += String.fromCodePoint(cp);
  }
  addDoc(s);
}

// ---- ids -----------------------------------------------------------------------------------------
// Phi-only added tokens are text to tiktoken but tokens to the HF tokenizer: such documents get no
// "with specials" ids (marker 0xFFFFFFFF).
const enc = get_encoding("o200k_base");
const phiOnly = added.slice(2).map((a) => a[1]);
const chunks = [];
const u32 = (v) => { const b = Buffer.alloc(4); b.writeUInt32LE(v >>> 0); return b; };
const ids32 = (ids) => Buffer.from(Int32Array.from(ids).buffer);
const texts = [];
let tPlain = 0, tAll = 0;
chunks.push(u32(docs.length));
for (const doc of docs) {
  const bytes = Buffer.from(doc, "utf8");
  texts.push(bytes);
  let t0 = process.hrtime.bigint();
  const plain = enc.encode(doc, [], []);
  tPlain += Number(process.hrtime.bigint() - t0);
  chunks.push(u32(bytes.length), u32(plain.length), ids32(plain));
  if (phiOnly.some((p) => doc.includes(p))) {
    chunks.push(u32(0xffffffff));
  } else {
    t0 = process.hrtime.bigint();
    const all = enc.encode(doc, "all");
    tAll += Number(process.hrtime.bigint() - t0);
    chunks.push(u32(all.length), ids32(all));
  }
}
// Pieces the C++ test combines with Phi's added-token ids (rstrip cases tiktoken cannot do itself).
const extras = {};
for (const s of ["Hi", "Hello", " world", "world", "How are you?", "x", "\n", " ", "Hello world", "12345678"])
  extras[s] = Array.from(enc.encode(s, [], []));
fs.writeFileSync(path.join(outdir, "extras.json"), JSON.stringify(extras));
enc.free();
fs.writeFileSync(path.join(outdir, "corpus.bin"), Buffer.concat(texts));
fs.writeFileSync(path.join(outdir, "ids.bin"), Buffer.concat(chunks));
// A second, warm pass over the same documents; the faster of the two is reported.
{
  const enc2 = get_encoding("o200k_base");
  const t0 = process.hrtime.bigint();
  for (const doc of docs) enc2.encode(doc, [], []);
  tPlain = Math.min(tPlain, Number(process.hrtime.bigint() - t0));
  enc2.free();
}
const mb = total / 1e6;
const report = `tiktoken o200k_base: ${docs.length} docs, ${mb.toFixed(2)} MB; encode (no specials, best of 2 passes) ` +
  `${(mb / (tPlain / 1e9)).toFixed(2)} MB/s, encode("all") ${(mb / (tAll / 1e9)).toFixed(2)} MB/s (single thread)`;
fs.writeFileSync(path.join(outdir, "tiktoken_speed.txt"), report + "\n");
console.log(report);
