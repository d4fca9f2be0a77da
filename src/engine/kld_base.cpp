// Writer and bounds-checked reader of the KL-divergence base file (layout in docs/formats.md).
#include "engine/kld_base.h"

#include <cstring>
#include <filesystem>

#include "core/error.h"

namespace bf {

namespace {

constexpr uint64_t kHeaderBytes = 8 + 5 * 4;  // magic, version, n_vocab, n_ctx, n_chunk, first
constexpr int64_t kMaxVocab = int64_t(1) << 24, kMaxCtx = int64_t(1) << 24;

void put_u32(std::vector<uint8_t>& out, uint32_t v) {
    const size_t o = out.size();
    out.resize(o + 4);
    std::memcpy(out.data() + o, &v, 4);
}

uint32_t get_u32(const uint8_t* p) {
    uint32_t v;
    std::memcpy(&v, p, 4);
    return v;
}

}  // namespace

KldBaseWriter::KldBaseWriter(const std::string& path, int64_t n_vocab, const ChunkPlan& plan,
                             std::span<const int32_t> tokens)
    : path_(path), chunks_left_(plan.n_chunk), chunk_bytes_(size_t(plan.n_scored() * base_row_bytes(n_vocab))) {
    if (int64_t(tokens.size()) < plan.n_chunk * plan.n_ctx) fail("KldBaseWriter: fewer tokens than the plan covers");
    f_.reset(std::fopen(path.c_str(), "wb"));
    if (!f_) fail("cannot write " + path);
    std::vector<uint8_t> head(kKldBaseMagic, kKldBaseMagic + 8);
    for (int64_t v : {int64_t(kKldBaseVersion), n_vocab, plan.n_ctx, plan.n_chunk, plan.first})
        put_u32(head, uint32_t(v));
    const size_t n_tok = size_t(plan.n_chunk * plan.n_ctx);
    if (std::fwrite(head.data(), 1, head.size(), f_.get()) != head.size() ||
        std::fwrite(tokens.data(), 4, n_tok, f_.get()) != n_tok)
        fail("short write to " + path);
}

void KldBaseWriter::write_rows(const std::vector<uint8_t>& rows) {
    if (chunks_left_ <= 0 || rows.size() != chunk_bytes_)
        fail("KldBaseWriter: a chunk of the wrong size or too many chunks");
    if (std::fwrite(rows.data(), 1, rows.size(), f_.get()) != rows.size()) fail("short write to " + path_);
    --chunks_left_;
}

void KldBaseWriter::close() {
    if (chunks_left_ != 0) fail("KldBaseWriter: closed before every chunk was written");
    if (std::fclose(f_.release()) != 0) fail("short write to " + path_);
}

KldBaseReader::KldBaseReader(const std::string& path) : path_(path) {
    std::error_code ec;
    const uint64_t size = std::filesystem::file_size(path, ec);
    if (ec) fail("cannot read " + path + ": " + ec.message());
    f_.reset(std::fopen(path.c_str(), "rb"));
    if (!f_) fail("cannot read " + path);
    uint8_t head[kHeaderBytes];
    if (size < kHeaderBytes || std::fread(head, 1, kHeaderBytes, f_.get()) != kHeaderBytes ||
        std::memcmp(head, kKldBaseMagic, 8) != 0)
        fail(path + " is not a bitflash KL-divergence base file (write one with perplexity --kl-divergence-base)");
    const uint32_t version = get_u32(head + 8);
    if (version != kKldBaseVersion) fail(strfmt("%s: unsupported base file version %u", path.c_str(), version));
    n_vocab_ = get_u32(head + 12);
    plan_.n_ctx = get_u32(head + 16);
    plan_.n_chunk = get_u32(head + 20);
    plan_.first = get_u32(head + 24);
    if (n_vocab_ < 1 || n_vocab_ > kMaxVocab || plan_.n_ctx < 3 || plan_.n_ctx > kMaxCtx || plan_.n_chunk < 1 ||
        plan_.first != plan_.n_ctx / 2)
        fail(path + ": malformed header (vocabulary, context or chunk count out of range)");
    // Bound every product by the file size before forming it.
    const uint64_t body = size - kHeaderBytes;
    if (uint64_t(plan_.n_chunk) > body / 4 / uint64_t(plan_.n_ctx)) fail(path + ": truncated (token ids)");
    const uint64_t n_tok = uint64_t(plan_.n_chunk * plan_.n_ctx);
    const uint64_t n_rows = uint64_t(plan_.n_chunk * plan_.n_scored()), row = uint64_t(base_row_bytes(n_vocab_));
    const uint64_t rest = body - 4 * n_tok;
    if (n_rows > rest / row || rest != n_rows * row)
        fail(strfmt("%s: size %llu does not match its header (%lld chunks of %lld tokens, vocabulary %lld)",
                    path.c_str(), (unsigned long long)size, (long long)plan_.n_chunk, (long long)plan_.n_ctx,
                    (long long)n_vocab_));
    tokens_.resize(size_t(n_tok));
    if (std::fread(tokens_.data(), 4, size_t(n_tok), f_.get()) != size_t(n_tok)) fail(path + ": truncated (token ids)");
    for (int32_t t : tokens_)
        if (t < 0 || t >= n_vocab_)
            fail(strfmt("%s: token id %d outside its vocabulary of %lld", path.c_str(), t, (long long)n_vocab_));
    data_offset_ = kHeaderBytes + 4 * n_tok;
}

void KldBaseReader::read_chunk(int64_t chunk, std::vector<uint8_t>& rows) {
    if (chunk < 0 || chunk >= plan_.n_chunk) fail("KldBaseReader: chunk out of range");
    const uint64_t bytes = uint64_t(plan_.n_scored() * base_row_bytes(n_vocab_));
    rows.resize(size_t(bytes));
    if (fseeko(f_.get(), off_t(data_offset_ + uint64_t(chunk) * bytes), SEEK_SET) != 0 ||
        std::fread(rows.data(), 1, rows.size(), f_.get()) != rows.size())
        fail(path_ + ": cannot read chunk " + std::to_string(chunk));
}

}  // namespace bf
