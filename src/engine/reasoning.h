// Splits streamed text into reasoning (inside <think>…</think>) and answer, whatever way the tags
// are cut across tokens. The CLI dims or hides reasoning; a server returns it as reasoning_content.
#pragma once
#include <string>
#include <vector>

namespace bf {

struct TextSegment {
    std::string text;
    bool reasoning = false;
    bool opens = false, closes = false;  // this segment starts with <think> / ends with </think>
};

class ThinkSplitter {
public:
    std::vector<TextSegment> push(const std::string& piece);
    std::vector<TextSegment> flush();
    bool in_reasoning() const { return in_think_; }

private:
    bool in_think_ = false;
    bool just_opened_ = false;
    std::string pending_;
    void emit(std::vector<TextSegment>& out, std::string text, bool closes);
};

}  // namespace bf
