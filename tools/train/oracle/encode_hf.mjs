// Test oracle: encodes lines of stdin (JSON strings) with Hugging Face tokenizers.js from a folder's
// tokenizer.json + tokenizer_config.json; prints one JSON id list per line.
// Setup: npm ci --prefix tools/train/oracle (pinned by its package-lock.json); NODE_PATH=DIR/node_modules
// takes the package from elsewhere.
import { readFileSync } from "fs";
import { createRequire } from "module";
const require = createRequire(process.env.NODE_PATH ? process.env.NODE_PATH + "/" : import.meta.url);
const { Tokenizer } = require("@huggingface/tokenizers");
const dir = process.argv[2];
const tj = JSON.parse(readFileSync(dir + "/tokenizer.json", "utf8"));
const tc = JSON.parse(readFileSync(dir + "/tokenizer_config.json", "utf8"));
const tok = new Tokenizer(tj, tc);
const lines = readFileSync(0, "utf8").split("\n").filter((l) => l.length);
for (const l of lines) {
  const text = JSON.parse(l);
  const ids = tok.encode(text, { add_special_tokens: false }).ids;
  const back = tok.decode(ids, { skip_special_tokens: false });
  console.log(JSON.stringify({ ids, back }));
}
