// bitflash chat: multi-turn conversation on stdin/stdout. The sequence state is kept between turns,
// so each turn prefills only its new tokens (the rule: the tokens already fed must decode to a prefix
// of the newly rendered conversation; otherwise the conversation is re-prefilled from the start).
// On a terminal: line editing and history (cli/line_editor.h); Ctrl-C stops a reply, not the chat.
#include <unistd.h>

#include <cstdio>
#include <iostream>

#include "cli/gen_common.h"
#include "cli/line_editor.h"
#include "core/error.h"
#include "engine/timings.h"

namespace bf {

namespace {

const char* kChatHelp =
    "commands:\n"
    "  /help           this list\n"
    "  /reset          forget the conversation and start over\n"
    "  /exit, /quit    end the chat (so do Ctrl-D and Ctrl-C at an empty prompt)\n"
    "  //TEXT          send a message that starts with '/'\n"
    "keys: Ctrl-C stops a reply; Up/Down recall earlier lines; Left/Right, Home/End, Ctrl-A/E/K/U/W edit.\n";

}  // namespace

int chat_session(const GenFlags& f, const LoadedModel& lm, const ChatOptions& o) {
    const bool tty_in = isatty(STDIN_FILENO);
    Batcher engine(lm, one_slot(f));
    // One sampler for the whole conversation: penalties see every turn and the RNG goes on.
    auto sampler = std::make_shared<Sampler>(f.sampler(), int32_t(lm.model.config.n_vocab));
    // The conversation so far as the state has seen it, plus the reply's end-of-generation token.
    load_prompt_cache(engine, f);
    std::vector<int32_t> seen = engine.slot_tokens(0);
    std::vector<ChatMessage> history;
    if (!f.system_prompt.empty()) history.push_back({"system", f.system_prompt, std::nullopt});
    LineEditor editor(STDIN_FILENO, STDOUT_FILENO);
    const std::string prompt = f.color ? "\x1b[1;32m> \x1b[0m" : "> ";
    std::string pending = o.first_message;
    bool first_turn = true;

    std::string line;
    for (;;) {
        if (!pending.empty()) {
            line = std::move(pending);
            pending.clear();
        } else if (tty_in) {
            const LineEditor::Result r = editor.read(prompt, line);
            if (r == LineEditor::Result::Eof) break;
            if (r == LineEditor::Result::Interrupt) {
                if (line.empty()) break;  // Ctrl-C at an empty prompt quits; on a typed line, clears it
                continue;
            }
            editor.add_history(line);
        } else if (!std::getline(std::cin, line)) {
            break;
        }
        if (line.empty()) continue;
        if (line[0] == '/' && line.rfind("//", 0) != 0) {
            const std::string cmd = line.substr(0, line.find(' '));
            if (cmd == "/exit" || cmd == "/quit") break;
            if (cmd == "/help") {
                std::fputs(kChatHelp, stderr);
            } else if (cmd == "/reset") {
                history.resize(f.system_prompt.empty() ? 0 : 1);
                seen.clear();
                engine.forget();
                sampler->reset();
                std::fprintf(stderr, "chat: conversation reset\n");
            } else {
                std::fprintf(
                    stderr, "chat: unknown command '%s' (/help lists them; //TEXT sends a message starting with '/')\n",
                    cmd.c_str());
            }
            continue;
        }
        if (line.rfind("//", 0) == 0) line.erase(0, 1);
        check_utf8(line, "the message");
        history.push_back({"user", line, std::nullopt});
        const std::string rendered = render_prompt(lm, history, true);
        // Reuse the state when what it has seen is a prefix of the new conversation text.
        const std::string seen_text = lm.tok.decode(seen);
        std::vector<int32_t> fresh;
        if (!seen.empty() && rendered.compare(0, seen_text.size(), seen_text) == 0) {
            fresh = lm.tok.encode(rendered.substr(seen_text.size()), true);
        } else {
            if (!seen.empty()) log_info(f, "chat: history changed, re-reading the conversation");
            seen.clear();
            engine.forget();
            fresh = lm.tok.encode(rendered, true);
        }
        if (int64_t(seen.size() + fresh.size()) >= f.ctx) {
            std::fprintf(stderr,
                         "chat: error: the conversation (%zu + %zu tokens) does not fit the context (-c %lld); /reset "
                         "to start over\n",
                         seen.size(), fresh.size(), (long long)f.ctx);
            history.pop_back();
            if (o.single_turn) return 1;
            continue;
        }
        log_info(f, strfmt("chat: prefill %zu new tokens (%zu reused)", fresh.size(), seen.size()));
        GenRequest req;
        req.prompt = seen;
        req.prompt.insert(req.prompt.end(), fresh.begin(), fresh.end());
        req.shared_sampler = sampler;
        req.sampler_seen = seen.size();
        req.max_tokens = f.n_predict;
        const GenOutcome r = stream_reply(engine, std::move(req), f);
        seen = engine.slot_tokens(0);
        save_prompt_cache(engine, f);
        // The reply ends with its end-of-generation token, which the template renders too: the next turn
        // feeds it, so the state matches the rendered history.
        if (r.stop == StopReason::EndOfGeneration && int64_t(seen.size()) < f.ctx) seen.push_back(r.end_token);
        // A stopped reply stays in the history as far as it went, as llama-cli keeps it.
        history.push_back({"assistant", lm.tok.decode(r.tokens), std::nullopt});
        if (r.stop == StopReason::Caller)
            std::fprintf(stderr, "chat: reply stopped (Ctrl-C at an empty prompt, /exit or Ctrl-D quits)\n");
        if (r.stop == StopReason::ContextFull)
            std::fprintf(stderr, "chat: the context (-c %lld) is full; /reset to start over\n", (long long)f.ctx);
        // Load time belongs to the first turn only.
        if (!f.no_perf && !f.log_disable)
            std::fputs(format_timings(r.stats, first_turn ? lm.load_ms : 0).c_str(), stderr);
        first_turn = false;
        if (o.single_turn) break;
    }
    return 0;
}

int cmd_chat(int argc, char** argv) {
    GenFlags f;
    bool single_turn = false, no_cnv = false;
    ArgParser p("bitflash chat [-m MODEL.gguf] [-sys SYSTEM] [options]",
                "Multi-turn chat: one user message per line on stdin. '/help' lists the commands; '/exit', Ctrl-D\n"
                "or Ctrl-C at an empty prompt ends it; Ctrl-C during a reply stops the reply.");
    f.declare(p);
    p.flag({"-st", "--single-turn"}, &single_turn, "answer one message, then exit");
    p.ignored({"-cnv", "--conversation", "-i", "--interactive"}, false, "accepted (chat is always a conversation)");
    p.flag({"-no-cnv", "--no-conversation"}, &no_cnv, "not for chat: use `bitflash run`");
    if (!p.parse(argc, argv)) return 0;
    if (no_cnv) fail("-no-cnv: chat is always a conversation; `bitflash run -p TEXT` answers one prompt");
    if (f.raw) fail("chat always uses a chat template (--raw is for `bitflash run`)");
    if (!f.system_prompt.empty()) check_utf8(f.system_prompt, "the system prompt");
    auto lm = load_for_generation(f);
    ChatOptions o;
    o.single_turn = single_turn;
    return chat_session(f, *lm, o);
}

}  // namespace bf
