// libFuzzer entry for the chat-template engine: the input is a template, then after a line "----" the
// messages, one "role:content" per line. Any input must render or throw bf::Error, within the limits
// (tightened here so that each input costs at most milliseconds).
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/error.h"
#include "jinja/render.h"

static volatile size_t g_sink;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace bf::jinja;
    const std::string in(reinterpret_cast<const char*>(data), size);
    const size_t cut = in.find("\n----\n");
    const std::string src = in.substr(0, cut);
    Array msgs;
    if (cut != std::string::npos) {
        size_t pos = cut + 6;
        while (pos < in.size()) {
            size_t end = in.find('\n', pos);
            if (end == std::string::npos) end = in.size();
            const std::string line = in.substr(pos, end - pos);
            const size_t colon = line.find(':');
            Object m{{"role", Value::string(line.substr(0, colon))},
                     {"content", Value::string(colon == std::string::npos ? "" : line.substr(colon + 1))}};
            if (msgs.size() % 3 == 2) m["tools"] = Value::string("[]");
            msgs.push_back(Value::object(std::move(m)));
            pos = end + 1;
        }
    }
    Limits lim;
    lim.max_steps = 100'000;
    lim.max_loop_iterations = 10'000;
    lim.max_output_bytes = 1 << 20;
    lim.max_bytes_built = 8 << 20;
    try {
        const std::vector<Node> nodes = parse_template(src);
        g_sink = render(nodes,
                        Object{{"messages", Value::array(std::move(msgs))},
                               {"add_generation_prompt", Value::boolean(size % 2)},
                               {"bos_token", Value::string("<s>")},
                               {"eos_token", Value::string("</s>")}},
                        lim)
                     .size();
    } catch (const bf::Error&) {}
    return 0;
}
