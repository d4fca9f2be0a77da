// bitflash tokenize / detokenize: text on stdin <-> space-separated token ids on stdout.
#include <cstdio>
#include <cstdlib>
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

std::string read_stdin() {
    std::ostringstream ss;
    ss << std::cin.rdbuf();
    return ss.str();
}

}  // namespace

int cmd_tokenize(int argc, char** argv) {
    std::string model, json;
    bool special = false;
    ArgParser p("bitflash tokenize -m MODEL.gguf | --tokenizer tokenizer.json [--special] < text",
                "Prints the token ids of the UTF-8 text on stdin, space-separated.");
    p.option({"-m", "--model"}, &model, "MODEL.gguf", "take the tokenizer from a GGUF");
    p.option({"--tokenizer"}, &json, "FILE", "take the tokenizer from a Hugging Face tokenizer.json");
    p.flag({"--special"}, &special, "special-token text (<|end|>, ...) becomes its id, as Hugging Face does");
    if (!p.parse(argc, argv)) return 0;
    const Tokenizer tok = open_tokenizer(model, json);
    const auto ids = tok.encode(read_stdin(), special);
    std::string out;
    for (size_t i = 0; i < ids.size(); ++i) out += (i ? " " : "") + std::to_string(ids[i]);
    std::printf("%s\n", out.c_str());
    return 0;
}

int cmd_detokenize(int argc, char** argv) {
    std::string model, json;
    ArgParser p("bitflash detokenize -m MODEL.gguf | --tokenizer tokenizer.json < ids",
                "Prints the text of the token ids on stdin (separated by spaces, commas or newlines).");
    p.option({"-m", "--model"}, &model, "MODEL.gguf", "take the tokenizer from a GGUF");
    p.option({"--tokenizer"}, &json, "FILE", "take the tokenizer from a Hugging Face tokenizer.json");
    if (!p.parse(argc, argv)) return 0;
    const Tokenizer tok = open_tokenizer(model, json);
    std::vector<int32_t> ids;
    std::string text = read_stdin();
    for (char& c : text)
        if (c == ',') c = ' ';
    std::istringstream in(text);
    std::string word;
    while (in >> word) {
        char* end = nullptr;
        const long v = std::strtol(word.c_str(), &end, 10);
        if (*end != '\0' || v < 0 || v >= tok.n_vocab()) fail("'" + word + "' is not a token id of this tokenizer");
        ids.push_back(int32_t(v));
    }
    const std::string s = tok.decode(ids);
    std::fwrite(s.data(), 1, s.size(), stdout);
    return 0;
}

}  // namespace bf
