// A small built-in line editor for `chat` on a terminal: cursor keys, Home/End, Backspace/Delete,
// Ctrl-A/E/K/U/W, and history on Up/Down. Built in rather than libedit or readline: no new dependency,
// and Ctrl-C / Ctrl-D at the prompt are answered by chat itself (they arrive here as keys, not signals).
#pragma once
#include <string>
#include <vector>

namespace bf {

class LineEditor {
public:
    enum class Result { Line, Eof, Interrupt };
    LineEditor(int in_fd, int out_fd) : in_(in_fd), out_(out_fd) {}
    // Reads one line with the terminal in raw mode (restored before returning). Ctrl-D on an empty
    // line is Eof; Ctrl-C is Interrupt. Each ends with a newline on the terminal.
    Result read(const std::string& prompt, std::string& line);
    void add_history(const std::string& line);

private:
    void refresh(const std::string& prompt) const;
    void recall(int step);
    std::string buf_;
    size_t cur_ = 0;  // byte offset of the cursor in buf_, always at a UTF-8 character start
    std::vector<std::string> history_;
    size_t hist_pos_ = 0;  // == history_.size(): the line being edited
    std::string edited_;   // the unfinished line while browsing history
    int in_, out_;
};

}  // namespace bf
