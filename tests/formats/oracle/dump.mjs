// Dumps a GGUF file as JSON using @huggingface/gguf (an independent TypeScript parser), so the C++ tests
// can compare it with what GgufWriter was asked to write. Usage: node dump.mjs FILE.gguf
import { gguf } from "@huggingface/gguf";

const path = process.argv[2];
const { metadata, typedMetadata, tensorInfos, tensorDataOffset } = await gguf(path, {
  allowLocalFile: true,
  typedMetadata: true,
});
// BigInts become strings; NaN/Infinity become strings so JSON stays valid.
const plain = (v) => {
  if (typeof v === "bigint") return v.toString();
  if (typeof v === "number" && !Number.isFinite(v)) return String(v);
  if (Array.isArray(v)) return v.map(plain);
  return v;
};
const kvs = {};
for (const [k, tv] of Object.entries(typedMetadata)) {
  if (k === "version" || k === "tensor_count" || k === "kv_count") continue;
  kvs[k] = { type: tv.type, subType: tv.subType ?? null, value: plain(tv.value) };
}
const out = {
  version: plain(metadata.version),
  tensor_count: plain(metadata.tensor_count),
  kv_count: plain(metadata.kv_count),
  data_offset: plain(tensorDataOffset),
  kvs,
  tensors: tensorInfos.map((t) => ({ name: t.name, shape: t.shape.map(plain), dtype: t.dtype, offset: plain(t.offset) })),
};
process.stdout.write(JSON.stringify(out));
