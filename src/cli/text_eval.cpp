// Model and text loading shared by the text tools (perplexity, imatrix): a model with its tokenizer, a tokenized file.
#include "cli/text_eval.h"

#include <fstream>
#include <sstream>

#include "core/error.h"
#include "engine/model_files.h"
#include "engine/threads.h"

namespace bf {

std::unique_ptr<ModelWithTokenizer> load_model_with_tokenizer(const std::string& path, int64_t threads) {
    set_engine_threads(int(threads));
    auto file = std::make_shared<GgufFile>(GgufFile::open(path));
    Tokenizer tok = load_tokenizer(*file);
    return std::unique_ptr<ModelWithTokenizer>(new ModelWithTokenizer{Model::from_gguf(file), std::move(tok)});
}

std::vector<int32_t> tokenize_file(const Tokenizer& tok, const std::string& path, bool parse_special) {
    std::ifstream in(path, std::ios::binary);
    if (!in) fail("cannot read " + path);
    std::ostringstream ss;
    ss << in.rdbuf();
    return tok.encode(ss.str(), parse_special);
}

}  // namespace bf
