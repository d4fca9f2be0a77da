// Maps weight matrices to their GGUF names and sums squared inputs per column.
#include "engine/imatrix.h"

namespace bf {

ImatrixCollector::ImatrixCollector(const Model& m, bool process_output) {
    for (const GgufTensorInfo& t : m.file->tensors())
        if (t.name.rfind("blk.", 0) == 0 || (process_output && t.name == "output.weight")) names_[t.data] = t.name;
}

void ImatrixCollector::attach(Workspace& ws) {
    ws.on_matmul = [this](const Matrix& w, const float* x, int64_t n) { observe(w, x, n); };
}

void ImatrixCollector::observe(const Matrix& w, const float* x, int64_t n_rows) {
    const auto it = names_.find(w.data);
    if (it == names_.end()) return;
    MatrixInputStats& s = stats_[it->second];
    s.sum_sq.resize(size_t(w.cols));
    for (int64_t t = 0; t < n_rows; ++t)
        for (int64_t j = 0; j < w.cols; ++j) {
            const double v = x[t * w.cols + j];
            s.sum_sq[size_t(j)] += v * v;
        }
    s.rows += n_rows;
}

}  // namespace bf
