// One loaded model, everything generation needs from its file: weights (whose config sizes the sequence
// states), tokenizer, end-of-generation ids and chat template. `run`, `chat`, `eval` and `serve` all use it.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "model/sambay.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace bf {

struct LoadedModel {
    Model model;
    Tokenizer tok;
    std::vector<int32_t> eog;   // end-of-generation ids
    std::string chat_template;  // empty when the model has none and none was asked for
    std::string path;
    double load_ms = 0;
};

// Loads model, tokenizer, end-of-generation ids and chat template: `template_name` (a built-in name or a
// Jinja file) if given, else the model's own, else `fallback_template` (a built-in name; "" = none).
// check_tensors (--check-tensors): first scan every tensor for NaN/Inf. Throws bf::Error.
std::unique_ptr<LoadedModel> load_model(const std::string& path, const std::string& template_name,
                                        const std::string& fallback_template = "", bool check_tensors = false);

// The model's template applied to the messages. Throws bf::Error when there is no template.
std::string render_prompt(const LoadedModel& lm, const std::vector<ChatMessage>& msgs, bool add_generation_prompt);

}  // namespace bf
