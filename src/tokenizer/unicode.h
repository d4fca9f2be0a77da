// UTF-8 scanning and the GPT-2 byte <-> unicode mapping used by byte-level BPE vocabularies.
// Strict UTF-8 (no overlongs, surrogates or code points above U+10FFFF), as PCRE2 checks it.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace bf::unicode {

// Length of the valid UTF-8 character starting at s[i], or 0 if the bytes there are not one
// (including a truncated sequence at the end). On success *cp (if given) receives the code point.
size_t utf8_valid_len(std::string_view s, size_t i, uint32_t* cp = nullptr);

// Length of the longest prefix of s[i..] that could still become a valid character if more bytes
// arrived (0 < result < needed length), 0 if s[i..] starts with a complete character or is invalid.
size_t utf8_incomplete_len(std::string_view s, size_t i);

void append_utf8(std::string& out, uint32_t cp);

// Unicode White_Space property (what Rust's char::is_whitespace tests; HF strips with it).
bool is_white_space(uint32_t cp);

// GPT-2 bytes_to_unicode: printable Latin-1 bytes map to themselves, the other 68 bytes to U+0100..
uint32_t byte_to_code_point(uint8_t b);
// Inverse mapping; returns -1 for a code point that no byte maps to.
int byte_from_code_point(uint32_t cp);

// Byte-level string ("Ġhello") -> raw bytes (" hello"). Returns false if a character has no byte.
bool byte_level_decode(std::string_view s, std::string& out);
std::string byte_level_encode(std::string_view raw);

}  // namespace bf::unicode
