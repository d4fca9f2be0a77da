// The <think> splitter, whole and streamed in every split of the text.
#include <gtest/gtest.h>

#include "engine/reasoning.h"

namespace bf {
namespace {

// Feeds `pieces` and returns (reasoning text, answer text, number of opens, number of closes).
struct Split {
    std::string reasoning, answer;
    int opens = 0, closes = 0;
};
Split run(const std::vector<std::string>& pieces) {
    ThinkSplitter s;
    Split r;
    auto take = [&](const std::vector<TextSegment>& segs) {
        for (const auto& g : segs) {
            (g.reasoning ? r.reasoning : r.answer) += g.text;
            r.opens += g.opens;
            r.closes += g.closes;
        }
    };
    for (const auto& p : pieces) take(s.push(p));
    take(s.flush());
    return r;
}

TEST(ThinkSplitter, WholeTags) {
    const Split r = run({"<think>", "x = -1 because", "</think>", " The answer is -1."});
    EXPECT_EQ(r.reasoning, "x = -1 because");
    EXPECT_EQ(r.answer, " The answer is -1.");
    EXPECT_EQ(r.opens, 1);
    EXPECT_EQ(r.closes, 1);
}

TEST(ThinkSplitter, TagsCutAcrossPieces) {
    const std::string text = "pre<think>step 1, step 2</think>answer <thin not a tag";
    // Every way of cutting the text into single characters or pairs gives the same split.
    for (size_t w : {size_t(1), size_t(2), size_t(3), size_t(5)}) {
        std::vector<std::string> pieces;
        for (size_t i = 0; i < text.size(); i += w) pieces.push_back(text.substr(i, w));
        const Split r = run(pieces);
        EXPECT_EQ(r.reasoning, "step 1, step 2") << w;
        EXPECT_EQ(r.answer, "preanswer <thin not a tag") << w;
        EXPECT_EQ(r.opens, 1);
        EXPECT_EQ(r.closes, 1);
    }
}

TEST(ThinkSplitter, UnclosedReasoning) {
    const Split r = run({"<think>still thinking", " when cut off"});
    EXPECT_EQ(r.reasoning, "still thinking when cut off");
    EXPECT_EQ(r.answer, "");
    EXPECT_EQ(r.closes, 0);
}

}  // namespace
}  // namespace bf
