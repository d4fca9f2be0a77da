// Flags and helpers shared by the generating commands (run, chat, eval): model load, one-slot batcher, output.
#include "cli/gen_common.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "cli/hints.h"
#include "cli/interrupt.h"
#include "core/error.h"
#include "engine/threads.h"

namespace bf {

void GenFlags::declare_model(ArgParser& p) {
    p.option({"-m", "--model"}, &model, "FNAME", "model GGUF (default: " + default_model_path() + ")");
    p.option({"-t", "--threads"}, &threads, "N", "threads (default: all cores)");
    p.option({"-c", "--ctx-size"}, &ctx, "N", "context size (default 4096, 0 = the model's)");
    p.option({"-sys", "--system-prompt"}, &system_prompt, "TEXT", "system message");
    p.option({"--chat-template"}, &chat_template, "NAME|FILE",
             "template: phi4-mini, chatml, or a Jinja file (default: the model's own)");
    p.option({"--chat-template-file"}, &chat_template_file, "FILE", "Jinja template file");
    declare_cache_types(p, &cache_type_k, &cache_type_v);
    p.flag({"--mlock"}, &mlock, "keep the model in RAM (mlockall; a warning if the limit forbids it)");
    p.flag({"--log-disable"}, &log_disable, "no info lines or timings on stderr (errors still show)");
    p.flag({"--check-tensors"}, &check_tensors, "scan the weights for NaN/Inf at load (slower load)");
    p.ignored({"-ngl", "--n-gpu-layers", "--gpu-layers"}, true, "accepted and ignored (CPU only)");
    p.ignored({"-fa", "--flash-attn"}, true, "accepted and ignored");
    p.ignored({"--jinja"}, false, "accepted and ignored (templates are always Jinja)");
}

void GenFlags::declare_sampling(ArgParser& p) {
    p.option({"-b", "--batch-size", "-ub", "--ubatch-size"}, &batch, "N",
             "prompt tokens per forward pass (default 512)");
    p.option({"-n", "--predict", "--n-predict"}, &n_predict, "N", "tokens to generate (-1 = until end of generation)");
    p.option({"-s", "--seed"}, &seed, "SEED", "RNG seed (-1 = random)");
    p.option({"--temp"}, &temp, "T", "temperature, 0 = greedy (default 0.8)");
    p.option({"--top-k"}, &top_k, "N", "top-k, 0 = off (default 40)");
    p.option({"--top-p"}, &top_p, "P", "top-p, 1 = off (default 0.95)");
    p.option({"--min-p"}, &min_p, "P", "min-p, 0 = off (default 0.05)");
    p.option({"--repeat-penalty"}, &repeat_penalty, "F", "repetition penalty, 1 = off (default 1.0)");
    p.option({"--repeat-last-n"}, &repeat_last_n, "N", "tokens the penalties look at (default 64, -1 = context)");
    p.option({"--presence-penalty"}, &presence, "F", "presence penalty (default 0)");
    p.option({"--frequency-penalty"}, &frequency, "F", "frequency penalty (default 0)");
}

void GenFlags::declare_output(ArgParser& p) {
    p.option({"--reasoning"}, &reasoning, "MODE", "<think> text: auto (dim on a terminal), show, hide");
    p.flag({"--color"}, &color, "colors even when stdout is not a terminal (dim <think> text, green chat prompt)");
    p.flag({"--raw"}, &raw, "no chat template: the prompt is fed as is (special tokens are parsed)");
    p.flag({"--verbose-prompt"}, &verbose_prompt, "print the prompt tokens before generating");
    p.flag({"--no-perf"}, &no_perf, "do not print timings");
    p.option({"--prompt-cache"}, &prompt_cache, "FNAME",
             "reuse the prompt state saved in FNAME when the prompt extends it; save it there");
}

void log_info(const GenFlags& f, const std::string& line) {
    if (!f.log_disable) std::fprintf(stderr, "%s\n", line.c_str());
}

SamplerParams GenFlags::sampler() const {
    SamplerParams s;
    s.temp = float(temp);
    s.top_k = int32_t(top_k);
    s.top_p = float(top_p);
    s.min_p = float(min_p);
    s.repeat_penalty = float(repeat_penalty);
    s.repeat_last_n = int32_t(repeat_last_n < 0 ? ctx : repeat_last_n);
    s.presence_penalty = float(presence);
    s.frequency_penalty = float(frequency);
    s.seed = seed < 0 ? SamplerParams::kRandomSeed : uint64_t(seed);
    return s;
}

KvType parse_cache_types(const std::string& k, const std::string& v) {
    auto one = [](const std::string& name) {
        if (name != "f16") return name.empty() ? default_kv_type() : parse_kv_type(name);
        static bool said = false;  // parsed more than once per command; say it once
        if (!said)
            std::fprintf(stderr, "note: no f16 K/V cache layout; f16 runs as f32 (the same or closer results)\n");
        said = true;
        return KvType::F32;
    };
    const KvType tk = one(k.empty() ? v : k), tv = one(v.empty() ? k : v);
    if (tk != tv) fail("-ctk and -ctv must be the same type: the shared K/V cache stores both in one layout");
    return tk;
}

void declare_cache_types(ArgParser& p, std::string* k, std::string* v) {
    // Empty = not given, so that one of the two alone sets the shared type (callers may preset a type).
    k->clear();
    v->clear();
    p.option({"-ctk", "--cache-type-k"}, k, "TYPE",
             std::string("shared K/V cache type: f32 (f16 = f32), q8_0 or q4_0 (default ") +
                 kv_type_name(default_kv_type()) + ")");
    p.option({"-ctv", "--cache-type-v"}, v, "TYPE",
             "the same for V (the cache is shared: alone it sets both; both must agree)");
}

std::string default_model_path() {
    if (const char* env = std::getenv("BITFLASH_MODEL")) return env;
    return std::string(BF_SOURCE_DIR) + "/models/sambay-math-ternary-distilled.gguf";
}

std::unique_ptr<LoadedModel> load_for_generation(GenFlags& f) {
    const std::string path = f.model.empty() ? default_model_path() : f.model;
    if (f.model.empty() && !std::filesystem::exists(path))
        fail("no -m given and the default model " + path + " does not exist (run scripts/demo.sh to create it)");
    check_model_path(path);
    if (f.ctx < 0) fail("-c must be >= 0 (0 = the model's context)");
    if (!f.chat_template_file.empty()) {
        if (!f.chat_template.empty()) fail("give --chat-template or --chat-template-file, not both");
        if (!std::filesystem::is_regular_file(f.chat_template_file))
            fail("--chat-template-file " + f.chat_template_file + " is not a readable file");
        f.chat_template = f.chat_template_file;
    }
    (void)f.kv_type();  // reject a bad -ctk/-ctv before the load
    set_engine_threads(int(f.threads));
    auto lm = load_model(path, f.chat_template, "", f.check_tensors);
    if (f.ctx == 0) f.ctx = lm->model.config.n_ctx_train;
    if (f.ctx < 1) fail(path + " records no context length: give -c N");
    if (f.mlock && mlockall(MCL_CURRENT) != 0)
        std::fprintf(stderr, "warning: --mlock failed (%s); raise `ulimit -l` to lock the model in RAM\n",
                     std::strerror(errno));
    return lm;
}

BatcherOptions one_slot(const GenFlags& f) {
    BatcherOptions o;
    o.n_slots = 1;
    o.n_ctx = f.ctx;
    o.kv_type = f.kv_type();
    o.batch = f.batch > 0 ? f.batch : 512;  // -b 0 has always meant the default
    if (!f.prompt_cache.empty()) {          // the end-of-prompt checkpoint is what --prompt-cache saves
        o.ctx_checkpoints = 1;
        o.checkpoint_bytes = SIZE_MAX;
    }
    return o;
}

GenOutcome stream_reply(Batcher& engine, GenRequest req, const GenFlags& f) {
    ReasoningFilter shown(ReasoningFilter::from_flag(f.reasoning, isatty(STDOUT_FILENO) || f.color));
    auto print = [](const std::string& s) {
        std::fwrite(s.data(), 1, s.size(), stdout);
        std::fflush(stdout);
    };
    install_sigint_stop();
    clear_interrupt();
    GenOutcome r;
    try {
        r = generate_one(
            engine, std::move(req),
            [&](const std::string& piece) {
                print(shown.push(piece));
                return true;
            },
            interrupted);
    } catch (const Error&) {  // end the line and any dimmed reasoning before the error is printed
        print(shown.flush() + "\n");
        throw;
    }
    print(shown.flush() + "\n");
    return r;
}

void load_prompt_cache(Batcher& b, const GenFlags& f) {
    if (f.prompt_cache.empty() || !std::filesystem::exists(f.prompt_cache)) return;
    try {
        const size_t n = b.restore_slot(0, f.prompt_cache).tokens.size();
        if (f.verbose_prompt) std::fprintf(stderr, "prompt cache: %zu tokens from %s\n", n, f.prompt_cache.c_str());
    } catch (const StateFileError& e) {  // llama-cli's habit: a cache that does not fit is not an error
        std::fprintf(stderr, "warning: not using the prompt cache: %s\n", e.what());
    }
}

void save_prompt_cache(Batcher& b, const GenFlags& f) {
    if (!f.prompt_cache.empty()) b.save_slot(0, f.prompt_cache, /*prompt_only=*/true);
}

ReasoningFilter::Mode ReasoningFilter::from_flag(const std::string& flag, bool is_tty) {
    if (flag == "auto") return is_tty ? Mode::Dim : Mode::Show;
    if (flag == "show") return Mode::Show;
    if (flag == "hide") return Mode::Hide;
    if (flag == "dim") return Mode::Dim;
    fail("--reasoning must be auto, show, dim or hide, not '" + flag + "'");
}

std::string ReasoningFilter::render(const std::vector<TextSegment>& segs) const {
    std::string out;
    for (const auto& g : segs) {
        if (g.reasoning && mode_ == Mode::Hide) continue;
        if (g.opens) out += mode_ == Mode::Dim ? "\x1b[2m<think>" : "<think>";
        out += g.text;
        if (g.closes) out += mode_ == Mode::Dim ? "</think>\x1b[0m" : "</think>";
    }
    return out;
}

std::string ReasoningFilter::flush() {
    std::string out = render(split_.flush());
    if (split_.in_reasoning() && mode_ == Mode::Dim) out += "\x1b[0m";
    return out;
}

void check_utf8(const std::string& s, const char* what) {
    size_t i = 0;
    while (i < s.size()) {
        const unsigned char c = static_cast<unsigned char>(s[i]);
        size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
        if (n == 0 || i + n > s.size()) fail(strfmt("%s is not valid UTF-8 (byte %zu)", what, i));
        uint32_t cp = n == 1 ? c : c & (0x7f >> n);
        for (size_t k = 1; k < n; ++k) {
            const unsigned char cc = static_cast<unsigned char>(s[i + k]);
            if ((cc & 0xc0) != 0x80) fail(strfmt("%s is not valid UTF-8 (byte %zu)", what, i));
            cp = (cp << 6) | (cc & 0x3f);
        }
        const uint32_t min_cp[] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < min_cp[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            fail(strfmt("%s is not valid UTF-8 (byte %zu)", what, i));
        i += n;
    }
}

}  // namespace bf
