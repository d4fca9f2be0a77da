// UTF-8 scanning and the GPT-2 byte <-> unicode mapping (see unicode.h).
#include "tokenizer/unicode.h"

#include <array>

namespace bf::unicode {

size_t utf8_valid_len(std::string_view s, size_t i, uint32_t* cp) {
    const size_t n = s.size();
    const auto b = [&](size_t k) { return static_cast<uint8_t>(s[k]); };
    const uint8_t c0 = b(i);
    if (c0 < 0x80) {
        if (cp) *cp = c0;
        return 1;
    }
    size_t len;
    uint32_t v, min;
    if (c0 >= 0xC2 && c0 <= 0xDF) {
        len = 2, v = c0 & 0x1F, min = 0x80;
    } else if (c0 >= 0xE0 && c0 <= 0xEF) {
        len = 3, v = c0 & 0x0F, min = 0x800;
    } else if (c0 >= 0xF0 && c0 <= 0xF4) {
        len = 4, v = c0 & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (i + len > n) return 0;
    for (size_t k = 1; k < len; ++k) {
        const uint8_t c = b(i + k);
        if ((c & 0xC0) != 0x80) return 0;
        v = (v << 6) | (c & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
    if (cp) *cp = v;
    return len;
}

size_t utf8_incomplete_len(std::string_view s, size_t i) {
    const size_t avail = s.size() - i;
    const uint8_t c0 = static_cast<uint8_t>(s[i]);
    size_t len = 0;
    if (c0 >= 0xC2 && c0 <= 0xDF)
        len = 2;
    else if (c0 >= 0xE0 && c0 <= 0xEF)
        len = 3;
    else if (c0 >= 0xF0 && c0 <= 0xF4)
        len = 4;
    if (len == 0 || avail >= len) return 0;
    // Every byte present must be a continuation byte allowed at its place (second-byte ranges
    // exclude overlongs, surrogates and > U+10FFFF).
    for (size_t k = 1; k < avail; ++k) {
        const uint8_t c = static_cast<uint8_t>(s[i + k]);
        if ((c & 0xC0) != 0x80) return 0;
        if (k == 1) {
            if (c0 == 0xE0 && c < 0xA0) return 0;
            if (c0 == 0xED && c > 0x9F) return 0;
            if (c0 == 0xF0 && c < 0x90) return 0;
            if (c0 == 0xF4 && c > 0x8F) return 0;
        }
    }
    return avail;
}

void append_utf8(std::string& out, uint32_t cp) {
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    }
}

bool is_white_space(uint32_t cp) {
    return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
           (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F ||
           cp == 0x3000;
}

namespace {

struct ByteTables {
    std::array<uint32_t, 256> to_cp{};
    std::array<int16_t, 324> from_cp{};  // code points used are all below 256 + 68
    ByteTables() {
        from_cp.fill(-1);
        uint32_t next = 256;
        for (int b = 0; b < 256; ++b) {
            const bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174);
            to_cp[b] = printable ? static_cast<uint32_t>(b) : next++;
            from_cp[to_cp[b]] = static_cast<int16_t>(b);
        }
    }
};

const ByteTables& tables() {
    static const ByteTables t;
    return t;
}

}  // namespace

uint32_t byte_to_code_point(uint8_t b) { return tables().to_cp[b]; }

int byte_from_code_point(uint32_t cp) { return cp < tables().from_cp.size() ? tables().from_cp[cp] : -1; }

bool byte_level_decode(std::string_view s, std::string& out) {
    out.clear();
    for (size_t i = 0; i < s.size();) {
        uint32_t cp = 0;
        const size_t len = utf8_valid_len(s, i, &cp);
        if (len == 0) return false;
        const int b = byte_from_code_point(cp);
        if (b < 0) return false;
        out += static_cast<char>(b);
        i += len;
    }
    return true;
}

std::string byte_level_encode(std::string_view raw) {
    std::string out;
    out.reserve(raw.size() * 2);
    for (char c : raw) append_utf8(out, byte_to_code_point(static_cast<uint8_t>(c)));
    return out;
}

}  // namespace bf::unicode
