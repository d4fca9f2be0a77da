// libFuzzer entry for the GGUF reader: any input must parse or throw bf::Error; accepted files must
// hand out only readable metadata and tensor views. Build and run with tools/fuzz/run.sh.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/error.h"
#include "formats/gguf.h"

static volatile uint64_t g_sink;  // keeps the reads from being optimised away

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    try {
        const bf::GgufFile g = bf::GgufFile::from_memory(std::vector<uint8_t>(data, data + size));
        uint64_t sink = 0;
        for (const auto& kv : g.kvs()) {
            sink += kv.value.size();
            if (kv.value.is_array() && kv.value.size() > 0) sink += kv.value.at(kv.value.size() - 1).size();
            try {
                sink += g.get_u32(kv.key);
            } catch (const bf::Error&) {}
        }
        for (const auto& t : g.tensors()) {
            sink += uint64_t(t.rows());
            for (size_t k = 0; k < t.nbytes; ++k) sink += t.data[k];
        }
        g_sink = sink;
    } catch (const bf::Error&) {}
    return 0;
}
