// Splitting <think>...</think> reasoning from the answer, also while streaming.
#include "engine/reasoning.h"

#include <algorithm>

namespace bf {

namespace {
const std::string kOpen = "<think>", kClose = "</think>";
}

void ThinkSplitter::emit(std::vector<TextSegment>& out, std::string text, bool closes) {
    if (text.empty() && !just_opened_ && !closes) return;
    out.push_back({std::move(text), in_think_, just_opened_, closes});
    just_opened_ = false;
}

std::vector<TextSegment> ThinkSplitter::push(const std::string& piece) {
    std::vector<TextSegment> out;
    pending_ += piece;
    for (;;) {
        const std::string& tag = in_think_ ? kClose : kOpen;
        const size_t at = pending_.find(tag);
        if (at == std::string::npos) break;
        emit(out, pending_.substr(0, at), in_think_);
        pending_.erase(0, at + tag.size());
        in_think_ = !in_think_;
        just_opened_ = in_think_;
    }
    // Keep back a tail that could be the start of the next tag.
    const std::string& tag = in_think_ ? kClose : kOpen;
    size_t keep = 0;
    for (size_t k = std::min(pending_.size(), tag.size() - 1); k > 0; --k)
        if (pending_.compare(pending_.size() - k, k, tag, 0, k) == 0) {
            keep = k;
            break;
        }
    emit(out, pending_.substr(0, pending_.size() - keep), false);
    pending_.erase(0, pending_.size() - keep);
    return out;
}

std::vector<TextSegment> ThinkSplitter::flush() {
    std::vector<TextSegment> out;
    emit(out, pending_, false);
    pending_.clear();
    return out;
}

}  // namespace bf
