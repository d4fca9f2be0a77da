// SafetensorsSet: parses and validates safetensors headers (one file or an index.json shard set) and
// reads tensor bytes with pread, converting F32/F16/BF16 to f32. No mmap: RSS stays small.
#include "formats/safetensors.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/fp16.h"

namespace bf {

namespace {

using nlohmann::json;

constexpr uint64_t kMaxHeaderBytes = uint64_t(100) << 20;
constexpr uint64_t kMaxIndexBytes = uint64_t(100) << 20;
constexpr size_t kMaxRank = 8;
constexpr int64_t kMaxElems = int64_t(1) << 60;  // times 8 bytes still fits in int64
constexpr int kMaxJsonDepth = 16;

bool is_dir(const std::string& p) {
    struct stat st;
    return stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}
bool exists(const std::string& p) {
    struct stat st;
    return stat(p.c_str(), &st) == 0;
}

void pread_full(int fd, void* out, uint64_t n, uint64_t off, const std::string& path) {
    auto* p = static_cast<uint8_t*>(out);
    while (n > 0) {
        const size_t want = size_t(std::min<uint64_t>(n, uint64_t(1) << 30));
        const ssize_t r = ::pread(fd, p, want, off_t(off));
        if (r < 0) {
            if (errno == EINTR) continue;
            fail(strfmt("reading '%s' at offset %llu failed: %s", path.c_str(), (unsigned long long)off,
                        std::strerror(errno)));
        }
        if (r == 0)
            fail(strfmt("'%s' ended early at offset %llu (file truncated after opening?)", path.c_str(),
                        (unsigned long long)off));
        p += r;
        off += uint64_t(r);
        n -= uint64_t(r);
    }
}

// Parses JSON, rejecting duplicate top-level keys (nlohmann would keep the last silently) and deep nesting.
json parse_json(const std::string& text, const std::string& what) {
    std::vector<std::string> seen;
    auto cb = [&](int depth, json::parse_event_t ev, json& parsed) -> bool {
        if ((ev == json::parse_event_t::object_start || ev == json::parse_event_t::array_start) &&
            depth > kMaxJsonDepth)
            fail(strfmt("%s: JSON nested deeper than %d", what.c_str(), kMaxJsonDepth));
        if (ev == json::parse_event_t::key && depth == 1) {
            const std::string& k = parsed.get_ref<const std::string&>();
            seen.push_back(k);
        }
        return true;
    };
    json j;
    try {
        j = json::parse(text, cb);
    } catch (const json::exception& e) {
        fail(strfmt("%s: invalid JSON: %s", what.c_str(), e.what()));
    }
    std::sort(seen.begin(), seen.end());
    auto dup = std::adjacent_find(seen.begin(), seen.end());
    if (dup != seen.end()) fail(strfmt("%s: duplicate key '%s'", what.c_str(), dup->c_str()));
    return j;
}

// A non-negative JSON integer (not a float) within max.
uint64_t json_uint(const json& v, uint64_t max, const char* what) {
    uint64_t x;
    if (v.is_number_unsigned())
        x = v.get<uint64_t>();
    else if (v.is_number_integer() && v.get<int64_t>() >= 0)
        x = uint64_t(v.get<int64_t>());
    else
        fail(strfmt("%s must be a non-negative integer", what));
    if (x > max) fail(strfmt("%s = %llu exceeds %llu", what, (unsigned long long)x, (unsigned long long)max));
    return x;
}

}  // namespace

int safetensors_dtype_size(const std::string& d) {
    if (d == "F64" || d == "I64" || d == "U64" || d == "C64") return 8;
    if (d == "F32" || d == "I32" || d == "U32") return 4;
    if (d == "F16" || d == "BF16" || d == "I16" || d == "U16") return 2;
    if (d == "BOOL" || d == "U8" || d == "I8" || d == "F8_E4M3" || d == "F8_E5M2" || d == "F8_E8M0") return 1;
    return 0;
}

int64_t StTensor::numel() const {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
}
int64_t StTensor::rows() const { return shape.empty() ? 1 : shape[0]; }
int64_t StTensor::cols() const {
    int64_t n = 1;
    for (size_t k = 1; k < shape.size(); ++k) n *= shape[k];
    return n;
}

SafetensorsSet::SafetensorsSet(SafetensorsSet&& o) noexcept
    : paths_(std::move(o.paths_)),
      fds_(std::move(o.fds_)),
      sizes_(std::move(o.sizes_)),
      tensors_(std::move(o.tensors_)) {
    o.fds_.clear();
}

SafetensorsSet& SafetensorsSet::operator=(SafetensorsSet&& o) noexcept {
    if (this != &o) {
        close_all();
        paths_ = std::move(o.paths_);
        fds_ = std::move(o.fds_);
        sizes_ = std::move(o.sizes_);
        tensors_ = std::move(o.tensors_);
        o.fds_.clear();
    }
    return *this;
}

SafetensorsSet::~SafetensorsSet() { close_all(); }

void SafetensorsSet::close_all() {
    for (int fd : fds_) ::close(fd);
    fds_.clear();
}

void SafetensorsSet::add_file(const std::string& path, std::map<std::string, StTensor>* out) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) fail(strfmt("cannot open safetensors file '%s': %s", path.c_str(), std::strerror(errno)));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        ::close(fd);
        fail(strfmt("'%s' is not a regular file", path.c_str()));
    }
    // Registered before validation so the destructor closes it if anything below throws.
    const int file_idx = int(fds_.size());
    paths_.push_back(path);
    fds_.push_back(fd);
    const uint64_t size = uint64_t(st.st_size);
    sizes_.push_back(size);
    const std::string where = "safetensors '" + path + "'";

    if (size < 8)
        fail(strfmt("%s: file of %llu bytes is too short for a header", where.c_str(), (unsigned long long)size));
    uint64_t hlen;
    pread_full(fd, &hlen, 8, 0, path);
    if (hlen > kMaxHeaderBytes || hlen > size - 8)
        fail(strfmt("%s: header length %llu exceeds %s", where.c_str(), (unsigned long long)hlen,
                    hlen > kMaxHeaderBytes ? "the 100 MB limit" : "the file size"));
    std::string text(size_t(hlen), '\0');
    pread_full(fd, text.data(), hlen, 8, path);
    const json j = parse_json(text, where);
    if (!j.is_object()) fail(strfmt("%s: header is not a JSON object", where.c_str()));

    const uint64_t data_start = 8 + hlen;
    const uint64_t data_size = size - data_start;
    for (const auto& [name, v] : j.items()) {
        if (name == "__metadata__") continue;
        try {
            if (!v.is_object()) fail("entry is not an object");
            StTensor t;
            t.name = name;
            t.file = file_idx;
            auto dt = v.find("dtype");
            if (dt == v.end() || !dt->is_string()) fail("missing string 'dtype'");
            t.dtype = dt->get<std::string>();
            const int esize = safetensors_dtype_size(t.dtype);
            if (esize == 0) fail(strfmt("unknown dtype '%s'", t.dtype.c_str()));
            auto sh = v.find("shape");
            if (sh == v.end() || !sh->is_array()) fail("missing array 'shape'");
            if (sh->size() > kMaxRank) fail(strfmt("shape has %zu dimensions (max %zu)", sh->size(), kMaxRank));
            int64_t numel = 1;
            for (const auto& d : *sh) {
                const int64_t x = int64_t(json_uint(d, uint64_t(kMaxElems), "shape entry"));
                if (x != 0 && numel > kMaxElems / x) fail("element count overflows");
                numel *= x;
                t.shape.push_back(x);
            }
            auto off = v.find("data_offsets");
            if (off == v.end() || !off->is_array() || off->size() != 2) fail("'data_offsets' is not [begin, end]");
            const uint64_t b = json_uint((*off)[0], data_size, "data_offsets begin");
            const uint64_t e = json_uint((*off)[1], data_size, "data_offsets end");
            if (e < b) fail(strfmt("data_offsets end %llu < begin %llu", (unsigned long long)e, (unsigned long long)b));
            if (e - b != uint64_t(numel) * uint64_t(esize))
                fail(strfmt("data_offsets span %llu bytes but %lld %s elements need %llu", (unsigned long long)(e - b),
                            (long long)numel, t.dtype.c_str(),
                            (unsigned long long)(uint64_t(numel) * uint64_t(esize))));
            t.offset = data_start + b;
            t.nbytes = e - b;
            (*out)[name] = std::move(t);
        } catch (const Error& err) {
            fail(strfmt("%s: tensor '%s': %s", where.c_str(), name.c_str(), err.what()));
        }
    }
}

SafetensorsSet SafetensorsSet::open(const std::string& path) {
    SafetensorsSet s;
    if (!is_dir(path)) {
        s.add_file(path, &s.tensors_);
        return s;
    }
    const std::string index = path + "/model.safetensors.index.json";
    if (!exists(index)) {
        const std::string single = path + "/model.safetensors";
        if (!exists(single))
            fail(strfmt("'%s' has neither model.safetensors.index.json nor model.safetensors", path.c_str()));
        s.add_file(single, &s.tensors_);
        return s;
    }

    const int fd = ::open(index.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) fail(strfmt("cannot open '%s': %s", index.c_str(), std::strerror(errno)));
    struct stat st;
    std::string text;
    try {
        if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || uint64_t(st.st_size) > kMaxIndexBytes)
            fail(strfmt("'%s' is not a regular file under 100 MB", index.c_str()));
        text.resize(size_t(st.st_size));
        pread_full(fd, text.data(), text.size(), 0, index);
    } catch (...) {
        ::close(fd);
        throw;
    }
    ::close(fd);
    const json j = parse_json(text, "'" + index + "'");
    if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object())
        fail(strfmt("'%s' has no 'weight_map' object", index.c_str()));

    // Each shard is opened once; the weight map decides which tensors the set exposes.
    std::map<std::string, std::map<std::string, StTensor>> shards;
    for (const auto& [name, file] : j["weight_map"].items()) {
        if (!file.is_string())
            fail(strfmt("'%s': weight_map entry for '%s' is not a string", index.c_str(), name.c_str()));
        const std::string f = file.get<std::string>();
        if (f.empty() || f == "." || f == ".." || f.find('/') != std::string::npos)
            fail(strfmt("'%s': tensor '%s' names an invalid shard file '%s'", index.c_str(), name.c_str(), f.c_str()));
        auto it = shards.find(f);
        if (it == shards.end()) {
            it = shards.emplace(f, std::map<std::string, StTensor>{}).first;
            const std::string shard_path = path + "/" + f;
            if (!exists(shard_path))
                fail(strfmt("'%s': tensor '%s' is mapped to shard '%s', which does not exist", index.c_str(),
                            name.c_str(), shard_path.c_str()));
            s.add_file(shard_path, &it->second);
        }
        auto t = it->second.find(name);
        if (t == it->second.end())
            fail(strfmt("'%s': tensor '%s' is mapped to '%s', which does not contain it", index.c_str(), name.c_str(),
                        f.c_str()));
        s.tensors_[name] = t->second;
    }
    return s;
}

std::vector<std::string> SafetensorsSet::names() const {
    std::vector<std::string> out;
    out.reserve(tensors_.size());
    for (const auto& kv : tensors_) out.push_back(kv.first);
    return out;  // std::map iterates in sorted order
}

const StTensor* SafetensorsSet::find(const std::string& name) const {
    auto it = tensors_.find(name);
    return it == tensors_.end() ? nullptr : &it->second;
}

const StTensor& SafetensorsSet::tensor(const std::string& name) const {
    const StTensor* t = find(name);
    if (!t) fail(strfmt("safetensors tensor '%s' not found", name.c_str()));
    return *t;
}

void SafetensorsSet::read_raw(const StTensor& t, uint64_t byte_offset, uint64_t n, void* out) const {
    if (t.file < 0 || size_t(t.file) >= fds_.size())
        fail(strfmt("tensor '%s' does not belong to this set", t.name.c_str()));
    if (byte_offset > t.nbytes || n > t.nbytes - byte_offset)
        fail(strfmt("tensor '%s': read of %llu bytes at %llu is outside its %llu bytes", t.name.c_str(),
                    (unsigned long long)n, (unsigned long long)byte_offset, (unsigned long long)t.nbytes));
    pread_full(fds_[size_t(t.file)], out, n, t.offset + byte_offset, paths_[size_t(t.file)]);
}

void SafetensorsSet::read_rows_f32(const StTensor& t, int64_t row0, int64_t n_rows, float* out) const {
    const bool f32 = t.dtype == "F32", f16 = t.dtype == "F16", bf16 = t.dtype == "BF16";
    if (!f32 && !f16 && !bf16)
        fail(strfmt("tensor '%s': dtype %s cannot be read as f32 (F32, F16, BF16 only)", t.name.c_str(),
                    t.dtype.c_str()));
    const int64_t rows = t.rows();
    if (row0 < 0 || n_rows < 0 || row0 > rows || n_rows > rows - row0)
        fail(strfmt("tensor '%s': rows [%lld, +%lld) outside its %lld rows", t.name.c_str(), (long long)row0,
                    (long long)n_rows, (long long)rows));
    const uint64_t esize = f32 ? 4 : 2;
    const uint64_t row_bytes = uint64_t(t.cols()) * esize;
    const uint64_t start = uint64_t(row0) * row_bytes;
    const uint64_t total = uint64_t(n_rows) * row_bytes;
    if (f32) {
        read_raw(t, start, total, out);
        return;
    }
    // 16-bit: stage through a bounded buffer so a huge read never doubles its memory.
    constexpr uint64_t kChunkElems = uint64_t(1) << 18;
    std::vector<uint16_t> buf(size_t(std::min<uint64_t>(kChunkElems, total / 2)));
    const uint64_t n_elems = total / 2;
    for (uint64_t done = 0; done < n_elems;) {
        const uint64_t k = std::min<uint64_t>(kChunkElems, n_elems - done);
        read_raw(t, start + done * 2, k * 2, buf.data());
        float* dst = out + done;
        if (bf16)
            for (uint64_t q = 0; q < k; ++q) dst[q] = bf16_to_f32(buf[q]);
        else
            for (uint64_t q = 0; q < k; ++q) dst[q] = f16_to_f32(buf[q]);
        done += k;
    }
}

}  // namespace bf
