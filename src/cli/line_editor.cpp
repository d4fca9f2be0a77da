// The built-in line editor: raw-mode key handling and a one-line redraw (a line longer than the
// terminal wraps and then redraws imperfectly; chat messages are usually short).
#include "cli/line_editor.h"

#include <termios.h>
#include <unistd.h>

#include <cerrno>

namespace bf {

namespace {

bool is_continuation(char c) { return (static_cast<unsigned char>(c) & 0xc0) == 0x80; }

size_t char_count(const std::string& s, size_t from) {
    size_t n = 0;
    for (size_t i = from; i < s.size(); ++i) n += !is_continuation(s[i]);
    return n;
}

void put(int fd, const std::string& s) {
    size_t done = 0;
    while (done < s.size()) {
        const ssize_t w = ::write(fd, s.data() + done, s.size() - done);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return;
        done += size_t(w);
    }
}

// One byte from the terminal; -1 at end of input or on error.
int get(int fd) {
    unsigned char c;
    for (;;) {
        const ssize_t r = ::read(fd, &c, 1);
        if (r == 1) return c;
        if (r < 0 && errno == EINTR) continue;
        return -1;
    }
}

// Raw mode for the lifetime of the object: keys one by one, no echo, Ctrl-C/Ctrl-D as bytes.
class RawMode {
public:
    explicit RawMode(int fd) : fd_(fd) {
        ok_ = tcgetattr(fd_, &saved_) == 0;
        if (!ok_) return;
        termios raw = saved_;
        raw.c_lflag &= ~tcflag_t(ECHO | ICANON | ISIG | IEXTEN);
        raw.c_iflag &= ~tcflag_t(IXON | ICRNL | INLCR);
        raw.c_cc[VMIN] = 1;
        raw.c_cc[VTIME] = 0;
        tcsetattr(fd_, TCSADRAIN, &raw);  // DRAIN, not FLUSH: keep what was typed ahead
    }
    ~RawMode() {
        if (ok_) tcsetattr(fd_, TCSADRAIN, &saved_);
    }

private:
    int fd_;
    bool ok_;
    termios saved_{};
};

}  // namespace

void LineEditor::add_history(const std::string& line) {
    if (!line.empty() && (history_.empty() || history_.back() != line)) history_.push_back(line);
    hist_pos_ = history_.size();
}

void LineEditor::refresh(const std::string& prompt) const {
    std::string s = "\r" + prompt + buf_ + "\x1b[K";
    const size_t back = char_count(buf_, cur_);
    if (back > 0) s += "\x1b[" + std::to_string(back) + "D";
    put(out_, s);
}

void LineEditor::recall(int step) {
    if (history_.empty()) return;
    if (hist_pos_ == history_.size()) edited_ = buf_;
    if (step < 0 && hist_pos_ > 0)
        --hist_pos_;
    else if (step > 0 && hist_pos_ < history_.size())
        ++hist_pos_;
    buf_ = hist_pos_ == history_.size() ? edited_ : history_[hist_pos_];
    cur_ = buf_.size();
}

LineEditor::Result LineEditor::read(const std::string& prompt, std::string& line) {
    RawMode raw(in_);
    buf_.clear();
    cur_ = 0;
    hist_pos_ = history_.size();
    put(out_, prompt);
    auto left = [&] {
        while (cur_ > 0 && is_continuation(buf_[--cur_])) {}
    };
    auto right = [&] {
        if (cur_ < buf_.size()) ++cur_;
        while (cur_ < buf_.size() && is_continuation(buf_[cur_])) ++cur_;
    };
    for (;;) {
        const int c = get(in_);
        if (c < 0 || (c == 4 && buf_.empty())) {  // end of input, or Ctrl-D on an empty line
            put(out_, "\r\n");
            return Result::Eof;
        }
        if (c == '\r' || c == '\n') {
            put(out_, "\r\n");
            line = buf_;
            return Result::Line;
        }
        if (c == 3) {  // Ctrl-C
            put(out_, "^C\r\n");
            line.clear();
            return Result::Interrupt;
        }
        if (c == 127 || c == 8) {  // Backspace
            if (cur_ == 0) continue;
            const size_t end = cur_;
            left();
            buf_.erase(cur_, end - cur_);
        } else if (c == 4) {  // Ctrl-D inside a line: delete the character under the cursor
            const size_t start = cur_;
            right();
            buf_.erase(start, cur_ - start);
            cur_ = start;
        } else if (c == 1) {
            cur_ = 0;
        } else if (c == 5) {
            cur_ = buf_.size();
        } else if (c == 2) {
            left();
        } else if (c == 6) {
            right();
        } else if (c == 11) {  // Ctrl-K: kill to the end
            buf_.erase(cur_);
        } else if (c == 21) {  // Ctrl-U: kill to the start
            buf_.erase(0, cur_);
            cur_ = 0;
        } else if (c == 23) {  // Ctrl-W: kill the previous word
            const size_t end = cur_;
            while (cur_ > 0 && buf_[cur_ - 1] == ' ') --cur_;
            while (cur_ > 0 && buf_[cur_ - 1] != ' ') --cur_;
            buf_.erase(cur_, end - cur_);
        } else if (c == 16 || c == 14) {  // Ctrl-P / Ctrl-N
            recall(c == 16 ? -1 : 1);
        } else if (c == 27) {  // escape sequences: ESC [ X, ESC O X, ESC [ n ~
            const int b = get(in_);
            if (b != '[' && b != 'O') continue;
            int k = get(in_);
            if (k >= '0' && k <= '9') {
                const int digit = k;
                while (k >= 0 && k != '~' && !(k >= 'A' && k <= 'Z')) k = get(in_);
                if (digit == '3') {  // Delete
                    const size_t start = cur_;
                    right();
                    buf_.erase(start, cur_ - start);
                    cur_ = start;
                } else if (digit == '1' || digit == '7') {
                    cur_ = 0;
                } else if (digit == '4' || digit == '8') {
                    cur_ = buf_.size();
                }
            } else if (k == 'A' || k == 'B') {
                recall(k == 'A' ? -1 : 1);
            } else if (k == 'C') {
                right();
            } else if (k == 'D') {
                left();
            } else if (k == 'H') {
                cur_ = 0;
            } else if (k == 'F') {
                cur_ = buf_.size();
            }
        } else if (c >= 32) {  // printable ASCII and UTF-8 bytes
            buf_.insert(cur_, 1, char(c));
            ++cur_;
            if (!is_continuation(char(c)) && c >= 0xc0) {  // a multi-byte character: take the rest now
                const int more = c >= 0xf0 ? 3 : c >= 0xe0 ? 2 : 1;
                for (int i = 0; i < more; ++i) {
                    const int d = get(in_);
                    if (d < 0 || !is_continuation(char(d))) break;
                    buf_.insert(cur_++, 1, char(d));
                }
            }
        } else {
            continue;  // other control keys: ignored
        }
        refresh(prompt);
    }
}

}  // namespace bf
