// Saved-state files (engine/state_file.h): layout, model fingerprint, CRC-32, and every check a reader
// makes before it trusts a size (nothing is allocated beyond what the target state already holds).
#include "engine/state_file.h"

#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

namespace bf {

namespace {

constexpr char kMagic[8] = {'B', 'F', 'S', 'T', 'A', 'T', 'E', '\0'};
constexpr uint32_t kVersion = 1;

// FNV-1a, 64 bit: the fingerprint needs a stable hash, not a cryptographic one.
struct Fnv {
    uint64_t h = 0xcbf29ce484222325ull;
    void add(const void* p, size_t n) {
        const auto* b = static_cast<const uint8_t*>(p);
        for (size_t i = 0; i < n; ++i) h = (h ^ b[i]) * 0x100000001b3ull;
    }
    template <class T>
    void add(const T& v) {
        add(&v, sizeof v);
    }
};

class Writer {
public:
    std::string buf;
    void bytes(const void* p, size_t n) {
        if (n) buf.append(static_cast<const char*>(p), n);  // an empty vector's data() may be null
    }
    template <class T>
    void put(T v) {
        bytes(&v, sizeof v);
    }
    template <class T>
    void vec(const std::vector<T>& v) {
        put<uint64_t>(v.size());
        bytes(v.data(), v.size() * sizeof(T));
    }
};

class Reader {
public:
    Reader(const std::string& b, const std::string& path) : buf_(b), path_(path) {}
    void bytes(void* p, size_t n) {
        if (n > buf_.size() - pos_) bad("truncated");
        if (n == 0) return;  // an empty vector's data() may be null: memcpy must not see it
        std::memcpy(p, buf_.data() + pos_, n);
        pos_ += n;
    }
    template <class T>
    T get() {
        T v;
        bytes(&v, sizeof v);
        return v;
    }
    // A vector whose element count must be `want` (known from the target state, never from the file).
    template <class T>
    void vec(std::vector<T>& v, size_t want, const char* what) {
        const uint64_t n = get<uint64_t>();
        if (n != want)
            bad(strfmt("%s has %llu values, this model and context need %zu", what, (unsigned long long)n, want));
        v.resize(want);
        bytes(v.data(), want * sizeof(T));
    }
    [[noreturn]] void bad(const std::string& why) const { throw StateFileError("state file " + path_ + ": " + why); }
    size_t left() const { return buf_.size() - pos_; }

private:
    const std::string& buf_;
    const std::string& path_;
    size_t pos_ = 0;
};

int64_t kv_blocks(int64_t n_tok) { return (n_tok + kKvBlock - 1) / kKvBlock; }

}  // namespace

uint32_t crc32_update(uint32_t crc, const void* data, size_t n) {
    static const std::array<uint32_t, 256> table = [] {
        std::array<uint32_t, 256> t{};
        for (uint32_t i = 0; i < 256; ++i) {
            uint32_t c = i;
            for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            t[i] = c;
        }
        return t;
    }();
    const auto* b = static_cast<const uint8_t*>(data);
    crc = ~crc;
    for (size_t i = 0; i < n; ++i) crc = table[(crc ^ b[i]) & 0xFF] ^ (crc >> 8);
    return ~crc;
}

uint64_t model_fingerprint(const Model& m) {
    Fnv f;
    const ModelConfig& c = m.config;
    for (int64_t v : {c.n_vocab, c.d_model, c.n_layer, c.n_head, c.n_kv_head, c.head_dim, c.d_ff, c.d_inner, c.d_state,
                      c.d_conv, c.dt_rank, c.window})
        f.add(v);
    f.add(c.norm_eps);
    f.add(c.tied_embeddings);
    f.add(c.conv_bias);
    if (m.file)
        for (const auto& t : m.file->tensors()) {
            f.add(t.name.data(), t.name.size());
            f.add(t.type);
            for (int64_t d : t.ne) f.add(d);
            // Some bytes from the start and the middle: two files of one architecture differ there.
            const size_t n = std::min<size_t>(64, t.nbytes);
            if (t.data && n) {
                f.add(t.data, n);
                f.add(t.data + (t.nbytes - n) / 2, n);
            }
        }
    return f.h;
}

size_t write_state_file(const std::string& path, uint64_t fingerprint, const std::vector<int32_t>& tokens,
                        const SequenceState& st, const std::vector<float>& logits) {
    Writer w;
    w.bytes(kMagic, sizeof kMagic);
    w.put<uint32_t>(kVersion);
    w.put<uint64_t>(fingerprint);
    w.put<uint32_t>(uint32_t(st.kv_type));
    w.put<int64_t>(st.n_past);
    w.vec(tokens);
    w.vec(logits);
    w.put<uint64_t>(st.mamba.size());
    for (size_t l = 0; l < st.mamba.size(); ++l) {
        w.vec(st.mamba[l].conv);
        w.vec(st.mamba[l].ssm);
        w.vec(st.swa[l].k);
        w.vec(st.swa[l].v);
    }
    if (st.kv_type == KvType::F32) {
        w.vec(st.shared_k);
        w.vec(st.shared_v);
    } else {
        auto q = const_cast<QuantKvCache&>(st.shared_q).storage();  // read only
        w.vec(q.k);
        w.vec(q.v);
        w.vec(q.ks);
        w.vec(q.vs);
    }
    w.put<uint32_t>(crc32_update(0, w.buf.data(), w.buf.size()));

    const std::string tmp = path + ".tmp" + std::to_string(::getpid());
    {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        if (!out) fail("cannot create " + tmp);
        out.write(w.buf.data(), std::streamsize(w.buf.size()));
        out.flush();
        if (!out) {
            std::remove(tmp.c_str());
            fail("cannot write " + tmp + " (disk full?)");
        }
    }
    if (std::rename(tmp.c_str(), path.c_str()) != 0) {
        std::remove(tmp.c_str());
        fail("cannot rename " + tmp + " to " + path);
    }
    return w.buf.size();
}

StateFileContents read_state_file(const std::string& path, uint64_t fingerprint, int64_t n_vocab, SequenceState& st) {
    std::error_code ec;
    const auto size = std::filesystem::file_size(path, ec);
    if (ec) throw StateFileError("state file " + path + ": cannot read it (" + ec.message() + ")");
    // The largest file this state can hold: everything at full context, plus headers.
    size_t limit = 4096 + size_t(st.n_ctx) * 4 + size_t(n_vocab) * 4 + st.bytes();
    limit += st.kv_type == KvType::F32 ? 2 * size_t(st.n_ctx * st.kv_dim) * 4
                                       : 2 * size_t(kv_blocks(st.n_ctx)) * size_t(st.shared_q.view().block_bytes()) * 2;
    if (size > limit) throw StateFileError("state file " + path + ": too large for this model and context");
    std::string buf(size_t(size), '\0');
    {
        std::ifstream in(path, std::ios::binary);
        if (!in.read(buf.data(), std::streamsize(buf.size())))
            throw StateFileError("state file " + path + ": cannot read it");
    }
    Reader r(buf, path);
    try {
        char magic[8];
        r.bytes(magic, sizeof magic);
        if (std::memcmp(magic, kMagic, sizeof kMagic) != 0) r.bad("not a bitflash state file");
        const uint32_t version = r.get<uint32_t>();
        if (version != kVersion) r.bad(strfmt("version %u, this build reads version %u", version, kVersion));
        if (buf.size() < 4 + 8 + 4 + 8) r.bad("truncated");
        uint32_t stored_crc;
        std::memcpy(&stored_crc, buf.data() + buf.size() - 4, 4);
        if (crc32_update(0, buf.data(), buf.size() - 4) != stored_crc)
            r.bad("checksum mismatch (truncated or corrupted)");
        if (r.get<uint64_t>() != fingerprint) r.bad("saved with another model");
        const uint32_t kv = r.get<uint32_t>();
        if (kv != uint32_t(st.kv_type))
            r.bad(strfmt("K/V cache type %s, this server uses %s", kv <= 2 ? kv_type_name(KvType(kv)) : "unknown",
                         kv_type_name(st.kv_type)));
        const int64_t n_past = r.get<int64_t>();
        if (n_past < 0 || n_past > st.n_ctx)
            r.bad(strfmt("%lld tokens do not fit the context (%lld)", (long long)n_past, (long long)st.n_ctx));
        StateFileContents out;
        out.file_bytes = buf.size();
        r.vec(out.tokens, size_t(n_past), "the token list");
        for (int32_t t : out.tokens)
            if (t < 0 || t >= n_vocab) r.bad(strfmt("token id %d is out of range", t));
        const uint64_t n_logits = r.get<uint64_t>();
        if (n_logits != 0 && n_logits != uint64_t(n_vocab)) r.bad("the logits do not match the vocabulary");
        out.logits.resize(size_t(n_logits));
        r.bytes(out.logits.data(), out.logits.size() * sizeof(float));
        if (r.get<uint64_t>() != st.mamba.size()) r.bad("another number of layers");
        for (size_t l = 0; l < st.mamba.size(); ++l) {
            r.vec(st.mamba[l].conv, st.mamba[l].conv.size(), "a conv state");
            r.vec(st.mamba[l].ssm, st.mamba[l].ssm.size(), "an SSM state");
            r.vec(st.swa[l].k, st.swa[l].k.size(), "a sliding-window K ring");
            r.vec(st.swa[l].v, st.swa[l].v.size(), "a sliding-window V ring");
        }
        if (st.kv_type == KvType::F32) {  // resizing within the reserved capacity
            r.vec(st.shared_k, size_t(n_past * st.kv_dim), "the shared K");
            r.vec(st.shared_v, size_t(n_past * st.kv_dim), "the shared V");
        } else {
            auto q = st.shared_q.storage();
            const size_t blocks = size_t(kv_blocks(n_past));
            const KvView lay = st.shared_q.view();
            r.vec(q.k, blocks * size_t(lay.block_bytes()), "the shared K");
            r.vec(q.v, blocks * size_t(lay.block_bytes()), "the shared V");
            r.vec(q.ks, blocks * size_t(lay.n_kv_head * kKvBlock), "the shared K scales");
            r.vec(q.vs, blocks * size_t(lay.n_kv_head * kKvBlock), "the shared V scales");
            q.n_tok = n_past;
        }
        if (r.left() != 4) r.bad("trailing bytes");
        st.n_past = n_past;
        return out;
    } catch (...) {
        st.reset();
        throw;
    }
}

}  // namespace bf
