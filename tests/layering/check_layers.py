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
  - no file outside runtime/src includes a runtime/src header;
  - a header of runtime/src/<folder>/ declares only functions defined in that folder (so a low
    header cannot promise a call that the top floor answers, which would close a circle of
    calls the include rules cannot see).
Only quoted includes are checked; <...> includes are system and library headers.

Design: a text scan of #include lines and of namespace-level statements, not a compiler pass. It misses nothing the build could
see (every project header is included by a quoted path relative to an include root), and it
runs in well under a second, so `scons check` pays nothing for it. Rejected: checking with the
compiler's -MM output per variant (minutes, and it reports transitive includes, which are not
the rule). The declaration rule reads statements that start in column 0 (this tree does not
indent namespaces): one that ends in ';' and names a function is a declaration, one that ends
in '{' a definition. Exit status 0: clean; 1: violations, each printed as "FILE:LINE: message".
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


SKIP_STATEMENT = re.compile(r"^(#|//|using |typedef |template|friend |static_assert|extern |"
                            r"namespace|class |struct |enum |union |\}|\[\[deprecated)")
FUNCTION_NAME = re.compile(r"([A-Za-z_]\w*(?:::[A-Za-z_~]\w*)*)\s*\(")


def statements(path):
    """(line, text, terminator) of each statement that starts in column 0; terminator is ';'
    or '{'. Comments are dropped; a statement ends at the first ';' or '{' outside parens."""
    with open(path, errors="replace") as f:
        lines = f.read().split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line or line[0].isspace() or SKIP_STATEMENT.match(line):
            i += 1
            continue
        start, text, depth = i + 1, "", 0
        while i < len(lines):
            part = lines[i].split("//", 1)[0]
            done = None
            for k, ch in enumerate(part):
                if ch == "(":
                    depth += 1
                elif ch == ")":
                    depth -= 1
                elif depth == 0 and ch in ";{":
                    done = ch
                    part = part[:k]
                    break
            text += " " + part.strip()
            i += 1
            if done:
                yield start, text.strip(), done
                break


def function_name(text):
    if "(" not in text or "=" in text.split("(", 1)[0]:
        return None  # a variable (maybe initialized by a call), not a function
    m = FUNCTION_NAME.search(text)
    if not m or m.group(1).split("::")[-1] in ("operator", "decltype", "alignas", "noexcept"):
        return None
    return m.group(1)


def check_declarations(root, src, folders, err):
    defined = {}  # unqualified name -> folders that define it
    for path in sources(root, os.path.join("runtime", "src")):
        rel = os.path.relpath(path, src)
        if os.sep not in rel:
            continue
        for _, text, end in statements(path):
            name = function_name(text) if end == "{" else None
            if name:
                defined.setdefault(name.split("::")[-1], set()).add(rel.split(os.sep)[0])
    for path in sources(root, os.path.join("runtime", "src")):
        rel = os.path.relpath(path, src)
        if os.sep not in rel or not path.endswith((".hpp", ".h")):
            continue
        mine = rel.split(os.sep)[0]
        for n, text, end in statements(path):
            name = function_name(text) if end == ";" else None
            if not name or "::" in name:
                continue  # a qualified name is a member or another namespace's: not a free one
            where = defined.get(name, set())
            if mine in where:
                continue
            if where:
                err(path, n, "%s() is declared in runtime/src/%s/ but defined in %s/: declare it "
                    "in a header of the folder that defines it" % (name, mine,
                                                                  "/, ".join(sorted(where))))
            else:
                err(path, n, "%s() is declared in runtime/src/%s/ but defined nowhere in "
                    "runtime/src: define it or drop the declaration" % (name, mine))


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

    check_declarations(root, src, folders, err)

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
            ("runtime/src/core/worker_pool.hpp",
             "void send_downs(Process* p, const ExitReason& reason) noexcept;\n",
             "send_downs() is declared in runtime/src/core/ but defined in otp/"),
        ]
        for path, line, want in cases:
            full = os.path.join(tmp, path)
            original = open(full).read()
            open(full, "w").write(line + original)
            errors = check(tmp)
            open(full, "w").write(original)
            if not any(path in e and want in e for e in errors):
                print("check_layers self-test: planting '%s' in %s was not reported "
                      "(expected '%s'); got: %s" % (line.strip(), path, want, errors))
                return False
        if check(tmp):
            print("check_layers self-test: the restored copy is not clean")
            return False
    print("check_layers self-test: both planted includes and the planted declaration reported")
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
