// libFuzzer entry for the safetensors reader: the input becomes an in-memory file (memfd) opened by path,
// so the real pread path runs. Accepted files must allow reading every F32/F16/BF16 tensor as f32.
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/error.h"
#include "formats/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const int fd = memfd_create("bf_fuzz_st", MFD_CLOEXEC);
    if (fd < 0) return 0;
    size_t off = 0;
    while (off < size) {
        const ssize_t w = ::write(fd, data + off, size - off);
        if (w <= 0) break;
        off += size_t(w);
    }
    const std::string path = "/proc/self/fd/" + std::to_string(fd);
    try {
        const bf::SafetensorsSet s = bf::SafetensorsSet::open(path);
        std::vector<float> out;
        for (const auto& name : s.names()) {
            const bf::StTensor& t = s.tensor(name);
            if (t.dtype != "F32" && t.dtype != "F16" && t.dtype != "BF16") continue;
            out.resize(size_t(t.numel()));
            s.read_rows_f32(t, 0, t.rows(), out.data());
        }
    } catch (const bf::Error&) {}
    ::close(fd);
    return 0;
}
