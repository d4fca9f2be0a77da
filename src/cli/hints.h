// Messages that point a user to the fix: a Hugging Face folder given where a GGUF belongs, a GGUF given
// to convert, ternarizing a model that was not trained ternary.
#pragma once
#include <string>

namespace bf {

// Fails with a hint when `path` (a model for run/chat/eval/...) is a folder or a safetensors file.
void check_model_path(const std::string& path);
// Fails with a hint when convert's input is a GGUF file.
void check_convert_input(const std::string& path);

}  // namespace bf
