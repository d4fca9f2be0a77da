// Rendering a parsed template with the given global variables.
#pragma once
#include <string>
#include <vector>

#include "jinja/syntax.h"

namespace bf::jinja {

// Throws bf::Error (with the byte offset) for evaluation errors and raise_exception().
std::string render(const std::vector<Node>& nodes, Object globals);

}  // namespace bf::jinja
