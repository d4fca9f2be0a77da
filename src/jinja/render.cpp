// The tree-walking renderer: statements, expressions, tests, filters and loop variables, within Limits.
#include "jinja/render.h"

#include <algorithm>
#include <cctype>

#include "core/error.h"

namespace bf::jinja {

namespace {

[[noreturn]] void eval_error(size_t off, const std::string& msg) {
    fail(strfmt("chat template: error at offset %zu: %s", off, msg.c_str()));
}

std::string trim(const std::string& s, const char* ws = " \t\r\n\f\v") {
    const size_t a = s.find_first_not_of(ws);
    if (a == std::string::npos) return "";
    return s.substr(a, s.find_last_not_of(ws) - a + 1);
}

// Short enough for an error message, whatever the value's size.
std::string brief(const Value& v) {
    if (v.bytes <= 60) return v.repr();
    switch (v.kind) {
        case Value::Kind::String: return strfmt("a string of %zu bytes", v.s.size());
        case Value::Kind::Array: return strfmt("a list of %zu items", v.arr->size());
        default: return strfmt("a dict of %zu keys", v.obj->size());
    }
}

class Renderer {
public:
    Renderer(Object globals, const Limits& limits) : lim_(limits) { scopes_.push_back(std::move(globals)); }

    void run(const std::vector<Node>& nodes, std::string& out) {
        const Nest nest(*this, nodes.empty() ? 0 : nodes.front().off);
        for (const Node& nd : nodes) {
            step(nd.off);
            switch (nd.kind) {
                case Node::Text: append(out, nd.text, nd.off); break;
                case Node::Output: append(out, eval(*nd.expr).str(), nd.off); break;
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
                    using K = Value::Kind;
                    if (seq.kind != K::Array && seq.kind != K::Object && seq.kind != K::String &&
                        seq.kind != K::Undefined && seq.kind != K::None)
                        eval_error(nd.expr->off, "for loop over a value that is not a sequence");
                    // Every iteration will run (there is no break), so refuse before building the items.
                    const size_t n = seq.kind == K::Array    ? seq.arr->size()
                                     : seq.kind == K::Object ? seq.obj->size()
                                     : seq.kind == K::String ? seq.s.size()
                                                             : 0;
                    iterations_ += n;
                    if (iterations_ > lim_.max_loop_iterations)
                        over(nd.off, "loop iterations", lim_.max_loop_iterations, "max_loop_iterations");
                    Array built;
                    if (seq.kind == K::Object) {
                        for (const auto& [k, v] : *seq.obj) built.push_back(Value::string(k));
                    } else if (seq.kind == K::String) {
                        charge(n * sizeof(Value), nd.off);
                        for (char c : seq.s) built.push_back(Value::string(std::string(1, c)));
                    }
                    const Array& items = seq.kind == K::Array ? *seq.arr : built;  // seq keeps the list alive
                    if (items.empty()) {
                        run(nd.else_body, out);
                        break;
                    }
                    const int64_t len = static_cast<int64_t>(items.size());
                    for (int64_t k = 0; k < len; ++k) {
                        step(nd.off);
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
    // Counts one level of run()/eval() recursion.
    struct Nest {
        Renderer& r;
        Nest(Renderer& rr, size_t off) : r(rr) {
            if (++r.depth_ > r.lim_.max_depth) r.over(off, "nesting depth", r.lim_.max_depth, "max_depth");
        }
        ~Nest() { --r.depth_; }
    };

    [[noreturn]] static void over(size_t off, const char* what, uint64_t limit, const char* name) {
        eval_error(off, strfmt("template exceeds its limit of %llu %s (jinja::Limits::%s)",
                               static_cast<unsigned long long>(limit), what, name));
    }
    void step(size_t off) {
        if (++steps_ > lim_.max_steps) over(off, "steps", lim_.max_steps, "max_steps");
    }
    // Memory written or read in bulk: string copies, list building, comparisons and searches.
    void charge(uint64_t bytes, size_t off) {
        built_ += bytes;
        if (built_ > lim_.max_bytes_built) over(off, "bytes built", lim_.max_bytes_built, "max_bytes_built");
    }
    void append(std::string& out, const std::string& piece, size_t off) {
        charge(piece.size(), off);
        if (out.size() + piece.size() > lim_.max_output_bytes)
            over(off, "bytes of output", lim_.max_output_bytes, "max_output_bytes");
        out += piece;
    }

    // Every expression goes through here: one step, one level of depth, and its result's nesting; strings
    // are copied by value, so each result string is charged (lists are shared, and charged when built).
    Value eval(const Expr& e) {
        const Nest nest(*this, e.off);
        step(e.off);
        Value r = compute(e);
        if (r.kind == Value::Kind::String) built(r, e.off);
        if (r.depth > lim_.max_depth) over(e.off, "levels of nested lists", lim_.max_depth, "max_depth");
        return r;
    }
    const Value& built(const Value& v, size_t off) {
        if (v.bytes > lim_.max_output_bytes) over(off, "bytes in one value", lim_.max_output_bytes, "max_output_bytes");
        charge(v.bytes, off);
        return v;
    }

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
            const int64_t n =
                v.kind == K::Array ? static_cast<int64_t>(v.arr->size()) : static_cast<int64_t>(v.s.size());
            const int64_t k = key.i < 0 ? key.i + n : key.i;
            if (k < 0 || k >= n) return Value();
            return v.kind == K::Array ? (*v.arr)[k] : Value::string(std::string(1, v.s[k]));
        }
        return Value();  // undefined, as Jinja's default Undefined
    }

    Value compute(const Expr& e) {
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
                if (v.i == INT64_MIN) eval_error(e.off, "integer overflow");
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
                charge(std::min(a.bytes, b.bytes), e.off);
                if (e.name == "==") return Value::boolean(equal(a, b));
                if (e.name == "!=") return Value::boolean(!equal(a, b));
                int c;
                if (a.kind == K::Int && b.kind == K::Int)
                    c = a.i < b.i ? -1 : a.i > b.i;
                else if (a.kind == K::String && b.kind == K::String)
                    c = a.s.compare(b.s);
                else
                    eval_error(e.off, "'" + e.name + "' needs two numbers or two strings");
                if (e.name == "<") return Value::boolean(c < 0);
                if (e.name == ">") return Value::boolean(c > 0);
                if (e.name == "<=") return Value::boolean(c <= 0);
                return Value::boolean(c >= 0);
            }
            case Expr::In:
            case Expr::NotIn: {
                const Value a = eval(*e.args[0]), b = eval(*e.args[1]);
                charge(b.bytes, e.off);
                bool found = false;
                if (b.kind == K::String && a.kind == K::String)
                    found = b.s.find(a.s) != std::string::npos;
                else if (b.kind == K::Object)
                    found = a.kind == K::String && b.obj->count(a.s);
                else if (b.kind == K::Array)
                    for (const Value& x : *b.arr) found = found || equal(a, x);
                else
                    eval_error(e.off, "'in' needs a string, list or mapping on the right");
                return Value::boolean(e.op == Expr::In ? found : !found);
            }
            case Expr::Is:
            case Expr::IsNot: {
                const Value a = eval(*e.args[0]);
                bool r;
                if (e.name == "none")
                    r = a.kind == K::None;
                else if (e.name == "defined")
                    r = a.kind != K::Undefined;
                else if (e.name == "undefined")
                    r = a.kind == K::Undefined;
                else if (e.name == "string")
                    r = a.kind == K::String;
                else if (e.name == "number" || e.name == "integer")
                    r = a.kind == K::Int;
                else if (e.name == "boolean")
                    r = a.kind == K::Bool;
                else if (e.name == "mapping")
                    r = a.kind == K::Object;
                else if (e.name == "sequence" || e.name == "iterable")
                    r = a.kind == K::Array || a.kind == K::String;
                else
                    eval_error(e.off, "unknown test '" + e.name + "'");
                return Value::boolean(e.op == Expr::Is ? r : !r);
            }
            case Expr::Concat: {
                const Value a = eval(*e.args[0]), b = eval(*e.args[1]);
                sum_fits(a, b, e.off);
                return Value::string(a.str() + b.str());
            }
            case Expr::Arith: {
                const Value a = eval(*e.args[0]), b = eval(*e.args[1]);
                if (e.name == "+" && a.kind == K::String && b.kind == K::String) {
                    sum_fits(a, b, e.off);
                    return Value::string(a.s + b.s);
                }
                if (e.name == "+" && a.kind == K::Array && b.kind == K::Array) {
                    sum_fits(a, b, e.off);
                    Array r = *a.arr;
                    r.insert(r.end(), b.arr->begin(), b.arr->end());
                    return built(Value::array(std::move(r)), e.off);
                }
                if (a.kind != K::Int || b.kind != K::Int)
                    eval_error(e.off,
                               "unsupported operand types for '" + e.name + "' (" + brief(a) + ", " + brief(b) + ")");
                if ((e.name == "/" || e.name == "//" || e.name == "%") && b.i == 0)
                    eval_error(e.off, "division by zero");
                int64_t r = 0;
                bool overflow;
                if (e.name == "+")
                    overflow = __builtin_add_overflow(a.i, b.i, &r);
                else if (e.name == "-")
                    overflow = __builtin_sub_overflow(a.i, b.i, &r);
                else if (e.name == "*")
                    overflow = __builtin_mul_overflow(a.i, b.i, &r);
                else if ((overflow = a.i == INT64_MIN && b.i == -1)) {
                }  // the one quotient that does not fit
                else
                    r = e.name == "%" ? a.i % b.i : a.i / b.i;  // integer division only: no floats here
                if (overflow) eval_error(e.off, "integer overflow in '" + e.name + "'");
                return Value::integer(r);
            }
            case Expr::List: {
                Array r;
                for (const ExprP& x : e.args) r.push_back(eval(*x));
                return built(Value::array(std::move(r)), e.off);
            }
            case Expr::Filter: return filter(e);
            case Expr::Call: {
                if (e.name == "raise_exception")
                    eval_error(e.off, "template raised: " +
                                          (e.args.empty() ? std::string() : eval(*e.args[0]).str().substr(0, 1000)));
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
                    charge(a.s.size(), e.off);
                    const bool r =
                        e.name == "startswith"
                            ? v.s.compare(0, a.s.size(), a.s) == 0
                            : v.s.size() >= a.s.size() && v.s.compare(v.s.size() - a.s.size(), a.s.size(), a.s) == 0;
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

    // Refuses a concatenation whose result would be over the size limit before building it.
    void sum_fits(const Value& a, const Value& b, size_t off) const {
        if (a.bytes + b.bytes > lim_.max_output_bytes)
            over(off, "bytes in one value", lim_.max_output_bytes, "max_output_bytes");
    }

    const Limits& lim_;
    std::vector<Object> scopes_;
    uint64_t steps_ = 0, iterations_ = 0, built_ = 0;
    int depth_ = 0;
};

}  // namespace

std::string render(const std::vector<Node>& nodes, Object globals, const Limits& limits) {
    Renderer r(std::move(globals), limits);
    std::string out;
    r.run(nodes, out);
    return out;
}

}  // namespace bf::jinja
