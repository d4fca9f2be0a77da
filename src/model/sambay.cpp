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

// Every weight product goes through here, so an observer sees each input once.
void project(Workspace& ws, const Matrix& w, const float* x, int64_t n, float* y) {
    if (ws.on_matmul) ws.on_matmul(w, x, n);
    matmul(w, x, n, y);
}

// Rows of the current batch: chunk i owns rows [off[i], off[i] + n[i]), its first at position pos[i].
struct Rows {
    std::vector<SequenceState*> state;
    std::vector<int64_t> off, n, pos;
    int64_t total = 0;
};

// §4.3 — Mamba mixer; `memory` (layer n/2 only) receives the readout y_t.
void mamba_mixer(const ModelConfig& c, const MambaWeights& w, int64_t layer, const Rows& r, const float* a,
                 Workspace& ws, float* out, float* memory) {
    const int64_t di = c.d_inner, R = c.dt_rank, N = c.d_state, xw = R + 2 * N, n = r.total;
    float* xz = grow(ws.big, n * 2 * di);  // step 1: [x ; z] = W_in a
    project(ws, w.in_proj, a, n, xz);
    float* u = grow(ws.u, n * di);  // step 2: causal conv + SiLU over the x half, per sequence
    for (size_t i = 0; i < r.off.size(); ++i)
        causal_conv1d_silu(xz + r.off[i] * 2 * di, 2 * di, r.n[i], di, c.d_conv, w.conv_w, w.conv_b,
                           r.state[i]->mamba[size_t(layer)].conv.data(), u + r.off[i] * di);
    float* xdbc = grow(ws.xdbc, n * xw);  // step 3: [δ_raw ; B ; C] = W_x u
    project(ws, w.x_proj, u, n, xdbc);
    float* dt_in = grow(ws.dt_in, n * R);
    for (int64_t t = 0; t < n; ++t) std::memcpy(dt_in + t * R, xdbc + t * xw, size_t(R) * sizeof(float));
    float* dt = grow(ws.dt, n * di);  // step 4: W_dt δ_raw (the bias goes inside the softplus, in the scan)
    project(ws, w.dt_proj, dt_in, n, dt);
    float* y = grow(ws.y, n * di);
    for (size_t i = 0; i < r.off.size(); ++i) {  // steps 4–7, each sequence from its own state
        const int64_t o = r.off[i];
        ScanArgs sa;
        sa.n_tokens = r.n[i];
        sa.d_inner = di;
        sa.d_state = N;
        sa.u = u + o * di;
        sa.dt = dt + o * di;
        sa.dt_bias = w.dt_bias;
        sa.A = w.A;
        sa.B = xdbc + o * xw + R;
        sa.C = xdbc + o * xw + R + N;
        sa.bc_stride = xw;
        sa.D = w.D;
        sa.state = r.state[i]->mamba[size_t(layer)].ssm.data();
        sa.y = y + o * di;
        selective_scan(sa);
    }
    if (memory) std::memcpy(memory, y, size_t(n * di) * sizeof(float));  // m_t = y_t, before the gate
    float* g = grow(ws.big2, n * di);                                    // step 8: g = y ⊙ SiLU(z)
    silu_mul(xz + di, 2 * di, y, di, n, di, g);
    project(ws, w.out_proj, g, n, out);  // step 9
}

// §4.4 — GMU: W_out (SiLU(W_in a) ⊙ m).
void gmu_mixer(const ModelConfig& c, const GmuWeights& w, const float* a, const float* memory, int64_t n, Workspace& ws,
               float* out) {
    const int64_t di = c.d_inner;
    float* p = grow(ws.big, n * di);
    project(ws, w.in_proj, a, n, p);
    float* g = grow(ws.big2, n * di);
    silu_mul(p, di, memory, di, n, di, g);
    project(ws, w.out_proj, g, n, out);
}

// §4.6 — one sequence's keys for its n queries (qkv rows of this sequence): fills lo/hi and returns
// the K/V buffers the queries attend over, storing this chunk's K/V in the sequence's caches.
std::pair<const float*, const float*> visible_keys(const ModelConfig& c, LayerKind kind, SequenceState& st,
                                                   int64_t layer, const float* qkv, int64_t qkv_w, int64_t n,
                                                   int64_t pos0, Workspace& ws, int64_t* lo, int64_t* hi) {
    const int64_t d = c.d_model, kvd = c.kv_dim();
    if (kind == LayerKind::SwaAttn) {
        SwaCache& swa = st.swa[size_t(layer)];
        const int64_t ring = int64_t(swa.k.size()) / kvd, W = c.window;
        if (n == 1) {  // decode: store, then attend over every stored entry (all are inside the window)
            const int64_t slot = pos0 % ring;
            std::memcpy(swa.k.data() + slot * kvd, qkv + d, size_t(kvd) * sizeof(float));
            std::memcpy(swa.v.data() + slot * kvd, qkv + d + kvd, size_t(kvd) * sizeof(float));
            lo[0] = 0;
            hi[0] = std::min(pos0 + 1, ring);
            return {swa.k.data(), swa.v.data()};
        }
        // prefill chunk: earlier in-window entries in order, then this chunk's
        const int64_t prev = std::min({pos0, W - 1, ring});
        float* kb = grow(ws.kv_k, (prev + n) * kvd);
        float* vb = grow(ws.kv_v, (prev + n) * kvd);
        for (int64_t j = 0; j < prev; ++j) {
            const int64_t slot = (pos0 - prev + j) % ring;
            std::memcpy(kb + j * kvd, swa.k.data() + slot * kvd, size_t(kvd) * sizeof(float));
            std::memcpy(vb + j * kvd, swa.v.data() + slot * kvd, size_t(kvd) * sizeof(float));
        }
        for (int64_t t = 0; t < n; ++t) {
            std::memcpy(kb + (prev + t) * kvd, qkv + t * qkv_w + d, size_t(kvd) * sizeof(float));
            std::memcpy(vb + (prev + t) * kvd, qkv + t * qkv_w + d + kvd, size_t(kvd) * sizeof(float));
            lo[t] = std::max<int64_t>(0, prev + t - W + 1);  // window W includes the token itself
            hi[t] = prev + t + 1;
        }
        for (int64_t t = std::max<int64_t>(0, n - ring); t < n; ++t) {
            const int64_t slot = (pos0 + t) % ring;
            std::memcpy(swa.k.data() + slot * kvd, kb + (prev + t) * kvd, size_t(kvd) * sizeof(float));
            std::memcpy(swa.v.data() + slot * kvd, vb + (prev + t) * kvd, size_t(kvd) * sizeof(float));
        }
        return {kb, vb};
    }
    // global (writes the shared K/V) and cross (reads it): causal over all positions
    if (kind == LayerKind::GlobalAttn)
        for (int64_t t = 0; t < n; ++t) {
            st.shared_k.insert(st.shared_k.end(), qkv + t * qkv_w + d, qkv + t * qkv_w + d + kvd);
            st.shared_v.insert(st.shared_v.end(), qkv + t * qkv_w + d + kvd, qkv + t * qkv_w + d + 2 * kvd);
        }
    for (int64_t t = 0; t < n; ++t) {
        lo[t] = 0;
        hi[t] = pos0 + t + 1;
    }
    return {st.shared_k.data(), st.shared_v.data()};
}

DiffAttnHeads attention_heads(const ModelConfig& c, const AttentionWeights& w) {
    DiffAttnHeads h;
    h.n_head = c.n_head;
    h.n_kv_head = c.n_kv_head;
    h.head_dim = c.head_dim;
    h.lambda = w.lambda_full;
    h.lambda_init = w.lambda_init;
    h.subln = w.subln;
    return h;
}

// §4.5–4.6 over a quantized shared K/V: layer n/2+1 appends this chunk's K/V, then every query attends
// causally over the cache (cross layers only read it).
void shared_attention_quant(const ModelConfig& c, const AttentionWeights& w, LayerKind kind, SequenceState& st,
                            const float* qkv, int64_t qkv_w, int64_t n, int64_t pos0, int64_t* hi, float* out) {
    const int64_t d = c.d_model, kvd = c.kv_dim();
    if (kind == LayerKind::GlobalAttn)
        for (int64_t t = 0; t < n; ++t) st.shared_q.append(qkv + t * qkv_w + d, qkv + t * qkv_w + d + kvd);
    for (int64_t t = 0; t < n; ++t) hi[t] = pos0 + t + 1;
    DiffAttnQuantArgs da;
    static_cast<DiffAttnHeads&>(da) = attention_heads(c, w);
    da.q = qkv;
    da.n_q = n;
    da.q_stride = qkv_w;
    da.kv = st.shared_q.view();
    da.key_hi = hi;
    da.out = out;
    da.out_stride = d;
    diff_attention_quant(da);
}

// §4.5 — differential attention of every kind over the batch rows.
void attention_mixer(const ModelConfig& c, const AttentionWeights& w, LayerKind kind, int64_t layer, const Rows& r,
                     const float* a, Workspace& ws, float* out) {
    const int64_t d = c.d_model, kvd = c.kv_dim(), n = r.total;
    const int64_t qkv_w = kind == LayerKind::CrossAttn ? d : d + 2 * kvd;
    float* qkv = grow(ws.q_buf, n * qkv_w);
    project(ws, w.qkv, a, n, qkv);
    add_bias(qkv, qkv_w, w.qkv_bias, n, qkv_w);
    float* o = grow(ws.big2, n * d);
    ws.key_lo.resize(size_t(n));
    ws.key_hi.resize(size_t(n));
    for (size_t i = 0; i < r.off.size(); ++i) {
        const int64_t off = r.off[i];
        int64_t* lo = ws.key_lo.data() + off;
        int64_t* hi = ws.key_hi.data() + off;
        SequenceState& st = *r.state[i];
        if (kind != LayerKind::SwaAttn && st.kv_type != KvType::F32) {  // the shared K/V, quantized
            shared_attention_quant(c, w, kind, st, qkv + off * qkv_w, qkv_w, r.n[i], r.pos[i], hi, o + off * d);
            continue;
        }
        auto [keys, vals] = visible_keys(c, kind, st, layer, qkv + off * qkv_w, qkv_w, r.n[i], r.pos[i], ws, lo, hi);
        DiffAttnArgs da;
        static_cast<DiffAttnHeads&>(da) = attention_heads(c, w);
        da.q = qkv + off * qkv_w;
        da.n_q = r.n[i];
        da.q_stride = qkv_w;
        da.k = keys;
        da.v = vals;
        da.kv_stride = kvd;
        da.key_lo = lo;
        da.key_hi = hi;
        da.out = o + off * d;
        da.out_stride = d;
        diff_attention(da);
    }
    project(ws, w.out, o, n, out);
    add_bias(out, d, w.out_bias, n, d);
}

// §4.7 — MLP: W_fc2 (SiLU(gate) ⊙ up).
void mlp(const ModelConfig& c, const LayerWeights& L, const float* b, int64_t n, Workspace& ws, float* out) {
    const int64_t f = c.d_ff;
    float* gu = grow(ws.big, n * 2 * f);
    project(ws, L.ffn_gate_up, b, n, gu);
    float* h = grow(ws.big2, n * f);
    silu_mul(gu, 2 * f, gu + f, 2 * f, n, f, h);
    project(ws, L.ffn_down, h, n, out);
}

}  // namespace

void forward_batch(const Model& m, std::span<const SeqChunk> chunks, LogitsFor which, Workspace& ws, float* logits) {
    const ModelConfig& c = m.config;
    const int64_t d = c.d_model, di = c.d_inner;
    Rows r;
    for (const SeqChunk& ch : chunks) {
        const int64_t T = int64_t(ch.tokens.size());
        if (T == 0) fail("no tokens to process");
        for (int32_t id : ch.tokens)
            if (id < 0 || id >= c.n_vocab)
                fail(strfmt("token id %d is outside the vocabulary [0, %lld)", id, (long long)c.n_vocab));
        if (ch.state->n_past + T > ch.state->n_ctx)
            fail(strfmt("context full: %lld tokens already, %lld more, context size %lld", (long long)ch.state->n_past,
                        (long long)T, (long long)ch.state->n_ctx));
        for (SequenceState* s : r.state)
            if (s == ch.state) fail("forward_batch: a sequence appears twice in one batch");
        r.state.push_back(ch.state);
        r.off.push_back(r.total);
        r.n.push_back(T);
        r.pos.push_back(ch.state->n_past);
        r.total += T;
    }

    float* x = grow(ws.x, r.total * d);  // §4.1
    for (size_t i = 0; i < chunks.size(); ++i)
        for (int64_t t = 0; t < r.n[i]; ++t)
            embedding_row(m.token_embd, chunks[i].tokens[size_t(t)], x + (r.off[i] + t) * d);
    if (ws.tap) ws.tap("embed", -1, x, r.total, d);
    float* memory = grow(ws.memory, r.total * di);
    float* a = grow(ws.a, r.total * d);
    float* mix = grow(ws.mix, r.total * d);

    for (int64_t l = 0; l < c.n_layer; ++l) {
        const LayerWeights& L = m.layers[size_t(l)];
        // §4.8: the cross-decoder only matters for the rows whose logits are wanted: keep each chunk's last.
        if (which == LogitsFor::LastToken && l == c.n_layer / 2 + 2 && r.total > int64_t(chunks.size())) {
            for (size_t i = 0; i < r.off.size(); ++i) {
                const int64_t last = r.off[i] + r.n[i] - 1;
                std::memmove(x + int64_t(i) * d, x + last * d, size_t(d) * sizeof(float));
                std::memmove(memory + int64_t(i) * di, memory + last * di, size_t(di) * sizeof(float));
                r.pos[i] += r.n[i] - 1;
                r.off[i] = int64_t(i);
                r.n[i] = 1;
            }
            r.total = int64_t(chunks.size());
        }
        const int64_t n = r.total;
        layer_norm(x, L.attn_norm.weight, L.attn_norm.bias, c.norm_eps, n, d, a);  // §4.2
        switch (L.kind) {
            case LayerKind::Mamba:
            case LayerKind::MambaMemory:
                mamba_mixer(c, L.mamba, l, r, a, ws, mix, L.kind == LayerKind::MambaMemory ? memory : nullptr);
                break;
            case LayerKind::Gmu: gmu_mixer(c, L.gmu, a, memory, n, ws, mix); break;
            case LayerKind::SwaAttn:
            case LayerKind::GlobalAttn:
            case LayerKind::CrossAttn: attention_mixer(c, L.attn, L.kind, l, r, a, ws, mix); break;
        }
        if (ws.tap) ws.tap("mixer", l, mix, n, d);
        if (ws.tap && L.kind == LayerKind::MambaMemory) ws.tap("memory", l, memory, n, di);
        add_rows(x, d, mix, d, nullptr, n, d);
        layer_norm(x, L.ffn_norm.weight, L.ffn_norm.bias, c.norm_eps, n, d, a);
        mlp(c, L, a, n, ws, mix);
        add_rows(x, d, mix, d, nullptr, n, d);
        if (ws.tap) ws.tap("out", l, x, n, d);
    }
    // Only the wanted rows remain when the cross-decoder was cut; with n < 4 layers it never ran.
    const bool cut = which == LogitsFor::LastToken && r.total == int64_t(chunks.size());
    std::vector<int64_t> rows;
    for (size_t i = 0; i < r.off.size(); ++i) {
        if (which == LogitsFor::AllTokens || cut)
            for (int64_t t = 0; t < r.n[i]; ++t) rows.push_back(r.off[i] + t);
        else
            rows.push_back(r.off[i] + r.n[i] - 1);
    }
    for (size_t k = 0; k < rows.size(); ++k)
        if (rows[k] != int64_t(k)) std::memmove(x + int64_t(k) * d, x + rows[k] * d, size_t(d) * sizeof(float));
    const int64_t n_out = int64_t(rows.size());
    layer_norm(x, m.output_norm.weight, m.output_norm.bias, c.norm_eps, n_out, d, a);
    project(ws, m.output, a, n_out, logits);
    for (size_t i = 0; i < chunks.size(); ++i) chunks[i].state->n_past += int64_t(chunks[i].tokens.size());
}

void forward(const Model& m, SequenceState& st, std::span<const int32_t> tokens, LogitsFor which, Workspace& ws,
             float* logits) {
    const SeqChunk chunk{&st, tokens};
    forward_batch(m, std::span<const SeqChunk>(&chunk, 1), which, ws, logits);
}

}  // namespace bf
