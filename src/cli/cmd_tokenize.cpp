// bitflash tokenize / detokenize: text (-p, -f or stdin) <-> token ids, like llama-tokenize.
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <sstream>

#include "cli/args.h"
#include "core/error.h"
#include "engine/model_files.h"
#include "formats/gguf.h"

namespace bf {

namespace {

Tokenizer open_tokenizer(const std::string& model, const std::string& json_path) {
    if (model.empty() == json_path.empty()) fail("give exactly one of -m MODEL.gguf or --tokenizer tokenizer.json");
    if (!model.empty()) return load_tokenizer(GgufFile::open(model));
    std::FILE* f = std::fopen(json_path.c_str(), "rb");
    if (!f) fail("cannot open " + json_path);
    std::string text;
    char buf[65536];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) text.append(buf, n);
    std::fclose(f);
    return Tokenizer::from_hf_json(text);
}

std::string read_all(std::istream& in) {
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// A piece as llama-tokenize shows it: the text, with bytes that are not printable UTF-8 as \xNN.
std::string shown_piece(const std::string& piece) {
    std::string out;
    for (size_t i = 0; i < piece.size();) {
        const unsigned char c = static_cast<unsigned char>(piece[i]);
        const size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
        bool whole = n > 0 && i + n <= piece.size() && (n > 1 || c >= 0x20) && c != 0x7f;
        for (size_t k = 1; whole && k < n; ++k) whole = (static_cast<unsigned char>(piece[i + k]) & 0xc0) == 0x80;
        if (whole) {
            out.append(piece, i, n);
            i += n;
        } else {
            out += strfmt("\\x%02x", c);
            ++i;
        }
    }
    return out;
}

}  // namespace

int cmd_tokenize(int argc, char** argv) {
    std::string model, json, prompt, file;
    bool no_special = false, show_text = false;
    ArgParser p(
        "bitflash tokenize -m MODEL.gguf | --tokenizer tokenizer.json [-p TEXT | -f FILE | < text] [--show-text]",
        "Prints the token ids of a UTF-8 text (-p, -f, else stdin), space-separated. Special-token text\n"
        "(<|end|>, ...) becomes its id, as the server's /tokenize does by default.");
    p.option({"-m", "--model"}, &model, "MODEL.gguf", "take the tokenizer from a GGUF");
    p.option({"--tokenizer"}, &json, "FILE", "take the tokenizer from a Hugging Face tokenizer.json");
    p.option({"-p", "--prompt"}, &prompt, "TEXT", "the text (instead of stdin)");
    p.option({"-f", "--file"}, &file, "FNAME", "read the text from a file");
    p.flag({"--show-text"}, &show_text, "one token per line: id -> 'piece' (like llama-tokenize)");
    p.flag({"--no-parse-special", "--no-special"}, &no_special, "special-token text is plain text");
    p.ignored({"--special", "--parse-special"}, false, "special-token text becomes its id (the default)");
    if (!p.parse(argc, argv)) return 0;
    if (!prompt.empty() && !file.empty()) fail("give -p or -f, not both");
    std::string text = prompt;
    if (!file.empty()) {
        std::ifstream in(file, std::ios::binary);
        if (!in) fail("cannot read " + file);
        text = read_all(in);
    } else if (!p.given("-p")) {
        text = read_all(std::cin);
    }
    const Tokenizer tok = open_tokenizer(model, json);
    const auto ids = tok.encode(text, !no_special);
    std::string out;
    for (size_t i = 0; i < ids.size(); ++i) {
        if (show_text)
            out += strfmt("%6d -> '%s'\n", ids[i], shown_piece(tok.token_to_piece(ids[i])).c_str());
        else
            out += (i ? " " : "") + std::to_string(ids[i]);
    }
    if (!show_text) out += "\n";
    std::fwrite(out.data(), 1, out.size(), stdout);
    return 0;
}

int cmd_detokenize(int argc, char** argv) {
    std::string model, json;
    ArgParser p("bitflash detokenize -m MODEL.gguf | --tokenizer tokenizer.json < ids",
                "Prints the text of the token ids on stdin (separated by spaces, commas or newlines), then a newline.");
    p.option({"-m", "--model"}, &model, "MODEL.gguf", "take the tokenizer from a GGUF");
    p.option({"--tokenizer"}, &json, "FILE", "take the tokenizer from a Hugging Face tokenizer.json");
    if (!p.parse(argc, argv)) return 0;
    const Tokenizer tok = open_tokenizer(model, json);
    std::vector<int32_t> ids;
    std::string text = read_all(std::cin);
    for (char& c : text)
        if (c == ',' || c == '[' || c == ']') c = ' ';  // llama-tokenize --ids prints [1, 2, 3]
    std::istringstream in(text);
    std::string word;
    while (in >> word) {
        char* end = nullptr;
        const long v = std::strtol(word.c_str(), &end, 10);
        if (*end != '\0' || v < 0 || v >= tok.n_vocab()) fail("'" + word + "' is not a token id of this tokenizer");
        ids.push_back(int32_t(v));
    }
    const std::string s = tok.decode(ids) + "\n";
    std::fwrite(s.data(), 1, s.size(), stdout);
    return 0;
}

}  // namespace bf
