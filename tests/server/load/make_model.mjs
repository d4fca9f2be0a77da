// Writes a byte-level tokenizer folder (256 byte tokens + Phi's chat and tool tokens) and a config for a tiny random
// model, for `bitflash convert --random CONFIG --tokenizer-dir DIR`. Usage: node make_model.mjs DIR SOURCE_DIR
import fs from 'node:fs';
import path from 'node:path';

const [dir, srcDir] = process.argv.slice(2);
fs.mkdirSync(dir, { recursive: true });
// GPT-2 byte-to-unicode map.
const bs = [];
for (let b = 0x21; b <= 0x7e; b++) bs.push(b);
for (let b = 0xa1; b <= 0xac; b++) bs.push(b);
for (let b = 0xae; b <= 0xff; b++) bs.push(b);
const cs = [...bs];
let n = 0;
for (let b = 0; b < 256; b++) if (!bs.includes(b)) { bs.push(b); cs.push(256 + n++); }
const vocab = {};
bs.forEach((b, i) => { vocab[String.fromCodePoint(cs[i])] = b; });
// Phi's chat tokens, then its tool tokens (the tool-call markers are then single tokens, as in Phi-4-mini).
const specials = ['<|endoftext|>', '<|assistant|>', '<|end|>', '<|user|>', '<|system|>',
  '<|tool|>', '<|/tool|>', '<|tool_call|>', '<|/tool_call|>', '<|tool_response|>'];
const added = specials.map((content, i) => ({
  id: 256 + i, content, special: true, lstrip: false, rstrip: false, normalized: false, single_word: false,
}));
const tok = {
  version: '1.0', added_tokens: added, normalizer: null,
  pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
  decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
  model: { type: 'BPE', vocab, merges: [], ignore_merges: false },
};
fs.writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify(tok));
const cfg = JSON.parse(fs.readFileSync(path.join(srcDir, 'tests/fixtures/tiny8/config.json'), 'utf8'));
cfg.vocab_size = 320;
fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(cfg));
fs.writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify({
  chat_template: "{% for m in messages %}{{ '<|' + m['role'] + '|>' + m['content'] + '<|end|>' }}{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>' }}{% endif %}",
  eos_token: '<|endoftext|>',
}));
