// Rendering a parsed template with the given global variables, within limits on the work it may do.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "jinja/syntax.h"

namespace bf::jinja {

// A template is an untrusted program (it can come inside a downloaded GGUF), so rendering is bounded. The
// defaults are far above what real chat templates need (the Phi-4 template over 2,000 messages, more than
// the model's context, stays under a tenth of each) and low enough that a hostile template fails within about a second.
struct Limits {
    uint64_t max_steps = 10'000'000;         // statements run plus expressions evaluated
    uint64_t max_loop_iterations = 100'000;  // all for-loop iterations together
    int max_depth = 2 * kMaxDepth + 16;   // nesting of blocks plus expressions (each parsed to kMaxDepth), and of lists
    size_t max_output_bytes = 16u << 20;  // the rendering, and any one string, list or dict in it
    uint64_t max_bytes_built = 512ull << 20;  // all strings and lists built or copied while rendering
};

// Throws bf::Error (with the byte offset) for evaluation errors, raise_exception() and exceeded limits
// (the message names the limit). Templates can reach only the globals: no files, environment or clock.
std::string render(const std::vector<Node>& nodes, Object globals, const Limits& limits = {});

}  // namespace bf::jinja
