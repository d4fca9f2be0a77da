// Maps the chosen weight matrices to their Hessian buffers and accumulates X^T X per call.
#include "engine/hessian.h"

#include "core/error.h"
#include "kernels/linalg.h"

namespace bf {

HessianCollector::HessianCollector(const Model& m, const std::vector<std::string>& names) {
    for (const std::string& name : names) {
        const GgufTensorInfo& t = m.file->tensor(name);
        if (t.ne.size() != 2) fail("hessian: '" + name + "' is not a matrix");
        MatrixHessian& mh = hessians_[name];
        mh.cols = t.ne[0];
        mh.h.assign(size_t(mh.cols * mh.cols), 0.0);
        by_data_[t.data] = &mh;
    }
}

void HessianCollector::attach(Workspace& ws) {
    ws.on_matmul = [this](const Matrix& w, const float* x, int64_t n) {
        const auto it = by_data_.find(w.data);
        if (it == by_data_.end()) return;
        MatrixHessian& mh = *it->second;
        if (w.cols != mh.cols) fail("hessian: a matrix product has an unexpected input width");
        gram_accumulate(mh.h.data(), x, n, mh.cols);
        mh.rows += n;
    };
}

}  // namespace bf
