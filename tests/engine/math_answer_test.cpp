// Answer extraction and matching on hand-written cases.
#include <gtest/gtest.h>

#include "engine/math_answer.h"

namespace bf {
namespace {

TEST(MathAnswer, Extraction) {
    EXPECT_EQ(extract_answer("<think>(x + 1)^2 = 0</think>The answer is \\boxed{-1}."), "-1");
    EXPECT_EQ(extract_answer("<think>x = 7 is wrong</think> so x = -3 or x = 2"), "-3,2");
    EXPECT_EQ(extract_answer("\\boxed{2, -3}"), "-3,2");
    EXPECT_EQ(extract_answer("The total is 12 apples, then 146."), "146");
    EXPECT_EQ(extract_answer("\\boxed{\\frac{1}{2}}"), "\\frac{1}{2}");
    EXPECT_EQ(extract_answer("no digits here"), std::nullopt);
    EXPECT_EQ(extract_answer("<think>x = 5</think>I cannot tell"), std::nullopt);  // only after </think>
}

TEST(MathAnswer, Matching) {
    EXPECT_TRUE(answers_match("The answer is \\boxed{5}.", "5"));
    EXPECT_TRUE(answers_match("x = 2 or x = -3", "-3,2"));
    EXPECT_TRUE(answers_match("\\boxed{ 5.0 }", "5"));
    EXPECT_TRUE(answers_match("\\boxed{\\left( 3, 4 \\right)}", "(3,4)"));
    EXPECT_FALSE(answers_match("\\boxed{4}", "5"));
    EXPECT_FALSE(answers_match("\\boxed{-3}", "-3,2"));
}

}  // namespace
}  // namespace bf
