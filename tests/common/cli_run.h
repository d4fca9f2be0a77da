// Test helper: runs the bitflash binary (BF_BINARY) as a user would, capturing exit code, stdout and stderr,
// with a per-process scratch folder.
#pragma once
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace bf::testing {

struct Result {
    int code = -1;
    std::string out, err;
};

inline std::string tmp() {
    static const std::string d = [] {
        auto p = std::filesystem::temp_directory_path() / ("bitflash_cli_" + std::to_string(::getpid()));
        std::filesystem::create_directories(p);
        return p.string();
    }();
    return d;
}

inline std::string slurp(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    std::ostringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

// Runs `bitflash ARGS` (a shell fragment) with optional stdin text.
inline Result bitflash(const std::string& args, const std::string& input = "") {
    const std::string in = tmp() + "/stdin.txt", out = tmp() + "/stdout.txt", err = tmp() + "/stderr.txt";
    std::ofstream(in, std::ios::binary) << input;
    const std::string cmd = std::string(BF_BINARY) + " " + args + " <" + in + " >" + out + " 2>" + err;
    const int st = std::system(cmd.c_str());
    return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, slurp(out), slurp(err)};
}

}  // namespace bf::testing
