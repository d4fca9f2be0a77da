#!/usr/bin/env python3
"""chat and run on a pseudo-terminal, as a user types: Ctrl-C mid-reply, history, /help, Ctrl-D, Ctrl-C twice.

usage: terminal_session.py BITFLASH MODEL.gguf   (exit 0 when every check passes; the failing check otherwise)
"""
import os
import pty
import re
import select
import sys
import time

BIN, MODEL = sys.argv[1], sys.argv[2]
# Greedy on the random test model runs until the context (-c 0 = the model's 4096) is full: a reply
# long enough to interrupt.
GEN = ["-m", MODEL, "--temp", "0", "-c", "0"]


class Term:
    def __init__(self, args):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.execv(BIN, [BIN] + args)
        self.seen = b""
        self.mark = 0  # expect() searches from here

    def read_some(self, timeout):
        r, _, _ = select.select([self.fd], [], [], timeout)
        if not r:
            return False
        try:
            data = os.read(self.fd, 65536)
        except OSError:  # the child closed the terminal
            return None
        if not data:
            return None
        self.seen += data
        return True

    def expect(self, pattern, what, timeout=60):
        end = time.time() + timeout
        rx = re.compile(pattern)
        while True:
            m = rx.search(self.seen, self.mark)
            if m:
                self.mark = m.end()
                return m
            if time.time() > end or self.read_some(0.2) is None and not rx.search(self.seen, self.mark):
                fail(what, self)

    def wait_bytes(self, n, what, timeout=60):
        end = time.time() + timeout
        start = len(self.seen)
        while len(self.seen) - start < n:
            if time.time() > end or self.read_some(0.2) is None:
                fail(what, self)

    def send(self, s):
        os.write(self.fd, s.encode())

    def exit_code(self, timeout=30):
        end = time.time() + timeout
        while time.time() < end:
            pid, st = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                while self.read_some(0.05):
                    pass
                return os.waitstatus_to_exitcode(st)
            self.read_some(0.1)
        os.kill(self.pid, 9)
        fail("the process did not exit", self)


def fail(what, term):
    sys.stderr.write("FAILED: %s\n--- terminal (last 3000 bytes) ---\n%r\n" % (what, term.seen[-3000:]))
    if term.pid:
        try:
            os.kill(term.pid, 9)
        except ProcessLookupError:
            pass
    sys.exit(1)


# chat: Ctrl-C stops a reply and the conversation goes on; history; commands; Ctrl-D ends with a newline.
t = Term(["chat"] + GEN)
t.expect(rb"> ", "the first prompt")
t.send("first question\r")
t.expect(rb"prefill \d+ new tokens \(0 reused\)", "turn 1 starts")
t.wait_bytes(200, "turn 1 streams a reply")
t.send("\x03")
t.expect(rb"reply stopped", "Ctrl-C stops the reply")
t.expect(rb"eval time", "the timing block of the stopped turn")
t.expect(rb"> ", "back at the prompt after Ctrl-C")
time.sleep(1.2)  # two Ctrl-C within a second mean "exit"
t.send("\x1b[A")  # Up: the previous line comes back
t.expect(rb"> first question", "Up recalls the previous line")
t.send(" again\r")
m = t.expect(rb"prefill \d+ new tokens \((\d+) reused\)", "turn 2 starts")
if int(m.group(1)) == 0:
    fail("turn 2 reuses turn 1's state", t)
t.wait_bytes(100, "turn 2 streams a reply")
t.send("\x03")
t.expect(rb"reply stopped", "Ctrl-C stops turn 2")
t.expect(rb"> ", "back at the prompt")
if t.seen.count(b"load time") != 1:
    fail("load time shows once, in the first turn's timings", t)
t.send("/help\r")
t.expect(rb"/reset", "/help lists the commands")
t.send("/frobnicate now\r")
t.expect(rb"unknown command '/frobnicate'", "an unknown /command is answered, not sent")
t.expect(rb"> ", "prompt after the unknown command")
if re.search(rb"prefill", t.seen[t.mark:]):
    fail("/commands never reach the model", t)
t.send("\x04")
code = t.exit_code()
if code != 0:
    fail("Ctrl-D exits with 0, got %d" % code, t)
if not t.seen.endswith(b"\r\n"):
    fail("Ctrl-D leaves the terminal on a new line", t)

# chat: Ctrl-C at an empty prompt exits.
t = Term(["chat"] + GEN)
t.expect(rb"> ", "the first prompt")
t.send("\x03")
code = t.exit_code()
if code != 0:
    fail("Ctrl-C at an empty prompt exits with 0, got %d" % code, t)

# chat: Ctrl-C twice quickly during a reply exits.
t = Term(["chat"] + GEN)
t.expect(rb"> ", "the first prompt")
t.send("hello\r")
t.wait_bytes(200, "a reply streams")
t.send("\x03")
time.sleep(0.3)  # two key presses (sent together, the terminal may merge them into one signal)
t.send("\x03")
code = t.exit_code()
# 130 when the second arrives as a signal during the reply, 0 when the reply had already stopped
# and it reached the empty prompt as a key: either way the chat ends.
if code not in (0, 130):
    fail("Ctrl-C twice exits, got %d" % code, t)

# chat --color: a green prompt.
t = Term(["chat", "--color"] + GEN)
t.expect(rb"\x1b\[1;32m> ", "--color colors the prompt")
t.send("\x04")
if t.exit_code() != 0:
    fail("Ctrl-D exits", t)

# run: Ctrl-C stops the generation, the timings still print, exit code 130.
t = Term(["run", "-p", "hi"] + GEN)
t.wait_bytes(200, "run streams")
t.send("\x03")
t.expect(rb"interrupted", "run says it was interrupted")
t.expect(rb"total time", "run prints the timings after Ctrl-C")
code = t.exit_code()
if code != 130:
    fail("run ends with 130 after Ctrl-C, got %d" % code, t)
print("terminal session: all checks passed")
