// GrammarMatcher: stack expansion through rule references, code point steps and the UTF-8 byte layer.
#include "grammar/matcher.h"

#include <algorithm>

#include "core/error.h"

namespace bf {

GrammarMatcher::GrammarMatcher(std::shared_ptr<const Grammar> g) : g_(std::move(g)) {
    for (uint32_t a : g_->rule_alts.at(g_->root)) {
        seed_.clear();
        if (g_->elems[a].kind != GrammarElem::End) seed_.push_back(a);
        expand_seed(st_);
    }
}

void GrammarMatcher::add_unique(GrammarState& out, const std::vector<uint32_t>& st) const {
    for (size_t i = 0; i < out.n_stacks(); ++i)
        if (out.ends[i] - out.begin(i) == st.size() &&
            std::equal(st.begin(), st.end(), out.elems.begin() + out.begin(i)))
            return;
    if (out.n_stacks() >= kMaxGrammarStacks)
        fail(strfmt("grammar: too ambiguous here (more than %zu parse stacks)", kMaxGrammarStacks));
    out.elems.insert(out.elems.end(), st.begin(), st.end());
    out.ends.push_back(uint32_t(out.elems.size()));
}

// Replaces rule references on top of the seed by the starts of their alternatives until every resulting stack
// has a character class on top (or is empty). Terminates because parse_gbnf refuses left recursion.
void GrammarMatcher::expand_seed(GrammarState& out) const {
    const auto& el = g_->elems;
    work_elems_.assign(seed_.begin(), seed_.end());
    work_ends_.assign(1, uint32_t(work_elems_.size()));
    // Duplicates are dropped on output, so an ambiguous grammar could expand far more stacks than it keeps.
    size_t budget = kMaxGrammarStacks * 32;
    while (!work_ends_.empty()) {
        if (budget-- == 0) fail(strfmt("grammar: too ambiguous here (more than %zu parse stacks)", kMaxGrammarStacks));
        const uint32_t b = work_ends_.size() > 1 ? work_ends_[work_ends_.size() - 2] : 0;
        cur_.assign(work_elems_.begin() + b, work_elems_.end());
        work_elems_.resize(b);
        work_ends_.pop_back();
        if (cur_.empty() || el[cur_.back()].kind == GrammarElem::Chars) {
            add_unique(out, cur_);
            continue;
        }
        const uint32_t p = cur_.back();
        cur_.pop_back();
        if (el[p + 1].kind != GrammarElem::End) cur_.push_back(p + 1);
        if (cur_.size() + 1 > kMaxGrammarStackDepth)
            fail(strfmt("grammar: nesting deeper than %zu", kMaxGrammarStackDepth));
        for (uint32_t a : g_->rule_alts[el[p].rule]) {
            work_elems_.insert(work_elems_.end(), cur_.begin(), cur_.end());
            if (el[a].kind != GrammarElem::End) work_elems_.push_back(a);
            work_ends_.push_back(uint32_t(work_elems_.size()));
        }
    }
}

void GrammarMatcher::accept_cp(const GrammarState& in, uint32_t cp, GrammarState& out) const {
    const auto& el = g_->elems;
    out.elems.clear();
    out.ends.clear();
    out.need = 0;
    out.partial = 0;
    for (size_t i = 0; i < in.n_stacks(); ++i) {
        if (in.empty_stack(i) || !g_->chars_match(el[in.top(i)], cp)) continue;
        const uint32_t p = in.top(i);
        seed_.assign(in.elems.begin() + in.begin(i), in.elems.begin() + in.ends[i] - 1);
        if (el[p + 1].kind != GrammarElem::End) seed_.push_back(p + 1);
        expand_seed(out);
    }
}

// With a character half-read, the code points it can still become form one range; some stack must accept one.
bool GrammarMatcher::partial_viable(const GrammarState& s) const {
    const uint32_t shift = 6u * s.need;
    const uint32_t lo = std::max(s.partial << shift, s.min_cp);
    const uint32_t hi = std::min(((s.partial + 1) << shift) - 1, 0x10ffffu);
    if (lo > hi) return false;
    // Surrogates (U+D800..U+DFFF) are no code points: a class that spans them numerically must not keep a
    // half-read character alive that can only become one (ED A0.. would leave no byte to continue with).
    const uint32_t pieces[2][2] = {{lo, std::min(hi, 0xd7ffu)}, {std::max(lo, 0xe000u), hi}};
    for (const auto& r : pieces) {
        if (r[0] > r[1]) continue;
        for (size_t i = 0; i < s.n_stacks(); ++i)
            if (!s.empty_stack(i) && g_->chars_may_match(g_->elems[s.top(i)], r[0], r[1])) return true;
    }
    return false;
}

bool GrammarMatcher::step(const GrammarState& in, uint8_t b, GrammarState& out) const {
    if (in.need == 0) {
        if (b < 0x80) {
            accept_cp(in, b, out);
            return out.n_stacks() > 0;
        }
        out.elems = in.elems;
        out.ends = in.ends;
        if (b >= 0xc2 && b <= 0xdf)
            out.need = 1, out.partial = b & 0x1f, out.min_cp = 0x80;
        else if (b >= 0xe0 && b <= 0xef)
            out.need = 2, out.partial = b & 0x0f, out.min_cp = 0x800;
        else if (b >= 0xf0 && b <= 0xf4)
            out.need = 3, out.partial = b & 0x07, out.min_cp = 0x10000;
        else
            return false;  // a continuation byte without a lead, or a byte UTF-8 never uses
        return partial_viable(out);
    }
    if ((b & 0xc0) != 0x80) return false;
    const uint32_t cp = (in.partial << 6) | (b & 0x3fu);
    if (in.need > 1) {
        out.elems = in.elems;
        out.ends = in.ends;
        out.need = uint8_t(in.need - 1);
        out.partial = cp;
        out.min_cp = in.min_cp;
        return partial_viable(out);
    }
    if (cp < in.min_cp || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    accept_cp(in, cp, out);
    return out.n_stacks() > 0;
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
    if (s.need != 0) return false;
    for (size_t i = 0; i < s.n_stacks(); ++i)
        if (s.empty_stack(i)) return true;
    return false;
}

}  // namespace bf
