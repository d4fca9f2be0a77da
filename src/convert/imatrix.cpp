// Writer and bounds-checked reader of the legacy imatrix file.
#include "convert/imatrix.h"

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>

#include "core/error.h"

namespace bf {

namespace {

constexpr uint64_t kMaxFileBytes = uint64_t(1) << 31;  // a 200k-column, 1000-matrix file is ~1 GB
constexpr int32_t kMaxNameBytes = 1024;

void put_i32(std::string& out, int64_t v) {
    const int32_t x = int32_t(v);
    out.append(reinterpret_cast<const char*>(&x), 4);
}

// Reads little-endian fields from a byte string, failing on a read past its end.
struct Cursor {
    const std::string& bytes;
    const std::string& path;
    size_t pos = 0;
    size_t left() const { return bytes.size() - pos; }
    int32_t i32(const char* what) {
        if (left() < 4) fail(path + ": truncated (" + what + ")");
        int32_t v;
        std::memcpy(&v, bytes.data() + pos, 4);
        pos += 4;
        return v;
    }
};

}  // namespace

void save_imatrix(const std::string& path, const std::map<std::string, ImatrixEntry>& entries, int64_t chunk_size,
                  int64_t n_chunks, const std::string& dataset) {
    if (chunk_size < 1) fail("save_imatrix: chunk size must be >= 1");
    std::string out;
    int64_t n = 0;
    for (const auto& [name, e] : entries) n += e.rows > 0;
    put_i32(out, n);
    for (const auto& [name, e] : entries) {
        if (e.rows <= 0) continue;  // no data: llama.cpp skips such entries too
        put_i32(out, int64_t(name.size()));
        out += name;
        const int64_t ncall = (e.rows + chunk_size - 1) / chunk_size;
        put_i32(out, ncall);
        put_i32(out, int64_t(e.mean_sq.size()));
        for (float v : e.mean_sq) {
            const float stored = v * float(ncall);
            out.append(reinterpret_cast<const char*>(&stored), 4);
        }
    }
    put_i32(out, n_chunks);
    put_i32(out, int64_t(dataset.size()));
    out += dataset;
    std::ofstream f(path, std::ios::binary);
    if (!f || !f.write(out.data(), std::streamsize(out.size())) || !f.flush()) fail("cannot write " + path);
}

std::map<std::string, std::vector<float>> load_imatrix(const std::string& path) {
    std::error_code ec;
    const uint64_t size = std::filesystem::file_size(path, ec);
    if (ec) fail("cannot read " + path + ": " + ec.message());
    if (size > kMaxFileBytes) fail(path + ": too large for an imatrix file");
    std::string bytes(size_t(size), '\0');
    std::ifstream f(path, std::ios::binary);
    if (!f || !f.read(bytes.data(), std::streamsize(size))) fail("cannot read " + path);
    Cursor c{bytes, path};
    const int32_t n = c.i32("entry count");
    if (n < 1 || uint64_t(n) > c.left() / 12) fail(path + ": bad entry count " + std::to_string(n));
    std::map<std::string, std::vector<float>> out;
    for (int32_t i = 0; i < n; ++i) {
        const int32_t len = c.i32("name length");
        if (len < 1 || len > kMaxNameBytes || size_t(len) > c.left())
            fail(strfmt("%s: entry %d: bad name length %d", path.c_str(), i, len));
        std::string name = bytes.substr(c.pos, size_t(len));
        c.pos += size_t(len);
        const int32_t ncall = c.i32("call count"), nval = c.i32("value count");
        if (ncall < 1) fail(strfmt("%s: %s: bad call count %d", path.c_str(), name.c_str(), ncall));
        if (nval < 1 || uint64_t(nval) > c.left() / 4)
            fail(strfmt("%s: %s: bad value count %d", path.c_str(), name.c_str(), nval));
        std::vector<float> v(static_cast<size_t>(nval));
        std::memcpy(v.data(), bytes.data() + c.pos, size_t(nval) * 4);
        c.pos += size_t(nval) * 4;
        for (float& x : v) {
            if (!std::isfinite(x) || x < 0) fail(path + ": " + name + ": a value is negative or not finite");
            x /= float(ncall);
        }
        if (!out.emplace(std::move(name), std::move(v)).second) fail(path + ": a tensor name appears twice");
    }
    // Optional tail (older files end after the entries): chunk count, then the dataset name.
    if (c.left() > 0) {
        (void)c.i32("chunk count");
        if (c.left() > 0) {
            const int32_t len = c.i32("dataset name length");
            if (len < 0 || size_t(len) != c.left()) fail(path + ": bad dataset name length or trailing bytes");
        }
    }
    return out;
}

}  // namespace bf
