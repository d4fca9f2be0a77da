// A small command-line parser: each option is declared once with its names, target and help text,
// so `--help` and parsing cannot drift apart. Errors throw bf::Error.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace bf {

// " (did you mean 'X'?)" for the known name closest to `word` (edit distance), or "" when none is close.
std::string did_you_mean(const std::string& word, const std::vector<std::string>& known);

class ArgParser {
public:
    ArgParser(std::string usage_line, std::string description);

    void flag(std::vector<std::string> names, bool* target, std::string help);
    void option(std::vector<std::string> names, std::string* target, std::string metavar, std::string help);
    void option(std::vector<std::string> names, int64_t* target, std::string metavar, std::string help);
    void option(std::vector<std::string> names, double* target, std::string metavar, std::string help);
    // Accepted and ignored (e.g. -ngl, for llama.cpp users' muscle memory).
    void ignored(std::vector<std::string> names, bool takes_value, std::string help);
    // Refused with `reason` (a flag that does not apply here but that users type); not in --help.
    void refuse(std::vector<std::string> names, bool takes_value, std::string reason);
    void positional(std::string name, std::string* target, std::string help, bool required = true);

    // Returns false when --help was given (usage already printed to stdout).
    bool parse(int argc, char** argv);
    bool given(const std::string& name) const;  // was this option on the command line?
    std::string usage() const;

private:
    struct Opt {
        std::vector<std::string> names;
        std::string metavar, help;
        bool takes_value = true;
        bool hidden = false;
        std::function<void(const std::string&)> set;
    };
    struct Pos {
        std::string name, help;
        std::string* target;
        bool required;
    };
    std::string usage_line_, description_;
    std::vector<Opt> opts_;
    std::vector<Pos> pos_;
    std::vector<std::string> given_;
};

}  // namespace bf
