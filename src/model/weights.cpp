// Binding GGUF tensors to the SambaY weight structs, with every check the loader owes the user.
#include "model/weights.h"

#include <cmath>
#include <cstring>
#include <unordered_map>
#include <unordered_set>

#include "core/error.h"
#include "core/fp16.h"
#include "core/memory.h"
#include "kernels/quant.h"
#include "model/tensor_names.h"

namespace bf {

namespace {

class Binder {
public:
    explicit Binder(const GgufFile& f, const ModelConfig& c) : file_(f) {
        for (auto& s : tensor_specs(c)) specs_.emplace(s.gguf, s);
        for (const auto& t : f.tensors())
            if (!specs_.count(t.name))
                fail("unexpected tensor '" + t.name + "' in GGUF (not part of a " + kArch + " model with this config)");
    }

    const GgufTensorInfo& get(const std::string& name) {
        auto it = specs_.find(name);
        BF_CHECK(it != specs_.end());
        const GgufTensorInfo* t = file_.find_tensor(name);
        if (!t) fail("missing tensor '" + name + "' in GGUF");
        std::vector<int64_t> shape(t->ne.rbegin(), t->ne.rend());
        if (shape != it->second.shape)
            fail("tensor '" + name + "' has shape " + shape_str(shape) + ", expected " + shape_str(it->second.shape));
        return *t;
    }

    const float* vec(const std::string& name) {
        const auto& t = get(name);
        if (t.dtype() != DType::F32)
            fail(strfmt("tensor '%s' must be f32, found %s", name.c_str(), dtype_name(t.dtype())));
        return reinterpret_cast<const float*>(t.data);
    }
    const float* opt_vec(const std::string& name) { return specs_.count(name) ? vec(name) : nullptr; }

    Matrix mat(const std::string& name) {
        const Matrix view = file_view(name);
        Matrix m = prepare_matrix(view);
        // A repacked copy replaces the file's bytes: let those pages go (§ memory = weights + state).
        if (m.owned) release_file_pages(view.data, file_.tensor(name).nbytes);
        return m;
    }

    Matrix file_view(const std::string& name) {
        const auto& t = get(name);
        Matrix m;
        m.type = t.dtype();
        m.rows = t.rows();
        m.cols = t.ne[0];
        m.data = t.data;
        if (m.type == DType::I2_S) {  // one f32 scale after the n/4 code bytes (bitnet.cpp layout)
            std::memcpy(&m.scale, t.data + size_t(m.rows * m.cols / 4), sizeof(float));
            if (!std::isfinite(m.scale)) fail("tensor '" + name + "' has a non-finite i2_s scale");
        }
        return m;
    }

private:
    const GgufFile& file_;
    std::unordered_map<std::string, TensorSpec> specs_;
};

float dot(const float* a, const float* b, int64_t n) {
    double s = 0;
    for (int64_t i = 0; i < n; ++i) s += double(a[i]) * b[i];
    return float(s);
}

}  // namespace

Model Model::load(const std::string& path) { return from_gguf(std::make_shared<GgufFile>(GgufFile::open(path))); }

Model Model::from_gguf(std::shared_ptr<GgufFile> file) {
    Model m;
    m.file = file;
    m.config = config_from_gguf(*file);
    const ModelConfig& c = m.config;
    Binder bind(*file, c);
    m.token_embd = bind.file_view("token_embd.weight");
    switch (m.token_embd.type) {
        case DType::F32:
        case DType::F16:
        case DType::BF16:
        case DType::Q8_0:
        case DType::TQ2_0:
        case DType::Q4_0:
        case DType::Q4_K:
        case DType::Q5_K:
        case DType::Q6_K: break;
        default: fail(strfmt("token_embd.weight of type %s is not supported", dtype_name(m.token_embd.type)));
    }
    m.output = bind.mat(c.tied_embeddings ? "token_embd.weight" : "output.weight");
    // Tied and repacked: look rows up in the repacked head, whose file pages were released; the file's
    // table would otherwise come back into memory page by page as the vocabulary gets used.
    if (c.tied_embeddings && m.output.packed) m.token_embd = m.output;
    m.output_norm = {bind.vec("output_norm.weight"), bind.vec("output_norm.bias")};
    m.layers.resize(size_t(c.n_layer));
    for (int64_t l = 0; l < c.n_layer; ++l) {
        LayerWeights& L = m.layers[size_t(l)];
        const std::string b = "blk." + std::to_string(l) + ".";
        L.kind = c.kind(l);
        L.attn_norm = {bind.vec(b + "attn_norm.weight"), bind.vec(b + "attn_norm.bias")};
        L.ffn_norm = {bind.vec(b + "ffn_norm.weight"), bind.vec(b + "ffn_norm.bias")};
        L.ffn_gate_up = bind.mat(b + "ffn_gate_up.weight");
        L.ffn_down = bind.mat(b + "ffn_down.weight");
        switch (L.kind) {
            case LayerKind::Mamba:
            case LayerKind::MambaMemory: {
                MambaWeights& w = L.mamba;
                w.in_proj = bind.mat(b + "ssm_in.weight");
                w.conv_w = bind.vec(b + "ssm_conv1d.weight");
                w.conv_b = bind.opt_vec(b + "ssm_conv1d.bias");
                w.x_proj = bind.mat(b + "ssm_x.weight");
                w.dt_proj = bind.mat(b + "ssm_dt.weight");
                w.dt_bias = bind.vec(b + "ssm_dt.bias");
                w.A = bind.vec(b + "ssm_a");
                w.D = bind.vec(b + "ssm_d");
                w.out_proj = bind.mat(b + "ssm_out.weight");
                break;
            }
            case LayerKind::Gmu:
                L.gmu.in_proj = bind.mat(b + "gmu_in.weight");
                L.gmu.out_proj = bind.mat(b + "gmu_out.weight");
                break;
            case LayerKind::SwaAttn:
            case LayerKind::GlobalAttn:
            case LayerKind::CrossAttn: {
                AttentionWeights& a = L.attn;
                const std::string qkv = L.kind == LayerKind::CrossAttn ? "attn_q" : "attn_qkv";
                a.qkv = bind.mat(b + qkv + ".weight");
                a.qkv_bias = bind.vec(b + qkv + ".bias");
                a.out = bind.mat(b + "attn_output.weight");
                a.out_bias = bind.vec(b + "attn_output.bias");
                a.lambda_q1 = bind.vec(b + "attn_lambda_q1");
                a.lambda_k1 = bind.vec(b + "attn_lambda_k1");
                a.lambda_q2 = bind.vec(b + "attn_lambda_q2");
                a.lambda_k2 = bind.vec(b + "attn_lambda_k2");
                a.subln = bind.vec(b + "attn_sub_norm.weight");
                // λ is one scalar per layer (§4.5): computed once here.
                a.lambda_init = c.lambda_init(l);
                a.lambda_full = std::exp(dot(a.lambda_q1, a.lambda_k1, c.head_dim)) -
                                std::exp(dot(a.lambda_q2, a.lambda_k2, c.head_dim)) + a.lambda_init;
                if (!std::isfinite(a.lambda_full)) fail("layer " + std::to_string(l) + ": lambda is not finite");
                break;
            }
        }
    }
    return m;
}

size_t Model::weight_bytes() const {
    size_t n = 0;
    for (const auto& t : file->tensors()) n += t.nbytes;
    return n;
}

void embedding_row(const Matrix& table, int64_t id, float* out) {
    BF_CHECK(id >= 0 && id < table.rows);
    if (packed_row(table, id, out)) return;
    const int64_t n = table.cols;
    const uint8_t* row = static_cast<const uint8_t*>(table.data) + row_nbytes(table.type, n) * size_t(id);
    switch (table.type) {
        case DType::F32: std::memcpy(out, row, size_t(n) * 4); return;
        case DType::F16:
            for (int64_t i = 0; i < n; ++i) out[i] = f16_to_f32(reinterpret_cast<const uint16_t*>(row)[i]);
            return;
        case DType::BF16:
            for (int64_t i = 0; i < n; ++i) out[i] = bf16_to_f32(reinterpret_cast<const uint16_t*>(row)[i]);
            return;
        case DType::Q8_0: dequantize_row_q8_0(row, out, n); return;
        case DType::TQ2_0: dequantize_row_tq2_0(row, out, n); return;
        case DType::Q4_0: dequantize_row_q4_0(row, out, n); return;
        case DType::Q4_K: dequantize_row_q4_k(row, out, n); return;
        case DType::Q5_K: dequantize_row_q5_k(row, out, n); return;
        case DType::Q6_K: dequantize_row_q6_k(row, out, n); return;
        default: fail(strfmt("embedding tables of type %s are not supported", dtype_name(table.type)));
    }
}

}  // namespace bf
