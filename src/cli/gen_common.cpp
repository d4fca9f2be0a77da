#include "cli/gen_common.h"

#include <filesystem>

#include "core/error.h"
#include "kernels/matmul.h"

namespace bf {

void GenFlags::declare(ArgParser& p) {
    p.option({"-m", "--model"}, &model, "FNAME", "model GGUF (default: " + default_model_path() + ")");
    p.option({"-n", "--predict", "--n-predict"}, &n_predict, "N", "tokens to generate (-1 = until end of generation)");
    p.option({"-t", "--threads"}, &threads, "N", "threads (default: all cores)");
    p.option({"-c", "--ctx-size"}, &ctx, "N", "context size (default 4096)");
    p.option({"-b", "--batch-size", "-ub", "--ubatch-size"}, &batch, "N", "prompt tokens per forward pass (default 512)");
    p.option({"-s", "--seed"}, &seed, "SEED", "RNG seed (-1 = random)");
    p.option({"--temp"}, &temp, "T", "temperature, 0 = greedy (default 0.8)");
    p.option({"--top-k"}, &top_k, "N", "top-k, 0 = off (default 40)");
    p.option({"--top-p"}, &top_p, "P", "top-p, 1 = off (default 0.95)");
    p.option({"--min-p"}, &min_p, "P", "min-p, 0 = off (default 0.05)");
    p.option({"--repeat-penalty"}, &repeat_penalty, "F", "repetition penalty, 1 = off (default 1.0)");
    p.option({"--repeat-last-n"}, &repeat_last_n, "N", "tokens the penalties look at (default 64, -1 = context)");
    p.option({"--presence-penalty"}, &presence, "F", "presence penalty (default 0)");
    p.option({"--frequency-penalty"}, &frequency, "F", "frequency penalty (default 0)");
    p.option({"-sys", "--system-prompt"}, &system_prompt, "TEXT", "system message");
    p.option({"--chat-template"}, &chat_template, "NAME|FILE",
             "template: phi4-mini, chatml, or a Jinja file (default: the model's own)");
    p.option({"--reasoning"}, &reasoning, "MODE", "<think> text: auto (dim on a terminal), show, hide");
    declare_cache_types(p, &cache_type_k, &cache_type_v);
    p.flag({"--raw"}, &raw, "no chat template: the prompt is fed as is (special tokens are parsed)");
    p.flag({"--verbose-prompt"}, &verbose_prompt, "print the prompt tokens before generating");
    p.flag({"--no-perf"}, &no_perf, "do not print timings");
    p.flag({"--check-tensors"}, &check_tensors, "scan the weights for NaN/Inf at load (slower load)");
    p.ignored({"-ngl", "--n-gpu-layers", "--gpu-layers"}, true, "accepted and ignored (CPU only)");
    p.ignored({"-fa", "--flash-attn"}, true, "accepted and ignored");
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
    const KvType tk = parse_kv_type(k), tv = parse_kv_type(v);
    if (tk != tv) fail("-ctk and -ctv must be the same type: the shared K/V cache stores both in one layout");
    return tk;
}

void declare_cache_types(ArgParser& p, std::string* k, std::string* v) {
    p.option({"-ctk", "--cache-type-k"}, k, "TYPE", "shared K/V cache type: f32, q8_0 or q4_0 (default f32)");
    p.option({"-ctv", "--cache-type-v"}, v, "TYPE", "the same for V (must equal -ctk)");
}

std::string default_model_path() {
    if (const char* env = std::getenv("BITFLASH_MODEL")) return env;
    return std::string(BF_SOURCE_DIR) + "/models/sambay-math-ternary.gguf";
}

std::unique_ptr<LoadedModel> load_for_generation(const GenFlags& f) {
    const std::string path = f.model.empty() ? default_model_path() : f.model;
    if (f.model.empty() && !std::filesystem::exists(path))
        fail("no -m given and the default model " + path + " does not exist (run scripts/demo.sh to create it)");
    if (f.ctx < 1) fail("-c must be >= 1");
    (void)f.kv_type();  // reject a bad -ctk/-ctv before the load
    set_num_threads(int(f.threads));
    return load_model(path, f.chat_template, "", f.check_tensors);
}

BatcherOptions one_slot(const GenFlags& f) {
    BatcherOptions o;
    o.n_slots = 1;
    o.n_ctx = f.ctx;
    o.kv_type = f.kv_type();
    o.batch = f.batch > 0 ? f.batch : 512;  // -b 0 has always meant the default
    return o;
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
