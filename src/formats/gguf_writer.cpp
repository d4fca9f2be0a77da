// GgufWriter: buffered, streaming GGUF v3 writer. Tensor data is never held in memory; sizes and
// offsets come from the declared shapes, and finish() refuses a file whose data is incomplete.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "core/error.h"
#include "formats/gguf.h"

namespace bf {

namespace {

constexpr size_t kBufBytes = size_t(4) << 20;
constexpr int64_t kMaxTensorElems = int64_t(1) << 61;  // same bound as the reader

uint64_t align_up(uint64_t x, uint64_t a) { return x + (a - x % a) % a; }

bool is_float(GgufType t) { return t == GgufType::F32 || t == GgufType::F64; }

// The writer serialises from the compact storage chosen by elem_type, so reject values whose data sits
// elsewhere (it would otherwise be dropped silently).
void check_value(const GgufValue& v, int depth) {
    if (uint32_t(v.type) > uint32_t(GgufType::F64)) fail(strfmt("unknown value type %u", uint32_t(v.type)));
    if (v.type != GgufType::ARRAY) return;
    if (depth >= kGgufMaxArrayDepth) fail(strfmt("arrays nested deeper than %d", kGgufMaxArrayDepth));
    const GgufType e = v.elem_type;
    if (uint32_t(e) > uint32_t(GgufType::F64)) fail(strfmt("unknown array element type %u", uint32_t(e)));
    const bool s = e == GgufType::STRING, a = e == GgufType::ARRAY, f = is_float(e), i = !s && !a && !f;
    if ((!s && !v.strs.empty()) || (!a && !v.arr.empty()) || (!f && !v.floats.empty()) || (!i && !v.ints.empty()))
        fail(strfmt("array of %s holds elements in the wrong storage", gguf_type_name(e)));
    if (a)
        for (const auto& x : v.arr) {
            if (x.type != GgufType::ARRAY) fail("array of array holds a non-array element");
            check_value(x, depth + 1);
        }
    if (e == GgufType::BOOL)
        for (int64_t x : v.ints)
            if (x != 0 && x != 1) fail("bool array element is not 0 or 1");
}

// Makes a rename durable (the directory entry itself). Best effort: some filesystems refuse fsync on a
// directory, and the file is complete either way.
void sync_parent_dir(const std::string& path) {
    const size_t slash = path.rfind('/');
    const std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
    const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return;
    ::fsync(fd);
    ::close(fd);
}

}  // namespace

GgufWriter::GgufWriter(const std::string& path) : path_(path), tmp_path_(path + ".tmp") {
    fp_ = std::fopen(tmp_path_.c_str(), "wb");
    if (!fp_) fail(strfmt("cannot create '%s': %s", tmp_path_.c_str(), std::strerror(errno)));
    std::setvbuf(fp_, nullptr, _IONBF, 0);  // we buffer ourselves
    buf_.reserve(kBufBytes);
}

GgufWriter::~GgufWriter() {
    if (fp_) std::fclose(fp_);
    if (stage_ != Stage::Done) std::remove(tmp_path_.c_str());
}

void GgufWriter::add_kv(const std::string& key, GgufValue value) {
    if (stage_ != Stage::Declaring) fail(strfmt("GGUF writer: add_kv('%s') after begin_data()", key.c_str()));
    if (key.empty() || key.size() > kGgufMaxKeyLen)
        fail(strfmt("GGUF writer: key length %zu not in 1..%zu", key.size(), kGgufMaxKeyLen));
    if (kv_index_.count(key)) fail(strfmt("GGUF writer: duplicate key '%s'", key.c_str()));
    try {
        check_value(value, 0);
    } catch (const Error& e) {
        fail(strfmt("GGUF writer: key '%s': %s", key.c_str(), e.what()));
    }
    if (key == "general.alignment") {
        if (value.type != GgufType::U32 || value.u < 8 || (value.u & (value.u - 1)) != 0)
            fail("GGUF writer: general.alignment must be a u32 power of two >= 8");
        alignment_ = uint32_t(value.u);
    }
    kvs_.push_back({key, std::move(value)});
    kv_index_.emplace(key, kvs_.size() - 1);
}

void GgufWriter::add_tensor(const std::string& name, DType type, std::vector<int64_t> ne) {
    if (stage_ != Stage::Declaring) fail(strfmt("GGUF writer: add_tensor('%s') after begin_data()", name.c_str()));
    try {
        if (name.empty() || name.size() > kGgufWriterMaxNameLen)
            fail(strfmt("name length %zu not in 1..%zu (llama.cpp's limit)", name.size(), kGgufWriterMaxNameLen));
        if (tensor_index_.count(name)) fail("duplicate tensor name");
        if (!dtype_known(uint32_t(type))) fail(strfmt("unsupported type id %u", uint32_t(type)));
        if (ne.empty() || ne.size() > 4) fail(strfmt("%zu dimensions, expected 1..4", ne.size()));
        int64_t numel = 1;
        for (size_t d = 0; d < ne.size(); ++d) {
            if (ne[d] < 1 || ne[d] > kMaxTensorElems / numel)
                fail(strfmt("ne[%zu] = %lld out of range", d, (long long)ne[d]));
            numel *= ne[d];
        }
        const uint64_t nbytes = tensor_nbytes(type, ne[0], numel / ne[0]);
        tensors_.push_back({name, type, std::move(ne), nbytes, 0});
    } catch (const Error& e) {
        fail(strfmt("GGUF writer: tensor '%s': %s", name.c_str(), e.what()));
    }
    tensor_index_.emplace(name, tensors_.size() - 1);
}

void GgufWriter::begin_data() {
    if (stage_ != Stage::Declaring) fail("GGUF writer: begin_data() called twice");
    uint64_t off = 0;
    for (auto& t : tensors_) {
        t.offset = off;
        off = align_up(off + t.nbytes, alignment_);
    }
    put("GGUF", 4);
    put_u32(3);
    put_u64(tensors_.size());
    put_u64(kvs_.size());
    for (const auto& kv : kvs_) {
        put_string(kv.key);
        put_u32(uint32_t(kv.value.type));
        put_value(kv.value, 0);
    }
    for (const auto& t : tensors_) {
        put_string(t.name);
        put_u32(uint32_t(t.ne.size()));
        for (int64_t x : t.ne) put_u64(uint64_t(x));
        put_u32(uint32_t(t.type));
        put_u64(t.offset);
    }
    put_zeros(size_t(align_up(header_bytes_, alignment_) - header_bytes_));
    stage_ = Stage::Data;
    cur_ = 0;
    cur_written_ = 0;
}

void GgufWriter::write_tensor_data(const void* data, size_t n) {
    if (stage_ != Stage::Data) fail("GGUF writer: write_tensor_data() outside begin_data()..finish()");
    if (n == 0) return;
    if (cur_ >= tensors_.size()) fail(strfmt("GGUF writer: %zu bytes written after all tensor data was complete", n));
    Pending& t = tensors_[cur_];
    if (n > t.nbytes - cur_written_)
        fail(strfmt("GGUF writer: tensor '%s': write of %zu bytes exceeds the %llu bytes left of its %llu",
                    t.name.c_str(), n, (unsigned long long)(t.nbytes - cur_written_), (unsigned long long)t.nbytes));
    put(data, n);
    cur_written_ += n;
    if (cur_written_ == t.nbytes) {
        put_zeros(size_t(align_up(t.nbytes, alignment_) - t.nbytes));
        ++cur_;
        cur_written_ = 0;
    }
}

void GgufWriter::finish() {
    if (stage_ == Stage::Done) fail("GGUF writer: finish() called twice");
    if (stage_ == Stage::Declaring) begin_data();  // metadata-only file
    if (cur_ < tensors_.size()) {
        const Pending& t = tensors_[cur_];
        fail(strfmt("GGUF writer: tensor '%s' has %llu of %llu bytes written (%zu of %zu tensors complete)",
                    t.name.c_str(), (unsigned long long)cur_written_, (unsigned long long)t.nbytes, cur_,
                    tensors_.size()));
    }
    flush();
    // The data must be on disk before the rename makes it the file under its final name: otherwise a crash
    // soon after could leave a complete-looking name over incomplete contents.
    if (::fsync(::fileno(fp_)) != 0)
        fail(strfmt("GGUF writer: syncing '%s' failed: %s", tmp_path_.c_str(), std::strerror(errno)));
    const int rc = std::fclose(fp_);
    fp_ = nullptr;
    if (rc != 0) fail(strfmt("GGUF writer: closing '%s' failed: %s", tmp_path_.c_str(), std::strerror(errno)));
    if (std::rename(tmp_path_.c_str(), path_.c_str()) != 0)
        fail(strfmt("GGUF writer: cannot rename '%s' to '%s': %s", tmp_path_.c_str(), path_.c_str(),
                    std::strerror(errno)));
    stage_ = Stage::Done;
    sync_parent_dir(path_);
}

void GgufWriter::flush() {
    if (buf_.empty()) return;
    if (std::fwrite(buf_.data(), 1, buf_.size(), fp_) != buf_.size())
        fail(strfmt("GGUF writer: writing '%s' failed: %s", tmp_path_.c_str(), std::strerror(errno)));
    buf_.clear();
}

void GgufWriter::put(const void* p, size_t n) {
    if (stage_ == Stage::Declaring) header_bytes_ += n;
    if (buf_.size() + n > kBufBytes) {
        flush();
        if (n >= kBufBytes) {  // large chunk: skip the copy
            if (std::fwrite(p, 1, n, fp_) != n)
                fail(strfmt("GGUF writer: writing '%s' failed: %s", tmp_path_.c_str(), std::strerror(errno)));
            return;
        }
    }
    const auto* b = static_cast<const uint8_t*>(p);
    buf_.insert(buf_.end(), b, b + n);
}

void GgufWriter::put_zeros(size_t n) {
    static const uint8_t kZeros[4096] = {};
    while (n > 0) {
        const size_t k = n < sizeof kZeros ? n : sizeof kZeros;
        put(kZeros, k);
        n -= k;
    }
}

void GgufWriter::put_string(const std::string& s) {
    put_u64(s.size());
    put(s.data(), s.size());
}

void GgufWriter::put_value(const GgufValue& v, int depth) {
    switch (v.type) {
        case GgufType::U8: {
            uint8_t x = uint8_t(v.u);
            put(&x, 1);
            break;
        }
        case GgufType::I8: {
            int8_t x = int8_t(v.i);
            put(&x, 1);
            break;
        }
        case GgufType::U16: {
            uint16_t x = uint16_t(v.u);
            put(&x, 2);
            break;
        }
        case GgufType::I16: {
            int16_t x = int16_t(v.i);
            put(&x, 2);
            break;
        }
        case GgufType::U32: put_u32(uint32_t(v.u)); break;
        case GgufType::I32: {
            int32_t x = int32_t(v.i);
            put(&x, 4);
            break;
        }
        case GgufType::U64: put_u64(v.u); break;
        case GgufType::I64: put_u64(uint64_t(v.i)); break;
        case GgufType::F32: {
            float x = float(v.f);
            put(&x, 4);
            break;
        }
        case GgufType::F64: put(&v.f, 8); break;
        case GgufType::BOOL: {
            uint8_t x = v.b ? 1 : 0;
            put(&x, 1);
            break;
        }
        case GgufType::STRING: put_string(v.str); break;
        case GgufType::ARRAY: {
            put_u32(uint32_t(v.elem_type));
            put_u64(v.size());
            switch (v.elem_type) {
                case GgufType::STRING:
                    for (const auto& s : v.strs) put_string(s);
                    break;
                case GgufType::ARRAY:
                    // Nested arrays carry no per-element type tag: the outer elem_type says ARRAY.
                    for (const auto& a : v.arr) put_value(a, depth + 1);
                    break;
                case GgufType::F32:
                    for (double d : v.floats) {
                        float x = float(d);
                        put(&x, 4);
                    }
                    break;
                case GgufType::F64:
                    for (double d : v.floats) put(&d, 8);
                    break;
                default: {
                    GgufValue e;
                    e.type = v.elem_type;
                    for (int64_t x : v.ints) {
                        e.u = uint64_t(x);
                        e.i = x;
                        e.b = x != 0;
                        put_value(e, depth + 1);
                    }
                }
            }
            break;
        }
    }
}

}  // namespace bf
