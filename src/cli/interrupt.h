// Ctrl-C for the interactive commands: SIGINT sets a flag the generation loop polls (so a reply stops
// and the conversation goes on); a second Ctrl-C within a second exits at once.
#pragma once

namespace bf {

// Installs the handler (idempotent). Without it, SIGINT keeps its default: the process ends.
void install_sigint_stop();
// True once Ctrl-C was pressed since the last clear_interrupt().
bool interrupted();
void clear_interrupt();

}  // namespace bf
