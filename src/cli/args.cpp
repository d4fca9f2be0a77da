#include "cli/args.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cctype>
#include <cstdlib>

#include "core/error.h"

namespace bf {

ArgParser::ArgParser(std::string usage_line, std::string description)
    : usage_line_(std::move(usage_line)), description_(std::move(description)) {}

void ArgParser::flag(std::vector<std::string> names, bool* target, std::string help) {
    opts_.push_back({std::move(names), "", std::move(help), false, [target](const std::string&) { *target = true; }});
}

void ArgParser::option(std::vector<std::string> names, std::string* target, std::string metavar, std::string help) {
    opts_.push_back({std::move(names), std::move(metavar), std::move(help), true,
                     [target](const std::string& v) { *target = v; }});
}

void ArgParser::option(std::vector<std::string> names, int64_t* target, std::string metavar, std::string help) {
    const std::string name = names.front();
    opts_.push_back({std::move(names), std::move(metavar), std::move(help), true, [target, name](const std::string& v) {
                         char* end = nullptr;
                         errno = 0;
                         const long long x = std::strtoll(v.c_str(), &end, 10);
                         if (v.empty() || *end != '\0' || errno == ERANGE)
                             fail("option " + name + " expects an integer, got '" + v + "'");
                         *target = x;
                     }});
}

void ArgParser::option(std::vector<std::string> names, double* target, std::string metavar, std::string help) {
    const std::string name = names.front();
    opts_.push_back({std::move(names), std::move(metavar), std::move(help), true, [target, name](const std::string& v) {
                         char* end = nullptr;
                         errno = 0;
                         const double x = std::strtod(v.c_str(), &end);
                         if (v.empty() || *end != '\0' || errno == ERANGE)
                             fail("option " + name + " expects a number, got '" + v + "'");
                         *target = x;
                     }});
}

void ArgParser::ignored(std::vector<std::string> names, bool takes_value, std::string help) {
    opts_.push_back({std::move(names), takes_value ? "N" : "", std::move(help), takes_value, [](const std::string&) {}});
}

void ArgParser::positional(std::string name, std::string* target, std::string help, bool required) {
    pos_.push_back({std::move(name), std::move(help), target, required});
}

bool ArgParser::given(const std::string& name) const {
    return std::find(given_.begin(), given_.end(), name) != given_.end();
}

std::string ArgParser::usage() const {
    std::string s = "usage: " + usage_line_ + "\n" + description_ + "\n";
    if (!pos_.empty()) s += "\narguments:\n";
    for (const auto& p : pos_) s += "  " + p.name + std::string(p.name.size() < 26 ? 26 - p.name.size() : 1, ' ') + p.help + "\n";
    s += "\noptions:\n";
    for (const auto& o : opts_) {
        std::string left = "  ";
        for (size_t i = 0; i < o.names.size(); ++i) left += (i ? ", " : "") + o.names[i];
        if (o.takes_value) left += " " + o.metavar;
        left += std::string(left.size() < 28 ? 28 - left.size() : 1, ' ');
        s += left + o.help + "\n";
    }
    s += "  -h, --help                  show this help\n";
    return s;
}

bool ArgParser::parse(int argc, char** argv) {
    size_t next_pos = 0;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "-h" || a == "--help") {
            std::fputs(usage().c_str(), stdout);
            return false;
        }
        if (a.size() > 1 && a[0] == '-' && !(a.size() > 1 && (std::isdigit((unsigned char)a[1]) || a[1] == '.'))) {
            std::string name = a, value;
            bool inline_value = false;
            if (auto eq = a.find('='); a.rfind("--", 0) == 0 && eq != std::string::npos) {
                name = a.substr(0, eq);
                value = a.substr(eq + 1);
                inline_value = true;
            }
            const Opt* found = nullptr;
            for (const auto& o : opts_)
                if (std::find(o.names.begin(), o.names.end(), name) != o.names.end()) found = &o;
            if (!found) fail("unknown option '" + name + "' (see --help)");
            if (found->takes_value && !inline_value) {
                if (i + 1 >= argc) fail("option " + name + " needs a value");
                value = argv[++i];
            }
            found->set(value);
            for (const auto& n : found->names) given_.push_back(n);
            continue;
        }
        if (next_pos >= pos_.size()) fail("unexpected argument '" + a + "' (see --help)");
        *pos_[next_pos++].target = a;
    }
    for (size_t p = next_pos; p < pos_.size(); ++p)
        if (pos_[p].required) fail("missing argument " + pos_[p].name + " (see --help)");
    return true;
}

}  // namespace bf
