// NaN/Inf scan of tensor data by element type: every value of float tensors, every scale of quantized ones.
#include "formats/tensor_check.h"

#include <cstring>
#include <vector>

#include "core/error.h"

namespace bf {

namespace {

// The IEEE exponent field all ones means NaN (mantissa != 0) or infinity; checked on the bit pattern so
// that nothing is converted (and -ffast-math could not fold the test away).
const char* classify_f32(uint32_t b) {
    if ((b & 0x7F800000u) != 0x7F800000u) return nullptr;
    return (b & 0x007FFFFFu) ? "NaN" : (b >> 31) ? "-Inf" : "+Inf";
}
const char* classify_f16(uint16_t b) {
    if ((b & 0x7C00u) != 0x7C00u) return nullptr;
    return (b & 0x03FFu) ? "NaN" : (b >> 15) ? "-Inf" : "+Inf";
}
const char* classify_bf16(uint16_t b) { return classify_f32(uint32_t(b) << 16); }

template <class T>
T load(const uint8_t* p) {
    T v;
    std::memcpy(&v, p, sizeof v);
    return v;
}

// Byte offsets of the f16 scales inside one block of each quantized type (formats-and-conventions.md §2).
std::vector<size_t> f16_scale_offsets(DType t) {
    switch (t) {
        case DType::Q8_0:
        case DType::Q4_0: return {0};
        case DType::Q4_K:
        case DType::Q5_K: return {0, 2};  // d, dmin
        case DType::Q6_K: return {208};
        case DType::TQ1_0: return {52};
        case DType::TQ2_0: return {64};
        default: return {};
    }
}

}  // namespace

std::string find_nonfinite(DType type, const uint8_t* data, size_t nbytes) {
    switch (type) {
        case DType::F32:
            for (size_t i = 0; i + 4 <= nbytes; i += 4)
                if (const char* c = classify_f32(load<uint32_t>(data + i)))
                    return strfmt("element %zu is %s", i / 4, c);
            return "";
        case DType::F16:
        case DType::BF16:
            for (size_t i = 0; i + 2 <= nbytes; i += 2) {
                const uint16_t b = load<uint16_t>(data + i);
                if (const char* c = type == DType::F16 ? classify_f16(b) : classify_bf16(b))
                    return strfmt("element %zu is %s", i / 2, c);
            }
            return "";
        case DType::I2_S:  // one f32 scale in the 32-byte tail
            if (nbytes >= 32)
                if (const char* c = classify_f32(load<uint32_t>(data + nbytes - 32)))
                    return strfmt("the tensor's scale is %s", c);
            return "";
        default: break;
    }
    const std::vector<size_t> offs = f16_scale_offsets(type);
    const size_t block = size_t(dtype_block_bytes(type));
    for (size_t b = 0; b + block <= nbytes; b += block)
        for (size_t o : offs)
            if (const char* c = classify_f16(load<uint16_t>(data + b + o)))
                return strfmt("the %s of block %zu is %s", o == 2 ? "min scale" : "scale", b / block, c);
    return "";
}

void check_tensors_finite(const GgufFile& f) {
    for (const GgufTensorInfo& t : f.tensors()) {
        const std::string where = find_nonfinite(t.dtype(), t.data, t.nbytes);
        if (!where.empty())
            fail(strfmt("--check-tensors: tensor '%s' (%s): %s", t.name.c_str(), dtype_name(t.dtype()), where.c_str()));
    }
}

}  // namespace bf
