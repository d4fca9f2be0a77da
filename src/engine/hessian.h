// Calibration Hessians for GPTQ: per chosen weight matrix, H = X^T X summed over every input row the
// forward pass gives it (Workspace::on_matmul, like the imatrix collector).
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "model/sambay.h"

namespace bf {

struct MatrixHessian {
    int64_t cols = 0;
    std::vector<double> h;  // [cols, cols]
    int64_t rows = 0;       // input rows summed
};

// Collects the GGUF tensors named in `names` only (each fused projection, such as attn_qkv or
// ffn_gate_up, is one matrix with one input). The H buffers are allocated up front: cols^2 doubles each.
class HessianCollector {
public:
    HessianCollector(const Model& m, const std::vector<std::string>& names);
    void attach(Workspace& ws);  // installs the observer; the collector must outlive its use
    std::map<std::string, MatrixHessian>& hessians() { return hessians_; }

private:
    std::map<const void*, MatrixHessian*> by_data_;
    std::map<std::string, MatrixHessian> hessians_;
};

}  // namespace bf
