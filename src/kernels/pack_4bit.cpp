// Repacking of Q4_0 / Q4_K / Q5_K / Q6_K file blocks into separate code, high-bit and scale planes, so
// kernels stream about the file's bytes per weight with aligned, shuffle-free loads (kernel_api.h).
#include "kernels/pack_4bit.h"

#include <cstring>

#include "core/error.h"
#include "core/fp16.h"
#include "kernels/kernel_api.h"
#include "kernels/quant.h"

namespace bf {

namespace {

size_t up64(size_t n) { return (n + 63) / 64 * 64; }

size_t meta_bytes(DType t, int64_t rows, int64_t cols) {
    switch (t) {
        case DType::Q4_0: return size_t(rows * (cols / 32)) * 2;
        case DType::Q4_K:
        case DType::Q5_K: return size_t(rows * (cols / 256)) * sizeof(KqScales);
        case DType::Q6_K: return size_t(rows * (cols / 256)) * sizeof(Q6Scales);
        default: BF_CHECK(false);
    }
    return 0;
}

size_t hi_bytes(DType t, int64_t rows, int64_t cols) {
    return t == DType::Q5_K ? size_t(rows * cols / 8) : t == DType::Q6_K ? size_t(rows * cols / 4) : 0;
}

}  // namespace

bool is_4to6_bit(DType t) { return t == DType::Q4_0 || t == DType::Q4_K || t == DType::Q5_K || t == DType::Q6_K; }

size_t kq_packed_bytes(DType t, int64_t rows, int64_t cols) {
    return up64(size_t(rows * cols / 2)) + up64(hi_bytes(t, rows, cols)) + meta_bytes(t, rows, cols);
}

KqPlanes kq_planes(DType t, int64_t rows, int64_t cols, uint8_t* base) {
    KqPlanes p;
    p.q = base;
    const size_t hb = hi_bytes(t, rows, cols);
    if (hb) p.hi = base + up64(size_t(rows * cols / 2));
    p.meta = base + up64(size_t(rows * cols / 2)) + up64(hb);
    return p;
}

void kq_pack(DType t, int64_t rows, int64_t cols, const uint8_t* file, const KqPlanes& p) {
    const size_t fb = size_t(dtype_block_bytes(t));
    if (t == DType::Q4_0) {
        const int64_t nb = cols / 32;
        auto* d = static_cast<uint16_t*>(p.meta);
        for (int64_t r = 0; r < rows; ++r) {
            const uint8_t* src = file + size_t(r * nb) * fb;
            uint8_t* q = p.q + r * (cols / 2);
            for (int64_t b = 0; b < nb; ++b) std::memcpy(&d[r * nb + b], src + b * 18, 2);
            // Code j of block b in the file: nibble j/16 of qs[j%16].
            auto code = [&](int64_t b, int j) { return (src[b * 18 + 2 + j % 16] >> (4 * (j / 16))) & 15; };
            int64_t b = 0;
            for (; b + 2 <= nb; b += 2)
                for (int j = 0; j < 32; ++j) q[16 * b + j] = uint8_t(code(b, j) | (code(b + 1, j) << 4));
            if (b < nb) std::memcpy(q + 16 * b, src + b * 18 + 2, 16);  // the lone last block keeps file order
        }
        return;
    }
    const int64_t nsb = cols / 256;
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t b = 0; b < nsb; ++b) {
            const uint8_t* blk = file + size_t(r * nsb + b) * fb;
            const int64_t i = r * nsb + b;
            if (t == DType::Q6_K) {
                std::memcpy(p.q + i * 128, blk, 128);
                std::memcpy(p.hi + i * 64, blk + 128, 64);
                Q6Scales& s = static_cast<Q6Scales*>(p.meta)[i];
                std::memcpy(s.sc, blk + 192, 16);
                std::memcpy(&s.d, blk + 208, 2);
                continue;
            }
            KqScales& s = static_cast<KqScales*>(p.meta)[i];
            std::memcpy(&s.d, blk, 2);
            std::memcpy(&s.dmin, blk + 2, 2);
            for (int j = 0; j < 8; ++j) {
                int sc, m;
                k_scale_min(blk + 4, j, &sc, &m);
                s.sc[j] = uint8_t(sc);
                s.m[j] = uint8_t(m);
            }
            if (t == DType::Q5_K) std::memcpy(p.hi + i * 32, blk + 16, 32);
            std::memcpy(p.q + i * 128, blk + (t == DType::Q5_K ? 48 : 16), 128);
        }
}

void kq_row(DType t, int64_t cols, const KqPlanes& p, int64_t r, float* out) {
    const uint8_t* q = p.q + r * (cols / 2);
    if (t == DType::Q4_0) {
        const uint16_t* d = static_cast<const uint16_t*>(p.meta) + r * (cols / 32);
        for (int64_t e = 0; e < cols; ++e) out[e] = float(pair_nibble(q, e, cols) - 8) * f16_to_f32(d[e / 32]);
        return;
    }
    const int64_t nsb = cols / 256;
    if (t == DType::Q6_K) {
        const Q6Scales* s = static_cast<const Q6Scales*>(p.meta) + r * nsb;
        const uint8_t* qh = p.hi + r * (cols / 4);
        for (int64_t e = 0; e < cols; ++e) {
            const Q6Scales& bs = s[e / 256];
            out[e] = f16_to_f32(bs.d) * float(bs.sc[(e % 256) / 16]) * float(q6_code(q, qh, e) - 32);
        }
        return;
    }
    const KqScales* s = static_cast<const KqScales*>(p.meta) + r * nsb;
    const uint8_t* qh = t == DType::Q5_K ? p.hi + r * (cols / 8) : nullptr;
    for (int64_t e = 0; e < cols; ++e) {
        const KqScales& bs = s[e / 256];
        const int sb = int((e % 256) / 32);
        int code = pair_nibble(q, e, cols);
        if (qh) code |= ((qh[(e / 256) * 32 + e % 32] >> sb) & 1) << 4;
        // The file's expression (quant_4bit.cpp), so the values match bit for bit.
        out[e] = f16_to_f32(bs.d) * float(bs.sc[sb]) * float(code) - f16_to_f32(bs.dmin) * float(bs.m[sb]);
    }
}

}  // namespace bf
