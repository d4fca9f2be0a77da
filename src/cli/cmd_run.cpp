// bitflash run -m MODEL -p PROMPT [-n N] ...: one prompt, streamed answer, llama.cpp-style timings.
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "cli/gen_common.h"
#include "core/error.h"
#include "engine/timings.h"

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

}  // namespace

int cmd_run(int argc, char** argv) {
    GenFlags f;
    std::string prompt, prompt_file;
    bool no_escape = false;
    ArgParser p("bitflash run [-m MODEL.gguf] -p PROMPT [-n N] [options]",
                "Generates a reply to one prompt through the model's chat template, streaming it to stdout.");
    p.option({"-p", "--prompt"}, &prompt, "TEXT", "prompt (the user message)");
    p.option({"-f", "--file"}, &prompt_file, "FNAME", "read the prompt from a file");
    p.flag({"--no-escape"}, &no_escape, "do not process \\n, \\t ... in -p");
    p.ignored({"-e", "--escape"}, false, "process escapes in -p (the default)");
    f.declare(p);
    if (!p.parse(argc, argv)) return 0;
    if (!prompt_file.empty()) {
        if (!prompt.empty()) fail("give -p or -f, not both");
        std::ifstream in(prompt_file, std::ios::binary);
        if (!in) fail("cannot read prompt file " + prompt_file);
        std::ostringstream ss;
        ss << in.rdbuf();
        prompt = ss.str();
    } else if (!no_escape) {
        prompt = unescape(prompt);
    }
    if (prompt.empty()) fail("no prompt: use -p TEXT or -f FILE");
    check_utf8(prompt, prompt_file.empty() ? "the prompt" : ("prompt file " + prompt_file).c_str());
    if (!f.system_prompt.empty()) check_utf8(f.system_prompt, "the system prompt");

    auto lm = load_for_generation(f);
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
    ReasoningFilter shown(ReasoningFilter::from_flag(f.reasoning, isatty(STDOUT_FILENO)));
    auto print = [](const std::string& s) {
        std::fwrite(s.data(), 1, s.size(), stdout);
        std::fflush(stdout);
    };
    const GenOutcome r = generate_one(engine, std::move(req), [&](const std::string& piece) {
        print(shown.push(piece));
        return true;
    });
    print(shown.flush());
    print("\n");
    save_prompt_cache(engine, f);
    if (r.stop == StopReason::ContextFull) std::fprintf(stderr, "bitflash run: stopped: the context (-c %lld) is full\n", (long long)f.ctx);
    if (!f.no_perf) std::fputs(format_timings(r.stats, lm->load_ms).c_str(), stderr);
    return 0;
}

}  // namespace bf
