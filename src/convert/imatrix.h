// llama.cpp's legacy importance-matrix file (.dat, docs/formats.md): written by `bitflash imatrix`, read
// by the importance-weighted quantizers. Importance of a matrix = per input column, the mean of x².
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace bf {

struct ImatrixEntry {
    std::vector<float> mean_sq;  // [cols]
    int64_t rows = 0;            // input rows averaged over
};

// Entries are written in name order; ncall = ceil(rows / chunk_size) and values = mean_sq · ncall, as
// llama-imatrix does, then the chunk count and the dataset name.
void save_imatrix(const std::string& path, const std::map<std::string, ImatrixEntry>& entries, int64_t chunk_size,
                  int64_t n_chunks, const std::string& dataset);

// Per-column importance (values / ncall) by tensor name. Every count is checked against the file size;
// a malformed file throws bf::Error naming what is wrong.
std::map<std::string, std::vector<float>> load_imatrix(const std::string& path);

}  // namespace bf
