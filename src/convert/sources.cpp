// Reading a Hugging Face checkpoint folder (config.json, safetensors shards) for the converter.
#include "convert/sources.h"

#include <cmath>
#include <cstring>
#include <set>

#include "core/error.h"
#include "formats/safetensors.h"

namespace bf {

namespace {

class CheckpointSource : public TensorSource {
public:
    CheckpointSource(const SafetensorsSet& set, const StTensor& t) : set_(set), t_(t) {}
    void read_rows(int64_t row0, int64_t n, float* out) override {
        // A 1-D tensor is one row to the converter but shape[0] one-element rows to the reader.
        if (t_.shape.size() == 1) {
            BF_CHECK(row0 == 0 && n == 1);
            set_.read_rows_f32(t_, 0, t_.rows(), out);
            return;
        }
        set_.read_rows_f32(t_, row0, n, out);
    }

private:
    const SafetensorsSet& set_;
    const StTensor& t_;
};

class CheckpointFactory : public SourceFactory {
public:
    CheckpointFactory(const std::string& dir, const std::vector<TensorSpec>& specs) : set_(SafetensorsSet::open(dir)) {
        std::set<std::string> expected;
        for (const auto& s : specs) {
            expected.insert(s.hf);
            const StTensor* t = set_.find(s.hf);
            if (!t) fail("checkpoint is missing tensor '" + s.hf + "'");
            if (t->shape != s.hf_shape)
                fail("tensor '" + s.hf + "' has shape " + shape_str(t->shape) + ", expected " + shape_str(s.hf_shape) +
                     " from config.json");
            if (t->dtype != "F32" && t->dtype != "F16" && t->dtype != "BF16")
                fail("tensor '" + s.hf + "' has unsupported dtype " + t->dtype + " (expected F32, F16 or BF16)");
        }
        for (const auto& name : set_.names())
            if (!expected.count(name))
                fail("checkpoint has unexpected tensor '" + name + "' (not part of this phi4flash config)");
    }
    std::unique_ptr<TensorSource> open(const TensorSpec& spec, size_t) override {
        return std::make_unique<CheckpointSource>(set_, set_.tensor(spec.hf));
    }

private:
    SafetensorsSet set_;
};

uint64_t splitmix(uint64_t& s) {
    uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
float uniform01(uint64_t& s) { return float((splitmix(s) >> 40) * (1.0 / 16777216.0)); }

// Values in HF terms, scaled so that activations stay in a sane range at any size.
class RandomSource : public TensorSource {
public:
    RandomSource(const ModelConfig& c, const TensorSpec& s, uint64_t seed, size_t index) : c_(c), s_(s) {
        seed_ = seed * 0x100000001B3ull + index * 0x9E3779B97F4A7C15ull;
        cols_ = s.shape.back();
        const std::string& n = s.gguf;
        auto ends = [&](const char* suf) {
            const size_t k = std::strlen(suf);
            return n.size() >= k && n.compare(n.size() - k, k, suf) == 0;
        };
        if (s.role == TensorRole::Embedding || s.role == TensorRole::Output) {
            kind_ = Kind::Uniform, lo_ = -1.0f, hi_ = 1.0f;  // ~unit rows; LayerNorm follows
            const float a = std::sqrt(3.0f / float(c.d_model));
            lo_ = -a, hi_ = a;
        } else if (s.role == TensorRole::Projection) {
            // std 1/sqrt(fan_in); the projections back into the residual are damped by depth.
            float a = std::sqrt(3.0f / float(cols_));
            if (ends("ssm_out.weight") || ends("gmu_out.weight") || ends("attn_output.weight") ||
                ends("ffn_down.weight"))
                a /= std::sqrt(2.0f * float(c.n_layer));
            kind_ = Kind::Uniform, lo_ = -a, hi_ = a;
        } else if (ends("norm.weight")) {
            kind_ = Kind::Uniform, lo_ = 0.9f, hi_ = 1.1f;
        } else if (ends("ssm_a")) {
            kind_ = Kind::ALog;  // A_log = log(uniform(1, 16)), Mamba's init
        } else if (ends("ssm_dt.bias")) {
            kind_ = Kind::DtBias;  // softplus⁻¹(dt), dt log-uniform in [1e-3, 1e-1]
        } else if (ends("ssm_d")) {
            kind_ = Kind::Uniform, lo_ = 0.9f, hi_ = 1.1f;
        } else if (ends("ssm_conv1d.weight")) {
            const float a = 1.0f / std::sqrt(float(c.d_conv));
            kind_ = Kind::Uniform, lo_ = -a, hi_ = a;
        } else if (n.find("lambda") != std::string::npos) {
            kind_ = Kind::Uniform, lo_ = -0.17f, hi_ = 0.17f;  // ~N(0, 0.1)
        } else {                                               // biases
            kind_ = Kind::Uniform, lo_ = -0.02f, hi_ = 0.02f;
        }
    }

    void read_rows(int64_t row0, int64_t n, float* out) override {
        for (int64_t r = 0; r < n; ++r) {
            uint64_t st = seed_ ^ (uint64_t(row0 + r) * 0xD1B54A32D192ED03ull);
            float* o = out + r * cols_;
            for (int64_t i = 0; i < cols_; ++i) {
                const float u = uniform01(st);
                switch (kind_) {
                    case Kind::Uniform: o[i] = lo_ + (hi_ - lo_) * u; break;
                    case Kind::ALog: o[i] = std::log(1.0f + 15.0f * u); break;
                    case Kind::DtBias: {
                        const float dt = std::exp(std::log(1e-3f) + u * (std::log(1e-1f) - std::log(1e-3f)));
                        o[i] = dt + std::log(-std::expm1(-dt));
                        break;
                    }
                }
            }
        }
    }

private:
    enum class Kind { Uniform, ALog, DtBias };
    const ModelConfig& c_;
    const TensorSpec& s_;
    uint64_t seed_ = 0;
    int64_t cols_ = 0;
    Kind kind_ = Kind::Uniform;
    float lo_ = 0, hi_ = 0;
};

class RandomFactory : public SourceFactory {
public:
    RandomFactory(const ModelConfig& c, uint64_t seed) : c_(c), seed_(seed) {}
    std::unique_ptr<TensorSource> open(const TensorSpec& spec, size_t index) override {
        return std::make_unique<RandomSource>(c_, spec, seed_, index);
    }

private:
    ModelConfig c_;
    uint64_t seed_;
};

}  // namespace

std::unique_ptr<SourceFactory> make_checkpoint_sources(const std::string& dir, const std::vector<TensorSpec>& specs) {
    return std::make_unique<CheckpointFactory>(dir, specs);
}

std::unique_ptr<SourceFactory> make_random_sources(const ModelConfig& cfg, uint64_t seed) {
    return std::make_unique<RandomFactory>(cfg, seed);
}

}  // namespace bf
