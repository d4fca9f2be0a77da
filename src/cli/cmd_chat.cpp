// bitflash chat: multi-turn conversation on stdin/stdout. The sequence state is kept between turns,
// so each turn prefills only its new tokens (the rule: the tokens already fed must decode to a prefix
// of the newly rendered conversation; otherwise the conversation is re-prefilled from the start).
#include <unistd.h>

#include <cstdio>
#include <iostream>

#include "cli/gen_common.h"
#include "core/error.h"
#include "engine/generate.h"

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
    Session session(lm->model, f.ctx, f.batch, f.kv_type());
    Sampler sampler(f.sampler(), int32_t(lm->model.config.n_vocab));
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
            session.reset();
            sampler.reset();
            std::fprintf(stderr, "chat: conversation reset\n");
            continue;
        }
        if (line.empty()) continue;
        check_utf8(line, "the message");
        history.push_back({"user", line, std::nullopt});
        const std::string rendered = render_prompt(*lm, history, true);
        // Reuse the state when what it has seen is a prefix of the new conversation text.
        const std::string seen = lm->tok.decode(session.tokens());
        std::vector<int32_t> fresh;
        if (session.n_past() > 0 && rendered.compare(0, seen.size(), seen) == 0) {
            fresh = lm->tok.encode(rendered.substr(seen.size()), true);
        } else {
            if (session.n_past() > 0) std::fprintf(stderr, "chat: history changed, re-reading the conversation\n");
            session.reset();
            fresh = lm->tok.encode(rendered, true);
        }
        if (session.n_past() + int64_t(fresh.size()) >= session.n_ctx()) {
            std::fprintf(stderr, "chat: error: the conversation (%lld + %zu tokens) does not fit the context (-c %lld); /reset to start over\n",
                         (long long)session.n_past(), fresh.size(), (long long)session.n_ctx());
            history.pop_back();
            continue;
        }
        std::fprintf(stderr, "chat: prefill %zu new tokens (%lld reused)\n", fresh.size(), (long long)session.n_past());
        ReasoningFilter shown(ReasoningFilter::from_flag(f.reasoning, tty_out));
        GenerateResult r = generate(session, sampler, lm->tok, lm->eog, fresh, f.n_predict, [&](const std::string& piece) {
            print(shown.push(piece));
            return true;
        });
        print(shown.flush());
        print("\n");
        // The reply ends with its end-of-generation token, which the template renders too: feed it,
        // so the state matches the rendered history at the next turn.
        if (r.stop == StopReason::EndOfGeneration && session.n_past() < session.n_ctx()) {
            session.feed(std::span<const int32_t>(&r.end_token, 1));
        }
        history.push_back({"assistant", lm->tok.decode(r.tokens), std::nullopt});
        if (!f.no_perf) std::fputs(format_timings(r.timings, 0).c_str(), stderr);
    }
    return 0;
}

}  // namespace bf
