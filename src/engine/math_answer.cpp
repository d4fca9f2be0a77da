// Extracting and comparing final answers (\boxed{...}, numbers, fractions) for eval.
#include "engine/math_answer.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <regex>
#include <vector>

namespace bf {

namespace {

// Content of the last \boxed{...}, braces balanced.
std::optional<std::string> last_boxed(const std::string& s) {
    const size_t at = s.rfind("\\boxed{");
    if (at == std::string::npos) return std::nullopt;
    int depth = 0;
    for (size_t i = at + 6; i < s.size(); ++i) {
        if (s[i] == '{') ++depth;
        if (s[i] == '}' && --depth == 0) return s.substr(at + 7, i - at - 7);
    }
    return std::nullopt;
}

std::string strip(std::string s) {
    for (const char* junk : {"\\left", "\\right", "\\!", "\\,", "\\;", "$", "\\displaystyle"}) {
        size_t p;
        while ((p = s.find(junk)) != std::string::npos) s.erase(p, std::string(junk).size());
    }
    s.erase(std::remove_if(s.begin(), s.end(), [](unsigned char c) { return std::isspace(c); }), s.end());
    while (!s.empty() && (s.back() == '.' || s.back() == ',')) s.pop_back();
    return s;
}

// A list of plain numbers ("2,-3", "x=2 or x=-3" already reduced) becomes a sorted, deduplicated list.
std::string canonical(const std::string& body) {
    const std::string s = strip(body);
    static const std::regex number_list(R"(^(?:x=)?-?\d+(?:\.\d+)?(?:(?:,|or|and)(?:x=)?-?\d+(?:\.\d+)?)*$)");
    if (!std::regex_match(s, number_list)) return s;
    static const std::regex num(R"(-?\d+(?:\.\d+)?)");
    std::vector<double> vals;
    for (auto it = std::sregex_iterator(s.begin(), s.end(), num); it != std::sregex_iterator(); ++it)
        vals.push_back(std::strtod(it->str().c_str(), nullptr));
    std::sort(vals.begin(), vals.end());
    vals.erase(std::unique(vals.begin(), vals.end()), vals.end());
    std::string out;
    for (double v : vals) {
        char buf[64];
        if (v == std::floor(v) && std::fabs(v) < 1e15)
            std::snprintf(buf, sizeof buf, "%lld", (long long)v);
        else
            std::snprintf(buf, sizeof buf, "%.10g", v);
        out += (out.empty() ? "" : ",") + std::string(buf);
    }
    return out;
}

}  // namespace

std::optional<std::string> extract_answer(const std::string& reply) {
    const size_t think_end = reply.rfind("</think>");
    const std::string tail = think_end == std::string::npos ? reply : reply.substr(think_end + 8);
    if (auto b = last_boxed(tail)) return canonical(*b);
    static const std::regex x_eq(R"(x\s*=\s*(-?\d+(?:\.\d+)?))");
    std::string xs;
    for (auto it = std::sregex_iterator(tail.begin(), tail.end(), x_eq); it != std::sregex_iterator(); ++it)
        xs += (xs.empty() ? "" : ",") + (*it)[1].str();
    if (!xs.empty()) return canonical(xs);
    static const std::regex num(R"(-?\d+(?:\.\d+)?)");
    std::string last;
    for (auto it = std::sregex_iterator(tail.begin(), tail.end(), num); it != std::sregex_iterator(); ++it)
        last = it->str();
    if (last.empty()) return std::nullopt;
    return canonical(last);
}

std::string normalize_answer(const std::string& answer) { return canonical(answer); }

bool answers_match(const std::string& reply, const std::string& reference) {
    const auto got = extract_answer(reply);
    return got && *got == normalize_answer(reference);
}

}  // namespace bf
