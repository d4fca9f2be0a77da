// The shared (YOCO) K/V cache in quantized form: per-(token, kv head) absmax groups of head_dim values,
// int8 or int4, stored in 16-token blocks laid out so vpdpbusd-style kernels read them without shuffles.
// At 32K tokens this cache is read by 8 layers per decoded token, so its bytes decide long-context speed.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace bf {

enum class KvType : uint8_t { F32, Q8_0, Q4_0 };

const char* kv_type_name(KvType t);
KvType parse_kv_type(const std::string& s);  // "f32" | "q8_0" | "q4_0"; throws bf::Error otherwise

// The shared cache type run, chat, eval, perplexity, serve and bench use when -ctk/-ctv are not given (the one
// place that decides it): q8_0 where the active kernels have a vector cache path (a quarter of f32's bytes,
// 3.3x faster decode at 32K, mean KLD ~1e-6..1e-5: docs/BENCHMARKS.md, docs/ACCURACY.md), else f32 (plain
// C++ cache kernels, e.g. ARMv8.0 or BITFLASH_KERNELS=scalar, are slower than the f32 cache).
KvType default_kv_type();

// Bytes one token occupies in a shared cache of this type (K and V, all kv heads, scales included):
// what each reading layer streams per cached token.
int64_t kv_bytes_per_token(KvType t, int64_t n_kv_head, int64_t head_dim);

constexpr int64_t kKvBlock = 16;  // tokens per block

// Layout of one block for one kv head (D = head_dim, a multiple of 4), as unsigned codes u = q + off
// (off = 128 for int8 codes q in [-127, 127], 8 for int4 codes q in [-7, 7]):
//   K: logical byte [dq][t][e] = code of dimension 4·dq + e of token t   (dq < D/4, t < 16, e < 4)
//   V: logical byte [kq][d][e] = code of dimension d of token 4·kq + e   (kq < 4, d < D)
// Both are 16·D logical bytes. Q8_0 stores them as is; Q4_0 packs logical byte i (i < 8·D) in the low
// nibble and byte i + 8·D in the high nibble of stored byte i. Scales: f16, [block][kv head][16 tokens],
// the f16-rounded value the codes were made with (dequantized value = scale · q).
struct KvView {
    KvType type = KvType::Q8_0;
    int64_t n_kv_head = 0, head_dim = 0;
    int64_t n_tok = 0;  // valid tokens; blocks past them hold zero codes
    const uint8_t* k = nullptr;
    const uint8_t* v = nullptr;
    const uint16_t* ks = nullptr;
    const uint16_t* vs = nullptr;

    int64_t head_bytes() const { return type == KvType::Q4_0 ? 8 * head_dim : 16 * head_dim; }  // per block
    int64_t block_bytes() const { return n_kv_head * head_bytes(); }
    int32_t offset() const { return type == KvType::Q4_0 ? 8 : 128; }
    int32_t qmax() const { return type == KvType::Q4_0 ? 7 : 127; }
};

class QuantKvCache {
public:
    // Reserves (without committing pages) room for n_ctx tokens.
    QuantKvCache(KvType type, int64_t n_kv_head, int64_t head_dim, int64_t n_ctx);
    QuantKvCache() = default;

    // Quantizes and stores one token's K and V rows (n_kv_head · head_dim floats each).
    void append(const float* k, const float* v);
    void clear();
    int64_t size() const { return n_tok_; }
    size_t bytes() const { return k_.size() + v_.size() + 2 * (ks_.size() + vs_.size()); }
    KvView view() const;

    // The stored blocks as they are (state files, engine/state_file.cpp); whoever fills them keeps the
    // layout above: ceil(n_tok / 16) blocks of codes and scales.
    struct Storage {
        int64_t& n_tok;
        std::vector<uint8_t>&k, &v;
        std::vector<uint16_t>&ks, &vs;
    };
    Storage storage() { return {n_tok_, k_, v_, ks_, vs_}; }

private:
    KvType type_ = KvType::Q8_0;
    int64_t n_kv_head_ = 0, head_dim_ = 0, n_tok_ = 0;
    std::vector<uint8_t> k_, v_;
    std::vector<uint16_t> ks_, vs_;
};

// Quantizes n values with one absmax scale to codes in [-qmax, qmax] (round half to even); returns the
// f16 bits of the scale used. Shared by the cache and the tests.
uint16_t quantize_kv_group(const float* x, int64_t n, int32_t qmax, int8_t* q);

}  // namespace bf
