// Quantized shared K/V cache: type names, token quantization and the block layout of kv_cache.h.
#include "kernels/kv_cache.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "core/fp16.h"
#include "kernels/kernel_api.h"

namespace bf {

const char* kv_type_name(KvType t) {
    switch (t) {
        case KvType::F32: return "f32";
        case KvType::Q8_0: return "q8_0";
        case KvType::Q4_0: return "q4_0";
    }
    return "?";
}

KvType parse_kv_type(const std::string& s) {
    if (s == "f32") return KvType::F32;
    if (s == "q8_0") return KvType::Q8_0;
    if (s == "q4_0") return KvType::Q4_0;
    fail(strfmt("unknown KV cache type '%s' (expected f32, q8_0 or q4_0)", s.c_str()));
}

KvType default_kv_type() { return active_kernels().kv_scores ? KvType::Q8_0 : KvType::F32; }

int64_t kv_bytes_per_token(KvType t, int64_t n_kv_head, int64_t head_dim) {
    switch (t) {
        case KvType::F32: return 2 * n_kv_head * head_dim * int64_t(sizeof(float));
        case KvType::Q8_0: return 2 * n_kv_head * (head_dim + 2);      // int8 codes + f16 scale, K and V
        case KvType::Q4_0: return 2 * n_kv_head * (head_dim / 2 + 2);  // int4 codes + f16 scale
    }
    return 0;
}

uint16_t quantize_kv_group(const float* x, int64_t n, int32_t qmax, int8_t* q) {
    float amax = 0.0f;
    for (int64_t i = 0; i < n; ++i) amax = std::max(amax, std::fabs(x[i]));
    if (!std::isfinite(amax)) amax = 0.0f;  // NaN/inf rows become zeros rather than undefined codes
    const uint16_t dh = f32_to_f16(amax / float(qmax));
    const float d = f16_to_f32(dh);
    const float inv = d > 0.0f ? 1.0f / d : 0.0f;
    const float lim = float(qmax);
    for (int64_t i = 0; i < n; ++i) {
        float v = x[i] * inv;
        v = v > lim ? lim : (v < -lim ? -lim : v);
        q[i] = int8_t(std::nearbyint(v == v ? v : 0.0f));
    }
    return dh;
}

QuantKvCache::QuantKvCache(KvType type, int64_t n_kv_head, int64_t head_dim, int64_t n_ctx)
    : type_(type), n_kv_head_(n_kv_head), head_dim_(head_dim) {
    if (type == KvType::F32) fail("QuantKvCache: f32 is not a quantized type");
    if (head_dim % 4 || head_dim > 1024)
        fail(strfmt("quantized KV cache needs head_dim %% 4 == 0, got %lld", (long long)head_dim));
    const int64_t blocks = (n_ctx + kKvBlock - 1) / kKvBlock;
    const KvView v = view();
    k_.reserve(size_t(blocks * v.block_bytes()));
    v_.reserve(size_t(blocks * v.block_bytes()));
    ks_.reserve(size_t(blocks * n_kv_head * kKvBlock));
    vs_.reserve(size_t(blocks * n_kv_head * kKvBlock));
}

KvView QuantKvCache::view() const {
    KvView v;
    v.type = type_;
    v.n_kv_head = n_kv_head_;
    v.head_dim = head_dim_;
    v.n_tok = n_tok_;
    v.k = k_.data();
    v.v = v_.data();
    v.ks = ks_.data();
    v.vs = vs_.data();
    return v;
}

void QuantKvCache::clear() {
    n_tok_ = 0;
    k_.clear();
    v_.clear();
    ks_.clear();
    vs_.clear();
}

void QuantKvCache::append(const float* k, const float* v) {
    const KvView lay = view();
    const int64_t D = head_dim_, hb = lay.head_bytes(), blk = n_tok_ / kKvBlock, t = n_tok_ % kKvBlock;
    if (t == 0) {  // a new block, zero-filled so kernels may read its unused tokens harmlessly
        k_.resize(k_.size() + size_t(lay.block_bytes()), 0);
        v_.resize(v_.size() + size_t(lay.block_bytes()), 0);
        ks_.resize(ks_.size() + size_t(n_kv_head_ * kKvBlock), 0);
        vs_.resize(vs_.size() + size_t(n_kv_head_ * kKvBlock), 0);
    }
    const bool q4 = type_ == KvType::Q4_0;
    const int32_t off = lay.offset();
    // Stores the code of logical byte i of a head block.
    auto put = [&](uint8_t* base, int64_t i, int code) {
        const uint8_t u = uint8_t(code + off);
        if (!q4) {
            base[i] = u;
        } else if (i < 8 * D) {
            base[i] = uint8_t((base[i] & 0xF0) | u);
        } else {
            base[i - 8 * D] = uint8_t((base[i - 8 * D] & 0x0F) | (u << 4));
        }
    };
    int8_t q[1024];
    for (int64_t g = 0; g < n_kv_head_; ++g) {
        uint8_t* kb = k_.data() + (blk * n_kv_head_ + g) * hb;
        uint8_t* vb = v_.data() + (blk * n_kv_head_ + g) * hb;
        ks_[size_t((blk * n_kv_head_ + g) * kKvBlock + t)] = quantize_kv_group(k + g * D, D, lay.qmax(), q);
        for (int64_t d = 0; d < D; ++d) put(kb, ((d / 4) * kKvBlock + t) * 4 + d % 4, q[d]);
        vs_[size_t((blk * n_kv_head_ + g) * kKvBlock + t)] = quantize_kv_group(v + g * D, D, lay.qmax(), q);
        for (int64_t d = 0; d < D; ++d) put(vb, ((t / 4) * D + d) * 4 + t % 4, q[d]);
    }
    ++n_tok_;
}

}  // namespace bf
