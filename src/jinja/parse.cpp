// The statement parser: for / if / elif / else / set blocks into a tree of Nodes.
#include "core/error.h"
#include "jinja/expr_parser.h"
#include "jinja/lex.h"
#include "jinja/syntax.h"

namespace bf::jinja {

namespace {

class Parser {
public:
    explicit Parser(std::vector<Piece> pieces) : pieces_(std::move(pieces)) {}

    std::vector<Node> parse() {
        std::vector<Node> body = block(0);
        if (i_ < pieces_.size())
            syntax_error(pieces_[i_].off, strfmt("unexpected {%% %s %%}", keyword(pieces_[i_]).c_str()));
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

}  // namespace

std::vector<Node> parse_template(const std::string& src) { return Parser(split_template(src)).parse(); }

}  // namespace bf::jinja
