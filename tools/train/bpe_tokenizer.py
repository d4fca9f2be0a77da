# Byte-level BPE tokenizer for the toy math models: training, encoding exactly as the exported
# tokenizer.json specifies (added tokens, regex split, GPT-2 byte->unicode map, BPE by merge rank),
# and writing the Hugging Face tokenizer files.
import json
import os
import re
from collections import Counter

# Written so that Python's re and PCRE2 agree on ASCII text (no \p{..} classes).
SPLIT_REGEX = r"[0-9]| ?[A-Za-z]+| ?[^\sA-Za-z0-9]+|\s+(?!\S)|\s+"

# (content, special, rstrip). Phi marks the chat-role tokens rstrip=true; <think> tags are plain added tokens.
ADDED_TOKENS = [
    ("<|endoftext|>", True, False),
    ("<|end|>", True, True),
    ("<|user|>", True, True),
    ("<|assistant|>", True, True),
    ("<|system|>", True, True),
    ("<think>", False, False),
    ("</think>", False, False),
]

# Phi-4-mini chat template, verbatim (architecture.md section 7).
CHAT_TEMPLATE = (
    "{% for message in messages %}{% if message['role'] == 'system' and 'tools' in message and "
    "message['tools'] is not none %}{{ '<|' + message['role'] + '|>' + message['content'] + '<|tool|>' + "
    "message['tools'] + '<|/tool|>' + '<|end|>' }}{% else %}{{ '<|' + message['role'] + '|>' + "
    "message['content'] + '<|end|>' }}{% endif %}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|assistant|>' }}{% else %}{{ eos_token }}{% endif %}"
)


def bytes_to_unicode():
    """GPT-2's reversible byte -> printable unicode char map (as used by HF ByteLevel)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


BYTE_ENC = bytes_to_unicode()
BYTE_DEC = {v: k for k, v in BYTE_ENC.items()}
_split = re.compile(SPLIT_REGEX)


def pretokenize(text):
    """Regex split (Isolated) then byte-level mapping of each piece."""
    return ["".join(BYTE_ENC[b] for b in piece.encode("utf-8")) for piece in _split.findall(text)]


def train_bpe(texts, n_merges):
    """Classic BPE on pre-token counts; ties broken by the lexicographically smallest pair (deterministic)."""
    words = Counter()
    for t in texts:
        words.update(pretokenize(t))
    seqs = {w: list(w) for w in words}
    merges = []
    for _ in range(n_merges):
        pairs = Counter()
        for w, c in words.items():
            s = seqs[w]
            for a, b in zip(s, s[1:]):
                pairs[(a, b)] += c
        if not pairs:
            break
        best_count = max(pairs.values())
        if best_count < 2:
            break
        best = min(p for p, c in pairs.items() if c == best_count)
        merges.append(best)
        joined = best[0] + best[1]
        for w in seqs:
            s = seqs[w]
            i, out = 0, []
            while i < len(s):
                if i + 1 < len(s) and s[i] == best[0] and s[i + 1] == best[1]:
                    out.append(joined)
                    i += 2
                else:
                    out.append(s[i])
                    i += 1
            seqs[w] = out
    return merges


class Tokenizer:
    def __init__(self, merges):
        self.merges = [tuple(m) for m in merges]
        self.ranks = {m: i for i, m in enumerate(self.merges)}
        # Byte tokens first in byte order (ids 0..255 = the 256 byte chars), then merges in rank order.
        self.vocab = {BYTE_ENC[b]: b for b in range(256)}
        for a, b in self.merges:
            if a + b not in self.vocab:
                self.vocab[a + b] = len(self.vocab)
        self.n_regular = len(self.vocab)
        self.added = {}
        for i, (content, _, _) in enumerate(ADDED_TOKENS):
            self.added[content] = self.n_regular + i
        self.id_to_tok = {v: k for k, v in self.vocab.items()}
        self.id_to_tok.update({v: k for k, v in self.added.items()})
        self.rstrip = {c for c, _, r in ADDED_TOKENS if r}
        self.added_re = re.compile("|".join(re.escape(c) for c, _, _ in
                                            sorted(ADDED_TOKENS, key=lambda t: -len(t[0]))))
        self.cache = {}

    @property
    def size(self):
        return self.n_regular + len(ADDED_TOKENS)

    def token_id(self, content):
        return self.added[content]

    def _bpe(self, piece):
        if piece in self.cache:
            return self.cache[piece]
        s = list(piece)
        while len(s) > 1:
            best, best_rank = None, None
            for i in range(len(s) - 1):
                r = self.ranks.get((s[i], s[i + 1]))
                if r is not None and (best_rank is None or r < best_rank):
                    best, best_rank = i, r
            if best is None:
                break
            s = s[:best] + [s[best] + s[best + 1]] + s[best + 2:]
        ids = [self.vocab[t] for t in s]
        self.cache[piece] = ids
        return ids

    def encode(self, text):
        """Added tokens are matched anywhere (rstrip ones swallow following whitespace), rest is BPE."""
        ids, pos = [], 0
        for m in self.added_re.finditer(text):
            if m.start() < pos:
                continue
            for piece in pretokenize(text[pos:m.start()]):
                ids.extend(self._bpe(piece))
            ids.append(self.added[m.group(0)])
            pos = m.end()
            if m.group(0) in self.rstrip:
                while pos < len(text) and text[pos].isspace():
                    pos += 1
        for piece in pretokenize(text[pos:]):
            ids.extend(self._bpe(piece))
        return ids

    def decode(self, ids):
        out, buf = [], bytearray()
        for i in ids:
            t = self.id_to_tok.get(i)
            if t is None:  # embedding padding row: no text
                continue
            if t in self.added:
                out.append(buf.decode("utf-8", errors="replace"))
                buf = bytearray()
                out.append(t)
            else:
                buf.extend(BYTE_DEC[c] for c in t)
        out.append(buf.decode("utf-8", errors="replace"))
        return "".join(out)

    def save_hf(self, folder):
        added_list = [{"id": self.added[c], "content": c, "single_word": False, "lstrip": False,
                       "rstrip": r, "normalized": False, "special": s} for c, s, r in ADDED_TOKENS]
        tj = {
            "version": "1.0",
            "truncation": None,
            "padding": None,
            "added_tokens": added_list,
            "normalizer": None,
            "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
                {"type": "Split", "pattern": {"Regex": SPLIT_REGEX}, "behavior": "Isolated",
                 "invert": False},
                {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
                 "use_regex": False}]},
            "post_processor": None,
            "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True,
                        "use_regex": True},
            "model": {"type": "BPE", "dropout": None, "unk_token": None,
                      "continuing_subword_prefix": None, "end_of_word_suffix": None,
                      "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                      "vocab": self.vocab, "merges": [f"{a} {b}" for a, b in self.merges]},
        }
        with open(os.path.join(folder, "tokenizer.json"), "w", encoding="utf-8") as f:
            json.dump(tj, f, ensure_ascii=False, indent=1)
        eot = "<|endoftext|>"
        tc = {
            "add_bos_token": False, "add_eos_token": False, "add_prefix_space": False,
            "added_tokens_decoder": {str(d["id"]): {k: d[k] for k in
                                                    ("content", "lstrip", "normalized", "rstrip",
                                                     "single_word", "special")} for d in added_list},
            "bos_token": eot, "eos_token": eot, "pad_token": eot, "unk_token": eot,
            "chat_template": CHAT_TEMPLATE, "clean_up_tokenization_spaces": False,
            "model_max_length": 4096, "tokenizer_class": "GPT2Tokenizer",
        }
        with open(os.path.join(folder, "tokenizer_config.json"), "w", encoding="utf-8") as f:
            json.dump(tc, f, ensure_ascii=False, indent=2)
        stm = {k: {"content": eot, "lstrip": False, "normalized": False, "rstrip": False,
                   "single_word": False} for k in ("bos_token", "eos_token", "pad_token", "unk_token")}
        with open(os.path.join(folder, "special_tokens_map.json"), "w", encoding="utf-8") as f:
            json.dump(stm, f, indent=2)
        gc = {"bos_token_id": self.added[eot],
              "eos_token_id": [self.added["<|end|>"], self.added[eot]],
              "pad_token_id": self.added[eot], "do_sample": False}
        with open(os.path.join(folder, "generation_config.json"), "w", encoding="utf-8") as f:
            json.dump(gc, f, indent=2)

    @staticmethod
    def load_hf(folder):
        with open(os.path.join(folder, "tokenizer.json"), encoding="utf-8") as f:
            tj = json.load(f)
        merges = [tuple(m.split(" ")) for m in tj["model"]["merges"]]
        tok = Tokenizer(merges)
        if tok.vocab != tj["model"]["vocab"]:
            raise ValueError("tokenizer.json vocab does not follow byte+merge order")
        return tok
