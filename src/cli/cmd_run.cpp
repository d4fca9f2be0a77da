// bitflash run -m MODEL -p PROMPT [-n N] ...: one prompt, streamed answer, llama.cpp-style timings.
#include <cstdio>
#include <fstream>
#include <sstream>

#include "cli/gen_common.h"
#include "core/error.h"
#include "engine/timings.h"
#include "grammar/json_schema.h"

namespace bf {

namespace {

// llama-cli's -e: \n, \t, \\, \" and \' in -p are escapes.
std::string unescape(const std::string& s) {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] != '\\' || i + 1 == s.size()) {
            out += s[i];
            continue;
        }
        const char c = s[++i];
        switch (c) {
            case 'n': out += '\n'; break;
            case 't': out += '\t'; break;
            case 'r': out += '\r'; break;
            case '\\': out += '\\'; break;
            case '"': out += '"'; break;
            case '\'': out += '\''; break;
            default: out += '\\', out += c;
        }
    }
    return out;
}

std::string read_text_file(const std::string& path, const std::string& what) {
    std::ifstream in(path, std::ios::binary);
    if (!in) fail("cannot read " + what + " " + path);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// --grammar / --grammar-file / --json-schema / --json-schema-file (at most one) -> the output constraint.
std::shared_ptr<const Grammar> output_grammar(std::string gbnf, const std::string& gbnf_file, std::string schema,
                                              const std::string& schema_file) {
    if (int(!gbnf.empty()) + int(!gbnf_file.empty()) + int(!schema.empty()) + int(!schema_file.empty()) > 1)
        fail("give only one of --grammar, --grammar-file, --json-schema and --json-schema-file");
    if (!gbnf_file.empty()) gbnf = read_text_file(gbnf_file, "grammar file");
    if (!schema_file.empty()) schema = read_text_file(schema_file, "JSON schema file");
    if (!schema.empty()) {
        nlohmann::json j;
        try {
            j = nlohmann::json::parse(schema);
        } catch (const nlohmann::json::exception& e) {
            fail(std::string("the JSON schema is not valid JSON: ") + e.what());
        }
        gbnf = json_schema_to_gbnf(j);
    }
    if (gbnf.empty()) return nullptr;
    return std::make_shared<const Grammar>(parse_gbnf(gbnf));
}

}  // namespace

int cmd_run(int argc, char** argv) {
    GenFlags f;
    std::string prompt, prompt_file, grammar, grammar_file, json_schema, json_schema_file;
    bool no_escape = false, conversation = false, no_conversation = false, single_turn = false;
    ArgParser p("bitflash run [-m MODEL.gguf] -p PROMPT [-n N] [options]",
                "Generates a reply to one prompt through the model's chat template, streaming it to stdout\n"
                "(Ctrl-C stops it and prints the timings). -cnv or -i: go on as a chat (see bitflash chat --help).");
    p.option({"-p", "--prompt"}, &prompt, "TEXT", "prompt (the user message)");
    p.option({"-f", "--file"}, &prompt_file, "FNAME", "read the prompt from a file");
    p.flag({"--no-escape"}, &no_escape, "do not process \\n, \\t ... in -p");
    p.ignored({"-e", "--escape"}, false, "process escapes in -p (the default)");
    p.flag({"-cnv", "--conversation", "-i", "--interactive"}, &conversation,
           "interactive: -p (if any) is the first message, then a chat as `bitflash chat`");
    p.flag({"-no-cnv", "--no-conversation"}, &no_conversation, "one prompt, one reply (the default)");
    p.flag({"-st", "--single-turn"}, &single_turn, "with -cnv: one reply, then exit");
    p.option({"--grammar"}, &grammar, "GBNF", "constrain the output to a GBNF grammar (llama.cpp syntax)");
    p.option({"--grammar-file"}, &grammar_file, "FNAME", "read the GBNF grammar from a file");
    p.option({"-j", "--json-schema"}, &json_schema, "SCHEMA", "constrain the output to a JSON Schema (JSON text)");
    p.option({"-jf", "--json-schema-file"}, &json_schema_file, "FNAME", "read the JSON Schema from a file");
    f.declare(p);
    if (!p.parse(argc, argv)) return 0;
    if (conversation && no_conversation) fail("give -cnv (or -i) or -no-cnv, not both");
    const auto constraint = output_grammar(grammar, grammar_file, json_schema, json_schema_file);
    if (constraint && conversation) fail("--grammar/--json-schema apply to one reply; not with -cnv/-i");
    if (!prompt_file.empty()) {
        if (!prompt.empty()) fail("give -p or -f, not both");
        prompt = read_text_file(prompt_file, "prompt file");
    } else if (!no_escape) {
        prompt = unescape(prompt);
    }
    if (prompt.empty() && !conversation) fail("no prompt: use -p TEXT or -f FILE (or -cnv for a conversation)");
    check_utf8(prompt, prompt_file.empty() ? "the prompt" : ("prompt file " + prompt_file).c_str());
    if (!f.system_prompt.empty()) check_utf8(f.system_prompt, "the system prompt");
    if (conversation && f.raw) fail("-cnv uses the chat template; --raw is for a single prompt");

    auto lm = load_for_generation(f);
    if (conversation) {
        ChatOptions o;
        o.first_message = prompt;
        o.single_turn = single_turn;
        return chat_session(f, *lm, o);
    }
    std::string text = prompt;
    if (!f.raw) {
        std::vector<ChatMessage> msgs;
        if (!f.system_prompt.empty()) msgs.push_back({"system", f.system_prompt, std::nullopt});
        msgs.push_back({"user", prompt, std::nullopt});
        text = render_prompt(*lm, msgs, true);
    }
    const std::vector<int32_t> tokens = lm->tok.encode(text, true);
    if (int64_t(tokens.size()) >= f.ctx)
        fail(strfmt("the prompt is %zu tokens, the context is %lld: raise -c or shorten the prompt", tokens.size(),
                    (long long)f.ctx));
    if (f.verbose_prompt) {
        std::fprintf(stderr, "prompt: %zu tokens:", tokens.size());
        for (int32_t t : tokens) std::fprintf(stderr, " %d", t);
        std::fprintf(stderr, "\n");
    }
    Batcher engine(*lm, one_slot(f));
    load_prompt_cache(engine, f);
    GenRequest req;
    req.prompt = tokens;
    req.sampler = f.sampler();
    req.max_tokens = f.n_predict;
    req.grammar = constraint;
    const GenOutcome r = stream_reply(engine, std::move(req), f);  // Ctrl-C ends it; the timings still print
    save_prompt_cache(engine, f);
    if (r.stop == StopReason::ContextFull)
        std::fprintf(stderr, "bitflash run: stopped: the context (-c %lld) is full\n", (long long)f.ctx);
    if (r.stop == StopReason::Caller) std::fprintf(stderr, "bitflash run: interrupted (Ctrl-C)\n");
    if (!f.no_perf && !f.log_disable) std::fputs(format_timings(r.stats, lm->load_ms).c_str(), stderr);
    return r.stop == StopReason::Caller ? 130 : 0;  // 130: the shell's code for "ended by SIGINT"
}

}  // namespace bf
