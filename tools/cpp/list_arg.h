// Comma-separated option values ("1,2,4") for the stand-alone tools.
#pragma once
#include <string>
#include <vector>

inline std::vector<std::string> split_list(const std::string& s) {
    std::vector<std::string> v;
    size_t p = 0;
    while (p <= s.size()) {
        const size_t c = s.find(',', p);
        v.push_back(s.substr(p, c == std::string::npos ? std::string::npos : c - p));
        if (c == std::string::npos) break;
        p = c + 1;
    }
    return v;
}
