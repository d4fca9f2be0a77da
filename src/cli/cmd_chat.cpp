// bitflash chat: multi-turn conversation on stdin/stdout. The sequence state is kept between turns,
// so each turn prefills only its new tokens (the rule: the tokens already fed must decode to a prefix
// of the newly rendered conversation; otherwise the conversation is re-prefilled from the start).
#include <unistd.h>

#include <cstdio>
#include <iostream>

#include "cli/gen_common.h"
#include "core/error.h"
#include "engine/timings.h"

namespace bf {

int cmd_chat(int argc, char** argv) {
    GenFlags f;
    ArgParser p("bitflash chat [-m MODEL.gguf] [-sys SYSTEM] [options]",
                "Multi-turn chat: one user message per line on stdin ('/reset' starts over, '/exit' or EOF ends).");
    f.declare(p);
    if (!p.parse(argc, argv)) return 0;
    if (f.raw) fail("chat always uses a chat template (--raw is for `bitflash run`)");
    if (!f.system_prompt.empty()) check_utf8(f.system_prompt, "the system prompt");
    auto lm = load_for_generation(f);
    const bool tty_in = isatty(STDIN_FILENO), tty_out = isatty(STDOUT_FILENO);
    Batcher engine(*lm, one_slot(f));
    // One sampler for the whole conversation: penalties see every turn and the RNG goes on.
    auto sampler = std::make_shared<Sampler>(f.sampler(), int32_t(lm->model.config.n_vocab));
    // The conversation so far as the state has seen it, plus the reply's end-of-generation token.
    load_prompt_cache(engine, f);
    std::vector<int32_t> seen = engine.slot_tokens(0);
    std::vector<ChatMessage> history;
    if (!f.system_prompt.empty()) history.push_back({"system", f.system_prompt, std::nullopt});
    auto print = [](const std::string& s) {
        std::fwrite(s.data(), 1, s.size(), stdout);
        std::fflush(stdout);
    };

    std::string line;
    for (;;) {
        if (tty_in) print("> ");
        if (!std::getline(std::cin, line)) break;
        if (line == "/exit" || line == "/quit") break;
        if (line == "/reset") {
            history.resize(f.system_prompt.empty() ? 0 : 1);
            seen.clear();
            engine.forget();
            sampler->reset();
            std::fprintf(stderr, "chat: conversation reset\n");
            continue;
        }
        if (line.empty()) continue;
        check_utf8(line, "the message");
        history.push_back({"user", line, std::nullopt});
        const std::string rendered = render_prompt(*lm, history, true);
        // Reuse the state when what it has seen is a prefix of the new conversation text.
        const std::string seen_text = lm->tok.decode(seen);
        std::vector<int32_t> fresh;
        if (!seen.empty() && rendered.compare(0, seen_text.size(), seen_text) == 0) {
            fresh = lm->tok.encode(rendered.substr(seen_text.size()), true);
        } else {
            if (!seen.empty()) std::fprintf(stderr, "chat: history changed, re-reading the conversation\n");
            seen.clear();
            engine.forget();
            fresh = lm->tok.encode(rendered, true);
        }
        if (int64_t(seen.size() + fresh.size()) >= f.ctx) {
            std::fprintf(stderr, "chat: error: the conversation (%zu + %zu tokens) does not fit the context (-c %lld); /reset to start over\n",
                         seen.size(), fresh.size(), (long long)f.ctx);
            history.pop_back();
            continue;
        }
        std::fprintf(stderr, "chat: prefill %zu new tokens (%zu reused)\n", fresh.size(), seen.size());
        GenRequest req;
        req.prompt = seen;
        req.prompt.insert(req.prompt.end(), fresh.begin(), fresh.end());
        req.shared_sampler = sampler;
        req.sampler_seen = seen.size();
        req.max_tokens = f.n_predict;
        ReasoningFilter shown(ReasoningFilter::from_flag(f.reasoning, tty_out));
        const GenOutcome r = generate_one(engine, std::move(req), [&](const std::string& piece) {
            print(shown.push(piece));
            return true;
        });
        print(shown.flush());
        print("\n");
        seen = engine.slot_tokens(0);
        save_prompt_cache(engine, f);
        // The reply ends with its end-of-generation token, which the template renders too: the next turn
        // feeds it, so the state matches the rendered history.
        if (r.stop == StopReason::EndOfGeneration && int64_t(seen.size()) < f.ctx) seen.push_back(r.end_token);
        history.push_back({"assistant", lm->tok.decode(r.tokens), std::nullopt});
        if (!f.no_perf) std::fputs(format_timings(r.stats, 0).c_str(), stderr);
    }
    return 0;
}

}  // namespace bf
