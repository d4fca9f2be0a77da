// Input checks whose errors name the command that fixes the problem.
#include "cli/hints.h"

#include <filesystem>
#include <fstream>

#include "core/error.h"

namespace bf {

namespace {

bool has_gguf_magic(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    char magic[4] = {};
    return f.read(magic, 4) && std::string(magic, 4) == "GGUF";
}

bool ends_with(const std::string& s, const std::string& tail) {
    return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

}  // namespace

void check_model_path(const std::string& path) {
    namespace fs = std::filesystem;
    if (fs::is_directory(path)) {
        if (fs::exists(fs::path(path) / "config.json"))
            fail(path +
                 " is a Hugging Face checkpoint folder, not a GGUF file: convert it first, e.g. "
                 "`bitflash convert " +
                 path + " -o model-q8_0.gguf --outtype q8_0`");
        fail(path + " is a folder, not a GGUF model file");
    }
    if (ends_with(path, ".safetensors"))
        fail(path + " is a safetensors file: `bitflash convert` its folder (with config.json) to GGUF first");
}

void check_convert_input(const std::string& path) {
    if (std::filesystem::is_regular_file(path) && has_gguf_magic(path))
        fail(path + " is already a GGUF file: use `bitflash quantize " + path +
             " OUT.gguf TYPE` to change its weight type");
}

}  // namespace bf
