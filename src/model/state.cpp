// A sequence's decode state: conv tails, SSM states, sliding-window rings, the shared K/V.
#include "model/state.h"

#include <algorithm>

#include "core/error.h"

namespace bf {

SequenceState SequenceState::create(const ModelConfig& c, int64_t n_ctx, KvType kv_type) {
    if (n_ctx < 1 || n_ctx > (int64_t(1) << 24)) fail(strfmt("context size %lld is out of range", (long long)n_ctx));
    SequenceState s;
    s.n_ctx = n_ctx;
    s.kv_dim = c.kv_dim();
    s.mamba.resize(size_t(c.n_layer));
    s.swa.resize(size_t(c.n_layer));
    for (int64_t l = 0; l < c.n_layer; ++l) {
        const LayerKind k = c.kind(l);
        if (k == LayerKind::Mamba || k == LayerKind::MambaMemory) {
            s.mamba[size_t(l)].conv.assign(size_t(c.d_inner * (c.d_conv - 1)), 0.0f);
            s.mamba[size_t(l)].ssm.assign(size_t(c.d_inner * c.d_state), 0.0f);
        } else if (k == LayerKind::SwaAttn) {
            const size_t n = size_t(std::min(c.window, n_ctx) * s.kv_dim);
            s.swa[size_t(l)].k.assign(n, 0.0f);
            s.swa[size_t(l)].v.assign(n, 0.0f);
        }
    }
    // Reserve without touching: pages are committed only as the context fills.
    s.kv_type = kv_type;
    if (kv_type == KvType::F32) {
        s.shared_k.reserve(size_t(n_ctx * s.kv_dim));
        s.shared_v.reserve(size_t(n_ctx * s.kv_dim));
    } else {
        s.shared_q = QuantKvCache(kv_type, c.n_kv_head, c.head_dim, n_ctx);
    }
    return s;
}

void SequenceState::reset() {
    n_past = 0;
    for (auto& m : mamba) {
        std::fill(m.conv.begin(), m.conv.end(), 0.0f);
        std::fill(m.ssm.begin(), m.ssm.end(), 0.0f);
    }
    shared_k.clear();
    shared_v.clear();
    shared_q.clear();
}

size_t SequenceState::bytes() const {
    size_t n = 0;
    for (const auto& m : mamba) n += (m.conv.size() + m.ssm.size()) * sizeof(float);
    for (const auto& w : swa) n += (w.k.size() + w.v.size()) * sizeof(float);
    return n + (shared_k.size() + shared_v.size()) * sizeof(float) + shared_q.bytes();
}

}  // namespace bf
