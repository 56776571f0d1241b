#!/usr/bin/env python3
"""The include rules of the tree, checked: `scons layering` (and `scons check`) run this.

    tests/layering/check_layers.py [ROOT]              check the tree at ROOT (default: here)
    tests/layering/check_layers.py --self-test [ROOT]  also prove the checker fails on a planted
                                                       bad include, in a copy of the tree

Rules (runtime/src/LAYERS holds the folder table and the known debts):
  - mailbox/ includes only its own headers ("ergon/mailbox/...") and system headers;
  - runtime/include/ergon/ includes only public headers ("ergon/...");
  - a file in runtime/src/<folder>/ includes its own folder, the folders LAYERS allows it, and
    public headers; anything else must be listed in LAYERS as a debt ("allow A -> B"), and
    a listed debt that no longer exists is an error too, so the list only shrinks;
  - no file outside runtime/src includes a runtime/src header.
Only quoted includes are checked; <...> includes are system and library headers.

Design: a text scan of #include lines, not a compiler pass. It misses nothing the build could
see (every project header is included by a quoted path relative to an include root), and it
runs in well under a second, so `scons check` pays nothing for it. Rejected: checking with the
compiler's -MM output per variant (minutes, and it reports transitive includes, which are not
the rule). Exit status 0: clean; 1: violations, each printed as "FILE:LINE: message".
"""
import os
import re
import shutil
import sys
import tempfile

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')
SOURCE_EXT = (".hpp", ".cpp", ".h", ".cc")


def read_layers(path):
    allowed, debts = {}, {}
    with open(path) as f:
        for n, raw in enumerate(f, 1):
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            if line.startswith("allow "):
                m = re.fullmatch(r"allow\s+(\S+)\s*->\s*(\S+)", line)
                if not m:
                    sys.exit("%s:%d: expected 'allow <file> -> <header>'" % (path, n))
                debts[(m.group(1), m.group(2))] = n
                continue
            m = re.fullmatch(r"([a-z_]+):\s*(.*)", line)
            if not m:
                sys.exit("%s:%d: expected '<folder>: <folders>' or 'allow ...'" % (path, n))
            allowed[m.group(1)] = set(m.group(2).split())
    return allowed, debts


def sources(root, sub):
    base = os.path.join(root, sub)
    for d, _, names in os.walk(base):
        for f in sorted(names):
            if f.endswith(SOURCE_EXT):
                yield os.path.join(d, f)


def includes(path):
    with open(path, errors="replace") as f:
        for n, line in enumerate(f, 1):
            m = INCLUDE.match(line)
            if m:
                yield n, m.group(1)


def check(root):
    src = os.path.join(root, "runtime", "src")
    layers = os.path.join(src, "LAYERS")
    allowed, debts = read_layers(layers)
    folders = {d for d in os.listdir(src) if os.path.isdir(os.path.join(src, d))}
    errors, used = [], set()

    def err(path, n, msg):
        errors.append("%s:%d: %s" % (os.path.relpath(path, root), n, msg))

    for d in folders - set(allowed):
        err(layers, 1, "folder runtime/src/%s/ has no line in LAYERS: add '%s: <folders>'" % (d, d))

    for path in sources(root, "mailbox"):
        for n, inc in includes(path):
            if not inc.startswith("ergon/mailbox/"):
                err(path, n, '"%s": mailbox/ is its own library and includes only '
                    '"ergon/mailbox/..." headers' % inc)

    for path in sources(root, os.path.join("runtime", "include")):
        for n, inc in includes(path):
            if not inc.startswith("ergon/"):
                err(path, n, '"%s": a public header includes only public headers ("ergon/...")' % inc)

    for path in sources(root, os.path.join("runtime", "src")):
        rel = os.path.relpath(path, src)
        if os.sep not in rel:
            err(path, 1, "runtime/src/%s lies outside every subsystem folder: move it into one" % rel)
            continue
        mine = rel.split(os.sep)[0]
        for n, inc in includes(path):
            if inc.startswith("ergon/"):
                continue
            top = inc.split("/")[0]
            if "/" not in inc or top not in folders:
                err(path, n, '"%s" is not a header of runtime/src/<folder>/ nor a public header' % inc)
                continue
            if top == mine or top in allowed.get(mine, set()):
                continue
            if (rel, inc) in debts:
                used.add((rel, inc))
                continue
            err(path, n, '"%s": runtime/src/%s/ may not include %s/ (LAYERS allows it: %s)' %
                (inc, mine, top, " ".join(sorted(allowed.get(mine, set()))) or "nothing"))

    for sub in ("tests", "bench", "examples"):
        for path in sources(root, sub):
            for n, inc in includes(path):
                if inc.split("/")[0] in folders and not inc.startswith("ergon/"):
                    err(path, n, '"%s": only the library includes runtime/src headers; use '
                        'the public ones ("ergon/...")' % inc)

    for (f, inc), n in sorted(debts.items()):
        if (f, inc) not in used:
            err(layers, n, "debt 'allow %s -> %s' no longer exists: delete the line" % (f, inc))
    return errors


def self_test(root):
    """Plants a bad include in a copy of the tree; the checker must name it."""
    with tempfile.TemporaryDirectory() as tmp:
        for sub in ("runtime", "mailbox"):
            shutil.copytree(os.path.join(root, sub), os.path.join(tmp, sub))
        cases = [
            ("runtime/src/core/fiber.hpp", '#include "otp/supervisor.hpp"\n',
             "runtime/src/core/ may not include otp/"),
            ("mailbox/src/mailbox.cpp", '#include "core/process.hpp"\n',
             "mailbox/ is its own library"),
        ]
        for path, line, want in cases:
            full = os.path.join(tmp, path)
            original = open(full).read()
            open(full, "w").write(line + original)
            errors = check(tmp)
            open(full, "w").write(original)
            if not any(path in e and want in e for e in errors):
                print("check_layers self-test: planting %s in %s was not reported "
                      "(expected '%s'); got: %s" % (line.strip(), path, want, errors))
                return False
        if check(tmp):
            print("check_layers self-test: the restored copy is not clean")
            return False
    print("check_layers self-test: both planted includes reported")
    return True


def main(argv):
    args = [a for a in argv if a != "--self-test"]
    root = os.path.abspath(args[0] if args else os.path.join(os.path.dirname(__file__), "..", ".."))
    errors = check(root)
    for e in errors:
        print(e)
    ok = not errors
    if ok:
        print("check_layers: the includes of runtime/, mailbox/ and their users keep LAYERS")
    if "--self-test" in argv:
        ok = self_test(root) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
