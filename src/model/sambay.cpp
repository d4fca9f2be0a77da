// Reads like architecture.md §4: embed, then per layer `x += Mixer(LN(x)); x += MLP(LN(x))`, then the
// final norm and the tied (or untied) head. Kernels do the arithmetic; this file only wires them.
#include "model/sambay.h"

#include <algorithm>
#include <cstring>

#include "core/error.h"
#include "kernels/attention.h"
#include "kernels/ops.h"
#include "kernels/ssm.h"

namespace bf {

namespace {

float* grow(std::vector<float>& v, int64_t n) {
    if (v.size() < size_t(n)) v.resize(size_t(n));
    return v.data();
}

// §4.3 — Mamba mixer for n tokens; `memory` (layer n/2 only) receives the readout y_t.
void mamba_mixer(const ModelConfig& c, const MambaWeights& w, MambaState& s, const float* a, int64_t n,
                 Workspace& ws, float* out, float* memory) {
    const int64_t di = c.d_inner, R = c.dt_rank, N = c.d_state, xw = R + 2 * N;
    float* xz = grow(ws.big, n * 2 * di);  // step 1: [x ; z] = W_in a
    matmul(w.in_proj, a, n, xz);
    float* u = grow(ws.u, n * di);  // step 2: causal conv + SiLU over the x half
    causal_conv1d_silu(xz, 2 * di, n, di, c.d_conv, w.conv_w, w.conv_b, s.conv.data(), u);
    float* xdbc = grow(ws.xdbc, n * xw);  // step 3: [δ_raw ; B ; C] = W_x u
    matmul(w.x_proj, u, n, xdbc);
    float* dt_in = grow(ws.dt_in, n * R);
    for (int64_t t = 0; t < n; ++t) std::memcpy(dt_in + t * R, xdbc + t * xw, size_t(R) * sizeof(float));
    float* dt = grow(ws.dt, n * di);  // step 4: W_dt δ_raw (the bias goes inside the softplus, in the scan)
    matmul(w.dt_proj, dt_in, n, dt);
    ScanArgs sa;  // steps 4–7
    sa.n_tokens = n;
    sa.d_inner = di;
    sa.d_state = N;
    sa.u = u;
    sa.dt = dt;
    sa.dt_bias = w.dt_bias;
    sa.A = w.A;
    sa.B = xdbc + R;
    sa.C = xdbc + R + N;
    sa.bc_stride = xw;
    sa.D = w.D;
    sa.state = s.ssm.data();
    sa.y = grow(ws.y, n * di);
    selective_scan(sa);
    if (memory) std::memcpy(memory, sa.y, size_t(n * di) * sizeof(float));  // m_t = y_t, before the gate
    float* g = grow(ws.big2, n * di);  // step 8: g = y ⊙ SiLU(z)
    silu_mul(xz + di, 2 * di, sa.y, di, n, di, g);
    matmul(w.out_proj, g, n, out);  // step 9
}

// §4.4 — GMU: W_out (SiLU(W_in a) ⊙ m).
void gmu_mixer(const ModelConfig& c, const GmuWeights& w, const float* a, const float* memory, int64_t n,
               Workspace& ws, float* out) {
    const int64_t di = c.d_inner;
    float* p = grow(ws.big, n * di);
    matmul(w.in_proj, a, n, p);
    float* g = grow(ws.big2, n * di);
    silu_mul(p, di, memory, di, n, di, g);
    matmul(w.out_proj, g, n, out);
}

// §4.5–4.6 — differential attention of every kind. pos0 is the position of the first of the n tokens.
void attention_mixer(const ModelConfig& c, const AttentionWeights& w, LayerKind kind, SequenceState& st,
                     SwaCache* swa, const float* a, int64_t n, int64_t pos0, Workspace& ws, float* out) {
    const int64_t d = c.d_model, kvd = c.kv_dim();
    const bool cross = kind == LayerKind::CrossAttn;
    const int64_t qkv_w = cross ? d : d + 2 * kvd;
    float* qkv = grow(ws.q_buf, n * qkv_w);
    matmul(w.qkv, a, n, qkv);
    add_bias(qkv, qkv_w, w.qkv_bias, n, qkv_w);
    int64_t* lo = (ws.key_lo.resize(size_t(n)), ws.key_lo.data());
    int64_t* hi = (ws.key_hi.resize(size_t(n)), ws.key_hi.data());

    const float* keys = nullptr;
    const float* vals = nullptr;
    if (kind == LayerKind::SwaAttn) {
        const int64_t ring = int64_t(swa->k.size()) / kvd, W = c.window;
        if (n == 1) {  // decode: store, then attend over every stored entry (all are inside the window)
            const int64_t slot = pos0 % ring;
            std::memcpy(swa->k.data() + slot * kvd, qkv + d, size_t(kvd) * sizeof(float));
            std::memcpy(swa->v.data() + slot * kvd, qkv + d + kvd, size_t(kvd) * sizeof(float));
            keys = swa->k.data();
            vals = swa->v.data();
            lo[0] = 0;
            hi[0] = std::min(pos0 + 1, ring);
        } else {  // prefill chunk: earlier in-window entries in order, then this chunk's
            const int64_t prev = std::min({pos0, W - 1, ring});
            float* kb = grow(ws.kv_k, (prev + n) * kvd);
            float* vb = grow(ws.kv_v, (prev + n) * kvd);
            for (int64_t j = 0; j < prev; ++j) {
                const int64_t slot = (pos0 - prev + j) % ring;
                std::memcpy(kb + j * kvd, swa->k.data() + slot * kvd, size_t(kvd) * sizeof(float));
                std::memcpy(vb + j * kvd, swa->v.data() + slot * kvd, size_t(kvd) * sizeof(float));
            }
            for (int64_t t = 0; t < n; ++t) {
                std::memcpy(kb + (prev + t) * kvd, qkv + t * qkv_w + d, size_t(kvd) * sizeof(float));
                std::memcpy(vb + (prev + t) * kvd, qkv + t * qkv_w + d + kvd, size_t(kvd) * sizeof(float));
                lo[t] = std::max<int64_t>(0, prev + t - W + 1);  // window W includes the token itself
                hi[t] = prev + t + 1;
            }
            for (int64_t t = std::max<int64_t>(0, n - ring); t < n; ++t) {
                const int64_t slot = (pos0 + t) % ring;
                std::memcpy(swa->k.data() + slot * kvd, kb + (prev + t) * kvd, size_t(kvd) * sizeof(float));
                std::memcpy(swa->v.data() + slot * kvd, vb + (prev + t) * kvd, size_t(kvd) * sizeof(float));
            }
            keys = kb;
            vals = vb;
        }
    } else {  // global (writes the shared K/V) and cross (reads it): causal over all positions
        if (kind == LayerKind::GlobalAttn) {
            for (int64_t t = 0; t < n; ++t) {
                st.shared_k.insert(st.shared_k.end(), qkv + t * qkv_w + d, qkv + t * qkv_w + d + kvd);
                st.shared_v.insert(st.shared_v.end(), qkv + t * qkv_w + d + kvd, qkv + t * qkv_w + d + 2 * kvd);
            }
        }
        keys = st.shared_k.data();
        vals = st.shared_v.data();
        for (int64_t t = 0; t < n; ++t) {
            lo[t] = 0;
            hi[t] = pos0 + t + 1;
        }
    }

    DiffAttnArgs da;
    da.n_head = c.n_head;
    da.n_kv_head = c.n_kv_head;
    da.head_dim = c.head_dim;
    da.lambda = w.lambda_full;
    da.lambda_init = w.lambda_init;
    da.subln = w.subln;
    da.q = qkv;
    da.n_q = n;
    da.q_stride = qkv_w;
    da.k = keys;
    da.v = vals;
    da.kv_stride = kvd;
    da.key_lo = lo;
    da.key_hi = hi;
    da.out = grow(ws.big2, n * d);
    da.out_stride = d;
    diff_attention(da);
    matmul(w.out, da.out, n, out);
    add_bias(out, d, w.out_bias, n, d);
}

// §4.7 — MLP: W_fc2 (SiLU(gate) ⊙ up).
void mlp(const ModelConfig& c, const LayerWeights& L, const float* b, int64_t n, Workspace& ws, float* out) {
    const int64_t f = c.d_ff;
    float* gu = grow(ws.big, n * 2 * f);
    matmul(L.ffn_gate_up, b, n, gu);
    float* h = grow(ws.big2, n * f);
    silu_mul(gu, 2 * f, gu + f, 2 * f, n, f, h);
    matmul(L.ffn_down, h, n, out);
}

}  // namespace

void forward(const Model& m, SequenceState& st, std::span<const int32_t> tokens, LogitsFor which, Workspace& ws,
             float* logits) {
    const ModelConfig& c = m.config;
    const int64_t T = int64_t(tokens.size()), d = c.d_model;
    if (T == 0) fail("no tokens to process");
    for (int32_t id : tokens)
        if (id < 0 || id >= c.n_vocab)
            fail(strfmt("token id %d is outside the vocabulary [0, %lld)", id, (long long)c.n_vocab));
    if (st.n_past + T > st.n_ctx)
        fail(strfmt("context full: %lld tokens already, %lld more, context size %lld", (long long)st.n_past,
                    (long long)T, (long long)st.n_ctx));

    float* x = grow(ws.x, T * d);  // §4.1
    for (int64_t t = 0; t < T; ++t) embedding_row(m.token_embd, tokens[size_t(t)], x + t * d);
    if (ws.tap) ws.tap("embed", -1, x, T, d);
    float* memory = grow(ws.memory, T * c.d_inner);
    float* a = grow(ws.a, T * d);
    float* mix = grow(ws.mix, T * d);

    int64_t r0 = 0;  // first token row still computed
    for (int64_t l = 0; l < c.n_layer; ++l) {
        const LayerWeights& L = m.layers[size_t(l)];
        // §4.8: the cross-decoder only matters for the rows whose logits are wanted.
        if (which == LogitsFor::LastToken && l == c.n_layer / 2 + 2) r0 = T - 1;
        const int64_t n = T - r0;
        float* xl = x + r0 * d;
        layer_norm(xl, L.attn_norm.weight, L.attn_norm.bias, c.norm_eps, n, d, a);  // §4.2
        switch (L.kind) {
            case LayerKind::Mamba:
            case LayerKind::MambaMemory:
                mamba_mixer(c, L.mamba, st.mamba[size_t(l)], a, n, ws, mix,
                            L.kind == LayerKind::MambaMemory ? memory : nullptr);
                break;
            case LayerKind::Gmu: gmu_mixer(c, L.gmu, a, memory + r0 * c.d_inner, n, ws, mix); break;
            case LayerKind::SwaAttn:
            case LayerKind::GlobalAttn:
            case LayerKind::CrossAttn:
                attention_mixer(c, L.attn, L.kind, st, &st.swa[size_t(l)], a, n, st.n_past + r0, ws, mix);
                break;
        }
        if (ws.tap) ws.tap("mixer", l, mix, n, d);
        if (ws.tap && L.kind == LayerKind::MambaMemory) ws.tap("memory", l, memory, n, c.d_inner);
        add_rows(xl, d, mix, d, nullptr, n, d);
        layer_norm(xl, L.ffn_norm.weight, L.ffn_norm.bias, c.norm_eps, n, d, a);
        mlp(c, L, a, n, ws, mix);
        add_rows(xl, d, mix, d, nullptr, n, d);
        if (ws.tap) ws.tap("out", l, xl, n, d);
    }
    const int64_t first = which == LogitsFor::LastToken ? T - 1 : 0;
    layer_norm(x + first * d, m.output_norm.weight, m.output_norm.bias, c.norm_eps, T - first, d, a);
    matmul(m.output, a, T - first, logits);
    st.n_past += T;
}

}  // namespace bf
