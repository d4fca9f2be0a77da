// bitflash: one binary, one subcommand per file (cmd_*.cpp). main only dispatches and reports errors.
#include <cstdio>
#include <cstring>
#include <string>

#include "cli/commands.h"
#include "core/error.h"

namespace {

void usage() {
    std::fprintf(stderr, "usage: bitflash COMMAND [options]\n\ncommands:\n");
    for (const auto& c : bf::cli_commands()) std::fprintf(stderr, "  %-12s %s\n", c.name, c.help);
    std::fprintf(stderr, "\nrun 'bitflash COMMAND --help' for the options of a command\n");
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2 || !std::strcmp(argv[1], "-h") || !std::strcmp(argv[1], "--help")) {
        usage();
        return argc < 2 ? 1 : 0;
    }
    const std::string cmd = argv[1];
    try {
        for (const auto& c : bf::cli_commands())
            if (cmd == c.name) return c.run(argc - 1, argv + 1);
        std::fprintf(stderr, "bitflash: unknown command '%s'\n", cmd.c_str());
        usage();
        return 1;
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
