// Loading the model bundle once for every command, and rendering chat prompts with its template.
#include "engine/loaded_model.h"

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "engine/model_files.h"
#include "formats/tensor_check.h"

namespace bf {

std::unique_ptr<LoadedModel> load_model(const std::string& path, const std::string& template_name,
                                        const std::string& fallback_template, bool check_tensors) {
    const auto t0 = std::chrono::steady_clock::now();
    auto file = std::make_shared<GgufFile>(GgufFile::open(path));
    if (check_tensors) check_tensors_finite(*file);
    auto lm =
        std::unique_ptr<LoadedModel>(new LoadedModel{Model::from_gguf(file), load_tokenizer(*file), {}, {}, path, 0});
    lm->eog = load_eog_ids(*file, lm->tok);
    if (!template_name.empty()) {
        if (std::filesystem::exists(template_name)) {
            std::ifstream in(template_name, std::ios::binary);
            std::ostringstream ss;
            ss << in.rdbuf();
            lm->chat_template = ss.str();
        } else {
            lm->chat_template = builtin_template(template_name);
        }
    } else if (auto t = load_chat_template(*file)) {
        lm->chat_template = *t;
    } else if (!fallback_template.empty()) {
        lm->chat_template = builtin_template(fallback_template);
    }
    lm->load_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    return lm;
}

std::string render_prompt(const LoadedModel& lm, const std::vector<ChatMessage>& msgs, bool add_generation_prompt) {
    if (lm.chat_template.empty()) fail("the model has no chat template: pass --chat-template NAME|FILE, or --raw");
    auto text = [&](int32_t id) { return id >= 0 ? lm.tok.token_to_piece(id) : std::string(); };
    return render_chat(lm.chat_template, msgs, add_generation_prompt, text(lm.tok.bos_id()), text(lm.tok.eos_id()));
}

}  // namespace bf
