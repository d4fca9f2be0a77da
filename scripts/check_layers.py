#!/usr/bin/env python3
"""Checks the layering of src/: README's drawing, CMakeLists.txt's bf_ DEPS, docs/ARCHITECTURE.md's
"may include" column and every #include "folder/..." in src/ must tell the same story.

The build enforces the same rule (each library compiles against build/layers/<name>, a root holding only
the folders it may include); this check also runs without a build and says which line is wrong.
Usage: scripts/check_layers.py [repo root]. Exit 1 with one line per problem.
"""
import os
import re
import sys

root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..")
problems = []


def read(rel):
    with open(os.path.join(root, rel), encoding="utf-8") as f:
        return f.read()


def closure(direct):
    out = {}

    def visit(name, seen):
        if name in out:
            return out[name]
        if name in seen:
            problems.append(f"dependency cycle through {name}/")
            return set()
        acc = set()
        for d in direct.get(name, ()):
            acc |= {d} | visit(d, seen | {name})
        out[name] = acc
        return acc

    for n in direct:
        visit(n, set())
    return out


# CMakeLists.txt: bf_library(name DEPS ...), bf_layer_root(kernels ...), and the bitflash executable (cli).
cmake = read("CMakeLists.txt")
cmake_direct = {}
for m in re.finditer(r"bf_library\((\w+)\s+DEPS([^)]*)\)", cmake):
    cmake_direct[m.group(1)] = {d[3:] for d in m.group(2).split() if d.startswith("bf_")}
for m in re.finditer(r"bf_layer_root\((\w+)\s+([^)$]*)\)", cmake):
    if "$" not in m.group(0):
        cmake_direct[m.group(1)] = {d[3:] for d in m.group(2).split() if d.startswith("bf_")}
m = re.search(r"target_link_libraries\(bitflash PRIVATE([^)]*)\)", cmake)
cmake_direct["cli"] = {d[3:] for d in (m.group(1).split() if m else []) if d.startswith("bf_")}
cmake_allowed = closure(cmake_direct)

# README: the fenced block under "## How it is built", one line per folder: "name/ ──> dep/ dep/   words".
readme = read("README.md")
block = re.search(r"## How it is built\s+```\n(.*?)```", readme, re.S)
drawn_direct = {}
for line in (block.group(1).splitlines() if block else []):
    m = re.match(r"(\w+)/\s+(?:──>\s+((?:\w+/\s*)+))?", line)
    if m:
        drawn_direct[m.group(1)] = set(re.findall(r"(\w+)/", m.group(2) or ""))
if not drawn_direct:
    problems.append("README.md: no layer drawing under '## How it is built'")
drawn_allowed = closure(drawn_direct)

# docs/ARCHITECTURE.md: | `folder/` | holds | `a`, `b` or nothing of ours |
arch = read("docs/ARCHITECTURE.md")
doc_allowed = {}
for m in re.finditer(r"^\| `(\w+)/` \|[^|]*\| ([^|]*) \|$", arch, re.M):
    doc_allowed[m.group(1)] = set(re.findall(r"`(\w+)`", m.group(2)))

src_folders = sorted(d for d in os.listdir(os.path.join(root, "src")) if os.path.isdir(os.path.join(root, "src", d)))
for name in src_folders:
    if name not in cmake_allowed:
        problems.append(f"CMakeLists.txt: src/{name}/ has no bf_library (or is not linked into bitflash)")
        continue
    want = cmake_allowed[name]
    if name not in drawn_allowed:
        problems.append(f"README.md drawing: no line for {name}/")
    elif drawn_allowed[name] != want:
        problems.append(f"README.md drawing: {name}/ reaches {sorted(drawn_allowed[name])}, CMake says {sorted(want)}")
    if name not in doc_allowed:
        problems.append(f"docs/ARCHITECTURE.md: no row for `{name}/`")
    elif doc_allowed[name] != want:
        problems.append(f"docs/ARCHITECTURE.md: `{name}/` may include {sorted(doc_allowed[name])}, CMake says {sorted(want)}")
    for dirpath, _, files in os.walk(os.path.join(root, "src", name)):
        for fn in sorted(files):
            path = os.path.join(dirpath, fn)
            with open(path, encoding="utf-8") as f:
                for no, line in enumerate(f, 1):
                    inc = re.match(r'\s*#\s*include\s+"(\w+)/', line)
                    if inc and inc.group(1) != name and inc.group(1) in src_folders and inc.group(1) not in want:
                        rel = os.path.relpath(path, root)
                        problems.append(f"{rel}:{no}: includes {inc.group(1)}/, which {name}/ may not "
                                        f"(allowed: {', '.join(sorted(want)) or 'nothing of ours'})")

for p in problems:
    print("check_layers:", p)
if problems:
    sys.exit(1)
print(f"check_layers: {len(src_folders)} folders, drawing, CMake, ARCHITECTURE.md and includes agree")
