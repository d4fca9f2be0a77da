// Cutting a template into text and tags (whitespace control included) and lexing a tag's tokens.
#pragma once
#include <string>
#include <vector>

#include "jinja/syntax.h"

namespace bf::jinja {

// Lexes expression tokens from src[pos] up to the closing delimiter ("}}" or "%}", optionally with
// '-'); returns the tokens and sets pos past the delimiter and *strip_after.
std::vector<Tok> lex_tag(const std::string& src, size_t& pos, const char* close, bool* strip_after);

// A template split into text and tags, before block structure is known.
struct Piece {
    enum Kind { Text, Output, Stmt } kind;
    size_t off;
    std::string text;
    std::vector<Tok> toks;
};

std::vector<Piece> split_template(const std::string& src);

}  // namespace bf::jinja
