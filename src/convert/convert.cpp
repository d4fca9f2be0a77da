// The conversion pipeline: pick a storage type per tensor, then stream every tensor from its source
// (safetensors rows, or a seeded generator) through the quantizer into the GGUF writer.
#include "convert/convert.h"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <vector>

#include "convert/sources.h"
#include "convert/ternarize.h"
#include "convert/tokenizer_meta.h"
#include "core/error.h"
#include "core/fp16.h"
#include "formats/gguf.h"
#include "kernels/quant.h"
#include "model/config.h"
#include "model/tensor_names.h"
#include "model/weights.h"

namespace bf {

bool is_ternary(DType t) { return t == DType::TQ2_0 || t == DType::I2_S || t == DType::TQ1_0; }

namespace {

std::string read_text(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) fail("cannot open " + path);
    std::ostringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

// Ternary formats need whole 256-element blocks along the input (TQ2_0); the same rule is used for
// I2_S so that every ternary file ternarizes the same matrices (tools/reference does the same).
bool fits(DType t, int64_t cols) {
    if (is_ternary(t)) return cols % 256 == 0;
    return cols % dtype_block_elems(t) == 0;
}

DType storage_type(const TensorSpec& s, const ConvertOptions& o) {
    if (s.role == TensorRole::Param) return DType::F32;
    const int64_t cols = s.shape.back();
    DType want = o.outtype;
    if (s.role != TensorRole::Projection) {
        want = o.head_type ? *o.head_type : (is_ternary(o.outtype) ? DType::Q8_0 : o.outtype);
        if (want == DType::I2_S) fail("--head-type i2_s is not supported (use f16, q8_0 or tq2_0)");
    }
    if (fits(want, cols)) return want;
    // A matrix too narrow for the blocks (e.g. dt_proj, whose input is dt_rank wide) keeps 16 bits.
    return o.outtype == DType::F32 ? DType::F32 : DType::F16;
}

uint32_t file_type_of(DType t) {  // general.file_type (llama.cpp's LLAMA_FTYPE_* numbers)
    switch (t) {
        case DType::F32: return 0;
        case DType::F16: return 1;
        case DType::Q4_0: return 2;
        case DType::Q8_0: return 7;
        case DType::Q4_K: return 15;  // MOSTLY_Q4_K_M
        case DType::Q5_K: return 17;  // MOSTLY_Q5_K_M
        case DType::Q6_K: return 18;
        case DType::BF16: return 32;
        case DType::TQ1_0: return 36;
        case DType::TQ2_0: return 37;
        case DType::I2_S: return 40;
    }
    return 0;
}

// gamma for BitNet's absmean rule; a tensor that is already ternary ({−g, 0, +g}, as exported by
// quantization-aware training) keeps its own g, like bitnet.cpp's converter (*exact says so).
float ternary_scale(TensorSource& src, const TensorSpec& s, std::vector<float>& buf, int64_t chunk_rows,
                    bool* exact) {
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

void write_tensor(GgufWriter& w, TensorSource& src, const TensorSpec& s, DType type, bool from_hf,
                  TernaryScales scales) {
    const int64_t rows = s.shape.size() == 2 ? s.shape[0] : 1;
    const int64_t cols = s.shape.back();
    // ~16 MB of f32 per chunk; a multiple of 128 elements when the format needs whole groups.
    int64_t chunk_rows = std::max<int64_t>(1, (int64_t(1) << 22) / cols);
    std::vector<float> buf(size_t(std::min(chunk_rows, rows) * cols));
    std::vector<uint8_t> out(row_nbytes(type == DType::I2_S ? DType::F32 : type, cols) *
                             size_t(std::min(chunk_rows, rows)));
    float gamma = 0;
    bool exact = false;
    if (is_ternary(type)) gamma = ternary_scale(src, s, buf, chunk_rows, &exact);
    if (exact) scales = TernaryScales::Tensor;  // an already ternary tensor keeps its values
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

}  // namespace

void convert(const ConvertOptions& opt) {
    check_ternary_scales(opt.outtype, opt.ternary_scales);
    const std::string config_path = opt.random ? opt.input : opt.input + "/config.json";
    ModelConfig cfg = config_from_hf_json(read_text(config_path));
    const auto specs = tensor_specs(cfg);

    std::unique_ptr<SourceFactory> sources =
        opt.random ? make_random_sources(cfg, opt.seed) : make_checkpoint_sources(opt.input, specs);

    GgufWriter w(opt.output);
    config_to_gguf(cfg, w);
    w.add_kv("general.file_type", GgufValue::u32(file_type_of(opt.outtype)));
    w.add_kv("general.quantization_version", GgufValue::u32(2));
    if (!opt.tokenizer_dir.empty())
        add_tokenizer_metadata(opt.tokenizer_dir, cfg, w);
    else if (!opt.random)
        add_tokenizer_metadata(opt.input, cfg, w);

    std::vector<DType> types;
    for (const auto& s : specs) {
        types.push_back(storage_type(s, opt));
        w.add_tensor(s.gguf, types.back(), std::vector<int64_t>(s.shape.rbegin(), s.shape.rend()));
    }
    w.begin_data();
    for (size_t i = 0; i < specs.size(); ++i) {
        const auto& s = specs[i];
        if (opt.progress)
            std::fprintf(stderr, "[%4zu/%4zu] %-28s %-6s <- %s\n", i + 1, specs.size(), s.gguf.c_str(),
                         dtype_name(types[i]), s.hf.c_str());
        auto src = sources->open(s, i);
        write_tensor(w, *src, s, types[i], /*from_hf=*/true, opt.ternary_scales);
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

void quantize_gguf(const std::string& in, const std::string& out, DType outtype, std::optional<DType> head_type,
                   bool progress, TernaryScales scales) {
    check_ternary_scales(outtype, scales);
    const GgufFile src = GgufFile::open(in);
    const ModelConfig cfg = config_from_gguf(src);
    const auto specs = tensor_specs(cfg);
    ConvertOptions opt;
    opt.outtype = outtype;
    opt.head_type = head_type;
    GgufWriter w(out);
    for (const auto& kv : src.kvs()) {
        if (kv.key == "general.file_type" || kv.key == "general.alignment") continue;
        w.add_kv(kv.key, kv.value);
    }
    w.add_kv("general.file_type", GgufValue::u32(file_type_of(outtype)));
    if (!src.find("general.quantization_version")) w.add_kv("general.quantization_version", GgufValue::u32(2));
    std::vector<DType> types;
    std::vector<const GgufTensorInfo*> tensors;
    for (const auto& s : specs) {
        tensors.push_back(&src.tensor(s.gguf));
        std::vector<int64_t> shape(tensors.back()->ne.rbegin(), tensors.back()->ne.rend());
        if (shape != s.shape) fail("tensor '" + s.gguf + "' has an unexpected shape for this config");
        types.push_back(storage_type(s, opt));
        w.add_tensor(s.gguf, types.back(), std::vector<int64_t>(s.shape.rbegin(), s.shape.rend()));
    }
    if (src.tensors().size() != specs.size()) fail("input GGUF has tensors that are not part of a phi4flash model");
    w.begin_data();
    for (size_t i = 0; i < specs.size(); ++i) {
        if (progress)
            std::fprintf(stderr, "[%4zu/%4zu] %-28s %-6s -> %s\n", i + 1, specs.size(), specs[i].gguf.c_str(),
                         dtype_name(tensors[i]->dtype()), dtype_name(types[i]));
        GgufSource source(*tensors[i]);
        write_tensor(w, source, specs[i], types[i], /*from_hf=*/false, scales);
    }
    w.finish();
}

}  // namespace bf
