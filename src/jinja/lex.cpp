// The Jinja lexer: tags with '-' whitespace control, trim_blocks / lstrip_blocks, and tag tokens.
#include "jinja/lex.h"

#include <cctype>

#include "core/error.h"

namespace bf::jinja {

[[noreturn]] void syntax_error(size_t off, const std::string& msg) {
    fail(strfmt("chat template: syntax error at offset %zu: %s", off, msg.c_str()));
}

// Lexes expression tokens from src[pos] up to the closing delimiter ("}}" or "%}", optionally with
// '-'); returns the tokens and sets pos past the delimiter and *strip_after.
std::vector<Tok> lex_tag(const std::string& src, size_t& pos, const char* close, bool* strip_after) {
    std::vector<Tok> toks;
    const size_t n = src.size();
    size_t close_off = 0;  // where the closing delimiter starts: the offset of "end of tag" errors
    while (true) {
        while (pos < n && (src[pos] == ' ' || src[pos] == '\t' || src[pos] == '\n' || src[pos] == '\r')) ++pos;
        if (pos >= n) syntax_error(pos, strfmt("unterminated tag (missing \"%s\")", close));
        close_off = pos;
        if (src.compare(pos, 2, close) == 0) {
            *strip_after = false;
            pos += 2;
            break;
        }
        if (src[pos] == '-' && src.compare(pos + 1, 2, close) == 0) {
            *strip_after = true;
            pos += 3;
            break;
        }
        const size_t start = pos;
        const char c = src[pos];
        if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
            while (pos < n && (std::isalnum(static_cast<unsigned char>(src[pos])) || src[pos] == '_')) ++pos;
            toks.push_back({Tok::Name, src.substr(start, pos - start), 0, start});
        } else if (std::isdigit(static_cast<unsigned char>(c))) {
            int64_t v = 0;
            while (pos < n && std::isdigit(static_cast<unsigned char>(src[pos]))) {
                if (v > (INT64_MAX - 9) / 10) syntax_error(start, "integer literal too large");
                v = v * 10 + (src[pos++] - '0');
            }
            toks.push_back({Tok::Int, src.substr(start, pos - start), v, start});
        } else if (c == '\'' || c == '"') {
            std::string s;
            ++pos;
            while (true) {
                if (pos >= n) syntax_error(start, "unterminated string literal");
                const char d = src[pos++];
                if (d == c) break;
                if (d == '\\' && pos < n) {
                    const char e = src[pos++];
                    switch (e) {
                        case 'n': s += '\n'; break;
                        case 't': s += '\t'; break;
                        case 'r': s += '\r'; break;
                        case '\\':
                        case '\'':
                        case '"': s += e; break;
                        default: s += '\\'; s += e;
                    }
                } else {
                    s += d;
                }
            }
            toks.push_back({Tok::Str, s, 0, start});
        } else {
            static const char* const two[] = {"==", "!=", "<=", ">=", "//", "**"};
            std::string op(1, c);
            for (const char* t : two)
                if (src.compare(pos, 2, t) == 0) op = t;
            if (op.size() == 1 && std::string("+-*/%~|.,()[]:<>=!{}").find(c) == std::string::npos)
                syntax_error(pos, strfmt("unexpected character '%c'", c));
            pos += op.size();
            toks.push_back({Tok::Op, op, 0, start});
        }
    }
    toks.push_back({Tok::End, "", 0, close_off});
    return toks;
}

std::vector<Piece> split_template(const std::string& src) {
    std::vector<Piece> out;
    const size_t n = src.size();
    size_t pos = 0;
    bool strip_next = false;    // previous tag ended with '-'
    bool trim_newline = false;  // previous tag was a block tag (trim_blocks)
    while (pos <= n) {
        size_t open = src.find('{', pos);
        while (open != std::string::npos && open + 1 < n && src[open + 1] != '{' && src[open + 1] != '%' &&
               src[open + 1] != '#')
            open = src.find('{', open + 1);
        if (open != std::string::npos && open + 1 >= n) open = std::string::npos;
        std::string text = src.substr(pos, (open == std::string::npos ? n : open) - pos);
        if (strip_next) {
            text.erase(0, text.find_first_not_of(" \t\r\n") == std::string::npos ? text.size()
                                                                                 : text.find_first_not_of(" \t\r\n"));
        } else if (trim_newline && !text.empty() && text[0] == '\n') {
            text.erase(0, 1);
        } else if (trim_newline && text.size() >= 2 && text[0] == '\r' && text[1] == '\n') {
            text.erase(0, 2);
        }
        if (open == std::string::npos) {
            if (!text.empty()) out.push_back({Piece::Text, pos, text, {}});
            break;
        }
        const char kind = src[open + 1];
        const bool strip_before = open + 2 < n && src[open + 2] == '-';
        if (strip_before) {
            const size_t keep = text.find_last_not_of(" \t\r\n");
            text.erase(keep == std::string::npos ? 0 : keep + 1);
        } else if (kind != '{') {  // lstrip_blocks: drop spaces/tabs between line start and a block tag
            size_t k = open;
            while (k > pos && (src[k - 1] == ' ' || src[k - 1] == '\t')) --k;
            if (k == 0 || src[k - 1] == '\n') text.erase(text.size() - std::min(text.size(), open - k));
        }
        if (!text.empty()) out.push_back({Piece::Text, pos, text, {}});
        size_t p = open + 2 + (strip_before ? 1 : 0);
        if (kind == '#') {
            const size_t close = src.find("#}", p);
            if (close == std::string::npos) syntax_error(open, "unterminated comment");
            strip_next = close > p && src[close - 1] == '-';
            trim_newline = true;
            pos = close + 2;
            continue;
        }
        bool strip_after = false;
        std::vector<Tok> toks = lex_tag(src, p, kind == '{' ? "}}" : "%}", &strip_after);
        out.push_back({kind == '{' ? Piece::Output : Piece::Stmt, open, "", std::move(toks)});
        strip_next = strip_after;
        trim_newline = kind == '%';
        pos = p;
    }
    return out;
}

}  // namespace bf::jinja
