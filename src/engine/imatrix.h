// Importance-matrix collection (llama.cpp's imatrix): per weight matrix, the sum over every input row
// of the squared activation of each input column, gathered through Workspace::on_matmul.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "model/sambay.h"

namespace bf {

struct MatrixInputStats {
    std::vector<double> sum_sq;  // [cols]: Σ over rows of x²
    int64_t rows = 0;            // input rows seen
};

// Names each matrix by its GGUF tensor (Matrix::data is the file view, unique per tensor). Like
// llama.cpp, only "blk.*" matrices are collected, plus "output.weight" (an untied head) when asked;
// a tied head is the token_embd table and is never collected.
class ImatrixCollector {
public:
    ImatrixCollector(const Model& m, bool process_output);
    void attach(Workspace& ws);  // installs the observer; the collector must outlive its use
    void observe(const Matrix& w, const float* x, int64_t n_rows);
    const std::map<std::string, MatrixInputStats>& stats() const { return stats_; }

private:
    std::map<const void*, std::string> names_;
    std::map<std::string, MatrixInputStats> stats_;
};

}  // namespace bf
