// GBNF text -> Grammar: a recursive-descent parser with limits (untrusted input), repetition expanded into
// helper rules, then undefined-rule and left-recursion checks.
#include <map>

#include "core/error.h"
#include "grammar/grammar.h"

namespace bf {

namespace {

using Alt = std::vector<GrammarElem>;

class Parser {
public:
    explicit Parser(std::string_view t) : t_(t) {}

    Grammar run() {
        if (t_.size() > kMaxGrammarBytes) fail(strfmt("grammar: longer than %zu bytes", kMaxGrammarBytes));
        skip_space(true);
        while (pos_ < t_.size()) {
            parse_rule();
            skip_space(true);
        }
        return finish();
    }

private:
    std::string_view t_;
    size_t pos_ = 0;
    std::vector<std::vector<Alt>> rules_;
    std::vector<std::string> names_;
    std::vector<bool> defined_;
    std::vector<size_t> first_use_;  // byte offset of a reference, for "undefined rule" messages
    std::map<std::string, uint32_t, std::less<>> ids_;
    std::vector<std::pair<uint32_t, uint32_t>> ranges_;
    size_t n_elems_ = 0;

    [[noreturn]] void error(const std::string& msg, size_t at) const {
        size_t line = 1, col = 1;
        for (size_t i = 0; i < at && i < t_.size(); ++i) {
            if (t_[i] == '\n')
                ++line, col = 1;
            else
                ++col;
        }
        fail(strfmt("grammar: %s at line %zu, column %zu", msg.c_str(), line, col));
    }
    [[noreturn]] void error(const std::string& msg) const { error(msg, pos_); }

    char peek() const { return pos_ < t_.size() ? t_[pos_] : '\0'; }
    bool at_end() const { return pos_ >= t_.size(); }

    // Spaces, tabs and comments; newlines too where a rule may continue (inside parentheses).
    void skip_space(bool newlines) {
        while (!at_end()) {
            const char c = peek();
            if (c == ' ' || c == '\t')
                ++pos_;
            else if (c == '#') {
                while (!at_end() && peek() != '\n') ++pos_;
            } else if (newlines && (c == '\n' || c == '\r'))
                ++pos_;
            else
                break;
        }
    }

    static bool is_name_char(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
    }

    std::string parse_name() {
        const size_t start = pos_;
        while (!at_end() && is_name_char(peek())) ++pos_;
        if (pos_ == start) error("expected a rule name");
        return std::string(t_.substr(start, pos_ - start));
    }

    uint32_t rule_id(const std::string& name, size_t at) {
        auto it = ids_.find(name);
        if (it != ids_.end()) return it->second;
        const uint32_t id = uint32_t(rules_.size());
        ids_.emplace(name, id);
        rules_.emplace_back();
        names_.push_back(name);
        defined_.push_back(false);
        first_use_.push_back(at);
        return id;
    }

    // A helper rule, named after its parent with a '#', which no name in the grammar text can hold (so it never
    // takes a name the grammar uses, defined earlier or later).
    uint32_t new_rule(const std::string& base) {
        const std::string name = strfmt("%s#%zu", base.c_str(), rules_.size());
        return rule_id(name, pos_);
    }

    void count_elems(size_t n) {
        n_elems_ += n;
        if (n_elems_ > kMaxGrammarElements)
            error(strfmt("more than %zu elements after expanding repetitions", kMaxGrammarElements));
    }

    // "name ::=" ahead (a rule whose last alternative is empty and was followed by a newline ends there).
    bool rule_starts_here() const {
        size_t p = pos_;
        while (p < t_.size() && is_name_char(t_[p])) ++p;
        if (p == pos_) return false;
        while (p < t_.size() && (t_[p] == ' ' || t_[p] == '\t')) ++p;
        return t_.substr(p, 3) == "::=";
    }

    void parse_rule() {
        const size_t at = pos_;
        const std::string name = parse_name();
        skip_space(false);
        if (t_.substr(pos_, 3) != "::=") error("expected '::=' after the rule name");
        pos_ += 3;
        skip_space(true);
        const uint32_t id = rule_id(name, at);
        if (defined_[id]) error("rule '" + name + "' is defined twice", at);
        defined_[id] = true;
        parse_alternates(id, 0);
        skip_space(false);
        if (!at_end() && peek() != '\n' && peek() != '\r' && !rule_starts_here())
            error("expected the end of the line after the rule");
    }

    void parse_alternates(uint32_t id, int depth) {
        std::vector<Alt> alts;
        alts.push_back(parse_sequence(id, depth));
        while (peek() == '|') {
            ++pos_;
            skip_space(true);
            alts.push_back(parse_sequence(id, depth));
        }
        rules_[id] = std::move(alts);
    }

    // Decodes one UTF-8 code point of the grammar text.
    uint32_t decode_utf8() {
        const unsigned char c = static_cast<unsigned char>(t_[pos_]);
        const int n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (n == 0 || pos_ + size_t(n) > t_.size()) error("invalid UTF-8");
        uint32_t cp = n == 1 ? c : c & (0x7f >> n);
        for (int k = 1; k < n; ++k) {
            const unsigned char cc = static_cast<unsigned char>(t_[pos_ + size_t(k)]);
            if ((cc & 0xc0) != 0x80) error("invalid UTF-8");
            cp = (cp << 6) | (cc & 0x3f);
        }
        pos_ += size_t(n);
        return cp;
    }

    uint32_t parse_hex(int digits) {
        uint32_t v = 0;
        for (int i = 0; i < digits; ++i, ++pos_) {
            const char c = peek();
            const int d = c >= '0' && c <= '9'   ? c - '0'
                          : c >= 'a' && c <= 'f' ? c - 'a' + 10
                          : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                                 : -1;
            if (d < 0) error(strfmt("expected %d hex digits", digits));
            v = v * 16 + uint32_t(d);
        }
        if (v > 0x10ffff) error("code point beyond U+10FFFF");
        return v;
    }

    // One character of a literal or class, escapes resolved.
    uint32_t parse_char() {
        if (at_end()) error("unexpected end of the grammar");
        if (peek() != '\\') return decode_utf8();
        ++pos_;
        const char e = peek();
        ++pos_;
        switch (e) {
            case 'x': return parse_hex(2);
            case 'u': return parse_hex(4);
            case 'U': return parse_hex(8);
            case 't': return '\t';
            case 'n': return '\n';
            case 'r': return '\r';
            case '\\':
            case '"':
            case '[':
            case ']':
            case '-':
            case '^':
            case '/': return uint32_t(e);
            default: error(strfmt("unknown escape '\\%c'", e));
        }
    }

    GrammarElem chars(bool negate, std::vector<std::pair<uint32_t, uint32_t>> rs) {
        GrammarElem e;
        e.kind = GrammarElem::Chars;
        e.negate = negate;
        e.ranges_begin = uint32_t(ranges_.size());
        ranges_.insert(ranges_.end(), rs.begin(), rs.end());
        e.ranges_end = uint32_t(ranges_.size());
        return e;
    }

    static GrammarElem ref(uint32_t id) {
        GrammarElem e;
        e.kind = GrammarElem::Ref;
        e.rule = id;
        return e;
    }

    Alt parse_sequence(uint32_t id, int depth) {
        Alt alt;
        for (;;) {
            const size_t item = alt.size();  // where the last item (what a repetition applies to) starts
            const char c = peek();
            if (c == '"') {
                ++pos_;
                while (peek() != '"') {
                    if (at_end() || peek() == '\n') error("unterminated string literal");
                    const uint32_t cp = parse_char();
                    alt.push_back(chars(false, {{cp, cp}}));
                }
                ++pos_;
            } else if (c == '[') {
                ++pos_;
                const bool negate = peek() == '^';
                if (negate) ++pos_;
                std::vector<std::pair<uint32_t, uint32_t>> rs;
                while (peek() != ']') {
                    if (at_end() || peek() == '\n') error("unterminated character class");
                    const uint32_t lo = parse_char();
                    uint32_t hi = lo;
                    if (peek() == '-' && pos_ + 1 < t_.size() && t_[pos_ + 1] != ']') {
                        ++pos_;
                        hi = parse_char();
                        if (hi < lo) error("character range with its end before its start");
                    }
                    rs.push_back({lo, hi});
                }
                ++pos_;
                alt.push_back(chars(negate, std::move(rs)));
            } else if (c == '.') {
                ++pos_;
                alt.push_back(chars(true, {}));
            } else if (c == '(') {
                if (depth + 1 > kMaxGrammarNesting) error(strfmt("groups nested deeper than %d", kMaxGrammarNesting));
                ++pos_;
                skip_space(true);
                const uint32_t sub = new_rule(names_[id]);
                parse_alternates(sub, depth + 1);
                defined_[sub] = true;
                if (peek() != ')') error("expected ')'");
                ++pos_;
                alt.push_back(ref(sub));
            } else if (is_name_char(c)) {
                const size_t at = pos_;
                const std::string name = parse_name();
                skip_space(depth > 0);
                if (t_.substr(pos_, 3) == "::=") {  // the next rule starts: this sequence ended a line earlier
                    pos_ = at;
                    break;
                }
                pos_ = at + name.size();
                alt.push_back(ref(rule_id(name, at)));
            } else {
                break;
            }
            count_elems(alt.size() - item);
            skip_space(depth > 0);
            parse_repetition(id, alt, item);
            skip_space(depth > 0);
        }
        count_elems(1);
        return alt;
    }

    int parse_count() {
        const size_t start = pos_;
        long v = 0;
        while (peek() >= '0' && peek() <= '9') {
            v = v * 10 + (peek() - '0');
            if (v > kMaxGrammarRepeat) error(strfmt("repetition count above %d", kMaxGrammarRepeat));
            ++pos_;
        }
        return pos_ == start ? -1 : int(v);
    }

    // x* x+ x? x{m} x{m,} x{m,n} x{,n}: x is made a single element, copied m times, then helper rules
    // supply the optional rest (R ::= x R | "" when unbounded, else nested (x (x ...)?)?).
    void parse_repetition(uint32_t id, Alt& alt, size_t item) {
        int lo, hi;  // hi -1: unbounded
        const char c = peek();
        if (c == '*')
            lo = 0, hi = -1, ++pos_;
        else if (c == '+')
            lo = 1, hi = -1, ++pos_;
        else if (c == '?')
            lo = 0, hi = 1, ++pos_;
        else if (c == '{') {
            ++pos_;
            skip_space(false);
            const int m = parse_count();
            lo = m < 0 ? 0 : m;
            skip_space(false);
            if (peek() == ',') {
                ++pos_;
                skip_space(false);
                hi = parse_count();
                if (hi >= 0 && hi < lo) error("repetition {m,n} with n < m");
            } else {
                if (m < 0) error("expected a count in '{}'");
                hi = m;
            }
            skip_space(false);
            if (peek() != '}') error("expected '}'");
            ++pos_;
        } else {
            return;
        }
        if (item == alt.size()) error("repetition without an item before it");
        if (alt.size() - item > 1) {  // a literal of several characters: repeat it as a whole
            const uint32_t sub = new_rule(names_[id]);
            rules_[sub] = {Alt(alt.begin() + long(item), alt.end())};
            defined_[sub] = true;
            alt.resize(item);
            alt.push_back(ref(sub));
        }
        const GrammarElem x = alt.back();
        alt.pop_back();
        count_elems(size_t(lo) + 4 * size_t(hi < 0 ? 1 : hi - lo));
        for (int i = 0; i < lo; ++i) alt.push_back(x);
        if (hi < 0) {
            const uint32_t r = new_rule(names_[id]);
            rules_[r] = {Alt{x, ref(r)}, Alt{}};
            defined_[r] = true;
            alt.push_back(ref(r));
        } else if (hi > lo) {
            uint32_t inner = 0;
            for (int k = 0; k < hi - lo; ++k) {
                const uint32_t r = new_rule(names_[id]);
                rules_[r] = {k == 0 ? Alt{x} : Alt{x, ref(inner)}, Alt{}};
                defined_[r] = true;
                inner = r;
            }
            alt.push_back(ref(inner));
        }
    }

    Grammar finish() {
        auto root = ids_.find("root");
        if (root == ids_.end()) fail("grammar: no 'root' rule");
        for (size_t i = 0; i < rules_.size(); ++i)
            if (!defined_[i]) error("undefined rule '" + names_[i] + "'", first_use_[i]);
        Grammar g;
        g.root = root->second;
        g.ranges = std::move(ranges_);
        g.rule_names = names_;
        g.rule_alts.resize(rules_.size());
        for (size_t r = 0; r < rules_.size(); ++r)
            for (const Alt& a : rules_[r]) {
                g.rule_alts[r].push_back(uint32_t(g.elems.size()));
                g.elems.insert(g.elems.end(), a.begin(), a.end());
                g.elems.push_back(GrammarElem{});
            }
        check_no_left_recursion(g);
        return g;
    }
};

}  // namespace

Grammar parse_gbnf(std::string_view text) { return Parser(text).run(); }

}  // namespace bf
