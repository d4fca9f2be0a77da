// GgufValue: constructors, uniform array access and checked getters (no I/O here).
#include <cmath>
#include <cstring>
#include <limits>

#include "core/error.h"
#include "formats/gguf.h"

namespace bf {

const char* gguf_type_name(GgufType t) {
    switch (t) {
        case GgufType::U8: return "u8";
        case GgufType::I8: return "i8";
        case GgufType::U16: return "u16";
        case GgufType::I16: return "i16";
        case GgufType::U32: return "u32";
        case GgufType::I32: return "i32";
        case GgufType::F32: return "f32";
        case GgufType::BOOL: return "bool";
        case GgufType::STRING: return "string";
        case GgufType::ARRAY: return "array";
        case GgufType::U64: return "u64";
        case GgufType::I64: return "i64";
        case GgufType::F64: return "f64";
    }
    return "unknown";
}

namespace {

bool is_unsigned_type(GgufType t) {
    return t == GgufType::U8 || t == GgufType::U16 || t == GgufType::U32 || t == GgufType::U64;
}
bool is_signed_type(GgufType t) {
    return t == GgufType::I8 || t == GgufType::I16 || t == GgufType::I32 || t == GgufType::I64;
}
bool is_float_type(GgufType t) { return t == GgufType::F32 || t == GgufType::F64; }
bool is_int_type(GgufType t) { return is_unsigned_type(t) || is_signed_type(t); }

std::string type_desc(const GgufValue& v) {
    if (v.type == GgufType::ARRAY) return std::string("array of ") + gguf_type_name(v.elem_type);
    return gguf_type_name(v.type);
}

[[noreturn]] void wrong_type(const GgufValue& v, const char* expected) {
    fail(strfmt("expected %s, got %s", expected, type_desc(v).c_str()));
}

GgufValue scalar(GgufType t) {
    GgufValue v;
    v.type = t;
    return v;
}

// Signed view of integer element k of a compact integer array (unsigned u64 may not fit).
bool array_int_as_i64(GgufType elem, int64_t raw, int64_t* out) {
    if (elem == GgufType::U64 && raw < 0) return false;  // > INT64_MAX as u64
    *out = raw;
    return true;
}

template <typename T>
std::vector<T> int_array_checked(const GgufValue& v, const char* expected) {
    if (v.type != GgufType::ARRAY || !is_int_type(v.elem_type)) wrong_type(v, expected);
    std::vector<T> out(v.ints.size());
    for (size_t k = 0; k < v.ints.size(); ++k) {
        int64_t x;
        if (!array_int_as_i64(v.elem_type, v.ints[k], &x) || x < int64_t(std::numeric_limits<T>::min()) ||
            x > int64_t(std::numeric_limits<T>::max()))
            fail(strfmt("array element %zu does not fit in %s", k, expected));
        out[k] = T(x);
    }
    return out;
}

}  // namespace

GgufValue GgufValue::u8(uint8_t x) {
    auto v = scalar(GgufType::U8);
    v.u = x;
    return v;
}
GgufValue GgufValue::u16(uint16_t x) {
    auto v = scalar(GgufType::U16);
    v.u = x;
    return v;
}
GgufValue GgufValue::u32(uint32_t x) {
    auto v = scalar(GgufType::U32);
    v.u = x;
    return v;
}
GgufValue GgufValue::u64(uint64_t x) {
    auto v = scalar(GgufType::U64);
    v.u = x;
    return v;
}
GgufValue GgufValue::i8(int8_t x) {
    auto v = scalar(GgufType::I8);
    v.i = x;
    return v;
}
GgufValue GgufValue::i16(int16_t x) {
    auto v = scalar(GgufType::I16);
    v.i = x;
    return v;
}
GgufValue GgufValue::i32(int32_t x) {
    auto v = scalar(GgufType::I32);
    v.i = x;
    return v;
}
GgufValue GgufValue::i64(int64_t x) {
    auto v = scalar(GgufType::I64);
    v.i = x;
    return v;
}
GgufValue GgufValue::f32(float x) {
    auto v = scalar(GgufType::F32);
    v.f = x;
    return v;
}
GgufValue GgufValue::f64(double x) {
    auto v = scalar(GgufType::F64);
    v.f = x;
    return v;
}
GgufValue GgufValue::boolean(bool x) {
    auto v = scalar(GgufType::BOOL);
    v.b = x;
    return v;
}
GgufValue GgufValue::string(std::string s) {
    auto v = scalar(GgufType::STRING);
    v.str = std::move(s);
    return v;
}

GgufValue GgufValue::str_array(std::vector<std::string> items) {
    auto v = scalar(GgufType::ARRAY);
    v.elem_type = GgufType::STRING;
    v.strs = std::move(items);
    return v;
}

template <typename T>
static GgufValue int_array(GgufType elem, const std::vector<T>& items) {
    auto v = scalar(GgufType::ARRAY);
    v.elem_type = elem;
    v.ints.reserve(items.size());
    for (T x : items) v.ints.push_back(int64_t(x));
    return v;
}

GgufValue GgufValue::i32_array(const std::vector<int32_t>& v) { return int_array(GgufType::I32, v); }
GgufValue GgufValue::u32_array(const std::vector<uint32_t>& v) { return int_array(GgufType::U32, v); }
GgufValue GgufValue::i64_array(const std::vector<int64_t>& v) { return int_array(GgufType::I64, v); }
GgufValue GgufValue::u8_array(const std::vector<uint8_t>& v) { return int_array(GgufType::U8, v); }

GgufValue GgufValue::f32_array(const std::vector<float>& items) {
    auto v = scalar(GgufType::ARRAY);
    v.elem_type = GgufType::F32;
    v.floats.assign(items.begin(), items.end());
    return v;
}

GgufValue GgufValue::f64_array(const std::vector<double>& items) {
    auto v = scalar(GgufType::ARRAY);
    v.elem_type = GgufType::F64;
    v.floats = items;
    return v;
}

GgufValue GgufValue::array(GgufType elem, const std::vector<GgufValue>& items) {
    auto v = scalar(GgufType::ARRAY);
    v.elem_type = elem;
    for (size_t k = 0; k < items.size(); ++k) {
        const GgufValue& it = items[k];
        if (it.type != elem)
            fail(strfmt("array of %s: element %zu has type %s", gguf_type_name(elem), k, gguf_type_name(it.type)));
        if (elem == GgufType::STRING)
            v.strs.push_back(it.str);
        else if (elem == GgufType::ARRAY)
            v.arr.push_back(it);
        else if (is_float_type(elem))
            v.floats.push_back(it.f);
        else if (elem == GgufType::BOOL)
            v.ints.push_back(it.b ? 1 : 0);
        else if (is_unsigned_type(elem))
            v.ints.push_back(int64_t(it.u));
        else
            v.ints.push_back(it.i);
    }
    return v;
}

bool GgufValue::is_integer() const { return is_int_type(type); }

size_t GgufValue::size() const {
    if (type != GgufType::ARRAY) return 0;
    if (elem_type == GgufType::STRING) return strs.size();
    if (elem_type == GgufType::ARRAY) return arr.size();
    if (is_float_type(elem_type)) return floats.size();
    return ints.size();
}

GgufValue GgufValue::at(size_t idx) const {
    if (type != GgufType::ARRAY) wrong_type(*this, "array");
    if (idx >= size()) fail(strfmt("array index %zu out of range (size %zu)", idx, size()));
    if (elem_type == GgufType::STRING) return string(strs[idx]);
    if (elem_type == GgufType::ARRAY) return arr[idx];
    GgufValue v = scalar(elem_type);
    if (is_float_type(elem_type))
        v.f = floats[idx];
    else if (elem_type == GgufType::BOOL)
        v.b = ints[idx] != 0;
    else if (is_unsigned_type(elem_type))
        v.u = uint64_t(ints[idx]);
    else
        v.i = ints[idx];
    return v;
}

uint64_t GgufValue::as_u64() const {
    if (is_unsigned_type(type)) return u;
    if (is_signed_type(type)) {
        if (i < 0) fail(strfmt("value %lld is negative, expected an unsigned integer", (long long)i));
        return uint64_t(i);
    }
    wrong_type(*this, "an integer");
}

int64_t GgufValue::as_i64() const {
    if (is_signed_type(type)) return i;
    if (is_unsigned_type(type)) {
        if (u > uint64_t(std::numeric_limits<int64_t>::max()))
            fail(strfmt("value %llu does not fit in i64", (unsigned long long)u));
        return int64_t(u);
    }
    wrong_type(*this, "an integer");
}

uint32_t GgufValue::as_u32() const {
    const uint64_t x = as_u64();
    if (x > std::numeric_limits<uint32_t>::max()) fail(strfmt("value %llu does not fit in u32", (unsigned long long)x));
    return uint32_t(x);
}

int32_t GgufValue::as_i32() const {
    const int64_t x = as_i64();
    if (x < std::numeric_limits<int32_t>::min() || x > std::numeric_limits<int32_t>::max())
        fail(strfmt("value %lld does not fit in i32", (long long)x));
    return int32_t(x);
}

double GgufValue::as_f64() const {
    if (!is_float_type(type)) wrong_type(*this, "f32 or f64");
    return f;
}

float GgufValue::as_f32() const { return float(as_f64()); }

bool GgufValue::as_bool() const {
    if (type != GgufType::BOOL) wrong_type(*this, "bool");
    return b;
}

const std::string& GgufValue::as_string() const {
    if (type != GgufType::STRING) wrong_type(*this, "string");
    return str;
}

const std::vector<std::string>& GgufValue::as_strs() const {
    if (type != GgufType::ARRAY || elem_type != GgufType::STRING) wrong_type(*this, "array of string");
    return strs;
}

std::vector<int32_t> GgufValue::as_i32_array() const { return int_array_checked<int32_t>(*this, "i32"); }
std::vector<uint32_t> GgufValue::as_u32_array() const { return int_array_checked<uint32_t>(*this, "u32"); }
std::vector<int64_t> GgufValue::as_i64_array() const { return int_array_checked<int64_t>(*this, "i64"); }

std::vector<float> GgufValue::as_f32_array() const {
    if (type != GgufType::ARRAY || !is_float_type(elem_type)) wrong_type(*this, "array of f32 or f64");
    return std::vector<float>(floats.begin(), floats.end());
}

// Bitwise equality for floats so NaN payloads round-trip checks can use ==.
static bool same_double(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }

bool GgufValue::operator==(const GgufValue& o) const {
    if (type != o.type) return false;
    switch (type) {
        case GgufType::U8:
        case GgufType::U16:
        case GgufType::U32:
        case GgufType::U64: return u == o.u;
        case GgufType::I8:
        case GgufType::I16:
        case GgufType::I32:
        case GgufType::I64: return i == o.i;
        case GgufType::F32:
        case GgufType::F64: return same_double(f, o.f);
        case GgufType::BOOL: return b == o.b;
        case GgufType::STRING: return str == o.str;
        case GgufType::ARRAY:
            if (elem_type != o.elem_type || size() != o.size()) return false;
            if (elem_type == GgufType::STRING) return strs == o.strs;
            if (elem_type == GgufType::ARRAY) return arr == o.arr;
            if (is_float_type(elem_type)) {
                for (size_t k = 0; k < floats.size(); ++k)
                    if (!same_double(floats[k], o.floats[k])) return false;
                return true;
            }
            return ints == o.ints;
    }
    return false;
}

int64_t GgufTensorInfo::rows() const {
    int64_t r = 1;
    for (size_t d = 1; d < ne.size(); ++d) r *= ne[d];
    return r;
}

int64_t GgufTensorInfo::numel() const {
    int64_t r = 1;
    for (int64_t x : ne) r *= x;
    return r;
}

}  // namespace bf
