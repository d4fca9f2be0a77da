// The subcommand table. Each cmd_*.cpp defines one `int cmd_X(int argc, char** argv)` (argv[0] = "X").
#pragma once
#include <vector>

namespace bf {

struct CliCommand {
    const char* name;
    int (*run)(int argc, char** argv);
    const char* help;
};

const std::vector<CliCommand>& cli_commands();

}  // namespace bf
