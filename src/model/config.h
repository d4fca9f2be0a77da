// SambaY hyper-parameters (architecture.md §1) and the layer layout they imply (§3). Reads them from a
// Hugging Face config.json or from GGUF metadata, writes them back as GGUF metadata.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace bf {

class GgufFile;
class GgufWriter;

// What each layer index computes (§3.1).
enum class LayerKind {
    Mamba,        // even l < n/2: selective SSM
    MambaMemory,  // l = n/2: Mamba that also exports its readout as the GMU memory
    SwaAttn,      // odd l < n/2: sliding-window differential attention
    GlobalAttn,   // l = n/2+1: full causal differential attention; its K/V are the shared cache
    Gmu,          // even l >= n/2+2: gated memory unit
    CrossAttn,    // odd l >= n/2+2: queries only, attends over the shared K/V
};
const char* layer_kind_name(LayerKind k);

struct ModelConfig {
    int64_t n_vocab = 0;
    int64_t d_model = 0;      // hidden_size
    int64_t n_layer = 0;      // num_hidden_layers, divisible by 4
    int64_t n_head = 0;       // query heads
    int64_t n_kv_head = 0;    // key/value heads
    int64_t head_dim = 0;     // d_model / n_head
    int64_t d_ff = 0;         // intermediate_size (fc1 has 2*d_ff rows: gate, then up)
    int64_t d_inner = 0;      // mamba_expand * d_model
    int64_t d_state = 0;      // mamba_d_state
    int64_t d_conv = 0;       // mamba_d_conv
    int64_t dt_rank = 0;      // mamba_dt_rank ("auto" = ceil(d_model / 16))
    int64_t window = 0;       // sliding_window of the SWA layers, including the current token
    int64_t n_ctx_train = 0;  // max_position_embeddings (informational: there are no positions)
    float norm_eps = 1e-5f;   // LayerNorm eps (subln's RMSNorm eps is hard-coded 1e-5, §4.5)
    bool tied_embeddings = true;
    bool conv_bias = true;
    std::string name;  // informational (general.name)

    LayerKind kind(int64_t layer) const;
    int64_t memory_layer() const { return n_layer / 2; }         // exports m_t
    int64_t shared_kv_layer() const { return n_layer / 2 + 1; }  // owns the shared K/V
    int64_t kv_dim() const { return n_kv_head * head_dim; }
    float lambda_init(int64_t layer) const;  // 0.8 − 0.6·exp(−0.3·l), global layer index

    // Throws bf::Error if the values are inconsistent or unreasonably large.
    void validate() const;
};

// config.json of model_type "phi4flash"; absent keys take the defaults of architecture.md §1.
ModelConfig config_from_hf_json(const std::string& json_text);
ModelConfig config_from_gguf(const GgufFile& f);
void config_to_gguf(const ModelConfig& c, GgufWriter& w);

inline constexpr const char* kArch = "phi4flash";

}  // namespace bf
