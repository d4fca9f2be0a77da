// libFuzzer entry for config.json: any text must give a validated ModelConfig or throw bf::Error.
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/error.h"
#include "model/config.h"

static volatile int64_t g_sink;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    try {
        const bf::ModelConfig c = bf::config_from_hf_json(std::string(reinterpret_cast<const char*>(data), size));
        g_sink = c.n_layer + c.d_model + c.n_vocab;
    } catch (const bf::Error&) {}
    return 0;
}
