// The Jinja subset's syntax: tag tokens, expression and statement trees, and the parse entry point.
#pragma once
#include <cstddef>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "jinja/value.h"

namespace bf::jinja {

constexpr int kMaxDepth = 200;  // nesting limit for expressions and blocks (stack safety)

struct Tok {
    enum Kind { Name, Str, Int, Op, End } kind;
    std::string text;
    int64_t num = 0;
    size_t off = 0;
};

[[noreturn]] void syntax_error(size_t off, const std::string& msg);

struct Expr;
using ExprP = std::unique_ptr<Expr>;
struct Expr {
    enum Op {
        Lit,
        Var,
        Attr,
        Index,
        Not,
        Neg,
        And,
        Or,
        Cmp,
        In,
        NotIn,
        Arith,
        Concat,
        Is,
        IsNot,
        Filter,
        Cond,
        List,
        Call,
        Method
    } op;
    size_t off = 0;
    Value lit;
    std::string name;  // variable, attribute, operator, test, filter, function or method name
    std::vector<ExprP> args;
};

struct Node {
    enum Kind { Text, Output, For, If, Set } kind;
    size_t off = 0;
    std::string text;                                           // Text; For/Set variable
    ExprP expr;                                                 // Output; For iterable; Set value
    std::vector<Node> body, else_body;                          // For; If else
    std::vector<std::pair<ExprP, std::vector<Node>>> branches;  // If / elif
};

// Parses a template (HF settings: trim_blocks and lstrip_blocks on). Throws bf::Error with the byte offset.
std::vector<Node> parse_template(const std::string& src);

}  // namespace bf::jinja
