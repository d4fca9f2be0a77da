// GGUF v3 container: typed metadata values, a validating mmap reader and a streaming writer.
// Knows nothing of any model: names and keys are the caller's business (docs/formats.md).
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/dtype.h"

namespace bf {

enum class GgufType : uint32_t { U8 = 0, I8, U16, I16, U32, I32, F32, BOOL, STRING, ARRAY, U64, I64, F64 };

const char* gguf_type_name(GgufType t);

// One metadata value. Scalars use u (unsigned types), i (signed types), f (F32/F64), b, str.
// Arrays (type ARRAY) keep their elements compactly, by elem_type, so a 200k-entry vocabulary
// loads as one vector of strings rather than 200k nested values:
//   STRING            -> strs
//   integers and BOOL -> ints (unsigned values stored as their two's-complement bit pattern)
//   F32 / F64         -> floats
//   ARRAY (nested)    -> arr (each element is itself an ARRAY value)
// size() and at(i) give uniform access whatever the storage.
struct GgufValue {
    GgufType type = GgufType::U8;
    GgufType elem_type = GgufType::U8;
    uint64_t u = 0;
    int64_t i = 0;
    double f = 0.0;
    bool b = false;
    std::string str;
    std::vector<GgufValue> arr;
    std::vector<std::string> strs;
    std::vector<int64_t> ints;
    std::vector<double> floats;

    static GgufValue u8(uint8_t x);
    static GgufValue i8(int8_t x);
    static GgufValue u16(uint16_t x);
    static GgufValue i16(int16_t x);
    static GgufValue u32(uint32_t x);
    static GgufValue i32(int32_t x);
    static GgufValue u64(uint64_t x);
    static GgufValue i64(int64_t x);
    static GgufValue f32(float x);
    static GgufValue f64(double x);
    static GgufValue boolean(bool x);
    static GgufValue string(std::string s);  // ("str" is taken by the member)
    static GgufValue str_array(std::vector<std::string> v);
    static GgufValue i32_array(const std::vector<int32_t>& v);
    static GgufValue u32_array(const std::vector<uint32_t>& v);
    static GgufValue i64_array(const std::vector<int64_t>& v);
    static GgufValue u8_array(const std::vector<uint8_t>& v);
    static GgufValue f32_array(const std::vector<float>& v);
    static GgufValue f64_array(const std::vector<double>& v);
    // Generic array from scalar values (or ARRAY values when elem == ARRAY); every item must
    // have type elem. Throws bf::Error otherwise.
    static GgufValue array(GgufType elem, const std::vector<GgufValue>& items);

    bool is_array() const { return type == GgufType::ARRAY; }
    bool is_integer() const;  // scalar U8..I64 (not BOOL)
    // Number of array elements (0 for scalars).
    size_t size() const;
    // Element i of an array as a standalone value; throws on a scalar or out of range.
    GgufValue at(size_t idx) const;

    // Checked getters: throw bf::Error naming the expected and actual types, or the value out of range.
    uint64_t as_u64() const;  // any integer type with a non-negative value
    int64_t as_i64() const;   // any integer type whose value fits
    uint32_t as_u32() const;
    int32_t as_i32() const;
    double as_f64() const;  // F32 or F64
    float as_f32() const;
    bool as_bool() const;
    const std::string& as_string() const;
    const std::vector<std::string>& as_strs() const;  // array of STRING
    std::vector<int32_t> as_i32_array() const;        // array of any integer type, values fitting i32
    std::vector<uint32_t> as_u32_array() const;
    std::vector<int64_t> as_i64_array() const;
    std::vector<float> as_f32_array() const;  // array of F32 or F64

    bool operator==(const GgufValue& o) const;
};

struct GgufKv {
    std::string key;
    GgufValue value;
};

struct GgufTensorInfo {
    std::string name;
    uint32_t type = 0;        // raw ggml type id, validated by dtype_known()
    std::vector<int64_t> ne;  // ne[0] innermost (reverse of the PyTorch shape)
    uint64_t offset = 0;      // relative to the data section
    const uint8_t* data = nullptr;
    size_t nbytes = 0;

    DType dtype() const { return DType(type); }
    int64_t rows() const;   // product of ne[1..]
    int64_t numel() const;  // product of all ne
};

constexpr uint32_t kGgufDefaultAlignment = 32;
constexpr int kGgufMaxArrayDepth = 4;  // ARRAY nested at most this deep (1 = flat array)
constexpr size_t kGgufMaxKeyLen = 65535;
constexpr size_t kGgufMaxNameLen = 65535;  // reader bound; the writer keeps names < 64 for llama.cpp
constexpr size_t kGgufWriterMaxNameLen = 63;

class GgufFile {
public:
    // Maps the file read-only for the object's lifetime and validates everything (see docs/formats.md).
    static GgufFile open(const std::string& path);
    // Takes ownership of the bytes (copied into page-aligned storage so tensor data is as aligned as in a file).
    static GgufFile from_memory(std::vector<uint8_t> bytes);

    GgufFile(GgufFile&&) noexcept;
    GgufFile& operator=(GgufFile&&) noexcept;
    GgufFile(const GgufFile&) = delete;
    GgufFile& operator=(const GgufFile&) = delete;
    ~GgufFile();

    uint32_t version() const { return version_; }
    uint32_t alignment() const { return alignment_; }
    uint64_t file_size() const { return size_; }
    uint64_t data_offset() const { return data_offset_; }  // absolute start of the data section

    const std::vector<GgufKv>& kvs() const { return kvs_; }
    const GgufValue* find(const std::string& key) const;
    const GgufValue& get(const std::string& key) const;  // throws naming the key if missing

    uint64_t get_u64(const std::string& key) const;
    uint32_t get_u32(const std::string& key) const;
    uint32_t get_u32_or(const std::string& key, uint32_t def) const;
    int32_t get_i32(const std::string& key) const;
    float get_f32(const std::string& key) const;
    float get_f32_or(const std::string& key, float def) const;
    bool get_bool(const std::string& key) const;
    bool get_bool_or(const std::string& key, bool def) const;
    const std::string& get_string(const std::string& key) const;
    const std::vector<std::string>& get_str_array(const std::string& key) const;
    std::vector<int32_t> get_i32_array(const std::string& key) const;
    std::vector<float> get_f32_array(const std::string& key) const;

    const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }
    const GgufTensorInfo* find_tensor(const std::string& name) const;
    const GgufTensorInfo& tensor(const std::string& name) const;  // throws naming it

private:
    struct Storage;
    GgufFile();
    void parse();

    std::unique_ptr<Storage> storage_;
    const uint8_t* base_ = nullptr;
    uint64_t size_ = 0;
    uint32_t version_ = 0;
    uint32_t alignment_ = kGgufDefaultAlignment;
    uint64_t data_offset_ = 0;
    std::vector<GgufKv> kvs_;
    std::unordered_map<std::string, size_t> kv_index_;
    std::vector<GgufTensorInfo> tensors_;
    std::unordered_map<std::string, size_t> tensor_index_;
};

// Streaming writer. Order of calls: add_kv / add_tensor (any order), begin_data(), then the bytes of
// every tensor in declared order through write_tensor_data (any chunking, a chunk never spanning two
// tensors), then finish(). Writes path + ".tmp" and renames it on finish(); a writer destroyed before
// finish() removes the temporary file.
class GgufWriter {
public:
    explicit GgufWriter(const std::string& path);
    ~GgufWriter();
    GgufWriter(const GgufWriter&) = delete;
    GgufWriter& operator=(const GgufWriter&) = delete;

    // general.alignment (u32, power of two >= 8) also sets the data alignment.
    void add_kv(const std::string& key, GgufValue value);
    void add_tensor(const std::string& name, DType type, std::vector<int64_t> ne);
    void begin_data();
    void write_tensor_data(const void* data, size_t n);
    void finish();

    size_t tensor_count() const { return tensors_.size(); }
    // Index of the tensor the next write_tensor_data bytes belong to (== tensor_count() when done).
    size_t current_tensor() const { return cur_; }

private:
    struct Pending {
        std::string name;
        DType type;
        std::vector<int64_t> ne;
        uint64_t nbytes;
        uint64_t offset;
    };
    void put(const void* p, size_t n);
    void put_u32(uint32_t x) { put(&x, 4); }
    void put_u64(uint64_t x) { put(&x, 8); }
    void put_string(const std::string& s);
    void put_value(const GgufValue& v, int depth);
    void put_zeros(size_t n);
    void flush();

    std::string path_;
    std::string tmp_path_;
    std::FILE* fp_ = nullptr;
    std::vector<uint8_t> buf_;
    uint32_t alignment_ = kGgufDefaultAlignment;
    std::vector<GgufKv> kvs_;
    std::unordered_map<std::string, size_t> kv_index_;
    std::vector<Pending> tensors_;
    std::unordered_map<std::string, size_t> tensor_index_;
    enum class Stage { Declaring, Data, Done } stage_ = Stage::Declaring;
    size_t cur_ = 0;
    uint64_t cur_written_ = 0;
    uint64_t header_bytes_ = 0;  // bytes put() before the data section, for its padding
};

}  // namespace bf
