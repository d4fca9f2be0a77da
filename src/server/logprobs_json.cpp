// OpenAI's logprobs shapes from the engine's per-token log-probabilities (server/logprobs_json.h).
#include "server/logprobs_json.h"

#include "server/protocol.h"

namespace bf {

namespace {
using json = nlohmann::json;

// A token's text is its bytes; a piece that is part of a UTF-8 character shows as U+FFFD when the
// response is serialized (dump_json), while `bytes` keeps the truth.
json token_entry(const Tokenizer& tok, int32_t id, float logprob) {
    const std::string piece = tok.token_to_piece(id);
    json bytes = json::array();
    for (unsigned char c : piece) bytes.push_back(int(c));
    return {{"token", piece}, {"logprob", logprob}, {"bytes", std::move(bytes)}};
}
}  // namespace

json chat_logprobs_json(const std::vector<TokenLogprob>& lps, const Tokenizer& tok) {
    json content = json::array();
    for (const auto& t : lps) {
        json e = token_entry(tok, t.id, t.logprob);
        json top = json::array();
        for (const auto& [id, lp] : t.top) top.push_back(token_entry(tok, id, lp));
        e["top_logprobs"] = std::move(top);
        content.push_back(std::move(e));
    }
    return {{"content", std::move(content)}};
}

json text_logprobs_json(const std::vector<TokenLogprob>& lps, const Tokenizer& tok, size_t& offset) {
    json tokens = json::array(), token_lps = json::array(), tops = json::array(), offsets = json::array();
    for (const auto& t : lps) {
        const std::string piece = tok.token_to_piece(t.id);
        tokens.push_back(piece);
        token_lps.push_back(t.logprob);
        json top = json::object();
        for (const auto& [id, lp] : t.top) {
            // Keyed as clients will read it (dump_json shows invalid UTF-8 as U+FFFD): of two pieces shown
            // alike, the likelier one stays, rather than a duplicate key.
            const std::string key = json::parse(dump_json(json(tok.token_to_piece(id)))).get<std::string>();
            if (!top.contains(key)) top[key] = lp;
        }
        tops.push_back(std::move(top));
        offsets.push_back(offset);
        offset += piece.size();
    }
    return {{"tokens", tokens}, {"token_logprobs", token_lps}, {"top_logprobs", tops}, {"text_offset", offsets}};
}

}  // namespace bf
