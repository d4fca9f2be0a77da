// GgufFile: maps a GGUF file (or owns bytes) and validates header, metadata and tensor infos before
// anything is handed out. Every count and length is checked against the bytes left before use.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <limits>

#include "core/error.h"
#include "formats/gguf.h"

namespace bf {

struct GgufFile::Storage {
    void* map = nullptr;
    size_t map_len = 0;
    void* heap = nullptr;
    ~Storage() {
        if (map) munmap(map, map_len);
        std::free(heap);
    }
};

namespace {

// Smallest encoding of one value of each type, so a count can be bounded by the bytes left.
uint64_t min_value_bytes(GgufType t) {
    switch (t) {
        case GgufType::U8:
        case GgufType::I8:
        case GgufType::BOOL: return 1;
        case GgufType::U16:
        case GgufType::I16: return 2;
        case GgufType::U32:
        case GgufType::I32:
        case GgufType::F32: return 4;
        case GgufType::U64:
        case GgufType::I64:
        case GgufType::F64: return 8;
        case GgufType::STRING: return 8;  // u64 length
        case GgufType::ARRAY: return 12;  // u32 elem type + u64 count
    }
    return 1;
}

bool valid_type(uint32_t t) { return t <= uint32_t(GgufType::F64); }

constexpr uint64_t kMinKvBytes = 8 + 4 + 1;                  // empty key, type, 1-byte value
constexpr uint64_t kMinTensorInfoBytes = 8 + 4 + 8 + 4 + 8;  // empty name, n_dims, one ne, type, offset
// Elements per tensor: 2^61 keeps bytes (at most 4 per element for known types) below 2^63.
constexpr int64_t kMaxTensorElems = int64_t(1) << 61;

class Cursor {
public:
    Cursor(const uint8_t* p, uint64_t n) : p_(p), n_(n) {}
    uint64_t pos() const { return pos_; }
    uint64_t left() const { return n_ - pos_; }

    void need(uint64_t k, const char* what) {
        if (k > left())
            fail(strfmt("truncated: %s at offset %llu needs %llu bytes, %llu left", what, (unsigned long long)pos_,
                        (unsigned long long)k, (unsigned long long)left()));
    }
    template <typename T>
    T get(const char* what) {
        need(sizeof(T), what);
        T x;
        std::memcpy(&x, p_ + pos_, sizeof(T));
        pos_ += sizeof(T);
        return x;
    }
    // String view (pointer, length) after checking the length against the bytes left and a maximum.
    std::string string(const char* what, uint64_t max_len) {
        const uint64_t len = get<uint64_t>(what);
        if (len > max_len)
            fail(strfmt("%s length %llu exceeds the maximum %llu", what, (unsigned long long)len,
                        (unsigned long long)max_len));
        need(len, what);
        std::string s(reinterpret_cast<const char*>(p_ + pos_), size_t(len));
        pos_ += len;
        return s;
    }
    void skip(uint64_t k) { pos_ += k; }
    const uint8_t* here() const { return p_ + pos_; }

private:
    const uint8_t* p_;
    uint64_t n_;
    uint64_t pos_ = 0;
};

GgufValue read_value(Cursor& c, GgufType type, int depth);

// One integer or bool element of a compact array (unsigned u64 kept as its bit pattern).
int64_t read_array_int(Cursor& c, GgufType elem) {
    switch (elem) {
        case GgufType::U8: return c.get<uint8_t>("array u8");
        case GgufType::I8: return c.get<int8_t>("array i8");
        case GgufType::U16: return c.get<uint16_t>("array u16");
        case GgufType::I16: return c.get<int16_t>("array i16");
        case GgufType::U32: return c.get<uint32_t>("array u32");
        case GgufType::I32: return c.get<int32_t>("array i32");
        case GgufType::U64: return int64_t(c.get<uint64_t>("array u64"));
        case GgufType::I64: return c.get<int64_t>("array i64");
        case GgufType::BOOL: {
            const uint8_t x = c.get<uint8_t>("array bool");
            if (x > 1) fail(strfmt("bool value %u is not 0 or 1", x));
            return x;
        }
        default: fail(strfmt("internal: %s is not an integer type", gguf_type_name(elem)));
    }
}

void read_array(Cursor& c, GgufValue& v, int depth) {
    if (depth >= kGgufMaxArrayDepth) fail(strfmt("arrays nested deeper than %d", kGgufMaxArrayDepth));
    const uint32_t et = c.get<uint32_t>("array element type");
    if (!valid_type(et)) fail(strfmt("unknown array element type %u", et));
    const GgufType elem = GgufType(et);
    v.elem_type = elem;
    const uint64_t count = c.get<uint64_t>("array length");
    if (count > c.left() / min_value_bytes(elem))
        fail(strfmt("array of %llu %s elements cannot fit in the %llu bytes left", (unsigned long long)count,
                    gguf_type_name(elem), (unsigned long long)c.left()));
    const size_t n = size_t(count);
    switch (elem) {
        case GgufType::STRING:
            v.strs.reserve(n);
            for (size_t k = 0; k < n; ++k) {
                const uint64_t len = c.get<uint64_t>("array string length");
                c.need(len, "array string");
                v.strs.emplace_back(reinterpret_cast<const char*>(c.here()), size_t(len));
                c.skip(len);
            }
            break;
        case GgufType::ARRAY:
            v.arr.reserve(n);
            for (size_t k = 0; k < n; ++k) v.arr.push_back(read_value(c, GgufType::ARRAY, depth + 1));
            break;
        case GgufType::F32:
            v.floats.resize(n);
            for (size_t k = 0; k < n; ++k) v.floats[k] = c.get<float>("array f32");
            break;
        case GgufType::F64:
            v.floats.resize(n);
            for (size_t k = 0; k < n; ++k) v.floats[k] = c.get<double>("array f64");
            break;
        default:
            v.ints.resize(n);
            for (size_t k = 0; k < n; ++k) v.ints[k] = read_array_int(c, elem);
    }
}

GgufValue read_value(Cursor& c, GgufType type, int depth) {
    GgufValue v;
    v.type = type;
    switch (type) {
        case GgufType::U8: v.u = c.get<uint8_t>("u8"); break;
        case GgufType::I8: v.i = c.get<int8_t>("i8"); break;
        case GgufType::U16: v.u = c.get<uint16_t>("u16"); break;
        case GgufType::I16: v.i = c.get<int16_t>("i16"); break;
        case GgufType::U32: v.u = c.get<uint32_t>("u32"); break;
        case GgufType::I32: v.i = c.get<int32_t>("i32"); break;
        case GgufType::U64: v.u = c.get<uint64_t>("u64"); break;
        case GgufType::I64: v.i = c.get<int64_t>("i64"); break;
        case GgufType::F32: v.f = c.get<float>("f32"); break;
        case GgufType::F64: v.f = c.get<double>("f64"); break;
        case GgufType::BOOL: {
            const uint8_t x = c.get<uint8_t>("bool");
            if (x > 1) fail(strfmt("bool value %u is not 0 or 1", x));
            v.b = x != 0;
            break;
        }
        case GgufType::STRING: v.str = c.string("string", std::numeric_limits<uint64_t>::max()); break;
        case GgufType::ARRAY: read_array(c, v, depth); break;
        default: fail(strfmt("unknown value type %u", uint32_t(type)));
    }
    return v;
}

}  // namespace

GgufFile::GgufFile() = default;
GgufFile::GgufFile(GgufFile&&) noexcept = default;
GgufFile& GgufFile::operator=(GgufFile&&) noexcept = default;
GgufFile::~GgufFile() = default;

GgufFile GgufFile::open(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) fail(strfmt("cannot open GGUF file '%s': %s", path.c_str(), std::strerror(errno)));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        ::close(fd);
        fail(strfmt("'%s' is not a regular file", path.c_str()));
    }
    GgufFile g;
    g.storage_ = std::make_unique<Storage>();
    g.size_ = uint64_t(st.st_size);
    if (g.size_ > 0) {
        void* m = mmap(nullptr, size_t(g.size_), PROT_READ, MAP_PRIVATE, fd, 0);
        const int err = errno;
        ::close(fd);
        if (m == MAP_FAILED) fail(strfmt("cannot map '%s': %s", path.c_str(), std::strerror(err)));
        g.storage_->map = m;
        g.storage_->map_len = size_t(g.size_);
        g.base_ = static_cast<const uint8_t*>(m);
    } else {
        ::close(fd);
    }
    try {
        g.parse();
    } catch (const Error& e) {
        fail(strfmt("%s: %s", path.c_str(), e.what()));
    }
    return g;
}

GgufFile GgufFile::from_memory(std::vector<uint8_t> bytes) {
    GgufFile g;
    g.storage_ = std::make_unique<Storage>();
    g.size_ = bytes.size();
    // Page-aligned copy: tensor data then has the same memory alignment as in an mmapped file.
    const size_t cap = (bytes.size() + 4095) / 4096 * 4096 + 4096;
    g.storage_->heap = std::aligned_alloc(4096, cap);
    if (!g.storage_->heap) fail("out of memory copying GGUF bytes");
    if (!bytes.empty()) std::memcpy(g.storage_->heap, bytes.data(), bytes.size());
    g.base_ = static_cast<const uint8_t*>(g.storage_->heap);
    g.parse();
    return g;
}

void GgufFile::parse() {
    Cursor c(base_, size_);
    c.need(4, "magic");
    if (std::memcmp(base_, "GGUF", 4) != 0)
        fail(strfmt("not a GGUF file: magic is %02x %02x %02x %02x, expected 'GGUF'", base_[0], base_[1], base_[2],
                    base_[3]));
    c.skip(4);
    version_ = c.get<uint32_t>("version");
    if (version_ != 2 && version_ != 3) {
        if ((version_ & 0xffffu) == 0 && version_ != 0)
            fail(
                strfmt("GGUF version %u unsupported (a big-endian file? only little-endian v2/v3 are read)", version_));
        fail(strfmt("GGUF version %u unsupported (only 2 and 3)", version_));
    }
    const uint64_t n_tensors = c.get<uint64_t>("tensor count");
    const uint64_t n_kv = c.get<uint64_t>("metadata kv count");
    if (n_kv > c.left() / kMinKvBytes)
        fail(strfmt("metadata kv count %llu cannot fit in the %llu bytes left", (unsigned long long)n_kv,
                    (unsigned long long)c.left()));
    if (n_tensors > c.left() / kMinTensorInfoBytes)
        fail(strfmt("tensor count %llu cannot fit in the %llu bytes left", (unsigned long long)n_tensors,
                    (unsigned long long)c.left()));

    kvs_.reserve(size_t(n_kv));
    for (uint64_t k = 0; k < n_kv; ++k) {
        std::string key;
        try {
            key = c.string("key", kGgufMaxKeyLen);
        } catch (const Error& e) {
            fail(strfmt("metadata kv #%llu: %s", (unsigned long long)k, e.what()));
        }
        try {
            if (kv_index_.count(key)) fail("duplicate key");
            const uint32_t t = c.get<uint32_t>("value type");
            if (!valid_type(t)) fail(strfmt("unknown value type %u", t));
            kvs_.push_back({key, read_value(c, GgufType(t), 0)});
            kv_index_.emplace(key, kvs_.size() - 1);
        } catch (const Error& e) {
            fail(strfmt("metadata key '%s': %s", key.c_str(), e.what()));
        }
    }

    if (const GgufValue* a = find("general.alignment")) {
        if (a->type != GgufType::U32) fail(strfmt("general.alignment must be u32, got %s", gguf_type_name(a->type)));
        if (a->u < 8 || (a->u & (a->u - 1)) != 0)
            fail(strfmt("general.alignment %llu is not a power of two >= 8", (unsigned long long)a->u));
        alignment_ = uint32_t(a->u);
    }

    tensors_.reserve(size_t(n_tensors));
    for (uint64_t k = 0; k < n_tensors; ++k) {
        GgufTensorInfo t;
        try {
            t.name = c.string("tensor name", kGgufMaxNameLen);
        } catch (const Error& e) {
            fail(strfmt("tensor info #%llu: %s", (unsigned long long)k, e.what()));
        }
        try {
            if (tensor_index_.count(t.name)) fail("duplicate tensor name");
            const uint32_t n_dims = c.get<uint32_t>("n_dims");
            if (n_dims < 1 || n_dims > 4) fail(strfmt("n_dims %u not in 1..4", n_dims));
            int64_t numel = 1;
            for (uint32_t d = 0; d < n_dims; ++d) {
                const uint64_t ne = c.get<uint64_t>("ne");
                if (ne < 1 || ne > uint64_t(kMaxTensorElems))
                    fail(strfmt("ne[%u] = %llu out of range 1..2^61", d, (unsigned long long)ne));
                if (int64_t(ne) > kMaxTensorElems / numel)
                    fail(strfmt("element count overflows (ne[%u] = %llu)", d, (unsigned long long)ne));
                numel *= int64_t(ne);
                t.ne.push_back(int64_t(ne));
            }
            t.type = c.get<uint32_t>("type");
            if (!dtype_known(t.type)) fail(strfmt("unsupported tensor type id %u", t.type));
            const int64_t blk = dtype_block_elems(t.dtype());
            if (t.ne[0] % blk != 0)
                fail(strfmt("ne[0] = %lld is not a multiple of the %s block size %lld", (long long)t.ne[0],
                            dtype_name(t.dtype()), (long long)blk));
            t.nbytes = tensor_nbytes(t.dtype(), t.ne[0], numel / t.ne[0]);
            t.offset = c.get<uint64_t>("offset");
            if (t.offset % alignment_ != 0)
                fail(strfmt("offset %llu is not a multiple of the alignment %u", (unsigned long long)t.offset,
                            alignment_));
        } catch (const Error& e) {
            fail(strfmt("tensor '%s': %s", t.name.c_str(), e.what()));
        }
        tensors_.push_back(std::move(t));
        tensor_index_.emplace(tensors_.back().name, tensors_.size() - 1);
    }

    // The data section starts at the next alignment boundary; it may be absent when there are no tensors.
    const uint64_t pos = c.pos();
    data_offset_ = pos + (alignment_ - pos % alignment_) % alignment_;
    const uint64_t data_size = size_ > data_offset_ ? size_ - data_offset_ : 0;
    for (auto& t : tensors_) {
        if (t.offset > data_size || t.nbytes > data_size - t.offset)
            fail(strfmt("tensor '%s': data [%llu, +%zu) runs past the end of the file (data section is %llu bytes)",
                        t.name.c_str(), (unsigned long long)t.offset, t.nbytes, (unsigned long long)data_size));
        t.data = base_ + data_offset_ + t.offset;
    }
}

const GgufValue* GgufFile::find(const std::string& key) const {
    auto it = kv_index_.find(key);
    return it == kv_index_.end() ? nullptr : &kvs_[it->second].value;
}

const GgufValue& GgufFile::get(const std::string& key) const {
    const GgufValue* v = find(key);
    if (!v) fail(strfmt("GGUF metadata key '%s' is missing", key.c_str()));
    return *v;
}

namespace {
// Runs a checked getter and prefixes any error with the key it was reading.
template <typename F>
auto keyed(const std::string& key, F&& f) -> decltype(f()) {
    try {
        return f();
    } catch (const Error& e) {
        fail(strfmt("GGUF metadata key '%s': %s", key.c_str(), e.what()));
    }
}
}  // namespace

uint64_t GgufFile::get_u64(const std::string& key) const {
    return keyed(key, [&] { return get(key).as_u64(); });
}
uint32_t GgufFile::get_u32(const std::string& key) const {
    return keyed(key, [&] { return get(key).as_u32(); });
}
uint32_t GgufFile::get_u32_or(const std::string& key, uint32_t def) const { return find(key) ? get_u32(key) : def; }
int32_t GgufFile::get_i32(const std::string& key) const {
    return keyed(key, [&] { return get(key).as_i32(); });
}
float GgufFile::get_f32(const std::string& key) const {
    return keyed(key, [&] { return get(key).as_f32(); });
}
float GgufFile::get_f32_or(const std::string& key, float def) const { return find(key) ? get_f32(key) : def; }
bool GgufFile::get_bool(const std::string& key) const {
    return keyed(key, [&] { return get(key).as_bool(); });
}
bool GgufFile::get_bool_or(const std::string& key, bool def) const { return find(key) ? get_bool(key) : def; }
const std::string& GgufFile::get_string(const std::string& key) const {
    return keyed(key, [&]() -> const std::string& { return get(key).as_string(); });
}
const std::vector<std::string>& GgufFile::get_str_array(const std::string& key) const {
    return keyed(key, [&]() -> const std::vector<std::string>& { return get(key).as_strs(); });
}
std::vector<int32_t> GgufFile::get_i32_array(const std::string& key) const {
    return keyed(key, [&] { return get(key).as_i32_array(); });
}
std::vector<float> GgufFile::get_f32_array(const std::string& key) const {
    return keyed(key, [&] { return get(key).as_f32_array(); });
}

const GgufTensorInfo* GgufFile::find_tensor(const std::string& name) const {
    auto it = tensor_index_.find(name);
    return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

const GgufTensorInfo& GgufFile::tensor(const std::string& name) const {
    const GgufTensorInfo* t = find_tensor(name);
    if (!t) fail(strfmt("GGUF tensor '%s' not found", name.c_str()));
    return *t;
}

}  // namespace bf
