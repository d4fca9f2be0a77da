#include "cli/commands.h"

namespace bf {

int cmd_convert(int argc, char** argv);
int cmd_logits(int argc, char** argv);
int cmd_run(int argc, char** argv);

const std::vector<CliCommand>& cli_commands() {
    static const std::vector<CliCommand> table = {
        {"convert", cmd_convert},
        {"logits", cmd_logits},
        {"run", cmd_run},
    };
    return table;
}

}  // namespace bf
