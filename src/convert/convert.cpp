// The conversion pipeline: pick a storage type per tensor, then stream every tensor from its source
// (safetensors rows, or a seeded generator) through the quantizer into the GGUF writer.
#include "convert/convert.h"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <vector>

#include "convert/sources.h"
#include "convert/ternarize.h"
#include "convert/tokenizer_meta.h"
#include "core/error.h"
#include "core/fp16.h"
#include "formats/gguf.h"
#include "kernels/compute.h"
#include "kernels/quant.h"
#include "model/config.h"
#include "model/tensor_names.h"
#include "model/weights.h"

namespace bf {

namespace {

std::string read_text(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) fail("cannot open " + path);
    std::ostringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

// gamma for BitNet's absmean rule; a tensor that is already ternary ({−g, 0, +g}, as exported by
// quantization-aware training) keeps its own g, like bitnet.cpp's converter (*exact says so).
float ternary_scale(TensorSource& src, const TensorSpec& s, std::vector<float>& buf, int64_t chunk_rows, bool* exact) {
    const int64_t rows = s.shape[0], cols = s.shape[1];
    double sum = 0;
    float lo = INFINITY, hi = 0;
    for (int64_t r = 0; r < rows; r += chunk_rows) {
        const int64_t n = std::min(chunk_rows, rows - r);
        src.read_rows(r, n, buf.data());
        sum += sum_abs(buf.data(), n * cols);
        for (int64_t i = 0; i < n * cols; ++i) {
            const float a = std::fabs(buf[size_t(i)]);
            if (a > 0) {
                lo = std::min(lo, a);
                hi = std::max(hi, a);
            }
        }
    }
    *exact = hi > 0 && (hi - lo) <= 1e-3f * hi;
    if (*exact) return 0.5f * (hi + lo);
    const float gamma = float(sum / double(rows * cols));
    if (!std::isfinite(gamma)) fail("tensor '" + s.hf + "' has non-finite values");
    return gamma;
}

// Before ternarizing: a model trained ternary (a quantization_config in its config, or matrices already in
// {−g, 0, +g}) loses nothing; any other loses most of its quality, so say so before the work starts. The
// first ternarized matrix decides: quantization-aware training makes every one ternary.
void warn_if_post_training_ternary(const char* who, const std::string& input, TensorSource& src, const TensorSpec& s,
                                   TernaryScales scales) {
    const int64_t rows = s.shape[0], cols = s.shape.back();
    const int64_t chunk_rows = std::max<int64_t>(1, (int64_t(1) << 22) / cols);
    std::vector<float> buf(size_t(std::min(chunk_rows, rows) * cols));
    bool exact = false;
    ternary_scale(src, s, buf, chunk_rows, &exact);
    if (exact) return;
    if (scales == TernaryScales::Gptq) {
        std::fprintf(stderr,
                     "%s: note: %s was not trained ternary; GPTQ keeps part of its quality (docs/ACCURACY.md: the\n"
                     "  twin 52.8 %% -> 32.0 %%, absmean 0.2 %%), q8_0 or q4_k_m nearly all of it.\n",
                     who, input.c_str());
        return;
    }
    std::fprintf(
        stderr,
        "%s: warning: %s was not trained ternary (%s is not in {-g, 0, +g}).\n"
        "  Ternarizing it after training destroys most of its quality: in docs/ACCURACY.md the full-precision\n"
        "  twin falls from 52.8 %% to 0.2 %% on 500 held-out problems. Use q8_0 (or q4_k_m) for this model,\n"
        "  or make it ternary by training (tools/train/, docs/TERNARY.md).\n",
        who, input.c_str(), s.gguf.c_str());
}

size_t first_ternary(const std::vector<DType>& types) {
    for (size_t i = 0; i < types.size(); ++i)
        if (is_ternary(types[i])) return i;
    return types.size();
}

using RowQuantizer = void (*)(const float*, void*, int64_t, const float*);

RowQuantizer low_bit_quantizer(DType t) {
    switch (t) {
        case DType::Q4_0: return quantize_row_q4_0;
        case DType::Q4_K: return quantize_row_q4_k;
        case DType::Q5_K: return quantize_row_q5_k;
        case DType::Q6_K: return quantize_row_q6_k;
        default: return nullptr;
    }
}

// Rows are independent, and the scale searches do real work per row, so rows go to all threads; the first
// error (NaN/Inf, too large a value) is rethrown after the loop, naming the tensor and row.
void quantize_rows(DType type, const TensorSpec& s, const float* x, uint8_t* out, int64_t row0, int64_t n, int64_t cols,
                   const float* importance) {
    const RowQuantizer q = low_bit_quantizer(type);
    const size_t row_bytes = row_nbytes(type, cols);
    std::string error;
    std::mutex error_lock;
    parallel_for(n, 8, [&](int64_t i0, int64_t i1, int) {
        for (int64_t i = i0; i < i1; ++i) {
            try {
                q(x + i * cols, out + size_t(i) * row_bytes, cols, importance);
            } catch (const Error& e) {  // a pool worker must not throw: keep the first error for the caller
                std::lock_guard<std::mutex> lock(error_lock);
                if (error.empty())
                    error = strfmt("tensor '%s' row %lld: %s", s.gguf.c_str(), (long long)(row0 + i), e.what());
            }
        }
    });
    if (!error.empty()) fail(error);
}

// GPTQ's rows were computed before writing began (they need the model run on calibration text).
void write_prequantized(GgufWriter& w, const TensorSpec& s, const ConvertOptions& o) {
    if (!o.prequantized || !o.prequantized->count(s.gguf))
        fail("--ternary-scales gptq: no calibrated rows for '" + s.gguf + "' (internal)");
    const std::vector<uint8_t>& bytes = o.prequantized->at(s.gguf);
    if (bytes.size() != row_nbytes(DType::TQ2_0, s.shape.back()) * size_t(s.shape[0]))
        fail("--ternary-scales gptq: calibrated rows of '" + s.gguf + "' have the wrong size (internal)");
    w.write_tensor_data(bytes.data(), bytes.size());
}

void write_tensor(GgufWriter& w, TensorSource& src, const TensorSpec& s, DType type, bool from_hf,
                  const float* importance, const ConvertOptions& o) {
    const int64_t rows = s.shape.size() == 2 ? s.shape[0] : 1;
    const int64_t cols = s.shape.back();
    TernaryScales scales = o.ternary_scales;
    // ~16 MB of f32 per chunk; a multiple of 128 elements when the format needs whole groups.
    int64_t chunk_rows = std::max<int64_t>(1, (int64_t(1) << 22) / cols);
    std::vector<float> buf(size_t(std::min(chunk_rows, rows) * cols));
    std::vector<uint8_t> out(row_nbytes(type == DType::I2_S ? DType::F32 : type, cols) *
                             size_t(std::min(chunk_rows, rows)));
    float gamma = 0;
    bool exact = false;
    if (is_ternary(type)) gamma = ternary_scale(src, s, buf, chunk_rows, &exact);
    if (exact) scales = TernaryScales::Tensor;  // an already ternary tensor keeps its values
    if (type == DType::TQ2_0 && scales == TernaryScales::Gptq) return write_prequantized(w, s, o);
    for (int64_t r = 0; r < rows; r += chunk_rows) {
        const int64_t n = std::min(chunk_rows, rows - r), count = n * cols;
        src.read_rows(r, n, buf.data());
        if (from_hf && s.transform == TensorTransform::NegExp)
            for (int64_t i = 0; i < count; ++i) buf[size_t(i)] = -std::exp(buf[size_t(i)]);
        size_t bytes = 0;
        switch (type) {
            case DType::F32:
                std::memcpy(out.data(), buf.data(), size_t(count) * 4);
                bytes = size_t(count) * 4;
                break;
            case DType::F16:
            case DType::BF16: {
                auto* o = reinterpret_cast<uint16_t*>(out.data());
                for (int64_t i = 0; i < count; ++i)
                    o[i] = type == DType::F16 ? f32_to_f16(buf[size_t(i)]) : f32_to_bf16(buf[size_t(i)]);
                bytes = size_t(count) * 2;
                break;
            }
            case DType::Q8_0:
                for (int64_t i = 0; i < n; ++i)
                    quantize_row_q8_0(buf.data() + i * cols, out.data() + row_nbytes(type, cols) * size_t(i), cols);
                bytes = row_nbytes(type, cols) * size_t(n);
                break;
            case DType::TQ2_0:
                quantize_rows_tq2_0(buf.data(), n, cols, scales, gamma, out.data());
                bytes = row_nbytes(type, cols) * size_t(n);
                break;
            case DType::Q4_0:
            case DType::Q4_K:
            case DType::Q5_K:
            case DType::Q6_K:
                quantize_rows(type, s, buf.data(), out.data(), r, n, cols, importance);
                bytes = row_nbytes(type, cols) * size_t(n);
                break;
            case DType::I2_S:  // chunks start on 128-element groups (cols % 256 == 0), so offset 0 is exact
                quantize_i2_s(buf.data(), count, 0, gamma, out.data());
                bytes = size_t(count / 4);
                break;
            default: fail(strfmt("converting to %s is not supported", dtype_name(type)));
        }
        w.write_tensor_data(out.data(), bytes);
    }
    if (type == DType::I2_S) {
        uint8_t tail[32];
        write_i2_s_tail(tail, gamma);
        w.write_tensor_data(tail, sizeof tail);
    }
}

// The importance vector of a tensor, if the options carry one for it (length checked against the row).
const float* importance_for(const ConvertOptions& o, const TensorSpec& s) {
    if (!o.importance) return nullptr;
    const auto it = o.importance->find(s.gguf);
    if (it == o.importance->end()) return nullptr;
    if (int64_t(it->second.size()) != s.shape.back())
        fail(strfmt("importance for '%s' has %zu values, the tensor's rows have %lld", s.gguf.c_str(),
                    it->second.size(), (long long)s.shape.back()));
    return it->second.data();
}

// "[  3/ 40] blk.0.ssm_in.weight  q4_k   <- model.layers.0.attn.in_proj.weight", plus why a fallback type.
void print_progress(size_t i, size_t n, const std::string& name, const char* left, const char* arrow,
                    const std::string& right, const std::string& note) {
    std::fprintf(stderr, "[%4zu/%4zu] %-28s %-6s %s %s%s\n", i + 1, n, name.c_str(), left, arrow, right.c_str(),
                 note.empty() ? "" : ("  (" + note + ")").c_str());
}

}  // namespace

void convert(const ConvertOptions& opt) {
    check_ternary_scales(opt.outtype, opt.ternary_scales);
    const std::string config_path = opt.random ? opt.input : opt.input + "/config.json";
    const std::string config_text = read_text(config_path);
    ModelConfig cfg = config_from_hf_json(config_text);
    const nlohmann::json config_json = nlohmann::json::parse(config_text, nullptr, /*allow_exceptions=*/false);
    const auto specs = tensor_specs(cfg);

    std::unique_ptr<SourceFactory> sources =
        opt.random ? make_random_sources(cfg, opt.seed) : make_checkpoint_sources(opt.input, specs);

    GgufWriter w(opt.output);
    config_to_gguf(cfg, w);
    w.add_kv("general.file_type", GgufValue::u32(file_type_of(opt)));
    w.add_kv("general.quantization_version", GgufValue::u32(2));
    if (!opt.tokenizer_dir.empty())
        add_tokenizer_metadata(opt.tokenizer_dir, cfg, w);
    else if (!opt.random)
        add_tokenizer_metadata(opt.input, cfg, w);

    std::vector<DType> types;
    std::vector<std::string> notes(specs.size());
    for (size_t i = 0; i < specs.size(); ++i) {
        types.push_back(tensor_storage_type(specs[i], opt, cfg, &notes[i]));
        w.add_tensor(specs[i].gguf, types.back(), std::vector<int64_t>(specs[i].shape.rbegin(), specs[i].shape.rend()));
    }
    // Random weights have no quality to lose; a declared quantization_config means trained ternary.
    const size_t t = first_ternary(types);
    if (t < specs.size() && !opt.random && !config_json.contains("quantization_config"))
        warn_if_post_training_ternary("convert", opt.input, *sources->open(specs[t], t), specs[t], opt.ternary_scales);
    w.begin_data();
    for (size_t i = 0; i < specs.size(); ++i) {
        const auto& s = specs[i];
        if (opt.progress) print_progress(i, specs.size(), s.gguf, dtype_name(types[i]), "<-", s.hf, notes[i]);
        auto src = sources->open(s, i);
        write_tensor(w, *src, s, types[i], /*from_hf=*/true, importance_for(opt, s), opt);
    }
    w.finish();
}

// A GGUF tensor as rows of f32 (any type the engine reads), for requantization.
class GgufSource : public TensorSource {
public:
    GgufSource(const GgufTensorInfo& t) : t_(t), cols_(t.ne[0]) {}
    void read_rows(int64_t row0, int64_t n, float* out) override {
        Matrix m;
        m.type = t_.dtype();
        m.rows = t_.rows();
        m.cols = cols_;
        m.data = t_.data;
        if (m.type == DType::I2_S) {
            if (t_.ne.size() != 2) fail("i2_s tensor '" + t_.name + "' is not 2-D");
            std::vector<float> all(size_t(m.rows * m.cols));  // i2_s groups span rows: decode it whole
            dequantize_i2_s(t_.data, all.data(), m.rows * m.cols);
            std::memcpy(out, all.data() + row0 * cols_, size_t(n * cols_) * sizeof(float));
            return;
        }
        for (int64_t r = 0; r < n; ++r) embedding_row(m, row0 + r, out + r * cols_);
    }

private:
    const GgufTensorInfo& t_;
    int64_t cols_;
};

void quantize_gguf(const std::string& in, const std::string& out, const ConvertOptions& opt) {
    check_ternary_scales(opt.outtype, opt.ternary_scales);
    const GgufFile src = GgufFile::open(in);
    const ModelConfig cfg = config_from_gguf(src);
    const auto specs = tensor_specs(cfg);
    GgufWriter w(out);
    for (const auto& kv : src.kvs()) {
        if (kv.key == "general.file_type" || kv.key == "general.alignment") continue;
        w.add_kv(kv.key, kv.value);
    }
    w.add_kv("general.file_type", GgufValue::u32(file_type_of(opt)));
    if (!src.find("general.quantization_version")) w.add_kv("general.quantization_version", GgufValue::u32(2));
    std::vector<DType> types;
    std::vector<std::string> notes(specs.size());
    std::vector<const GgufTensorInfo*> tensors;
    std::string quantized_sources;
    for (size_t i = 0; i < specs.size(); ++i) {
        const auto& s = specs[i];
        tensors.push_back(&src.tensor(s.gguf));
        std::vector<int64_t> shape(tensors.back()->ne.rbegin(), tensors.back()->ne.rend());
        if (shape != s.shape) fail("tensor '" + s.gguf + "' has an unexpected shape for this config");
        types.push_back(tensor_storage_type(s, opt, cfg, &notes[i]));
        w.add_tensor(s.gguf, types.back(), std::vector<int64_t>(s.shape.rbegin(), s.shape.rend()));
        const DType from = tensors.back()->dtype();
        if (from != DType::F32 && from != DType::F16 && from != DType::BF16 &&
            quantized_sources.find(dtype_name(from)) == std::string::npos)
            quantized_sources += std::string(quantized_sources.empty() ? "" : ", ") + dtype_name(from);
    }
    if (src.tensors().size() != specs.size()) fail("input GGUF has tensors that are not part of a phi4flash model");
    if (!quantized_sources.empty())
        std::fprintf(stderr,
                     "quantize: warning: %s already holds quantized weights (%s); quantizing them again adds a "
                     "second rounding error. Convert from the f32/f16/bf16 checkpoint for the best %s file.\n",
                     in.c_str(), quantized_sources.c_str(), outtype_name(opt).c_str());
    if (const size_t t = first_ternary(types); t < specs.size()) {
        GgufSource first(*tensors[t]);
        warn_if_post_training_ternary("quantize", in, first, specs[t], opt.ternary_scales);
    }
    w.begin_data();
    for (size_t i = 0; i < specs.size(); ++i) {
        if (opt.progress)
            print_progress(i, specs.size(), specs[i].gguf, dtype_name(tensors[i]->dtype()), "->", dtype_name(types[i]),
                           notes[i]);
        GgufSource source(*tensors[i]);
        write_tensor(w, source, specs[i], types[i], /*from_hf=*/false, importance_for(opt, specs[i]), opt);
    }
    w.finish();
}

void quantize_gguf(const std::string& in, const std::string& out, DType outtype, std::optional<DType> head_type,
                   bool progress, TernaryScales scales) {
    ConvertOptions opt;
    opt.outtype = outtype;
    opt.head_type = head_type;
    opt.progress = progress;
    opt.ternary_scales = scales;
    quantize_gguf(in, out, opt);
}

}  // namespace bf
