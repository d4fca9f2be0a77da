// Recursive-descent parser of Jinja expressions (precedence climbing over a tag's tokens).
#pragma once
#include <algorithm>
#include <string>
#include <vector>

#include "core/error.h"
#include "jinja/syntax.h"

namespace bf::jinja {

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
    // A run of left-associative operators (a + b + ...) nests its tree one level per operator: counted in
    // the same depth, so that neither the renderer's recursion nor the tree's destruction can overflow.
    struct Chain {
        ExprParser* p;
        int n = 0;
        explicit Chain(ExprParser* q) : p(q) {}
        void link() {
            ++n;
            if (++p->depth_ > kMaxDepth) syntax_error(p->peek().off, "expression nested too deeply");
        }
        ~Chain() { p->depth_ -= n; }
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
        Chain chain(this);
        while (is_name("or")) {
            const size_t off = t_[p_++].off;
            chain.link();
            e = node(Expr::Or, off, "", std::move(e), and_expr());
        }
        return e;
    }
    ExprP and_expr() {
        ExprP e = not_expr();
        Chain chain(this);
        while (is_name("and")) {
            const size_t off = t_[p_++].off;
            chain.link();
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
        Chain chain(this);
        while (true) {
            const size_t off = peek().off;
            if (peek().kind == Tok::Op && (peek().text == "==" || peek().text == "!=" || peek().text == "<" ||
                                           peek().text == ">" || peek().text == "<=" || peek().text == ">=")) {
                const std::string op = t_[p_++].text;
                chain.link();
                e = node(Expr::Cmp, off, op, std::move(e), additive());
            } else if (is_name("in")) {
                ++p_;
                chain.link();
                e = node(Expr::In, off, "", std::move(e), additive());
            } else if (is_name("not") && is_name("in", 1)) {
                p_ += 2;
                chain.link();
                e = node(Expr::NotIn, off, "", std::move(e), additive());
            } else if (is_name("is")) {
                ++p_;
                bool negate = false;
                if (is_name("not")) ++p_, negate = true;
                const std::string test = expect_name();
                chain.link();
                e = node(negate ? Expr::IsNot : Expr::Is, off, test, std::move(e));
            } else {
                return e;
            }
        }
    }
    ExprP additive() {
        ExprP e = multiplicative();
        Chain chain(this);
        while (is_op("+") || is_op("-") || is_op("~")) {
            const Tok& t = t_[p_++];
            chain.link();
            e = node(t.text == "~" ? Expr::Concat : Expr::Arith, t.off, t.text, std::move(e), multiplicative());
        }
        return e;
    }
    ExprP multiplicative() {
        ExprP e = unary();
        Chain chain(this);
        while (is_op("*") || is_op("/") || is_op("%") || is_op("//")) {
            const Tok& t = t_[p_++];
            chain.link();
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
        Chain chain(this);
        while (is_op("|")) {
            const size_t off = t_[p_++].off;
            chain.link();
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
        Chain chain(this);
        while (true) {
            const size_t off = peek().off;
            if (is_op(".") || is_op("[")) chain.link();
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

}  // namespace bf::jinja
