// The storage-type rule of the converter: outtype names, llama.cpp-style mixes adapted to SambaY's tensors,
// and the fallback for rows that do not fit a type's blocks (quant_mix.h).
#include "convert/quant_mix.h"

#include <algorithm>
#include <cctype>
#include <cstdio>

#include "convert/convert.h"
#include "core/error.h"
#include "model/config.h"
#include "model/tensor_names.h"

namespace bf {

bool is_ternary(DType t) { return t == DType::TQ2_0 || t == DType::I2_S || t == DType::TQ1_0; }

namespace {

struct MixName {
    const char* name;
    DType type;
    QuantMix mix;
};
constexpr MixName kMixNames[] = {
    {"q4_0", DType::Q4_0, QuantMix::Plain},    {"q6_k", DType::Q6_K, QuantMix::Plain},
    {"q4_k_s", DType::Q4_K, QuantMix::Small},  {"q4_k_m", DType::Q4_K, QuantMix::Medium},
    {"q4_k", DType::Q4_K, QuantMix::Medium},   {"q5_k_s", DType::Q5_K, QuantMix::Small},
    {"q5_k_m", DType::Q5_K, QuantMix::Medium}, {"q5_k", DType::Q5_K, QuantMix::Medium},
};

bool is_low_bit(DType t) { return t == DType::Q4_0 || t == DType::Q4_K || t == DType::Q5_K || t == DType::Q6_K; }

// Ternary formats need whole 256-element blocks along the input (TQ2_0); the same rule is used for
// I2_S so that every ternary file ternarizes the same matrices (tools/reference does the same).
bool fits(DType t, int64_t cols) {
    if (is_ternary(t)) return cols % 256 == 0;
    return cols % dtype_block_elems(t) == 0;
}

DType one_step_up(DType t) { return t == DType::Q4_K ? DType::Q5_K : t == DType::Q5_K ? DType::Q6_K : t; }

// llama.cpp's use_more_bits: the first and last eighth of the layers, and every third one between.
bool more_bits_layer(int64_t i, int64_t n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

// The type a mix prefers for tensor `s`, before the fit check. docs/formats.md "Quantization mixes" gives
// the reasons; in short: the head and the Δ path are small and sensitive, the MLP's down projection and
// the attention's fused q/k/v are where llama.cpp spends extra bits, and the global layer's K/V are read
// by every cross-decoder layer.
DType preferred_type(const TensorSpec& s, const ConvertOptions& o, const ModelConfig& c) {
    if (s.role != TensorRole::Projection) {
        if (o.head_type) return *o.head_type;
        if (is_ternary(o.outtype)) return DType::Q8_0;
        const bool is_head = s.role == TensorRole::Output || c.tied_embeddings;
        return o.mix != QuantMix::Uniform && is_head ? DType::Q6_K : o.outtype;
    }
    if (o.mix == QuantMix::Uniform) return o.outtype;
    int layer = -1, name_at = 0;
    if (std::sscanf(s.gguf.c_str(), "blk.%d.%n", &layer, &name_at) != 1 || name_at == 0) return o.outtype;
    const std::string part = s.gguf.substr(size_t(name_at));
    if (part == "ssm_x.weight" || part == "ssm_dt.weight") return DType::Q8_0;
    if (o.mix == QuantMix::Plain) return o.outtype;
    const bool medium = o.mix == QuantMix::Medium;
    if (part == "ffn_down.weight") {
        if (medium && more_bits_layer(layer, c.n_layer)) return DType::Q6_K;
        if (!medium && o.outtype == DType::Q4_K && layer < c.n_layer / 8) return DType::Q5_K;
    } else if (part == "attn_qkv.weight") {
        if (layer == c.shared_kv_layer()) return medium ? DType::Q6_K : one_step_up(o.outtype);
        if (medium) return one_step_up(o.outtype);
    }
    return o.outtype;
}

}  // namespace

void parse_outtype(const std::string& name, ConvertOptions& o) {
    std::string lower = name;
    std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char ch) { return std::tolower(ch); });
    for (const auto& m : kMixNames)
        if (lower == m.name) {
            o.outtype = m.type;
            o.mix = m.mix;
            return;
        }
    try {
        o.outtype = dtype_from_name(lower);
        o.mix = QuantMix::Uniform;
    } catch (const Error&) {
        fail("unknown type name '" + name +
             "' (expected f32, f16, bf16, q8_0, q4_0, q4_k_s, q4_k_m, q5_k_s, q5_k_m, q6_k, tq2_0 or i2_s; "
             "q4_k and q5_k mean _m)");
    }
}

std::string outtype_name(const ConvertOptions& o) {
    if (o.mix == QuantMix::Small || o.mix == QuantMix::Medium)
        return std::string(dtype_name(o.outtype)) + (o.mix == QuantMix::Small ? "_s" : "_m");
    return dtype_name(o.outtype);
}

uint32_t file_type_of(const ConvertOptions& o) {
    const bool small = o.mix == QuantMix::Small;
    switch (o.outtype) {
        case DType::F32: return 0;
        case DType::F16: return 1;
        case DType::Q4_0: return 2;
        case DType::Q8_0: return 7;
        case DType::Q4_K: return small ? 14 : 15;  // MOSTLY_Q4_K_S / _M
        case DType::Q5_K: return small ? 16 : 17;  // MOSTLY_Q5_K_S / _M
        case DType::Q6_K: return 18;
        case DType::BF16: return 32;
        case DType::TQ1_0: return 36;
        case DType::TQ2_0: return 37;
        case DType::I2_S: return 40;
    }
    return 0;
}

std::string file_type_name(uint32_t file_type) {
    for (const char* name :
         {"f32", "f16", "bf16", "q8_0", "q4_0", "q4_k_s", "q4_k_m", "q5_k_s", "q5_k_m", "q6_k", "tq2_0", "i2_s"}) {
        ConvertOptions o;
        parse_outtype(name, o);
        if (file_type_of(o) == file_type) return outtype_name(o);
    }
    return "";
}

DType tensor_storage_type(const TensorSpec& s, const ConvertOptions& o, const ModelConfig& c, std::string* note) {
    if (s.role == TensorRole::Param) return DType::F32;
    const DType want = preferred_type(s, o, c);
    if (want == DType::I2_S && s.role != TensorRole::Projection)
        fail("--head-type i2_s is not supported (use f16, q8_0, q6_k, q4_k or tq2_0)");
    const int64_t cols = s.shape.back();
    if (fits(want, cols)) return want;
    DType got;
    if (is_low_bit(want)) {  // keep the bits rather than drop to a coarser block type
        got = fits(DType::Q8_0, cols) ? DType::Q8_0 : DType::F16;
    } else {  // a matrix too narrow for the blocks (e.g. dt_proj, dt_rank wide) keeps 16 bits
        got = o.outtype == DType::F32 ? DType::F32 : DType::F16;
    }
    if (note)
        *note = strfmt("%s needs rows of a multiple of %lld, not %lld: %s", dtype_name(want),
                       (long long)(is_ternary(want) ? 256 : dtype_block_elems(want)), (long long)cols, dtype_name(got));
    return got;
}

}  // namespace bf
