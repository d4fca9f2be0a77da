// Final-answer extraction and comparison for math evaluation: \boxed{...}, then "x = ..." clauses,
// then the last number, normalized so that "x = -3 or x = 2", "\boxed{2, -3}" and "-3,2" compare equal.
#pragma once
#include <optional>
#include <string>

namespace bf {

// The answer a model's reply gives (only the part after </think>, when there is one), normalized.
std::optional<std::string> extract_answer(const std::string& reply);
// A reference answer normalized the same way.
std::string normalize_answer(const std::string& answer);
bool answers_match(const std::string& reply, const std::string& reference);

}  // namespace bf
