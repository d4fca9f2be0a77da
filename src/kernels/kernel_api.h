// Internal contract between matmul.cpp (threading, activation quantization, repacking) and the per-target
// kernels in ref/, x86_avx2/, x86_avx512/, arm_neon/ (baseline NEON and NEON with dot product). Kernels
// run single-threaded over a row range.
#pragma once
#include <cstdint>

#include "kernels/kv_cache.h"

namespace bf {

// Prepared ("packed") weight layouts, produced once by prepare_matrix() and shared by every target:
//   F32 / F16 / BF16: the file layout, rows of `cols` elements (row stride = cols elements).
//   Q8_0: per row `cols` int8 quants (row stride = cols bytes, 64-byte aligned base), and a separate
//         [rows][cols/32] array of the file's f16 block scales (so decode streams as many bytes as the file).
//   Ternary (TQ2_0 and I2_S): per row kp = round_up(cols, 256) elements packed 2 bits each, row stride
//         kp/4 bytes; 256-element block b uses 64 bytes; element 64*l + m of the block (l < 4, m < 64)
//         is bits 2l..2l+1 of byte m. Code c means weight c - 1 (c = 3 only from a TQ2_0 file: +2; I2_S 3
//         is mapped to 1 = 0). Padding elements have code 1. So a 64/32/16-byte vector shifted by 2l and
//         masked with 3 holds consecutive elements, which all SIMD widths use without shuffles.
//         Scales: [rows][kp/256] f32 block scales (TQ2_0 d), or, when all are equal ("uniform": I2_S, and
//         TQ2_0 files from our converter), a single f32; then kernels accumulate whole rows in int32.
//   Q4_0 / Q4_K / Q5_K / Q6_K ("4-6-bit"; kernels/pack_4bit.h): a plane of 4-bit codes, cols/2 bytes per
//         row (64-byte aligned base), for Q5_K / Q6_K a plane of high bits, and an array of scales; bits
//         per weight 4.5 / 4.625 / 5.625 / 6.5625 (file: 4.5 / 4.5 / 5.5 / 6.5625):
//         Q4_0, Q4_K, Q5_K nibbles in pairs of 32-blocks: element e is nibble (e/32)&1 (0 = low) of byte
//           32·(e/64) + e%32, so a 32-byte load masked / shifted by 4 gives two whole 32-blocks (this is
//           the K-quant file's qs verbatim). Q4_0 with an odd block count keeps its last block in the file
//           order (16 bytes: low nibble = element j, high = j + 16). Code 0..15; Q4_0 weight (q−8)·d.
//         Q4_0 scales: [rows][cols/32] f16 d (as Q8_0: kernels read the scale stream at file size).
//         Q4_K / Q5_K: [rows][cols/256] KqScales (k_scale_min's 6-bit values pre-expanded: 20 bytes per
//           256 weights instead of 16); weight = d·sc[s]·q − dmin·m[s] for sub-block s = (e%256)/32.
//         Q5_K fifth bits: [rows][cols/256][32] bytes, the file's qh verbatim (bit s of byte l = element
//           32s + l of the block, value 16).
//         Q6_K: the nibble plane is the file's ql verbatim: element i of a 256-block (h = i/128, k = i%128)
//           is nibble k/64 of byte 128·b + 64h + k%64; the high 2 bits are the file's qh verbatim
//           ([rows][cols/4]): bits 2·(k/32) of byte 64·b + 32h + k%32; [rows][cols/256] Q6Scales; weight
//           d·sc[i/16]·(q − 32).
// Activations as the kernels want them (built by matmul.cpp, scalar code, identical for all targets):
//   f32 formats: x[t * cols + c].
//   Q8_0: q[t * cols + c] int8; d[t * (cols/32) + b] = f16-rounded block scale as f32.
//   4-6-bit: the Q8_0 activations (q, d), plus xsum[t * (cols/16) + i] = Σ q over elements 16i..16i+15,
//            and for tables with kq_lanes, from 8 tokens: per chunk of lane_chunk tokens (a short last
//            chunk < 8 has none) xl/xdl as Q8_0 and xml[b·kQ8Slots + j] = d·Σq of block b of token j
//            (the K-quant min term), 0 in unused slots.
//   Ternary: q[t * kp + c] int8 (zero padded to kp); inv_s[t] = 1/s; bsum[t * (kp/256) + b] = Σ q over
//            block b (used for the code-1 offset: Σ (c-1)·x = Σ c·x − Σ x).

// Code (0..3) of element c of a packed ternary row, by the layout above (the scalar readers' one copy).
inline int ternary_code(const uint8_t* row, int64_t c) {
    const int64_t e = c % 256;
    return (row[(c / 256) * 64 + e % 64] >> (2 * (e / 64))) & 3;
}

// Pre-expanded scales of a Q4_K / Q5_K 256-block and of a Q6_K 256-block (layouts above).
struct KqScales {
    uint8_t sc[8];
    uint8_t m[8];
    uint16_t d, dmin;  // f16
};
struct Q6Scales {
    int8_t sc[16];
    uint16_t d;  // f16
};

// Code (0..15) of element e of a row of `cols` in the paired 4-bit layout above (the scalar readers' copy).
inline int pair_nibble(const uint8_t* row, int64_t e, int64_t cols) {
    if (cols % 64 && e >= cols - 32)
        return (row[(cols - 32) / 2 + e % 16] >> (4 * ((e % 32) / 16))) & 15;  // lone block
    return (row[32 * (e / 64) + e % 32] >> (4 * ((e / 32) & 1))) & 15;
}
// Code (0..63) of element e of a packed Q6_K row (ql: nibble plane, qh: high bits).
inline int q6_code(const uint8_t* ql, const uint8_t* qh, int64_t e) {
    const int64_t b = e / 256, k = e % 128, h = (e % 256) / 128;
    const int lo = (ql[128 * b + 64 * h + k % 64] >> (4 * (k / 64))) & 15;
    return lo | (((qh[64 * b + 32 * h + k % 32] >> (2 * (k / 32))) & 3) << 4);
}

struct MatArgs {
    const void* w = nullptr;               // weights (prepared layout)
    const uint8_t* w_hi = nullptr;         // Q5_K / Q6_K high bits
    const void* w_meta = nullptr;          // KqScales / Q6Scales
    const uint16_t* w_scales_h = nullptr;  // Q8_0 f16 block scales
    const float* w_scales = nullptr;       // ternary block scales (one value if uniform)
    int64_t cols = 0;
    int64_t kp = 0;        // ternary padded cols
    bool uniform = false;  // ternary: all block scales equal
    const void* x = nullptr;
    const float* xd = nullptr;      // Q8_0: block scales; ternary: 1/s per token
    const int32_t* xsum = nullptr;  // ternary block sums; 4-6-bit: sums of 16
    const float* xml = nullptr;     // 4-6-bit with xl: d·Σq per block and token slot
    int64_t lane_chunk = 0;         // tokens per tokens-in-lanes copy (copies are consecutive in xl/xdl/xml)
    const uint32_t* xl = nullptr;   // Q8_0, 8 to 64 tokens, for tables with q8_lanes: the tokens-in-lanes
    const float* xdl = nullptr;     //   copy of this chunk (kernels/q8_lanes.h) and its scales
    int64_t n_tok = 0;
    float* y = nullptr;  // y[t * y_stride + r]
    int64_t y_stride = 0;
};

// Computes y for rows [r0, r1) and all n_tok tokens of `a`.
using MatFn = void (*)(const MatArgs& a, int64_t r0, int64_t r1);

// Activation quantizers (layouts above); every target must produce the scalar reference's bytes exactly.
using QuantQ8Fn = void (*)(const float* x, int64_t cols, int8_t* q, float* d);
using QuantTernaryFn = void (*)(const float* x, int64_t cols, int64_t kp, int8_t* q, float* inv_s, int32_t* bsum);

// Attention over a quantized K/V cache (layout: kernels/kv_cache.h), in whole 16-token blocks [b0, b1).
// Query head h reads K head 2·((h/2)/group) + (h&1); head pair p (heads 2p, 2p+1) reads the V heads
// 2·(p/group) and 2·(p/group) + 1 (the even/odd stripes of differential attention).
// Scores and exponentials are block-major: s[(b·n_head + h)·16 + t] for token 16b + t, so every pass
// reads the cache, the scores and the weights as sequential streams.
struct KvScoreArgs {
    KvView kv;
    int64_t n_head = 0, group = 0;
    const int8_t* q = nullptr;      // [n_head][head_dim] int8 query codes
    const int32_t* qsum = nullptr;  // [n_head] Σ of each head's codes (removes the K code offset)
    const float* qscale = nullptr;  // [n_head] query scale (already × 1/sqrt(head_dim))
    float* s = nullptr;             // scores, block-major
};
// u[p][half·D + d] += Σ_j w_p[j] · V[j][2·(p/group) + half][d] with the combined weights
// w_p = fma(e[2p], c[2p], −(e[2p+1]·c[2p+1])), where e are block-major exponentials (0 for invisible
// tokens) and c the per-span coefficients coef[(b / kKvSpan)·2·n_pair + h] of block b (the driver's
// e^(m_span − m)/S, × λ for odd heads: each span's exponentials are taken against its own maximum).
// Each block's w_p · V-scales are quantized to int8 with one absmax scale per (block, pair, half).
constexpr int64_t kKvSpan = 32;  // blocks per coefficient span
// The end of the span that block s0 is in, capped at b1 (ranges are walked span by span).
inline int64_t span_end(int64_t s0, int64_t b1) {
    const int64_t e = (s0 / kKvSpan + 1) * kKvSpan;
    return e < b1 ? e : b1;
}
struct KvValueArgs {
    KvView kv;
    int64_t n_pair = 0, group = 0;
    const float* e = nullptr;
    const float* coef = nullptr;  // [spans][2·n_pair]
    float* u = nullptr;           // [n_pair][2·head_dim], accumulated
};
using KvScoresFn = void (*)(const KvScoreArgs& a, int64_t b0, int64_t b1);
using KvValuesFn = void (*)(const KvValueArgs& a, int64_t b0, int64_t b1);

struct KernelTable {
    const char* name = "none";
    MatFn f32 = nullptr;
    MatFn f16 = nullptr;
    MatFn bf16 = nullptr;
    MatFn q8_0 = nullptr;
    MatFn ternary = nullptr;
    QuantQ8Fn quant_q8_0 = nullptr;          // nullptr: use the scalar one
    QuantTernaryFn quant_ternary = nullptr;  // nullptr: use the scalar one
    KvScoresFn kv_scores = nullptr;          // nullptr: use the scalar one
    KvValuesFn kv_values = nullptr;
    bool ternary_all_tokens = false;  // the ternary kernel takes every token at once and chunks them itself
    bool q8_lanes = false;            // the Q8_0 kernel wants MatArgs.xl/xdl for calls of 8 to 64 tokens,
    uint32_t q8_lanes_flip = 0;       //   made with this flip (kernels/q8_lanes.h)
    // 4-6-bit weights; nullptr: the scalar kernel (see the fallback list below).
    MatFn q4_0 = nullptr;
    MatFn q4_k = nullptr;
    MatFn q5_k = nullptr;
    MatFn q6_k = nullptr;
    bool kq_lanes = false;  // the 4-6-bit kernels want xl/xdl/xml (q8_lanes_flip) from 8 tokens, and every
                            //   token in one call (they chunk by lane_chunk themselves)
};
// 4-6-bit: every target has all four types (no scalar fallback); NEON and NEON dot product use register
// tiles at every token count (no tokens-in-lanes prefill there, so kq_lanes is false).

// The scalar versions (ref/kv_attn_ref.cpp), used where a target has none, and by the SIMD ones for shapes
// they do not cover (AVX-512: head_dim % 16, values unless head_dim 64 and group 1 or 2; AVX2: head_dim % 8;
// NEON dot product: scores when head_dim % 16).
void ref_kv_scores(const KvScoreArgs& a, int64_t b0, int64_t b1);
void ref_kv_values(const KvValueArgs& a, int64_t b0, int64_t b1);

// Per-target tables; a target's function returns nullptr when it is not compiled in.
const KernelTable* ref_kernels();
const KernelTable* avx2_kernels();
const KernelTable* avx512_kernels();
const KernelTable* neon_kernels();
const KernelTable* neon_dot_kernels();  // ARMv8.2 dot product (SDOT)

// The active table (chosen from CPU features and BITFLASH_KERNELS on first use; see force_kernels in
// matmul.h).
const KernelTable& active_kernels();
// The table of a target name ("scalar", "avx2", …; matmul.h) if it is usable on this CPU, else nullptr.
const KernelTable* kernel_table(const char* name);

}  // namespace bf
