// The front door of the matrix kernels: y = x · Wᵀ for every weight format. Knows nothing of SambaY.
// Picks the best compiled variant for this CPU at run time and splits rows across threads (kernels/compute.h).
#pragma once
#include <cstdint>
#include <memory>

#include "core/dtype.h"

namespace bf {

// A weight matrix in PyTorch's nn.Linear convention: `rows` outputs × `cols` inputs, stored row-major in
// `type`'s block layout (GGUF ne = [cols, rows]).
struct Matrix {
    DType type = DType::F32;
    int64_t rows = 0;
    int64_t cols = 0;
    const void* data = nullptr;
    float scale = 1.0f;                 // per-tensor scale (I2_S); 1 for the other types
    std::shared_ptr<const void> owned;  // keeps a load-time repacked copy alive, if any
    const void* packed = nullptr;       // set by prepare_matrix: the kernels' layout (kernels/kernel_api.h)
};

// Returns the matrix in the layout the kernels want (Q8_0 and ternary are repacked into `owned`/`packed`;
// `data` still points at the file view). Called once per weight at load time. Throws bf::Error on bad
// dims (cols not a multiple of the block size, sizes out of range, null data).
Matrix prepare_matrix(const Matrix& file_view);

// y[t, r] = Σ_c W[r, c] · x[t, c] for t < n_tokens. x is [n_tokens, cols], y is [n_tokens, rows], f32.
// Integer formats quantize x internally (Q8_0: per 32-block; ternary: per-token absmax int8).
// A Q8_0/ternary matrix not passed through prepare_matrix is packed on the fly (correct but slow).
void matmul(const Matrix& w, const float* x, int64_t n_tokens, float* y);

// Kernel target: "scalar", "avx2", "avx512" (x86), "neon", "neon_dot" (aarch64) or "auto" (best for this CPU; the
// default, overridable with the env var BITFLASH_KERNELS). force_kernels throws bf::Error if the name is
// unknown or the target is not usable here. kernels_name() names the active target.
void force_kernels(const char* name);
const char* kernels_name();
bool kernels_available(const char* name);
// Every SIMD target name (available here or not), for tests and tools that try them all.
inline constexpr const char* kSimdTargets[] = {"avx2", "avx512", "neon", "neon_dot"};

// Row r of a prepared Q8_0/TQ2_0/I2_S matrix, dequantized from its repacked copy (the same values as the
// file's rows), so row lookups need not touch the file; false when m has no repacked copy.
bool packed_row(const Matrix& m, int64_t r, float* out);

}  // namespace bf
