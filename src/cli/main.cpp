// bitflash: one binary, one subcommand per file (cmd_*.cpp). main only dispatches and reports errors.
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "cli/args.h"
#include "cli/commands.h"
#include "core/error.h"

namespace {

void usage(std::FILE* to) {
    std::fprintf(to, "usage: bitflash COMMAND [options]   (bitflash help COMMAND, bitflash --version)\n\ncommands:\n");
    for (const auto& c : bf::cli_commands()) std::fprintf(to, "  %-12s %s\n", c.name, c.help);
    std::fprintf(to, "\nrun 'bitflash COMMAND --help' (or 'bitflash help COMMAND') for the options of a command\n");
}

const bf::CliCommand* find_command(const std::string& name) {
    for (const auto& c : bf::cli_commands())
        if (name == c.name) return &c;
    return nullptr;
}

int unknown_command(const std::string& name) {
    std::vector<std::string> names;
    for (const auto& c : bf::cli_commands()) names.push_back(c.name);
    std::fprintf(stderr, "bitflash: unknown command '%s'%s\n", name.c_str(), bf::did_you_mean(name, names).c_str());
    usage(stderr);
    return 1;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        usage(stderr);
        return 1;
    }
    std::string cmd = argv[1];
    if (cmd == "-h" || cmd == "--help" || (cmd == "help" && argc == 2)) {
        usage(stdout);
        return 0;
    }
    if (cmd == "--version" || cmd == "version") {
        std::printf("bitflash %s, built with %s for %s\n", BF_VERSION, __VERSION__, BF_SYSTEM_PROCESSOR);
        return 0;
    }
    std::vector<char*> args(argv + 1, argv + argc);  // args[0] = the command, as each cmd_X expects
    char help_flag[] = "--help";
    if (cmd == "help") {  // `bitflash help run` = `bitflash run --help`
        cmd = argv[2];
        args = {argv[2], help_flag};
    }
    try {
        if (const bf::CliCommand* c = find_command(cmd)) return c->run(int(args.size()), args.data());
        return unknown_command(cmd);
    } catch (const bf::Error& e) {
        std::fprintf(stderr, "bitflash %s: error: %s\n", cmd.c_str(), e.what());
        return 1;
    } catch (const std::bad_alloc&) {
        std::fprintf(stderr, "bitflash %s: error: out of memory\n", cmd.c_str());
        return 1;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "bitflash %s: error: %s\n", cmd.c_str(), e.what());
        return 1;
    }
}
