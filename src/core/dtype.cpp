// Weight types: names, block sizes and bytes per block (ggml's type ids).
#include "core/dtype.h"

#include <algorithm>
#include <cctype>

#include "core/error.h"

namespace bf {

namespace {
struct TypeInfo {
    DType type;
    const char* name;
    int64_t block_elems;
    int64_t block_bytes;
};
constexpr TypeInfo kTypes[] = {
    {DType::F32, "f32", 1, 4},        {DType::F16, "f16", 1, 2},       {DType::Q4_0, "q4_0", 32, 18},
    {DType::Q8_0, "q8_0", 32, 34},    {DType::Q4_K, "q4_k", 256, 144}, {DType::Q5_K, "q5_k", 256, 176},
    {DType::Q6_K, "q6_k", 256, 210},  {DType::BF16, "bf16", 1, 2},     {DType::TQ1_0, "tq1_0", 256, 54},
    {DType::TQ2_0, "tq2_0", 256, 66}, {DType::I2_S, "i2_s", 1, 1},
};
const TypeInfo& info(DType t) {
    for (const auto& ti : kTypes)
        if (ti.type == t) return ti;
    fail(strfmt("unknown tensor type id %u", unsigned(t)));
}
}  // namespace

const char* dtype_name(DType t) { return info(t).name; }

DType dtype_from_name(const std::string& name) {
    std::string lower = name;
    std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
    for (const auto& ti : kTypes)
        if (lower == ti.name) return ti.type;
    fail("unknown type name '" + name +
         "' (expected f32, f16, bf16, q8_0, q4_0, q4_k, q5_k, q6_k, tq1_0, tq2_0 or i2_s)");
}

bool dtype_known(uint32_t id) {
    for (const auto& ti : kTypes)
        if (uint32_t(ti.type) == id) return true;
    return false;
}

int64_t dtype_block_elems(DType t) { return info(t).block_elems; }
int64_t dtype_block_bytes(DType t) { return info(t).block_bytes; }

size_t row_nbytes(DType t, int64_t ne0) {
    const auto& ti = info(t);
    if (ne0 < 0 || ne0 % ti.block_elems != 0)
        fail(strfmt("row of %lld elements is not a multiple of the %s block size %lld", (long long)ne0, ti.name,
                    (long long)ti.block_elems));
    return size_t(ne0 / ti.block_elems) * size_t(ti.block_bytes);
}

size_t tensor_nbytes(DType t, int64_t ne0, int64_t n_rows) {
    if (t == DType::I2_S) {
        const int64_t n = ne0 * n_rows;
        if (n % 128 != 0) fail(strfmt("i2_s tensor of %lld elements is not a multiple of 128", (long long)n));
        return size_t(n / 4 + 32);
    }
    return row_nbytes(t, ne0) * size_t(n_rows);
}

}  // namespace bf
