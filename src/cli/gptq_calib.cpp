// GPTQ ternarization of a whole model: which matrices, the memory-bounded grouping into calibration
// passes, the forward passes over the text, and one GPTQ solve per matrix.
#include "cli/gptq_calib.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "cli/text_eval.h"
#include "convert/gptq.h"
#include "convert/quant_mix.h"
#include "core/error.h"
#include "engine/hessian.h"
#include "kernels/quant.h"
#include "model/tensor_names.h"

namespace bf {

namespace {

constexpr int64_t kBatch = 128;  // tokens per forward pass: bounds the all-token logits buffer

int64_t hessian_bytes(int64_t cols) { return cols * cols * int64_t(sizeof(double)); }

// Consecutive matrices (file order, so early layers first) whose Hessians together stay within the
// bound once one more cols^2 matrix (GPTQ's inverse factor) is added for the largest.
std::vector<std::vector<std::string>> plan_groups(const std::vector<std::pair<std::string, int64_t>>& mats,
                                                  int64_t bound) {
    int64_t largest = 0;
    for (const auto& [name, cols] : mats) largest = std::max(largest, hessian_bytes(cols));
    std::vector<std::vector<std::string>> groups;
    int64_t used = 0;
    for (const auto& [name, cols] : mats) {
        const int64_t need = hessian_bytes(cols);
        if (need + largest > bound)
            fail(
                strfmt("gptq: %s needs %lld MB for its Hessian and %lld MB for GPTQ's work matrix, more than "
                       "--gptq-memory %lld MB",
                       name.c_str(), (long long)(need >> 20), (long long)(largest >> 20), (long long)(bound >> 20)));
        if (groups.empty() || used + need + largest > bound) {
            groups.emplace_back();
            used = 0;
        }
        groups.back().push_back(name);
        used += need;
    }
    return groups;
}

std::vector<float> read_matrix(const GgufTensorInfo& t) {
    Matrix m;
    m.type = t.dtype();
    m.rows = t.rows();
    m.cols = t.ne[0];
    m.data = t.data;
    std::vector<float> w(size_t(m.rows * m.cols));
    for (int64_t r = 0; r < m.rows; ++r) embedding_row(m, r, w.data() + r * m.cols);
    return w;
}

}  // namespace

std::string default_calibration_text() { return std::string(BF_SOURCE_DIR) + "/models/calib_text.txt"; }

void add_gptq_options(ArgParser& p, GptqCalibration& c) {
    p.option({"--calib"}, &c.text, "FILE",
             "calibration text of --ternary-scales gptq (default models/calib_text.txt of the source tree)");
    p.option({"--calib-ctx"}, &c.ctx, "N",
             "gptq: tokens per calibration chunk, each from an empty state (default 512)");
    p.option({"--calib-chunks"}, &c.max_chunks, "N", "gptq: use at most N chunks (default: the whole text)");
    p.option({"--gptq-memory"}, &c.memory_mb, "MB",
             "gptq: Hessians held at once (default 4096; more passes over the text when they do not fit)");
}

void check_calibration_options(const ConvertOptions& opt, const GptqCalibration& c) {
    const GptqCalibration defaults;
    const bool given = !c.text.empty() || c.ctx != defaults.ctx || c.max_chunks != defaults.max_chunks ||
                       c.memory_mb != defaults.memory_mb;
    if (given && opt.ternary_scales != TernaryScales::Gptq)
        fail("--calib and the other calibration options need --ternary-scales gptq");
}

void quantize_with_calibration(const std::string& in, const std::string& out, ConvertOptions opt,
                               const GptqCalibration& c) {
    check_calibration_options(opt, c);
    if (opt.ternary_scales != TernaryScales::Gptq) return quantize_gguf(in, out, opt);
    check_ternary_scales(opt.outtype, opt.ternary_scales);
    GptqCalibration cal = c;
    if (cal.text.empty()) {
        cal.text = default_calibration_text();
        if (!std::filesystem::exists(cal.text))
            fail("--ternary-scales gptq: no --calib FILE given and the default " + cal.text + " does not exist");
    }
    cal.progress = opt.progress;
    const auto rows = gptq_ternarize_model(in, opt, cal);
    opt.prequantized = &rows;
    quantize_gguf(in, out, opt);
}

std::map<std::string, std::vector<uint8_t>> gptq_ternarize_model(const std::string& model_gguf,
                                                                 const ConvertOptions& opt, const GptqCalibration& c) {
    if (c.ctx < 1 || c.max_chunks < 0 || c.memory_mb < 1) fail("gptq: bad calibration options");
    const auto mt = load_model_with_tokenizer(model_gguf, 0);
    const Model& model = mt->model;
    std::vector<std::pair<std::string, int64_t>> mats;  // (name, cols) of the matrices stored as tq2_0
    for (const TensorSpec& s : tensor_specs(model.config))
        if (s.role == TensorRole::Projection && tensor_storage_type(s, opt, model.config, nullptr) == DType::TQ2_0)
            mats.emplace_back(s.gguf, s.shape.back());
    for (const auto& [name, cols] : mats) {
        const DType t = model.file->tensor(name).dtype();
        if (t != DType::F32 && t != DType::F16 && t != DType::BF16)
            fail("gptq: " + name + " is " + dtype_name(t) + "; calibrate from f32, f16 or bf16 weights");
    }
    const std::vector<int32_t> tokens = tokenize_file(mt->tok, c.text, /*parse_special=*/true);
    if (tokens.empty()) fail("gptq: the calibration text " + c.text + " has no tokens");
    int64_t n_chunks = (int64_t(tokens.size()) + c.ctx - 1) / c.ctx;
    if (c.max_chunks > 0) n_chunks = std::min(n_chunks, c.max_chunks);
    const auto groups = plan_groups(mats, c.memory_mb << 20);
    if (c.progress)
        std::fprintf(stderr, "gptq: %zu matrices, %s: %lld chunks of <= %lld tokens, %zu calibration pass(es)\n",
                     mats.size(), c.text.c_str(), (long long)n_chunks, (long long)c.ctx, groups.size());

    std::map<std::string, std::vector<uint8_t>> out;
    SequenceState st = SequenceState::create(model.config, c.ctx);
    std::vector<float> logits(size_t(std::min(kBatch, c.ctx) * model.config.n_vocab));
    for (const auto& group : groups) {
        HessianCollector collect(model, group);
        Workspace ws;
        collect.attach(ws);
        for (int64_t k = 0; k < n_chunks; ++k) {
            const int64_t begin = k * c.ctx, end = std::min<int64_t>(begin + c.ctx, int64_t(tokens.size()));
            st.reset();
            for (int64_t i = begin; i < end; i += kBatch) {  // every token through every layer (AllTokens)
                const std::span<const int32_t> part(tokens.data() + i, size_t(std::min(kBatch, end - i)));
                forward(model, st, part, LogitsFor::AllTokens, ws, logits.data());
            }
        }
        for (const std::string& name : group) {
            MatrixHessian& mh = collect.hessians().at(name);
            const GgufTensorInfo& t = model.file->tensor(name);
            const std::vector<float> w = read_matrix(t);
            std::vector<uint8_t>& bytes = out[name];
            bytes.resize(row_nbytes(DType::TQ2_0, mh.cols) * size_t(t.rows()));
            const double err = gptq_ternarize_tq2_0(w.data(), t.rows(), mh.cols, mh.h.data(), bytes.data());
            if (c.progress)
                std::fprintf(stderr, "gptq: %-28s %6lld x %-6lld %8lld input rows, proxy error %.5f\n", name.c_str(),
                             (long long)t.rows(), (long long)mh.cols, (long long)mh.rows, err);
            mh.h = {};  // free as we go
        }
    }
    return out;
}

}  // namespace bf
