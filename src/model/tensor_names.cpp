// HF names follow architecture.md §2; GGUF names follow llama.cpp's style (blk.N.ssm_in.weight, ...).
#include "model/tensor_names.h"

namespace bf {

std::vector<TensorSpec> tensor_specs(const ModelConfig& c) {
    std::vector<TensorSpec> out;
    auto add = [&](std::string gguf, std::string hf, std::vector<int64_t> shape, TensorRole role,
                   std::vector<int64_t> hf_shape = {}, TensorTransform tr = TensorTransform::None) {
        TensorSpec s;
        s.gguf = std::move(gguf);
        s.hf = std::move(hf);
        s.hf_shape = hf_shape.empty() ? shape : hf_shape;
        s.shape = std::move(shape);
        s.role = role;
        s.transform = tr;
        out.push_back(std::move(s));
    };
    const int64_t d = c.d_model, di = c.d_inner, hd = c.head_dim;
    add("token_embd.weight", "model.embed_tokens.weight", {c.n_vocab, d}, TensorRole::Embedding);
    for (int64_t l = 0; l < c.n_layer; ++l) {
        const std::string b = "blk." + std::to_string(l) + ".";
        const std::string h = "model.layers." + std::to_string(l) + ".";
        add(b + "attn_norm.weight", h + "input_layernorm.weight", {d}, TensorRole::Param);
        add(b + "attn_norm.bias", h + "input_layernorm.bias", {d}, TensorRole::Param);
        switch (c.kind(l)) {
            case LayerKind::Mamba:
            case LayerKind::MambaMemory:
                add(b + "ssm_in.weight", h + "attn.in_proj.weight", {2 * di, d}, TensorRole::Projection);
                add(b + "ssm_conv1d.weight", h + "attn.conv1d.weight", {di, c.d_conv}, TensorRole::Param,
                    {di, 1, c.d_conv});
                if (c.conv_bias) add(b + "ssm_conv1d.bias", h + "attn.conv1d.bias", {di}, TensorRole::Param);
                add(b + "ssm_x.weight", h + "attn.x_proj.weight", {c.dt_rank + 2 * c.d_state, di},
                    TensorRole::Projection);
                add(b + "ssm_dt.weight", h + "attn.dt_proj.weight", {di, c.dt_rank}, TensorRole::Projection);
                add(b + "ssm_dt.bias", h + "attn.dt_proj.bias", {di}, TensorRole::Param);
                add(b + "ssm_a", h + "attn.A_log", {di, c.d_state}, TensorRole::Param, {}, TensorTransform::NegExp);
                add(b + "ssm_d", h + "attn.D", {di}, TensorRole::Param);
                add(b + "ssm_out.weight", h + "attn.out_proj.weight", {d, di}, TensorRole::Projection);
                break;
            case LayerKind::Gmu:
                add(b + "gmu_in.weight", h + "attn.in_proj.weight", {di, d}, TensorRole::Projection);
                add(b + "gmu_out.weight", h + "attn.out_proj.weight", {d, di}, TensorRole::Projection);
                break;
            case LayerKind::SwaAttn:
            case LayerKind::GlobalAttn:
            case LayerKind::CrossAttn: {
                const bool cross = c.kind(l) == LayerKind::CrossAttn;
                const int64_t qkv_rows = cross ? d : d + 2 * c.kv_dim();
                const std::string qkv = cross ? "attn_q" : "attn_qkv";
                add(b + qkv + ".weight", h + "attn.Wqkv.weight", {qkv_rows, d}, TensorRole::Projection);
                add(b + qkv + ".bias", h + "attn.Wqkv.bias", {qkv_rows}, TensorRole::Param);
                add(b + "attn_output.weight", h + "attn.out_proj.weight", {d, d}, TensorRole::Projection);
                add(b + "attn_output.bias", h + "attn.out_proj.bias", {d}, TensorRole::Param);
                for (const char* lam : {"lambda_q1", "lambda_k1", "lambda_q2", "lambda_k2"})
                    add(b + "attn_" + lam, h + "attn.inner_cross_attn." + lam, {hd}, TensorRole::Param);
                add(b + "attn_sub_norm.weight", h + "attn.inner_cross_attn.subln.weight", {2 * hd}, TensorRole::Param);
                break;
            }
        }
        add(b + "ffn_norm.weight", h + "post_attention_layernorm.weight", {d}, TensorRole::Param);
        add(b + "ffn_norm.bias", h + "post_attention_layernorm.bias", {d}, TensorRole::Param);
        add(b + "ffn_gate_up.weight", h + "mlp.fc1.weight", {2 * c.d_ff, d}, TensorRole::Projection);
        add(b + "ffn_down.weight", h + "mlp.fc2.weight", {d, c.d_ff}, TensorRole::Projection);
    }
    add("output_norm.weight", "model.final_layernorm.weight", {d}, TensorRole::Param);
    add("output_norm.bias", "model.final_layernorm.bias", {d}, TensorRole::Param);
    if (!c.tied_embeddings) add("output.weight", "lm_head.weight", {c.n_vocab, d}, TensorRole::Output);
    return out;
}

std::string shape_str(const std::vector<int64_t>& s) {
    std::string out = "[";
    for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
    return out + "]";
}

}  // namespace bf
