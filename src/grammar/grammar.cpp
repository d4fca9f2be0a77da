// Grammar checks and helpers shared by the parser, the matcher and the JSON Schema converter.
#include "grammar/grammar.h"

#include "core/error.h"

namespace bf {

// A rule reachable from itself without consuming a character would make the matcher's expansion loop.
void check_no_left_recursion(const Grammar& g) {
    const size_t n = g.rule_alts.size();
    std::vector<bool> nullable(n, false);
    for (bool changed = true; changed;) {
        changed = false;
        for (size_t r = 0; r < n; ++r) {
            if (nullable[r]) continue;
            for (uint32_t a : g.rule_alts[r]) {
                bool all = true;
                for (uint32_t p = a; g.elems[p].kind != GrammarElem::End && all; ++p)
                    all = g.elems[p].kind == GrammarElem::Ref && nullable[g.elems[p].rule];
                if (all) {
                    nullable[r] = changed = true;
                    break;
                }
            }
        }
    }
    // Depth-first over "starts with" edges, iteratively (a long chain of rules must not overflow the stack).
    std::vector<std::vector<uint32_t>> starts(n);
    for (size_t r = 0; r < n; ++r)
        for (uint32_t a : g.rule_alts[r])
            for (uint32_t p = a; g.elems[p].kind == GrammarElem::Ref; ++p) {
                starts[r].push_back(g.elems[p].rule);
                if (!nullable[g.elems[p].rule]) break;
            }
    std::vector<int> color(n, 0);                   // 0 new, 1 on the path, 2 done
    std::vector<std::pair<uint32_t, size_t>> path;  // rule, next edge
    for (size_t r0 = 0; r0 < n; ++r0) {
        if (color[r0]) continue;
        color[r0] = 1;
        path.push_back({uint32_t(r0), 0});
        while (!path.empty()) {
            auto& [r, next] = path.back();
            if (next == starts[r].size()) {
                color[r] = 2;
                path.pop_back();
                continue;
            }
            const uint32_t s = starts[r][next++];
            if (color[s] == 1) fail("grammar: rule '" + g.rule_names[s] + "' is left-recursive");
            if (color[s] == 0) {
                color[s] = 1;
                path.push_back({s, 0});
            }
        }
    }
}

bool Grammar::chars_match(const GrammarElem& e, uint32_t cp) const {
    bool in = false;
    for (uint32_t i = e.ranges_begin; i < e.ranges_end && !in; ++i)
        in = ranges[i].first <= cp && cp <= ranges[i].second;
    return in != e.negate;
}

bool Grammar::chars_may_match(const GrammarElem& e, uint32_t lo, uint32_t hi) const {
    for (uint32_t i = e.ranges_begin; i < e.ranges_end; ++i) {
        const auto [a, b] = ranges[i];
        if (e.negate && a <= lo && hi <= b) return false;  // the whole span is excluded by one range
        if (!e.negate && a <= hi && lo <= b) return true;
    }
    return e.negate;
}

std::string gbnf_literal(std::string_view s) {
    std::string out = "\"";
    for (unsigned char c : s) {
        if (c == '"' || c == '\\')
            out += '\\', out += char(c);
        else if (c < 0x20 || c == 0x7f)
            out += strfmt("\\x%02X", c);
        else
            out += char(c);
    }
    return out + "\"";
}

}  // namespace bf
