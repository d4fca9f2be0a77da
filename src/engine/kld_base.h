// The KL-divergence base file (docs/formats.md): a full-precision model's compressed log-probabilities of
// every scored token, with the token ids they were computed on, for `perplexity --kl-divergence`.
#pragma once
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "engine/perplexity.h"

namespace bf {

inline constexpr char kKldBaseMagic[8] = {'B', 'F', 'K', 'L', 'D', 'B', 'A', 'S'};
inline constexpr uint32_t kKldBaseVersion = 1;

// Writes the header and tokens at open, then the chunks' rows in order; close() checks the count.
class KldBaseWriter {
public:
    KldBaseWriter(const std::string& path, int64_t n_vocab, const ChunkPlan& plan, std::span<const int32_t> tokens);
    void write_rows(const std::vector<uint8_t>& rows);  // one chunk: plan.n_scored() rows
    void close();

private:
    std::string path_;
    std::unique_ptr<FILE, int (*)(FILE*)> f_{nullptr, std::fclose};
    int64_t chunks_left_ = 0;
    size_t chunk_bytes_ = 0;
};

// Validates the whole layout against the file size at open (every count is bounded by it), and the
// token ids against n_vocab; read_chunk then reads one chunk's rows.
class KldBaseReader {
public:
    explicit KldBaseReader(const std::string& path);
    int64_t n_vocab() const { return n_vocab_; }
    const ChunkPlan& plan() const { return plan_; }
    const std::vector<int32_t>& tokens() const { return tokens_; }  // n_chunk · n_ctx
    void read_chunk(int64_t chunk, std::vector<uint8_t>& rows);

private:
    std::string path_;
    std::unique_ptr<FILE, int (*)(FILE*)> f_{nullptr, std::fclose};
    int64_t n_vocab_ = 0;
    ChunkPlan plan_;
    std::vector<int32_t> tokens_;
    uint64_t data_offset_ = 0;
};

}  // namespace bf
