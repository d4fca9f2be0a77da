// Hyper-parameters: HF config.json defaults (architecture.md §1.1), the layer rule (§3.1), GGUF keys
// (docs/formats.md "Tensor names and metadata keys").
#include "model/config.h"

#include <cmath>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "formats/gguf.h"

namespace bf {

const char* layer_kind_name(LayerKind k) {
    switch (k) {
        case LayerKind::Mamba: return "mamba";
        case LayerKind::MambaMemory: return "mamba+memory";
        case LayerKind::SwaAttn: return "swa-attention";
        case LayerKind::GlobalAttn: return "global-attention";
        case LayerKind::Gmu: return "gmu";
        case LayerKind::CrossAttn: return "cross-attention";
    }
    return "?";
}

LayerKind ModelConfig::kind(int64_t l) const {
    const int64_t h = n_layer / 2;
    const bool mamba_family = l % 2 == 0;  // mb_per_layer = 2
    if (l >= h + 2) return mamba_family ? LayerKind::Gmu : LayerKind::CrossAttn;
    if (l == h) return LayerKind::MambaMemory;
    if (l == h + 1) return LayerKind::GlobalAttn;
    return mamba_family ? LayerKind::Mamba : LayerKind::SwaAttn;
}

float ModelConfig::lambda_init(int64_t l) const { return float(0.8 - 0.6 * std::exp(-0.3 * double(l))); }

void ModelConfig::validate() const {
    auto in_range = [](const char* what, int64_t v, int64_t lo, int64_t hi) {
        if (v < lo || v > hi)
            fail(strfmt("config: %s = %lld is outside [%lld, %lld]", what, (long long)v, (long long)lo, (long long)hi));
    };
    in_range("vocab_size", n_vocab, 1, int64_t(1) << 24);
    in_range("hidden_size", d_model, 1, int64_t(1) << 16);
    in_range("num_hidden_layers", n_layer, 4, 1024);
    in_range("num_attention_heads", n_head, 2, 4096);
    in_range("num_key_value_heads", n_kv_head, 2, 4096);
    in_range("intermediate_size", d_ff, 1, int64_t(1) << 20);
    in_range("mamba d_inner", d_inner, 1, int64_t(1) << 20);
    in_range("mamba_d_state", d_state, 1, 1024);
    in_range("mamba_d_conv", d_conv, 1, 64);
    in_range("mamba_dt_rank", dt_rank, 1, int64_t(1) << 16);
    in_range("sliding_window", window, 1, int64_t(1) << 24);
    if (n_layer % 4 != 0)
        fail(
            strfmt("config: num_hidden_layers = %lld must be divisible by 4 (SambaY's YOCO split needs an "
                   "even n/2)",
                   (long long)n_layer));
    if (d_model % n_head != 0)
        fail(strfmt("config: hidden_size %lld is not divisible by num_attention_heads %lld", (long long)d_model,
                    (long long)n_head));
    if (head_dim != d_model / n_head) fail("config: head_dim must equal hidden_size / num_attention_heads");
    // Differential attention splits heads into even/odd stripes, each doing GQA (§4.5).
    if (n_head % 2 != 0 || n_kv_head % 2 != 0 || n_head % n_kv_head != 0)
        fail(
            strfmt("config: differential attention needs even head counts with num_attention_heads (%lld) a "
                   "multiple of num_key_value_heads (%lld)",
                   (long long)n_head, (long long)n_kv_head));
    if (!std::isfinite(norm_eps) || norm_eps <= 0 || norm_eps > 1) fail("config: layer_norm_eps must be in (0, 1]");
}

namespace {

int64_t json_int(const nlohmann::json& j, const char* key, int64_t def, bool required) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) {
        if (required) fail(strfmt("config.json: missing key '%s'", key));
        return def;
    }
    if (!it->is_number_integer()) fail(strfmt("config.json: '%s' must be an integer", key));
    return it->get<int64_t>();
}

// Optional boolean and string keys: a value of another type is a clear error (nlohmann's value() would
// throw its own type_error, which callers do not expect from a parser of untrusted files).
bool json_bool(const nlohmann::json& j, const char* key, bool def) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) return def;
    if (!it->is_boolean()) fail(strfmt("config.json: '%s' must be true or false", key));
    return it->get<bool>();
}

std::string json_string(const nlohmann::json& j, const char* key, const std::string& def) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) return def;
    if (!it->is_string()) fail(strfmt("config.json: '%s' must be a string", key));
    return it->get<std::string>();
}

// sliding_window comes as an int, a per-layer list (null for full attention), or with layer_types.
int64_t parse_window(const nlohmann::json& j) {
    auto it = j.find("sliding_window");
    if (it == j.end() || it->is_null()) fail("config.json: missing key 'sliding_window'");
    if (it->is_number_integer()) return it->get<int64_t>();
    if (it->is_array()) {
        int64_t w = -1;
        for (const auto& e : *it) {
            if (e.is_null()) continue;
            if (!e.is_number_integer()) fail("config.json: sliding_window list entries must be integers or null");
            if (w >= 0 && e.get<int64_t>() != w) fail("config.json: sliding_window list has differing windows");
            w = e.get<int64_t>();
        }
        if (w < 0) fail("config.json: sliding_window list has no window");
        return w;
    }
    fail("config.json: sliding_window must be an integer or a list");
}

}  // namespace

ModelConfig config_from_hf_json(const std::string& json_text) {
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(json_text);
    } catch (const nlohmann::json::exception& e) {
        fail(std::string("config.json: invalid JSON: ") + e.what());
    }
    if (!j.is_object()) fail("config.json: not a JSON object");
    const std::string model_type = json_string(j, "model_type", "");
    if (model_type != "phi4flash")
        fail("config.json: unsupported architecture model_type '" + model_type +
             "' (bitflash runs phi4flash, i.e. Phi-4-mini-flash-reasoning)");
    if (json_int(j, "mb_per_layer", 2, false) != 2)
        fail("config.json: mb_per_layer must be 2 (the only layout the SambaY checkpoint format supports)");

    ModelConfig c;
    c.n_vocab = json_int(j, "vocab_size", 0, true);
    c.d_model = json_int(j, "hidden_size", 0, true);
    c.n_layer = json_int(j, "num_hidden_layers", 0, true);
    c.n_head = json_int(j, "num_attention_heads", 0, true);
    c.n_kv_head = json_int(j, "num_key_value_heads", c.n_head, false);
    c.d_ff = json_int(j, "intermediate_size", 0, true);
    c.n_ctx_train = json_int(j, "max_position_embeddings", 65536, false);
    if (c.n_head <= 0) fail("config.json: num_attention_heads must be positive");
    c.head_dim = c.d_model / c.n_head;
    // Mamba keys are absent from the released config: class defaults (§1.1).
    c.d_state = json_int(j, "mamba_d_state", 16, false);
    c.d_conv = json_int(j, "mamba_d_conv", 4, false);
    c.d_inner = json_int(j, "mamba_expand", 2, false) * c.d_model;
    auto rank = j.find("mamba_dt_rank");
    if (rank == j.end() || rank->is_null() || (rank->is_string() && rank->get<std::string>() == "auto"))
        c.dt_rank = (c.d_model + 15) / 16;
    else if (rank->is_number_integer())
        c.dt_rank = rank->get<int64_t>();
    else
        fail("config.json: mamba_dt_rank must be an integer or \"auto\"");
    c.window = parse_window(j);
    auto eps = j.find("layer_norm_eps");
    if (eps != j.end() && !eps->is_null()) {
        if (!eps->is_number()) fail("config.json: layer_norm_eps must be a number");
        c.norm_eps = eps->get<float>();
    }
    c.tied_embeddings = json_bool(j, "tie_word_embeddings", true);
    c.conv_bias = json_bool(j, "mamba_conv_bias", true);
    if (json_bool(j, "mamba_proj_bias", false)) fail("config.json: mamba_proj_bias = true is not supported");
    if (json_bool(j, "mlp_bias", false)) fail("config.json: mlp_bias = true is not supported");
    if (json_bool(j, "lm_head_bias", false)) fail("config.json: lm_head_bias = true is not supported");
    c.name = json_string(j, "_name_or_path", "phi4flash");
    c.validate();
    return c;
}

namespace {
std::string key(const char* suffix) { return std::string(kArch) + "." + suffix; }
}  // namespace

void config_to_gguf(const ModelConfig& c, GgufWriter& w) {
    w.add_kv("general.architecture", GgufValue::string(kArch));
    w.add_kv("general.name", GgufValue::string(c.name));
    w.add_kv(key("vocab_size"), GgufValue::u32(uint32_t(c.n_vocab)));
    w.add_kv(key("context_length"), GgufValue::u32(uint32_t(c.n_ctx_train)));
    w.add_kv(key("embedding_length"), GgufValue::u32(uint32_t(c.d_model)));
    w.add_kv(key("block_count"), GgufValue::u32(uint32_t(c.n_layer)));
    w.add_kv(key("feed_forward_length"), GgufValue::u32(uint32_t(c.d_ff)));
    w.add_kv(key("attention.head_count"), GgufValue::u32(uint32_t(c.n_head)));
    w.add_kv(key("attention.head_count_kv"), GgufValue::u32(uint32_t(c.n_kv_head)));
    w.add_kv(key("attention.key_length"), GgufValue::u32(uint32_t(c.head_dim)));
    w.add_kv(key("attention.sliding_window"), GgufValue::u32(uint32_t(c.window)));
    w.add_kv(key("attention.layer_norm_epsilon"), GgufValue::f32(c.norm_eps));
    w.add_kv(key("ssm.conv_kernel"), GgufValue::u32(uint32_t(c.d_conv)));
    w.add_kv(key("ssm.inner_size"), GgufValue::u32(uint32_t(c.d_inner)));
    w.add_kv(key("ssm.state_size"), GgufValue::u32(uint32_t(c.d_state)));
    w.add_kv(key("ssm.time_step_rank"), GgufValue::u32(uint32_t(c.dt_rank)));
    w.add_kv(key("ssm.conv_bias"), GgufValue::boolean(c.conv_bias));
}

ModelConfig config_from_gguf(const GgufFile& f) {
    const std::string arch = f.get_string("general.architecture");
    if (arch != kArch) fail("unsupported architecture '" + arch + "' in GGUF (bitflash runs " + kArch + ")");
    ModelConfig c;
    c.name = f.find("general.name") ? f.get_string("general.name") : std::string(kArch);
    c.d_model = f.get_u32(key("embedding_length"));
    c.n_layer = f.get_u32(key("block_count"));
    c.d_ff = f.get_u32(key("feed_forward_length"));
    c.n_head = f.get_u32(key("attention.head_count"));
    c.n_kv_head = f.get_u32(key("attention.head_count_kv"));
    c.head_dim = f.get_u32_or(key("attention.key_length"), c.n_head ? uint32_t(c.d_model / c.n_head) : 0);
    c.window = f.get_u32(key("attention.sliding_window"));
    c.norm_eps = f.get_f32_or(key("attention.layer_norm_epsilon"), 1e-5f);
    c.d_conv = f.get_u32(key("ssm.conv_kernel"));
    c.d_inner = f.get_u32(key("ssm.inner_size"));
    c.d_state = f.get_u32(key("ssm.state_size"));
    c.dt_rank = f.get_u32(key("ssm.time_step_rank"));
    c.conv_bias = f.get_bool_or(key("ssm.conv_bias"), true);
    c.n_ctx_train = f.get_u32_or(key("context_length"), 65536);
    c.n_vocab = f.get_u32_or(key("vocab_size"), 0);
    if (c.n_vocab == 0) {  // fall back to the embedding's row count
        const auto& t = f.tensor("token_embd.weight");
        if (t.ne.size() != 2) fail("token_embd.weight must be 2-D");
        c.n_vocab = t.ne[1];
    }
    c.tied_embeddings = f.find_tensor("output.weight") == nullptr;
    c.validate();
    return c;
}

}  // namespace bf
