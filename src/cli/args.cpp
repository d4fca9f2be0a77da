// The flag parser shared by every subcommand: options, flags, ignored llama.cpp flags, help text.
#include "cli/args.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cctype>
#include <cstdlib>
#include <vector>

#include "core/error.h"

namespace bf {

ArgParser::ArgParser(std::string usage_line, std::string description)
    : usage_line_(std::move(usage_line)), description_(std::move(description)) {}

void ArgParser::flag(std::vector<std::string> names, bool* target, std::string help) {
    opts_.push_back(
        {std::move(names), "", std::move(help), false, false, [target](const std::string&) { *target = true; }});
}

void ArgParser::option(std::vector<std::string> names, std::string* target, std::string metavar, std::string help) {
    opts_.push_back({std::move(names), std::move(metavar), std::move(help), true, false,
                     [target](const std::string& v) { *target = v; }});
}

void ArgParser::option(std::vector<std::string> names, int64_t* target, std::string metavar, std::string help) {
    const std::string name = names.front();
    opts_.push_back(
        {std::move(names), std::move(metavar), std::move(help), true, false, [target, name](const std::string& v) {
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
    opts_.push_back(
        {std::move(names), std::move(metavar), std::move(help), true, false, [target, name](const std::string& v) {
             char* end = nullptr;
             errno = 0;
             const double x = std::strtod(v.c_str(), &end);
             if (v.empty() || *end != '\0' || errno == ERANGE)
                 fail("option " + name + " expects a number, got '" + v + "'");
             *target = x;
         }});
}

void ArgParser::ignored(std::vector<std::string> names, bool takes_value, std::string help) {
    opts_.push_back(
        {std::move(names), takes_value ? "N" : "", std::move(help), takes_value, false, [](const std::string&) {}});
}

void ArgParser::refuse(std::vector<std::string> names, bool takes_value, std::string reason) {
    const std::string name = names.front();
    opts_.push_back({std::move(names), "", "", takes_value, true,
                     [name, reason](const std::string&) { fail(name + ": " + reason); }});
}

void ArgParser::positional(std::string name, std::string* target, std::string help, bool required) {
    pos_.push_back({std::move(name), std::move(help), target, required});
}

size_t edit_distance(const std::string& a, const std::string& b) {
    std::vector<size_t> row(b.size() + 1);
    for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (size_t i = 1; i <= a.size(); ++i) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= b.size(); ++j) {
            const size_t up = row[j];
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
            diag = up;
        }
    }
    return row[b.size()];
}

std::string did_you_mean(const std::string& word, const std::vector<std::string>& known) {
    // Close spellings (--ctx_size, --tmep) or a known name that starts the word (--temperature -> --temp).
    // Short flags (-r, -x) are one letter from many others: no guess for them.
    std::string best;
    size_t best_d = word.size() <= 3 ? 0 : std::max<size_t>(2, word.size() / 3) + 1;
    for (const auto& k : known) {
        size_t d = edit_distance(word, k);
        if (k.size() >= 4 && word.rfind(k, 0) == 0) d = std::min(d, size_t(1));
        if (d < best_d) best_d = d, best = k;
    }
    return best.empty() ? "" : " (did you mean '" + best + "'?)";
}

bool ArgParser::given(const std::string& name) const {
    return std::find(given_.begin(), given_.end(), name) != given_.end();
}

std::string ArgParser::usage() const {
    std::string s = "usage: " + usage_line_ + "\n" + description_ + "\n";
    if (!pos_.empty()) s += "\narguments:\n";
    for (const auto& p : pos_)
        s += "  " + p.name + std::string(p.name.size() < 26 ? 26 - p.name.size() : 1, ' ') + p.help + "\n";
    s += "\noptions:\n";
    for (const auto& o : opts_) {
        if (o.hidden) continue;
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
            if (!found) {
                std::vector<std::string> known = {"--help"};
                for (const auto& o : opts_) known.insert(known.end(), o.names.begin(), o.names.end());
                const std::string hint = did_you_mean(name, known);
                fail("unknown option '" + name + "'" + (hint.empty() ? " (see --help)" : hint));
            }
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
