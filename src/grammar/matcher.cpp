// GrammarMatcher: stack expansion through rule references, code point steps and the UTF-8 byte layer.
#include "grammar/matcher.h"

#include <algorithm>

#include "core/error.h"

namespace bf {

GrammarMatcher::GrammarMatcher(std::shared_ptr<const Grammar> g) : g_(std::move(g)) {
    for (uint32_t a : g_->rule_alts.at(g_->root))
        expand(g_->elems[a].kind == GrammarElem::End ? Stack{} : Stack{a}, st_.stacks);
    std::sort(st_.stacks.begin(), st_.stacks.end());
    st_.stacks.erase(std::unique(st_.stacks.begin(), st_.stacks.end()), st_.stacks.end());
}

// Replaces rule references on top of `s` by the starts of their alternatives until every resulting stack
// has a character class on top (or is empty). Terminates because parse_gbnf refuses left recursion.
void GrammarMatcher::expand(Stack s, std::vector<Stack>& out) const {
    const auto& el = g_->elems;
    std::vector<Stack> work;
    work.push_back(std::move(s));
    while (!work.empty()) {
        Stack st = std::move(work.back());
        work.pop_back();
        if (st.empty() || el[st.back()].kind == GrammarElem::Chars) {
            if (out.size() >= kMaxGrammarStacks)
                fail(strfmt("grammar: too ambiguous here (more than %zu parse stacks)", kMaxGrammarStacks));
            out.push_back(std::move(st));
            continue;
        }
        const uint32_t p = st.back();
        st.pop_back();
        if (el[p + 1].kind != GrammarElem::End) st.push_back(p + 1);
        if (st.size() + 1 > kMaxGrammarStackDepth)
            fail(strfmt("grammar: nesting deeper than %zu", kMaxGrammarStackDepth));
        for (uint32_t a : g_->rule_alts[el[p].rule]) {
            Stack ns = st;
            if (el[a].kind != GrammarElem::End) ns.push_back(a);
            work.push_back(std::move(ns));
        }
    }
}

void GrammarMatcher::accept_cp(const GrammarState& in, uint32_t cp, GrammarState& out) const {
    const auto& el = g_->elems;
    out.stacks.clear();
    out.need = 0;
    out.partial = 0;
    for (const Stack& st : in.stacks) {
        if (st.empty() || !g_->chars_match(el[st.back()], cp)) continue;
        Stack ns(st.begin(), st.end() - 1);
        const uint32_t p = st.back();
        if (el[p + 1].kind != GrammarElem::End) ns.push_back(p + 1);
        expand(std::move(ns), out.stacks);
    }
    std::sort(out.stacks.begin(), out.stacks.end());
    out.stacks.erase(std::unique(out.stacks.begin(), out.stacks.end()), out.stacks.end());
}

// With a character half-read, the code points it can still become form one range; some stack must accept one.
bool GrammarMatcher::partial_viable(const GrammarState& s) const {
    const uint32_t shift = 6u * s.need;
    const uint32_t lo = std::max(s.partial << shift, s.min_cp);
    const uint32_t hi = std::min(((s.partial + 1) << shift) - 1, 0x10ffffu);
    if (lo > hi) return false;
    for (const Stack& st : s.stacks)
        if (!st.empty() && g_->chars_may_match(g_->elems[st.back()], lo, hi)) return true;
    return false;
}

bool GrammarMatcher::step(const GrammarState& in, uint8_t b, GrammarState& out) const {
    if (in.need == 0) {
        if (b < 0x80) {
            accept_cp(in, b, out);
            return !out.stacks.empty();
        }
        out.stacks = in.stacks;
        if (b >= 0xc2 && b <= 0xdf) out.need = 1, out.partial = b & 0x1f, out.min_cp = 0x80;
        else if (b >= 0xe0 && b <= 0xef) out.need = 2, out.partial = b & 0x0f, out.min_cp = 0x800;
        else if (b >= 0xf0 && b <= 0xf4) out.need = 3, out.partial = b & 0x07, out.min_cp = 0x10000;
        else return false;  // a continuation byte without a lead, or a byte UTF-8 never uses
        return partial_viable(out);
    }
    if ((b & 0xc0) != 0x80) return false;
    const uint32_t cp = (in.partial << 6) | (b & 0x3fu);
    if (in.need > 1) {
        out.stacks = in.stacks;
        out.need = uint8_t(in.need - 1);
        out.partial = cp;
        out.min_cp = in.min_cp;
        return partial_viable(out);
    }
    if (cp < in.min_cp || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    accept_cp(in, cp, out);
    return !out.stacks.empty();
}

bool GrammarMatcher::accept(std::string_view bytes) {
    GrammarState cur = st_, next;
    for (char c : bytes) {
        if (!step(cur, uint8_t(c), next)) return false;
        std::swap(cur, next);
    }
    st_ = std::move(cur);
    return true;
}

bool GrammarMatcher::can_end(const GrammarState& s) const {
    return s.need == 0 && !s.stacks.empty() && s.stacks.front().empty();  // sorted: an empty stack comes first
}

}  // namespace bf
