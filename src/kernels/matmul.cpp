// matmul front door: validates, repacks weights (prepare_matrix), quantizes activations once per call and
// splits rows (and token chunks, for prefill) across OpenMP threads. Layouts: kernels/kernel_api.h.
#include "kernels/matmul.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "core/error.h"
#include "core/fp16.h"
#include "core/memory.h"
#include "kernels/compute.h"
#include "kernels/kernel_api.h"
#include "kernels/pack_4bit.h"
#include "kernels/q8_lanes.h"
#include "kernels/quant.h"

namespace bf {

namespace {

// Bounds that keep every size computation in int64 and ternary int32 accumulators exact
// (3·127·2^22 < 2^31).
constexpr int64_t kMaxCols = int64_t(1) << 22;
constexpr int64_t kMaxElems = int64_t(1) << 40;

struct FreeDeleter {
    void operator()(void* p) const { std::free(p); }
};

// The repacked form of a Q8_0 or ternary matrix (owned by Matrix::owned, pointed to by Matrix::packed).
struct Packed {
    DType type = DType::F32;
    int64_t rows = 0, cols = 0, kp = 0;
    bool uniform = false;
    uint8_t* q = nullptr;          // Q8_0 int8 quants / ternary codes
    uint16_t* scales_h = nullptr;  // Q8_0
    float* scales = nullptr;       // ternary
    KqPlanes kq;                   // 4-6-bit
    std::unique_ptr<uint8_t, FreeDeleter> buf;
    // A decode matmul's taken-over worker may still read these weights after the call returned.
    ~Packed() { ThreadPool::wait_for_stragglers(); }
};

int64_t round_up(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

// Weights of 2 MiB and more sit in 2 MiB-aligned memory advised for transparent huge pages: decode streams
// every weight once per token, and with 4 KiB pages each 4 KiB of the stream costs a TLB miss and a page
// walk (huge pages: ~20 % more Q8_0 decode GB/s from DRAM; docs/BENCHMARKS.md, session 9).
uint8_t* alloc64(size_t n) {
    const size_t huge = size_t(1) << 21;
    const size_t align = n >= huge ? huge : 64;
    const size_t bytes = size_t(round_up(int64_t(n), int64_t(align)));
    void* p = std::aligned_alloc(align, bytes);
    if (!p) fail(strfmt("out of memory allocating %zu bytes for packed weights", n));
    if (align == huge) advise_huge_pages(p, bytes);
    return static_cast<uint8_t*>(p);
}

void validate(const Matrix& m, bool need_data = true) {
    if (m.rows <= 0 || m.cols <= 0 || m.cols > kMaxCols || m.rows > kMaxElems / m.cols)
        fail(strfmt("matmul: bad %s matrix shape %lld x %lld", dtype_name(m.type), (long long)m.rows,
                    (long long)m.cols));
    if (need_data && !m.data) fail("matmul: matrix has no data");
    switch (m.type) {
        case DType::F32:
        case DType::F16:
        case DType::BF16: break;
        case DType::Q8_0:
            if (m.cols % 32) fail(strfmt("matmul: Q8_0 needs cols %% 32 == 0, got %lld", (long long)m.cols));
            break;
        case DType::Q4_0:
            if (m.cols % 32) fail(strfmt("matmul: Q4_0 needs cols %% 32 == 0, got %lld", (long long)m.cols));
            break;
        case DType::Q4_K:
        case DType::Q5_K:
        case DType::Q6_K:
        case DType::TQ2_0:
            if (m.cols % 256)
                fail(strfmt("matmul: %s needs cols %% 256 == 0, got %lld", dtype_name(m.type), (long long)m.cols));
            break;
        case DType::I2_S:
            if ((m.rows * m.cols) % 128)
                fail(strfmt("matmul: I2_S needs rows*cols %% 128 == 0, got %lld x %lld", (long long)m.rows,
                            (long long)m.cols));
            if (!std::isfinite(m.scale)) fail("matmul: I2_S tensor scale is not finite");
            break;
        default: fail(strfmt("matmul: weight type %s is not supported", dtype_name(m.type)));
    }
}

std::shared_ptr<Packed> pack_q8_0(const Matrix& m) {
    auto p = std::make_shared<Packed>();
    p->type = m.type, p->rows = m.rows, p->cols = m.cols;
    const int64_t nb = m.cols / 32;
    const size_t qbytes = size_t(round_up(m.rows * m.cols, 64));
    p->buf.reset(alloc64(qbytes + size_t(m.rows * nb) * 2));
    p->q = p->buf.get();
    p->scales_h = reinterpret_cast<uint16_t*>(p->buf.get() + qbytes);
    const auto* src = static_cast<const uint8_t*>(m.data);
    for (int64_t r = 0; r < m.rows; ++r)
        for (int64_t b = 0; b < nb; ++b) {
            const uint8_t* blk = src + (r * nb + b) * 34;
            std::memcpy(&p->scales_h[r * nb + b], blk, 2);
            std::memcpy(p->q + r * m.cols + b * 32, blk + 2, 32);
        }
    return p;
}

// Both ternary formats become 2-bit codes in the 256-block layout of kernel_api.h.
std::shared_ptr<Packed> pack_ternary(const Matrix& m) {
    auto p = std::make_shared<Packed>();
    p->type = m.type, p->rows = m.rows, p->cols = m.cols;
    p->kp = round_up(m.cols, 256);
    const int64_t nb = p->kp / 256;
    const size_t cbytes = size_t(m.rows * (p->kp / 4));
    p->buf.reset(alloc64(cbytes + size_t(m.rows * nb) * 4));
    p->q = p->buf.get();
    p->scales = reinterpret_cast<float*>(p->buf.get() + cbytes);
    std::memset(p->q, 0x55, cbytes);  // code 1 (weight 0) everywhere, including the padding
    const auto* src = static_cast<const uint8_t*>(m.data);
    auto put = [&](int64_t r, int64_t c, int code) {
        uint8_t& byte = p->q[r * (p->kp / 4) + (c / 256) * 64 + (c % 64)];
        const int sh = 2 * ((c % 256) / 64);
        byte = uint8_t((byte & ~(3 << sh)) | (code << sh));
    };
    if (m.type == DType::TQ2_0) {
        const int64_t fb = m.cols / 256;
        for (int64_t r = 0; r < m.rows; ++r)
            for (int64_t b = 0; b < fb; ++b) {
                const uint8_t* blk = src + (r * fb + b) * 66;
                uint16_t dh;
                std::memcpy(&dh, blk + 64, 2);
                p->scales[r * nb + b] = f16_to_f32(dh);
                for (int j = 0; j < 64; j += 32)
                    for (int l = 0; l < 4; ++l)
                        for (int mm = 0; mm < 32; ++mm)
                            put(r, b * 256 + 4 * j + 32 * l + mm, (blk[j + mm] >> (2 * l)) & 3);
            }
        p->uniform = true;
        for (int64_t i = 1; i < m.rows * nb; ++i)
            if (std::memcmp(&p->scales[i], &p->scales[0], 4) != 0) p->uniform = false;
    } else {  // I2_S: flattened 128-element groups over the whole tensor; code 3 means 0
        for (int64_t r = 0; r < m.rows; ++r)
            for (int64_t c = 0; c < m.cols; ++c) {
                const int64_t i = r * m.cols + c, j = i % 128;
                const int code = (src[(i / 128) * 32 + j % 32] >> (6 - 2 * (j / 32))) & 3;
                put(r, c, code == 3 ? 1 : code);
            }
        p->scales[0] = m.scale;
        p->uniform = true;
    }
    return p;
}

std::shared_ptr<Packed> pack_4to6_bit(const Matrix& m) {
    auto p = std::make_shared<Packed>();
    p->type = m.type, p->rows = m.rows, p->cols = m.cols;
    p->buf.reset(alloc64(kq_packed_bytes(m.type, m.rows, m.cols)));
    p->kq = kq_planes(m.type, m.rows, m.cols, p->buf.get());
    kq_pack(m.type, m.rows, m.cols, static_cast<const uint8_t*>(m.data), p->kq);
    return p;
}

// Token chunks keep a chunk of activations in L2 while each weight row tile is reused over it (unless
// the kernel chunks tokens itself).
int64_t token_chunk(int64_t n_tok, int64_t act_bytes_per_token, bool all_tokens) {
    int64_t chunk = std::max<int64_t>(1, (512 * 1024) / std::max<int64_t>(1, act_bytes_per_token));
    if (chunk >= 8) chunk = chunk / 8 * 8;
    return all_tokens ? std::max<int64_t>(n_tok, 1) : std::min<int64_t>(chunk, kernels::kQ8Slots);
}

// Memory for the quantized activations: the owner's scratch, or with `takeover` (one token) memory of
// the pool's take-over loop (kept while a taken-over worker may still read it); clears `takeover` if the
// pool offers none (one thread, or nested in a chunk).
uint8_t* act_buffer(KernelScratch& ws, size_t bytes, bool& takeover) {
    if (takeover) {
        if (uint8_t* p = kernel_pool().takeover_inputs(bytes)) return p;
        takeover = false;
    }
    return ws.get<uint8_t>(KernelScratch::kActQuant, bytes);
}

void run(MatFn fn, const MatArgs& a, int64_t rows, int64_t act_bytes_per_token, int64_t macs, bool all_tokens = false,
         bool takeover = false) {
    const int64_t step0 = round_up(std::max<int64_t>(16, chunk_grain(rows, macs >= (int64_t(1) << 16))), 16);
    if (takeover && a.n_tok == 1) {  // decode: a paused worker's row range is taken over, not waited for
        kernel_pool().parallel_for_takeover(rows, step0, a.y, 1, [fn, a](int64_t r0, int64_t r1, float* out, int) {
            MatArgs c = a;  // a.x, a.xd, a.xsum point into the loop's input memory (act_buffer)
            c.y = out;
            fn(c, r0, r1);
        });
        return;
    }
    const int64_t chunk = token_chunk(a.n_tok, act_bytes_per_token, all_tokens);
    auto body = [&](int64_t r0, int64_t r1) {
        if (r0 >= r1) return;
        for (int64_t t0 = 0; t0 < a.n_tok; t0 += chunk) {
            MatArgs c = a;
            if (a.xl) {  // the chunk's own tokens-in-lanes copy
                c.xl = a.xl + (t0 / chunk) * kernels::q8_lanes_words(a.cols);
                c.xdl = a.xdl + (t0 / chunk) * kernels::q8_lanes_scales(a.cols);
                if (a.xml) c.xml = a.xml + (t0 / chunk) * kernels::q8_lanes_scales(a.cols);
            }
            c.n_tok = std::min(chunk, a.n_tok - t0);
            c.x = static_cast<const uint8_t*>(a.x) + t0 * act_bytes_per_token;
            if (a.xd) c.xd = a.xd + t0 * (a.kp ? 1 : a.cols / 32);
            if (a.xsum) c.xsum = a.xsum + t0 * (a.kp ? a.kp / 256 : a.cols / 16);
            c.y = a.y + t0 * a.y_stride;
            fn(c, r0, r1);
        }
    };
    // Row ranges claimed one at a time (chunk_grain; whole 16-row tiles): a thread slowed by another process
    // on its core (common on a shared machine) then holds up only the range it has, not the whole matrix.
    parallel_for(rows, step0, [&](int64_t r0, int64_t r1, int) { body(r0, r1); });
}

// Runs fn(t) for every token t < n_tokens, split across threads when there are at least 4.
template <class F>
void per_token(int64_t n_tokens, F&& fn) {
    parallel_for(n_tokens, n_tokens >= 4 ? 1 : n_tokens, [&](int64_t t0, int64_t t1, int) {
        for (int64_t t = t0; t < t1; ++t) fn(t);
    });
}

// Q8_0 activations of n_tokens rows of x into the caller's scratch, set in a: codes and block scales;
// with `lanes` (8 tokens or more), each token chunk's tokens-in-lanes copy (made once here, not by every
// row range); with `sums`, the sums of 16 codes (and, with lanes, the K-quant min terms in lanes).
void q8_activations(const KernelTable& kt, KernelScratch& ws, const float* x, int64_t n_tokens, int64_t cols,
                    bool lanes, bool sums, bool& takeover, MatArgs* a) {
    const int64_t nb = cols / 32;
    const QuantQ8Fn quant_q8 = kt.quant_q8_0 ? kt.quant_q8_0 : ref_kernels()->quant_q8_0;
    const int64_t chunk = token_chunk(n_tokens, cols, false);
    const int64_t n_lanes = lanes && n_tokens >= 8 ? (n_tokens + chunk - 1) / chunk : 0;
    const size_t qbytes = size_t(round_up(n_tokens * cols, 64));
    const size_t dbytes = size_t(round_up(n_tokens * nb * 4, 64));
    const size_t sbytes = sums ? size_t(round_up(n_tokens * (cols / 16) * 4, 64)) : 0;
    const size_t lbytes = size_t(n_lanes * kernels::q8_lanes_words(cols) * 4);
    const size_t lsbytes = size_t(n_lanes * kernels::q8_lanes_scales(cols)) * 4;
    uint8_t* buf = act_buffer(ws, qbytes + dbytes + sbytes + lbytes + lsbytes * (sums ? 2 : 1), takeover);
    auto* q = reinterpret_cast<int8_t*>(buf);
    auto* d = reinterpret_cast<float*>(buf + qbytes);
    auto* xs = reinterpret_cast<int32_t*>(buf + qbytes + dbytes);
    auto* xl = reinterpret_cast<uint32_t*>(buf + qbytes + dbytes + sbytes);
    auto* xdl = reinterpret_cast<float*>(buf + qbytes + dbytes + sbytes + lbytes);
    auto* xml = reinterpret_cast<float*>(buf + qbytes + dbytes + sbytes + lbytes + lsbytes);
    per_token(n_tokens, [&](int64_t t) {
        quant_q8(x + t * cols, cols, q + t * cols, d + t * nb);
        if (sums)
            for (int64_t i = 0; i < cols / 16; ++i) {
                int32_t s = 0;
                for (int j = 0; j < 16; ++j) s += q[t * cols + 16 * i + j];
                xs[t * (cols / 16) + i] = s;
            }
    });
    parallel_for(n_lanes, 1, [&](int64_t c0, int64_t c1, int) {
        for (int64_t ch = c0; ch < c1; ++ch) {
            const int64_t n = std::min(chunk, n_tokens - ch * chunk);
            if (n < 8) continue;  // a short last chunk goes to the tile kernels, which do not read the copy
            const int64_t t0 = ch * chunk, ls = kernels::q8_lanes_scales(cols);
            kernels::q8_tokens_in_lanes(q + t0 * cols, d + t0 * nb, n, cols, kt.q8_lanes_flip,
                                        xl + ch * kernels::q8_lanes_words(cols), xdl + ch * ls);
            if (sums) kernels::kq_min_lanes(d + t0 * nb, xs + t0 * (cols / 16), n, cols, xml + ch * ls);
        }
    });
    a->x = q;
    a->xd = d;
    if (sums) a->xsum = xs;
    if (n_lanes) a->xl = xl, a->xdl = xdl, a->lane_chunk = chunk;
    if (n_lanes && sums) a->xml = xml;
}

}  // namespace

Matrix prepare_matrix(const Matrix& file_view) {
    validate(file_view);
    Matrix m = file_view;
    m.owned.reset();
    m.packed = nullptr;
    std::shared_ptr<Packed> p;
    if (m.type == DType::Q8_0) p = pack_q8_0(m);
    if (m.type == DType::TQ2_0 || m.type == DType::I2_S) p = pack_ternary(m);
    if (is_4to6_bit(m.type)) p = pack_4to6_bit(m);
    if (p) {
        m.packed = p.get();
        m.owned = p;
    }
    return m;
}

bool packed_row(const Matrix& m, int64_t r, float* out) {
    const auto* p = static_cast<const Packed*>(m.packed);
    if (!p) return false;
    if (r < 0 || r >= p->rows)
        fail(strfmt("row %lld is outside the matrix's %lld rows", (long long)r, (long long)p->rows));
    const int64_t n = p->cols;
    if (is_4to6_bit(p->type)) {
        kq_row(p->type, n, p->kq, r, out);
        return true;
    }
    if (p->type == DType::Q8_0) {
        const auto* q = reinterpret_cast<const int8_t*>(p->q) + r * n;
        for (int64_t b = 0; b < n / 32; ++b) {
            const float d = f16_to_f32(p->scales_h[r * (n / 32) + b]);
            for (int j = 0; j < 32; ++j) out[b * 32 + j] = float(q[b * 32 + j]) * d;
        }
        return true;
    }
    const int64_t nb = p->kp / 256;  // ternary: the 2-bit layout of kernel_api.h
    const uint8_t* row = p->q + r * (p->kp / 4);
    for (int64_t c = 0; c < n; ++c)
        out[c] = float(ternary_code(row, c) - 1) * (p->uniform ? p->scales[0] : p->scales[r * nb + c / 256]);
    return true;
}

void matmul(const Matrix& w, const float* x, int64_t n_tokens, float* y) {
    if (n_tokens < 0) fail(strfmt("matmul: negative token count %lld", (long long)n_tokens));
    if (n_tokens == 0) return;
    if (!x || !y) fail("matmul: null activation or output pointer");
    const bool quantized =
        w.type == DType::Q8_0 || w.type == DType::TQ2_0 || w.type == DType::I2_S || is_4to6_bit(w.type);
    if (quantized && !w.packed) {
        const Matrix p = prepare_matrix(w);
        matmul(p, x, n_tokens, y);
        return;
    }
    validate(w, /*need_data=*/!w.packed);
    if (n_tokens > kMaxElems / w.cols) fail("matmul: too many tokens for this matrix");
    const KernelTable& kt = active_kernels();
    ThreadPool::Owner owner(kernel_pool());  // the activation scratch is ours until the rows are done
    KernelScratch& ws = workspace(owner.worker());
    bool takeover = n_tokens == 1;  // quantized types only: their weights wait for stragglers (~Packed)
    MatArgs a;
    a.cols = w.cols;
    a.n_tok = n_tokens;
    a.y = y;
    a.y_stride = w.rows;
    const int64_t macs = std::min<int64_t>(w.rows * w.cols, kMaxElems) * std::min<int64_t>(n_tokens, 1 << 20);
    switch (w.type) {
        case DType::F32:
        case DType::F16:
        case DType::BF16: {
            a.w = w.data;
            a.x = x;
            MatFn fn = w.type == DType::F32 ? kt.f32 : w.type == DType::F16 ? kt.f16 : kt.bf16;
            run(fn, a, w.rows, w.cols * 4, macs);
            return;
        }
        case DType::Q8_0: {
            const auto* p = static_cast<const Packed*>(w.packed);
            BF_CHECK(p->type == w.type && p->rows == w.rows && p->cols == w.cols);
            q8_activations(kt, ws, x, n_tokens, w.cols, kt.q8_lanes, false, takeover, &a);
            a.w = p->q;
            a.w_scales_h = p->scales_h;
            run(kt.q8_0, a, w.rows, w.cols, macs, false, takeover);
            return;
        }
        case DType::Q4_0:
        case DType::Q4_K:
        case DType::Q5_K:
        case DType::Q6_K: {
            const auto* p = static_cast<const Packed*>(w.packed);
            BF_CHECK(p->type == w.type && p->rows == w.rows && p->cols == w.cols);
            q8_activations(kt, ws, x, n_tokens, w.cols, kt.kq_lanes, true, takeover, &a);
            a.w = p->kq.q;
            a.w_hi = p->kq.hi;
            a.w_meta = p->kq.meta;
            if (w.type == DType::Q4_0) a.w_scales_h = static_cast<const uint16_t*>(p->kq.meta);
            const KernelTable& ref = *ref_kernels();
            MatFn fn = w.type == DType::Q4_0   ? (kt.q4_0 ? kt.q4_0 : ref.q4_0)
                       : w.type == DType::Q4_K ? (kt.q4_k ? kt.q4_k : ref.q4_k)
                       : w.type == DType::Q5_K ? (kt.q5_k ? kt.q5_k : ref.q5_k)
                                               : (kt.q6_k ? kt.q6_k : ref.q6_k);
            run(fn, a, w.rows, w.cols, macs, /*all_tokens=*/kt.kq_lanes, takeover);
            return;
        }
        case DType::TQ2_0:
        case DType::I2_S: {
            const auto* p = static_cast<const Packed*>(w.packed);
            BF_CHECK(p->type == w.type && p->rows == w.rows && p->cols == w.cols);
            const int64_t kp = p->kp, nb = kp / 256;
            const QuantTernaryFn quant_t = kt.quant_ternary ? kt.quant_ternary : ref_kernels()->quant_ternary;
            const size_t qbytes = size_t(round_up(n_tokens * kp, 64));
            const size_t sbytes = size_t(round_up(n_tokens * 4, 64));
            uint8_t* buf = act_buffer(ws, qbytes + sbytes + size_t(n_tokens * nb) * 4, takeover);
            auto* q = reinterpret_cast<int8_t*>(buf);
            auto* inv_s = reinterpret_cast<float*>(buf + qbytes);
            auto* bsum = reinterpret_cast<int32_t*>(buf + qbytes + sbytes);
            per_token(n_tokens,
                      [&](int64_t t) { quant_t(x + t * w.cols, w.cols, kp, q + t * kp, inv_s + t, bsum + t * nb); });
            a.w = p->q;
            a.w_scales = p->scales;
            a.kp = kp;
            a.uniform = p->uniform;
            a.x = q;
            a.xd = inv_s;
            a.xsum = bsum;
            run(kt.ternary, a, w.rows, kp, macs, kt.ternary_all_tokens, takeover);
            return;
        }
        default: fail(strfmt("matmul: weight type %s is not supported", dtype_name(w.type)));
    }
}

}  // namespace bf
