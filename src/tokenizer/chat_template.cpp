// Jinja-subset interpreter for chat templates: lexer (tags + whitespace control), recursive-descent
// parser to a small AST, and a tree-walking renderer over dynamically typed values.
#include "tokenizer/chat_template.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <memory>

#include "core/error.h"

namespace bf {

namespace {

constexpr int kMaxDepth = 200;  // nesting limit for expressions and blocks (stack safety)

// ---- values --------------------------------------------------------------------------------------

struct Value;
using Array = std::vector<Value>;
using Object = std::map<std::string, Value>;

struct Value {
    enum class Kind { Undefined, None, Bool, Int, String, Array, Object } kind = Kind::Undefined;
    bool b = false;
    int64_t i = 0;
    std::string s;
    std::shared_ptr<Array> arr;
    std::shared_ptr<Object> obj;

    static Value none() { Value v; v.kind = Kind::None; return v; }
    static Value boolean(bool x) { Value v; v.kind = Kind::Bool; v.b = x; return v; }
    static Value integer(int64_t x) { Value v; v.kind = Kind::Int; v.i = x; return v; }
    static Value string(std::string x) { Value v; v.kind = Kind::String; v.s = std::move(x); return v; }
    static Value array(Array a) { Value v; v.kind = Kind::Array; v.arr = std::make_shared<Array>(std::move(a)); return v; }
    static Value object(Object o) { Value v; v.kind = Kind::Object; v.obj = std::make_shared<Object>(std::move(o)); return v; }

    bool truthy() const {
        switch (kind) {
            case Kind::Undefined: case Kind::None: return false;
            case Kind::Bool: return b;
            case Kind::Int: return i != 0;
            case Kind::String: return !s.empty();
            case Kind::Array: return !arr->empty();
            case Kind::Object: return !obj->empty();
        }
        return false;
    }
    std::string str() const {
        switch (kind) {
            case Kind::Undefined: return "";
            case Kind::None: return "None";
            case Kind::Bool: return b ? "True" : "False";
            case Kind::Int: return std::to_string(i);
            case Kind::String: return s;
            case Kind::Array: {
                std::string out = "[";
                for (size_t k = 0; k < arr->size(); ++k) out += (k ? ", " : "") + (*arr)[k].repr();
                return out + "]";
            }
            case Kind::Object: {
                std::string out = "{";
                bool first = true;
                for (const auto& [key, v] : *obj) out += (first ? "'" : ", '") + key + "': " + v.repr(), first = false;
                return out + "}";
            }
        }
        return "";
    }
    std::string repr() const { return kind == Kind::String ? "'" + s + "'" : str(); }
};

bool equal(const Value& a, const Value& b) {
    using K = Value::Kind;
    if ((a.kind == K::Int || a.kind == K::Bool) && (b.kind == K::Int || b.kind == K::Bool))
        return (a.kind == K::Int ? a.i : a.b) == (b.kind == K::Int ? b.i : b.b);
    if (a.kind != b.kind) return false;
    switch (a.kind) {
        case K::Undefined: case K::None: return true;
        case K::String: return a.s == b.s;
        case K::Array:
            if (a.arr->size() != b.arr->size()) return false;
            for (size_t k = 0; k < a.arr->size(); ++k)
                if (!equal((*a.arr)[k], (*b.arr)[k])) return false;
            return true;
        case K::Object: return a.obj == b.obj;
        default: return false;
    }
}

// ---- lexer ---------------------------------------------------------------------------------------

struct Tok {
    enum Kind { Name, Str, Int, Op, End } kind;
    std::string text;
    int64_t num = 0;
    size_t off = 0;
};

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
                        case '\\': case '\'': case '"': s += e; break;
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

// ---- expressions ---------------------------------------------------------------------------------

struct Expr;
using ExprP = std::unique_ptr<Expr>;
struct Expr {
    enum Op { Lit, Var, Attr, Index, Not, Neg, And, Or, Cmp, In, NotIn, Arith, Concat, Is, IsNot, Filter,
              Cond, List, Call, Method } op;
    size_t off = 0;
    Value lit;
    std::string name;  // variable, attribute, operator, test, filter, function or method name
    std::vector<ExprP> args;
};

class ExprParser {
public:
    ExprParser(const std::vector<Tok>& t, size_t start) : t_(t), p_(start) {}
    size_t pos() const { return p_; }
    const Tok& peek(size_t k = 0) const { return t_[std::min(p_ + k, t_.size() - 1)]; }
    bool is_op(const char* s, size_t k = 0) const { return peek(k).kind == Tok::Op && peek(k).text == s; }
    bool is_name(const char* s, size_t k = 0) const { return peek(k).kind == Tok::Name && peek(k).text == s; }
    void expect_op(const char* s) {
        if (!is_op(s)) syntax_error(peek().off, strfmt("expected '%s'", s));
        ++p_;
    }
    std::string expect_name() {
        if (peek().kind != Tok::Name) syntax_error(peek().off, "expected a name");
        return t_[p_++].text;
    }
    void expect_end() {
        if (peek().kind != Tok::End) syntax_error(peek().off, strfmt("unexpected '%s'", peek().text.c_str()));
    }

    ExprP expr() {
        Depth d(this);
        ExprP e = or_expr();
        if (is_name("if")) {  // x if cond else y
            const size_t off = t_[p_++].off;
            ExprP cond = or_expr();
            ExprP other;
            if (is_name("else")) {
                ++p_;
                other = expr();
            } else {
                other = lit(Value(), off);
            }
            e = node(Expr::Cond, off, "", std::move(e), std::move(cond), std::move(other));
        }
        return e;
    }

private:
    struct Depth {
        ExprParser* p;
        explicit Depth(ExprParser* q) : p(q) {
            if (++p->depth_ > kMaxDepth) syntax_error(p->peek().off, "expression nested too deeply");
        }
        ~Depth() { --p->depth_; }
    };
    template <class... A>
    static ExprP node(Expr::Op op, size_t off, std::string name, A&&... args) {
        auto e = std::make_unique<Expr>();
        e->op = op;
        e->off = off;
        e->name = std::move(name);
        (e->args.push_back(std::forward<A>(args)), ...);
        return e;
    }
    static ExprP lit(Value v, size_t off) {
        ExprP e = node(Expr::Lit, off, "");
        e->lit = std::move(v);
        return e;
    }
    ExprP or_expr() {
        ExprP e = and_expr();
        while (is_name("or")) {
            const size_t off = t_[p_++].off;
            e = node(Expr::Or, off, "", std::move(e), and_expr());
        }
        return e;
    }
    ExprP and_expr() {
        ExprP e = not_expr();
        while (is_name("and")) {
            const size_t off = t_[p_++].off;
            e = node(Expr::And, off, "", std::move(e), not_expr());
        }
        return e;
    }
    ExprP not_expr() {
        if (is_name("not")) {
            Depth d(this);
            const size_t off = t_[p_++].off;
            return node(Expr::Not, off, "", not_expr());
        }
        return compare();
    }
    ExprP compare() {
        ExprP e = additive();
        while (true) {
            const size_t off = peek().off;
            if (peek().kind == Tok::Op && (peek().text == "==" || peek().text == "!=" || peek().text == "<" ||
                                           peek().text == ">" || peek().text == "<=" || peek().text == ">=")) {
                const std::string op = t_[p_++].text;
                e = node(Expr::Cmp, off, op, std::move(e), additive());
            } else if (is_name("in")) {
                ++p_;
                e = node(Expr::In, off, "", std::move(e), additive());
            } else if (is_name("not") && is_name("in", 1)) {
                p_ += 2;
                e = node(Expr::NotIn, off, "", std::move(e), additive());
            } else if (is_name("is")) {
                ++p_;
                bool negate = false;
                if (is_name("not")) ++p_, negate = true;
                const std::string test = expect_name();
                e = node(negate ? Expr::IsNot : Expr::Is, off, test, std::move(e));
            } else {
                return e;
            }
        }
    }
    ExprP additive() {
        ExprP e = multiplicative();
        while (is_op("+") || is_op("-") || is_op("~")) {
            const Tok& t = t_[p_++];
            e = node(t.text == "~" ? Expr::Concat : Expr::Arith, t.off, t.text, std::move(e), multiplicative());
        }
        return e;
    }
    ExprP multiplicative() {
        ExprP e = unary();
        while (is_op("*") || is_op("/") || is_op("%") || is_op("//")) {
            const Tok& t = t_[p_++];
            e = node(Expr::Arith, t.off, t.text, std::move(e), unary());
        }
        return e;
    }
    ExprP unary() {
        if (is_op("-")) {
            Depth d(this);
            const size_t off = t_[p_++].off;
            return node(Expr::Neg, off, "", unary());
        }
        return filtered();
    }
    ExprP filtered() {
        ExprP e = postfix();
        while (is_op("|")) {
            const size_t off = t_[p_++].off;
            e = node(Expr::Filter, off, expect_name(), std::move(e));
            if (is_op("(")) call_args(*e);
        }
        return e;
    }
    void call_args(Expr& e) {
        expect_op("(");
        while (!is_op(")")) {
            e.args.push_back(expr());
            if (!is_op(")")) expect_op(",");
        }
        ++p_;
    }
    ExprP postfix() {
        ExprP e = primary();
        while (true) {
            const size_t off = peek().off;
            if (is_op(".")) {
                ++p_;
                std::string name = expect_name();
                if (is_op("(")) {
                    e = node(Expr::Method, off, name, std::move(e));
                    call_args(*e);
                } else {
                    e = node(Expr::Attr, off, name, std::move(e));
                }
            } else if (is_op("[")) {
                ++p_;
                e = node(Expr::Index, off, "", std::move(e), expr());
                expect_op("]");
            } else {
                return e;
            }
        }
    }
    ExprP primary() {
        const Tok& t = peek();
        switch (t.kind) {
            case Tok::Str: {
                ++p_;
                std::string s = t.text;
                while (peek().kind == Tok::Str) s += t_[p_++].text;  // adjacent literals concatenate
                return lit(Value::string(s), t.off);
            }
            case Tok::Int: ++p_; return lit(Value::integer(t.num), t.off);
            case Tok::Name: {
                ++p_;
                if (t.text == "true" || t.text == "True") return lit(Value::boolean(true), t.off);
                if (t.text == "false" || t.text == "False") return lit(Value::boolean(false), t.off);
                if (t.text == "none" || t.text == "None") return lit(Value::none(), t.off);
                if (is_op("(")) {
                    ExprP e = node(Expr::Call, t.off, t.text);
                    call_args(*e);
                    return e;
                }
                return node(Expr::Var, t.off, t.text);
            }
            case Tok::Op:
                if (t.text == "(") {
                    ++p_;
                    ExprP e = expr();
                    expect_op(")");
                    return e;
                }
                if (t.text == "[") {
                    ++p_;
                    ExprP e = node(Expr::List, t.off, "");
                    while (!is_op("]")) {
                        e->args.push_back(expr());
                        if (!is_op("]")) expect_op(",");
                    }
                    ++p_;
                    return e;
                }
                break;
            case Tok::End: syntax_error(t.off, "unexpected end of tag");
        }
        syntax_error(t.off, strfmt("unexpected '%s'", t.text.c_str()));
    }

    const std::vector<Tok>& t_;
    size_t p_;
    int depth_ = 0;
};

// ---- statements ----------------------------------------------------------------------------------

struct Node {
    enum Kind { Text, Output, For, If, Set } kind;
    size_t off = 0;
    std::string text;                                    // Text; For/Set variable
    ExprP expr;                                          // Output; For iterable; Set value
    std::vector<Node> body, else_body;                   // For; If else
    std::vector<std::pair<ExprP, std::vector<Node>>> branches;  // If / elif
};

// A template split into text and tags, before block structure is known.
struct Piece {
    enum Kind { Text, Output, Stmt } kind;
    size_t off;
    std::string text;
    std::vector<Tok> toks;
};

std::vector<Piece> split_template(const std::string& src) {
    std::vector<Piece> out;
    const size_t n = src.size();
    size_t pos = 0;
    bool strip_next = false;     // previous tag ended with '-'
    bool trim_newline = false;   // previous tag was a block tag (trim_blocks)
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

class Parser {
public:
    explicit Parser(std::vector<Piece> pieces) : pieces_(std::move(pieces)) {}

    std::vector<Node> parse() {
        std::vector<Node> body = block(0);
        if (i_ < pieces_.size()) syntax_error(pieces_[i_].off, strfmt("unexpected {%% %s %%}", keyword(pieces_[i_]).c_str()));
        return body;
    }

private:
    static std::string keyword(const Piece& p) { return p.toks.empty() ? "" : p.toks[0].text; }

    // Parses nodes until a statement whose keyword ends this block (left unconsumed) or the end.
    std::vector<Node> block(int depth) {
        if (depth > kMaxDepth) syntax_error(i_ < pieces_.size() ? pieces_[i_].off : 0, "blocks nested too deeply");
        std::vector<Node> out;
        while (i_ < pieces_.size()) {
            Piece& p = pieces_[i_];
            if (p.kind == Piece::Text) {
                out.push_back(Node{Node::Text, p.off, p.text, nullptr, {}, {}, {}});
                ++i_;
                continue;
            }
            if (p.kind == Piece::Output) {
                ExprParser ep(p.toks, 0);
                ExprP e = ep.expr();
                ep.expect_end();
                out.push_back(Node{Node::Output, p.off, "", std::move(e), {}, {}, {}});
                ++i_;
                continue;
            }
            const std::string kw = keyword(p);
            if (kw == "endfor" || kw == "endif" || kw == "elif" || kw == "else") return out;
            ++i_;
            ExprParser ep(p.toks, 1);
            if (kw == "for") {
                Node nd{Node::For, p.off, ep.expect_name(), nullptr, {}, {}, {}};
                if (!ep.is_name("in")) syntax_error(ep.peek().off, "expected 'in'");
                (void)ep.expect_name();
                nd.expr = ep.expr();
                ep.expect_end();
                nd.body = block(depth + 1);
                if (at("else")) {
                    ++i_;
                    nd.else_body = block(depth + 1);
                }
                close("endfor", p.off);
                out.push_back(std::move(nd));
            } else if (kw == "if") {
                Node nd{Node::If, p.off, "", nullptr, {}, {}, {}};
                ExprP cond = ep.expr();
                ep.expect_end();
                nd.branches.emplace_back(std::move(cond), block(depth + 1));
                while (at("elif")) {
                    ExprParser ee(pieces_[i_].toks, 1);
                    ++i_;
                    ExprP c = ee.expr();
                    ee.expect_end();
                    nd.branches.emplace_back(std::move(c), block(depth + 1));
                }
                if (at("else")) {
                    ++i_;
                    nd.else_body = block(depth + 1);
                }
                close("endif", p.off);
                out.push_back(std::move(nd));
            } else if (kw == "set") {
                Node nd{Node::Set, p.off, ep.expect_name(), nullptr, {}, {}, {}};
                ep.expect_op("=");
                nd.expr = ep.expr();
                ep.expect_end();
                out.push_back(std::move(nd));
            } else {
                syntax_error(p.off, strfmt("unsupported statement '%s'", kw.c_str()));
            }
        }
        return out;
    }
    bool at(const char* kw) const {
        return i_ < pieces_.size() && pieces_[i_].kind == Piece::Stmt && keyword(pieces_[i_]) == kw;
    }
    void close(const char* kw, size_t open_off) {
        if (!at(kw)) syntax_error(open_off, strfmt("block opened here has no {%% %s %%}", kw));
        if (pieces_[i_].toks.size() != 2) syntax_error(pieces_[i_].toks[1].off, "unexpected text after end tag");
        ++i_;
    }

    std::vector<Piece> pieces_;
    size_t i_ = 0;
};

// ---- evaluation ----------------------------------------------------------------------------------

[[noreturn]] void eval_error(size_t off, const std::string& msg) {
    fail(strfmt("chat template: error at offset %zu: %s", off, msg.c_str()));
}

std::string trim(const std::string& s, const char* ws = " \t\r\n\f\v") {
    const size_t a = s.find_first_not_of(ws);
    if (a == std::string::npos) return "";
    return s.substr(a, s.find_last_not_of(ws) - a + 1);
}

class Renderer {
public:
    explicit Renderer(Object globals) { scopes_.push_back(std::move(globals)); }

    void run(const std::vector<Node>& nodes, std::string& out) {
        for (const Node& nd : nodes) {
            switch (nd.kind) {
                case Node::Text: out += nd.text; break;
                case Node::Output: out += eval(*nd.expr).str(); break;
                case Node::Set: scopes_.back()[nd.text] = eval(*nd.expr); break;
                case Node::If: {
                    bool done = false;
                    for (const auto& [cond, body] : nd.branches)
                        if (eval(*cond).truthy()) {
                            run(body, out);
                            done = true;
                            break;
                        }
                    if (!done) run(nd.else_body, out);
                    break;
                }
                case Node::For: {
                    const Value seq = eval(*nd.expr);
                    Array items;
                    if (seq.kind == Value::Kind::Array) {
                        items = *seq.arr;
                    } else if (seq.kind == Value::Kind::Object) {
                        for (const auto& [k, v] : *seq.obj) items.push_back(Value::string(k));
                    } else if (seq.kind == Value::Kind::String) {
                        for (char c : seq.s) items.push_back(Value::string(std::string(1, c)));
                    } else if (seq.kind != Value::Kind::Undefined && seq.kind != Value::Kind::None) {
                        eval_error(nd.expr->off, "for loop over a value that is not a sequence");
                    }
                    if (items.empty()) {
                        run(nd.else_body, out);
                        break;
                    }
                    const int64_t len = static_cast<int64_t>(items.size());
                    for (int64_t k = 0; k < len; ++k) {
                        Object scope;  // a fresh scope per iteration, as Jinja scopes loop bodies
                        scope[nd.text] = items[k];
                        scope["loop"] = Value::object({{"index0", Value::integer(k)},
                                                       {"index", Value::integer(k + 1)},
                                                       {"revindex0", Value::integer(len - 1 - k)},
                                                       {"revindex", Value::integer(len - k)},
                                                       {"first", Value::boolean(k == 0)},
                                                       {"last", Value::boolean(k == len - 1)},
                                                       {"length", Value::integer(len)}});
                        scopes_.push_back(std::move(scope));
                        run(nd.body, out);
                        scopes_.pop_back();
                    }
                    break;
                }
            }
        }
    }

private:
    Value lookup(const std::string& name) const {
        for (auto it = scopes_.rbegin(); it != scopes_.rend(); ++it)
            if (auto f = it->find(name); f != it->end()) return f->second;
        return Value();
    }

    static Value member(const Value& v, const Value& key, size_t off) {
        using K = Value::Kind;
        if (v.kind == K::Object) {
            if (key.kind != K::String) return Value();
            auto it = v.obj->find(key.s);
            return it == v.obj->end() ? Value() : it->second;
        }
        if ((v.kind == K::Array || v.kind == K::String) && key.kind == K::Int) {
            const int64_t n = v.kind == K::Array ? static_cast<int64_t>(v.arr->size()) : static_cast<int64_t>(v.s.size());
            const int64_t k = key.i < 0 ? key.i + n : key.i;
            if (k < 0 || k >= n) return Value();
            return v.kind == K::Array ? (*v.arr)[k] : Value::string(std::string(1, v.s[k]));
        }
        return Value();  // undefined, as Jinja's default Undefined
    }

    Value eval(const Expr& e) {
        using K = Value::Kind;
        switch (e.op) {
            case Expr::Lit: return e.lit;
            case Expr::Var: return lookup(e.name);
            case Expr::Attr: return member(eval(*e.args[0]), Value::string(e.name), e.off);
            case Expr::Index: return member(eval(*e.args[0]), eval(*e.args[1]), e.off);
            case Expr::Not: return Value::boolean(!eval(*e.args[0]).truthy());
            case Expr::Neg: {
                const Value v = eval(*e.args[0]);
                if (v.kind != K::Int) eval_error(e.off, "unary '-' needs a number");
                return Value::integer(-v.i);
            }
            case Expr::And: {
                Value a = eval(*e.args[0]);
                return a.truthy() ? eval(*e.args[1]) : a;
            }
            case Expr::Or: {
                Value a = eval(*e.args[0]);
                return a.truthy() ? a : eval(*e.args[1]);
            }
            case Expr::Cond: return eval(*e.args[1]).truthy() ? eval(*e.args[0]) : eval(*e.args[2]);
            case Expr::Cmp: {
                const Value a = eval(*e.args[0]), b = eval(*e.args[1]);
                if (e.name == "==") return Value::boolean(equal(a, b));
                if (e.name == "!=") return Value::boolean(!equal(a, b));
                int c;
                if (a.kind == K::Int && b.kind == K::Int) c = a.i < b.i ? -1 : a.i > b.i;
                else if (a.kind == K::String && b.kind == K::String) c = a.s.compare(b.s);
                else eval_error(e.off, "'" + e.name + "' needs two numbers or two strings");
                if (e.name == "<") return Value::boolean(c < 0);
                if (e.name == ">") return Value::boolean(c > 0);
                if (e.name == "<=") return Value::boolean(c <= 0);
                return Value::boolean(c >= 0);
            }
            case Expr::In:
            case Expr::NotIn: {
                const Value a = eval(*e.args[0]), b = eval(*e.args[1]);
                bool found = false;
                if (b.kind == K::String && a.kind == K::String) found = b.s.find(a.s) != std::string::npos;
                else if (b.kind == K::Object) found = a.kind == K::String && b.obj->count(a.s);
                else if (b.kind == K::Array)
                    for (const Value& x : *b.arr) found = found || equal(a, x);
                else eval_error(e.off, "'in' needs a string, list or mapping on the right");
                return Value::boolean(e.op == Expr::In ? found : !found);
            }
            case Expr::Is:
            case Expr::IsNot: {
                const Value a = eval(*e.args[0]);
                bool r;
                if (e.name == "none") r = a.kind == K::None;
                else if (e.name == "defined") r = a.kind != K::Undefined;
                else if (e.name == "undefined") r = a.kind == K::Undefined;
                else if (e.name == "string") r = a.kind == K::String;
                else if (e.name == "number" || e.name == "integer") r = a.kind == K::Int;
                else if (e.name == "boolean") r = a.kind == K::Bool;
                else if (e.name == "mapping") r = a.kind == K::Object;
                else if (e.name == "sequence" || e.name == "iterable") r = a.kind == K::Array || a.kind == K::String;
                else eval_error(e.off, "unknown test '" + e.name + "'");
                return Value::boolean(e.op == Expr::Is ? r : !r);
            }
            case Expr::Concat: return Value::string(eval(*e.args[0]).str() + eval(*e.args[1]).str());
            case Expr::Arith: {
                const Value a = eval(*e.args[0]), b = eval(*e.args[1]);
                if (e.name == "+" && a.kind == K::String && b.kind == K::String) return Value::string(a.s + b.s);
                if (e.name == "+" && a.kind == K::Array && b.kind == K::Array) {
                    Array r = *a.arr;
                    r.insert(r.end(), b.arr->begin(), b.arr->end());
                    return Value::array(std::move(r));
                }
                if (a.kind != K::Int || b.kind != K::Int)
                    eval_error(e.off, "unsupported operand types for '" + e.name + "' (" + a.repr() + ", " + b.repr() + ")");
                if ((e.name == "/" || e.name == "//" || e.name == "%") && b.i == 0) eval_error(e.off, "division by zero");
                if (e.name == "+") return Value::integer(a.i + b.i);
                if (e.name == "-") return Value::integer(a.i - b.i);
                if (e.name == "*") return Value::integer(a.i * b.i);
                if (e.name == "%") return Value::integer(a.i % b.i);
                return Value::integer(a.i / b.i);  // integer division only: no floats in this subset
            }
            case Expr::List: {
                Array r;
                for (const ExprP& x : e.args) r.push_back(eval(*x));
                return Value::array(std::move(r));
            }
            case Expr::Filter: return filter(e);
            case Expr::Call: {
                if (e.name == "raise_exception")
                    eval_error(e.off, "template raised: " + (e.args.empty() ? std::string() : eval(*e.args[0]).str()));
                eval_error(e.off, "unknown function '" + e.name + "'");
            }
            case Expr::Method: {
                const Value v = eval(*e.args[0]);
                if (v.kind != K::String) eval_error(e.off, "method '" + e.name + "' needs a string");
                if (e.name == "strip" && e.args.size() == 1) return Value::string(trim(v.s));
                if (e.name == "upper" && e.args.size() == 1) return filter_str(v.s, ::toupper);
                if (e.name == "lower" && e.args.size() == 1) return filter_str(v.s, ::tolower);
                if ((e.name == "startswith" || e.name == "endswith") && e.args.size() == 2) {
                    const Value a = eval(*e.args[1]);
                    if (a.kind != K::String) eval_error(e.off, e.name + " needs a string argument");
                    const bool r = e.name == "startswith" ? v.s.compare(0, a.s.size(), a.s) == 0
                                                          : v.s.size() >= a.s.size() &&
                                                                v.s.compare(v.s.size() - a.s.size(), a.s.size(), a.s) == 0;
                    return Value::boolean(r);
                }
                eval_error(e.off, "unsupported method '" + e.name + "'");
            }
        }
        eval_error(e.off, "internal: unknown expression");
    }

    static Value filter_str(std::string s, int (*f)(int)) {
        for (char& c : s) c = static_cast<char>(f(static_cast<unsigned char>(c)));
        return Value::string(std::move(s));
    }

    Value filter(const Expr& e) {
        using K = Value::Kind;
        const Value v = eval(*e.args[0]);
        if (e.name == "trim") return Value::string(trim(v.str()));
        if (e.name == "upper") return filter_str(v.str(), ::toupper);
        if (e.name == "lower") return filter_str(v.str(), ::tolower);
        if (e.name == "string") return Value::string(v.str());
        if (e.name == "length" || e.name == "count") {
            if (v.kind == K::String) return Value::integer(static_cast<int64_t>(v.s.size()));
            if (v.kind == K::Array) return Value::integer(static_cast<int64_t>(v.arr->size()));
            if (v.kind == K::Object) return Value::integer(static_cast<int64_t>(v.obj->size()));
            eval_error(e.off, "length of a value without one");
        }
        eval_error(e.off, "unsupported filter '" + e.name + "'");
    }

    std::vector<Object> scopes_;
};

}  // namespace

std::string render_chat(const std::string& template_source, const std::vector<ChatMessage>& messages,
                        bool add_generation_prompt, const std::string& bos_token, const std::string& eos_token) {
    const std::vector<Node> nodes = Parser(split_template(template_source)).parse();
    Array msgs;
    for (const ChatMessage& m : messages) {
        Object o{{"role", Value::string(m.role)}, {"content", Value::string(m.content)}};
        if (m.tools) o["tools"] = Value::string(*m.tools);
        msgs.push_back(Value::object(std::move(o)));
    }
    Renderer r(Object{{"messages", Value::array(std::move(msgs))},
                      {"add_generation_prompt", Value::boolean(add_generation_prompt)},
                      {"bos_token", Value::string(bos_token)},
                      {"eos_token", Value::string(eos_token)}});
    std::string out;
    r.run(nodes, out);
    return out;
}

std::string builtin_template(const std::string& name) {
    if (name == "phi4-mini")
        return "{% for message in messages %}{% if message['role'] == 'system' and 'tools' in message and "
               "message['tools'] is not none %}{{ '<|' + message['role'] + '|>' + message['content'] + '<|tool|>' "
               "+ message['tools'] + '<|/tool|>' + '<|end|>' }}{% else %}{{ '<|' + message['role'] + '|>' + "
               "message['content'] + '<|end|>' }}{% endif %}{% endfor %}{% if add_generation_prompt %}{{ "
               "'<|assistant|>' }}{% else %}{{ eos_token }}{% endif %}";
    if (name == "chatml")
        return "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + "
               "'<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}"
               "{% endif %}";
    fail(strfmt("unknown chat template \"%s\" (known: phi4-mini, chatml)", name.c_str()));
}

}  // namespace bf
