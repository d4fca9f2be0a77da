// Safetensors checkpoint reader (single file or sharded folder with an index.json). Reads with pread so
// a multi-GB checkpoint can be streamed with small memory; never maps the files.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace bf {

struct StTensor {
    std::string name;
    std::string dtype;           // "F32", "F16", "BF16", ... (only those three are converted by read_rows_f32)
    std::vector<int64_t> shape;  // PyTorch order, outermost first
    int file = 0;                // index into the set's shard list
    uint64_t offset = 0;         // absolute byte offset in that file
    uint64_t nbytes = 0;

    int64_t numel() const;
    int64_t rows() const;  // shape[0], 1 for scalars
    int64_t cols() const;  // product of shape[1..], 1 for scalars and 1-D tensors
};

// Bytes per element of a safetensors dtype string; 0 if unknown.
int safetensors_dtype_size(const std::string& dtype);

class SafetensorsSet {
public:
    // path: a directory (model.safetensors.index.json if present, else model.safetensors) or one file.
    static SafetensorsSet open(const std::string& path);

    SafetensorsSet(SafetensorsSet&&) noexcept;
    SafetensorsSet& operator=(SafetensorsSet&&) noexcept;
    SafetensorsSet(const SafetensorsSet&) = delete;
    SafetensorsSet& operator=(const SafetensorsSet&) = delete;
    ~SafetensorsSet();

    std::vector<std::string> names() const;  // sorted
    size_t size() const { return tensors_.size(); }
    const StTensor* find(const std::string& name) const;
    const StTensor& tensor(const std::string& name) const;  // throws naming it
    const std::vector<std::string>& files() const { return paths_; }

    // Rows [row0, row0 + n_rows) of t as f32 into out (n_rows * t.cols() floats). F32, F16, BF16 only.
    // Thread-safe (pread), so several threads may read different tensors at once.
    void read_rows_f32(const StTensor& t, int64_t row0, int64_t n_rows, float* out) const;
    // n raw bytes of t starting at byte_offset within the tensor.
    void read_raw(const StTensor& t, uint64_t byte_offset, uint64_t n, void* out) const;

private:
    SafetensorsSet() = default;
    void add_file(const std::string& path, std::map<std::string, StTensor>* out);
    void close_all();

    std::vector<std::string> paths_;
    std::vector<int> fds_;
    std::vector<uint64_t> sizes_;
    std::map<std::string, StTensor> tensors_;
};

}  // namespace bf
