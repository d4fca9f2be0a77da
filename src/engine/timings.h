// llama.cpp-style timing report of one generation (`run`, `chat`).
#pragma once
#include <string>

#include "engine/batcher.h"

namespace bf {

// load_ms: model load time (0 to leave it out, e.g. for later chat turns).
std::string format_timings(const GenStats& t, double load_ms);

}  // namespace bf
