// Test helper: the reference fixtures under tests/fixtures/ (tools/reference/make_fixtures.py and
// make_goldens.py) and their one-line id files (tokens.txt, greedy_prompt.txt, greedy32*.txt).
#pragma once
#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

namespace bf::testing {

inline std::string fixture_dir(const std::string& name) {
    return std::string(BF_SOURCE_DIR) + "/tests/fixtures/" + name;
}

inline std::vector<int32_t> read_ids(const std::string& path) {
    std::ifstream f(path);
    std::vector<int32_t> ids;
    for (int32_t v; f >> v;) ids.push_back(v);
    return ids;
}

}  // namespace bf::testing
