#!/usr/bin/env python3
"""The documentation's code, checked: `scons check` runs this (SConstruct, run_docs).

    tests/docs/check_snippets.py [ROOT]              check the docs of the tree at ROOT
    tests/docs/check_snippets.py --self-test [ROOT]  also prove that it fails on planted faults,
                                                     in a copy of the tree

What it checks:
  1. Every ```cpp block of README.md, docs/api.md and docs/tutorial.md compiles
     (g++ -std=c++20 -fsyntax-only against mailbox/include, runtime/include and erl_interface's
     include directory), two compiles at a time.
  2. Each block of docs/tutorial.md appears verbatim (line by line, leading whitespace aside)
     in the program its step names: the step's heading names the file in backticks
     (`## 3. A server — `examples/kv_server.cpp``), so the quoted code is the program's code.
     `scons check` builds and runs those programs (SConstruct, run_tutorial).
  3. docs/api.md's Options table ("### Options and environment") has no blank line inside it
     (a blank line ends a Markdown table, and the rows after it render as text) and has a row
     for every field of ergon::Options (runtime/include/ergon/options.hpp).
  4. docs/api.md's "## Errors" section names every exception class of the public headers
     (runtime/include/ergon/, detail/ aside): each class deriving from Error, ergon::Error or a
     std:: exception.
Each failure prints "FILE:LINE: message" (for a compile, the compiler's errors follow, with
their lines in the Markdown file). Exit status 0: clean; 1: failures.

How a block is compiled (the convention the docs follow):
  - A block that defines main() is a whole program: compiled as it stands, nothing added.
  - Any other block is a fragment. Its top-level statements are split by brace depth:
    declarations (struct, class, enum, union, template, namespace, using, typedef, #lines,
    function definitions) go at namespace scope, in order; every other statement goes, in
    order, into the body of one function, `void snippet_body()`. So a block may declare
    types and then use them, as a reader would write it in a .cpp.
  - Before it comes a preamble: <ergon/ergon.hpp>, <ergon/dist.hpp> (with <ergon/term.hpp>),
    the standard headers the docs use (see PREAMBLE) and `using namespace
    std::chrono_literals;`.
  - `...` outside comments and strings stands for elided code and is removed (`[] { ... }`
    compiles as `[] {  }`). A block's own variadic templates would need `...`: none has one.
  - `#line` directives map each statement to its line in the Markdown file, so the
    compiler's message names the doc and the line.
  - An HTML comment on the line right before the block changes that (several directives
    separated by ';'):
      <!-- snippet: names Ping pid rt -->  the block uses these names without declaring
          them: the checker declares each from STANDINS below (a type, a variable or a
          function of the right shape). An unknown name is an error, so the table stays the
          one list of what the docs assume.
      <!-- snippet: continues -->  the block goes on from the previous block of the same file
          (compiled together with it and what that one continues).
      <!-- snippet: skip (why) -->  not compiled, only for a block that is not C++ a user
          would write; the reason in parentheses is required.

Design: one translation unit per block, compiled with -fsyntax-only (templates are
instantiated, nothing is code-generated or linked, so a declared but undefined function
is fine): about 2 s per block here, and 2 jobs bring 35 blocks to well under a minute. The
split of a block into namespace-scope declarations and body statements is a scan of the text
for top-level `;` and `}` (comments, strings and character literals skipped), not a parser:
the docs' fragments are short and regular, and a misclassified statement shows as a compile
error at its own line, never as a silent pass. Rejected: compiling every block both at
namespace scope and in a function and taking either (twice the time, and an error then has
two unrelated messages); wrapping everything in a function (local classes cannot hold the
template specialisations and member templates some blocks declare); one preamble that
declares every name any block assumes (it would collide with the blocks that declare those
names themselves, and it would hide what each block assumes); extracting the blocks into
files under tests/ (the docs would drift from the copies, which is the fault this prevents).
"""
import concurrent.futures
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile

DOCS = ["README.md", "docs/api.md", "docs/tutorial.md"]
JOBS = 2

PREAMBLE = """\
#include <ergon/ergon.hpp>
#include <ergon/dist.hpp>
#include <cassert>
#include <chrono>
#include <cstdio>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <unistd.h>
#include <variant>
#include <vector>
using namespace std::chrono_literals;
"""

# What a block may assume without declaring it (<!-- snippet: names ... -->). A name is declared
# with the shape the docs use it in; each entry is one or more namespace-scope declarations.
STANDINS = {
    # messages and requests
    "Ping": "struct Ping { ergon::Pid from; };",
    "Pong": "struct Pong {};",
    "Stop": "struct Stop {};",
    "Big": "struct Big { Big(int, int); };",
    "Line": "struct Line { std::string text; };",
    "Request": "struct Request { ergon::Pid from; std::string query; };",
    "Reply": "struct Reply { std::string answer; };",
    "Get": "struct Get { using Reply = std::string; std::string key; };",
    "Put": "struct Put { using Reply = bool; std::string key, value; };",
    "Clear": "struct Clear {};",
    "Square": "struct Square { int n; };",
    "Kv": "struct Kv { using Calls = ergon::Handles<ergon::Term>;\n"
          "  ergon::Term handle_call(const ergon::Term&); };",
    # values a block works on
    "rt": "extern ergon::Runtime rt;",
    "arg1": "int arg1;",
    "arg2": "int arg2;",
    "pid": "ergon::Pid pid;",
    "kv": "ergon::Pid kv;",
    "server": "ergon::Pid server;",
    "worker": "ergon::Pid worker;",
    "query": "std::string query;",
    "deadline": "std::chrono::steady_clock::time_point deadline;",
    "spec": "ergon::SupervisorSpec spec;",
    "spec2": "ergon::ChildSpec spec2;",
    "workers_spec": "ergon::SupervisorSpec workers_spec;",
    "rows": "std::vector<int> rows;",
    "fd": "int fd;",
    "buf": "char buf[4096];",
    "len": "std::size_t len;",
    "state": "int state;",
    # functions a block calls
    "work": "void work();",
    "compute": "void compute(int);",
    "crunch": "void crunch();",
    "handler": "void handler();",
    "probe": "void probe();",
    "count": "int count(const char*);",
    "log_progress": "void log_progress();",
    "run_db": "void run_db();",
    "run_cache": "void run_cache();",
    "recurse_too_deep": "void recurse_too_deep();",
    "lookup": "std::string lookup(const std::string&);",
    "serve": "void serve(int);",
}

MARKER = re.compile(r"^\s*<!--\s*snippet:\s*(.*?)\s*-->\s*$")
FENCE_OPEN = re.compile(r"^(\s*)```cpp\s*$")
DECL_START = re.compile(r"^(struct|class|enum|union|template|namespace|using|typedef|extern|"
                        r"static_assert|inline|constexpr)\b")
# `type name(args) [const] [noexcept] {` at depth 0: a function definition.
FUNC_DEF = re.compile(r"^[\w:<>,\s\*&]+?[\s\*&]([\w:~]+)\s*\([^;{=]*\)\s*(const\s*)?(noexcept\s*)?"
                      r"(->\s*[\w:<>]+\s*)?\{")


class Block:
    def __init__(self, doc, line, code, directives, heading):
        self.doc, self.line, self.code = doc, line, code  # line: of the first code line
        self.directives, self.heading = directives, heading
        self.previous = None  # the block before it in the same doc (for `continues`)

    def where(self):
        return "%s:%d" % (self.doc, self.line - 1)  # the line of the ```cpp fence


def parse_directives(text):
    out = {}
    for part in text.split(";"):
        part = part.strip()
        if not part:
            continue
        word, _, rest = part.partition(" ")
        out[word] = rest.strip()
    return out


def blocks_of(root, doc):
    lines = open(os.path.join(root, doc)).read().split("\n")
    found, heading, i = [], "", 0
    while i < len(lines):
        if lines[i].startswith("#"):
            heading = lines[i]
        m = FENCE_OPEN.match(lines[i])
        if m:
            indent = len(m.group(1))
            start = i + 1
            j = start
            while j < len(lines) and lines[j].strip() != "```":
                j += 1
            code = [l[indent:] if l[:indent].strip() == "" else l for l in lines[start:j]]
            mk = MARKER.match(lines[i - 1]) if i > 0 else None
            b = Block(doc, start + 1, code, parse_directives(mk.group(1)) if mk else {}, heading)
            if found:
                b.previous = found[-1]
            found.append(b)
            i = j
        i += 1
    return found


def strip_literals(line, in_comment):
    """The line with comments, strings and char literals blanked (same length), and whether a
    /* comment is still open at its end."""
    out, k = [], 0
    while k < len(line):
        if in_comment:
            end = line.find("*/", k)
            if end < 0:
                out.append(" " * (len(line) - k))
                return "".join(out), True
            out.append(" " * (end + 2 - k))
            k, in_comment = end + 2, False
        elif line.startswith("//", k):
            out.append(" " * (len(line) - k))
            break
        elif line.startswith("/*", k):
            in_comment = True
        elif line[k] in "\"'":
            q, e = line[k], k + 1
            while e < len(line) and line[e] != q:
                e += 2 if line[e] == "\\" else 1
            out.append(" " * (min(e, len(line) - 1) + 1 - k))
            k = e + 1
        else:
            out.append(line[k])
            k += 1
    return "".join(out), in_comment


def remove_elisions(line, code_only):
    """Removes each `...` that is code (not in a comment or string) from line."""
    out, k = [], 0
    while k < len(line):
        if line.startswith("...", k) and code_only[k:k + 3] == "...":
            out.append("   ")
            k += 3
        else:
            out.append(line[k])
            k += 1
    return "".join(out)


def split_block(code):
    """[(kind, first_line_index, [lines])]: kind 'decl' (namespace scope) or 'stmt' (body)."""
    chunks, depth, in_comment, current = [], 0, False, None
    for idx, raw in enumerate(code):
        bare, in_comment_after = strip_literals(raw, in_comment)
        line = remove_elisions(raw, bare)
        bare = bare.replace("...", "   ")
        starts_here = depth == 0 and current is None and bare.strip() != ""
        if starts_here:
            text = bare.strip()
            kind = "decl" if (text.startswith("#") or DECL_START.match(text)
                              or FUNC_DEF.match(text)) else "stmt"
            current = (kind, idx, [])
            chunks.append(current)
        if current is None:  # a blank or comment line between statements
            if chunks:
                chunks[-1][2].append(line)
            else:
                chunks.append(("decl", idx, [line]))
            in_comment = in_comment_after
            continue
        current[2].append(line)
        if bare.strip().startswith("#"):
            current = None
            in_comment = in_comment_after
            continue
        for k, c in enumerate(bare):
            if c in "({[":
                depth += 1
            elif c in ")}]":
                depth -= 1
                if depth == 0 and c == "}":
                    after = bare[k + 1:].strip()
                    nxt = next((l for l in (strip_literals(x, False)[0].strip()
                                            for x in code[idx + 1:]) if l), "")
                    if not after and not re.match(r"^(;|else\b|catch\b|while\b|,|\))", nxt):
                        current = None
            elif c == ";" and depth == 0:
                current = None
        in_comment = in_comment_after
    return chunks


def is_program(code):
    return any(re.match(r"^\s*int\s+main\s*\(", l) for l in code)


def source_of(block, seen=None):
    """The translation unit for block (without the preamble): (namespace part, body part)."""
    ns, body = [], []
    if "continues" in block.directives and block.previous is not None:
        ns, body = source_of(block.previous)
    for name in block.directives.get("names", "").split():
        if name not in STANDINS:
            raise KeyError(name)
        ns.append('#line 1 "<stand-in %s: tests/docs/check_snippets.py>"' % name)
        ns.append(STANDINS[name])
    for kind, idx, lines in split_block(block.code):
        target = ns if kind == "decl" else body
        target.append('#line %d "%s"' % (block.line + idx, block.doc))
        target.extend(lines)
    return ns, body


def translation_unit(block, preamble=PREAMBLE):
    """(source, whether it needs the preamble); the source includes the preamble's text
    unless preamble is "" (then the compile passes it as a precompiled header)."""
    if is_program(block.code) and "continues" not in block.directives:
        return "".join('#line %d "%s"\n%s\n' % (block.line + i, block.doc, l) if i == 0 else l + "\n"
                       for i, l in enumerate(block.code)), False
    ns, body = source_of(block)
    return (preamble + "\n".join(ns) + "\n[[maybe_unused]] static void snippet_body() {\n" +
            "\n".join(body) + "\n}\n"), True


def compiler_flags(root):
    flags = ["-std=c++20", "-fsyntax-only", "-I" + os.path.join(root, "mailbox", "include"),
             "-I" + os.path.join(root, "runtime", "include")]
    ei = sorted(glob.glob("/usr/lib/erlang/lib/erl_interface-*/include"))
    if ei:
        flags.append("-I" + ei[-1])
    return flags


def build_preamble(root, tmp):
    """Precompiles PREAMBLE into tmp (about 3 s, once): a fragment then compiles in about
    0.5 s instead of 2 s (measured on the 2-core build machine). None, or the error."""
    path = os.path.join(tmp, "preamble.hpp")
    with open(path, "w") as f:
        f.write(PREAMBLE)
    cxx = os.environ.get("CXX", "g++")
    p = subprocess.run([cxx] + compiler_flags(root)[:1] + compiler_flags(root)[2:] +
                       ["-x", "c++-header", path, "-o", path + ".gch"], cwd=root,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return None if p.returncode == 0 else "the preamble does not compile:\n" + indent(p.stdout, 40)


def compile_block(root, block, tmp, n):
    try:
        tu, needs_preamble = translation_unit(block, preamble="")
    except KeyError as e:
        return "%s: <!-- snippet: names %s --> is not in check_snippets.py's STANDINS" % (
            block.where(), e.args[0])
    path = os.path.join(tmp, "snippet%d.cpp" % n)
    with open(path, "w") as f:
        f.write(tu)
    cxx = os.environ.get("CXX", "g++")
    pch = ["-include", os.path.join(tmp, "preamble.hpp"), "-Winvalid-pch"] if needs_preamble else []
    p = subprocess.run([cxx] + compiler_flags(root) + pch + [path], cwd=root, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True)
    if p.returncode == 0:
        return None
    errors = [l for l in p.stdout.splitlines() if " error: " in l or l.startswith(block.doc)]
    first = next((l for l in errors if " error: " in l), p.stdout.strip().splitlines()[-1])
    return "%s: the block does not compile: %s\n%s" % (block.where(), first.strip(),
                                                       indent(p.stdout.strip(), 40))


def indent(text, max_lines):
    lines = text.splitlines()
    if len(lines) > max_lines:
        lines = lines[:max_lines] + ["... (%d more lines)" % (len(lines) - max_lines)]
    return "\n".join("    " + l for l in lines)


# --- the tutorial's blocks are its programs' code ------------------------------------------------
STEP_FILE = re.compile(r"^#+\s.*`((?:examples|tests)/[\w/]+\.(?:cpp|hpp))`")


def check_quoted(root, block):
    m = STEP_FILE.match(block.heading)
    if not m:
        return "%s: the block's step (%s) names no program file in backticks" % (
            block.where(), block.heading.strip() or "no heading")
    path = os.path.join(root, m.group(1))
    if not os.path.exists(path):
        return "%s: the step names %s, which does not exist" % (block.where(), m.group(1))
    program = [l.strip() for l in open(path).read().split("\n")]
    quoted = [l.strip() for l in block.code]
    while quoted and not quoted[-1]:
        quoted.pop()
    for start in range(len(program) - len(quoted) + 1):
        if program[start:start + len(quoted)] == quoted:
            return None
    # Name the first line that breaks the longest run matched, to say where it drifted.
    best, best_at = 0, 0
    for start in range(len(program)):
        k = 0
        while k < len(quoted) and start + k < len(program) and program[start + k] == quoted[k]:
            k += 1
        if k > best:
            best, best_at = k, start
    return ("%s:%d: the block is not %s's code: from here it differs (%r in the doc, %r in the "
            "program)" % (block.doc, block.line + best, m.group(1), quoted[best] if best < len(quoted)
                          else "", program[best_at + best] if best_at + best < len(program) else ""))


# --- api.md: the Options table and the Errors section ---------------------------------------------
def section(lines, title):
    """(first line index, lines) of the section whose heading is `title`, to the next heading
    of the same or a higher level."""
    level = len(title) - len(title.lstrip("#"))
    for i, l in enumerate(lines):
        if l.strip() == title:
            j = i + 1
            while j < len(lines):
                h = re.match(r"^(#+)\s", lines[j])
                if h and len(h.group(1)) <= level:
                    break
                j += 1
            return i, lines[i:j]
    return None, []


def options_fields(root):
    text = open(os.path.join(root, "runtime", "include", "ergon", "options.hpp")).read()
    m = re.search(r"^struct Options \{\n(.*?)^\};", text, re.S | re.M)
    body = re.sub(r"//[^\n]*", "", m.group(1))
    fields = []
    for stmt in body.split(";"):
        stmt = " ".join(stmt.split())
        if not stmt or stmt.startswith("static ") or "(" in stmt.split("=")[0].split("{")[0]:
            continue  # a member function
        name = re.match(r"^.*?(\w+)\s*(?:=.*|\{.*\})?$", stmt)
        if name:
            fields.append(name.group(1))
    return fields


def api_section(root, title):
    """(line index, lines) of api.md's section `title`, or (None, the error to report)."""
    lines = open(os.path.join(root, API_DOC)).read().split("\n")
    at, sec = section(lines, title)
    if at is None:
        return None, ["%s: no '%s' section" % (API_DOC, title)]
    return at, sec


API_DOC = "docs/api.md"


def check_options_table(root):
    doc = API_DOC
    at, sec = api_section(root, "### Options and environment")
    if at is None:
        return sec
    rows = [i for i, l in enumerate(sec) if l.startswith("|")]
    if not rows:
        return ["%s:%d: the Options section has no table" % (doc, at + 1)]
    errors = []
    first, last = rows[0], rows[-1]
    # The first table of the section is the Options table; another table after prose is fine.
    end = first
    while end + 1 < len(sec) and (sec[end + 1].startswith("|") or
                                 (not sec[end + 1].strip() and end + 2 < len(sec)
                                  and sec[end + 2].startswith("|"))):
        end += 1
    for i in range(first, end + 1):
        if not sec[i].strip():
            errors.append("%s:%d: a blank line inside the Options table ends it: the rows after "
                          "it render as text" % (doc, at + i + 1))
    listed = set()
    for i in range(first, end + 1):
        m = re.match(r"^\|\s*`(\w+)`", sec[i])
        if m:
            listed.add(m.group(1))
    for f in options_fields(root):
        if f not in listed:
            errors.append("%s:%d: the Options table has no row for Options::%s "
                          "(runtime/include/ergon/options.hpp)" % (doc, at + first + 1, f))
    return errors


def exception_classes(root):
    base = os.path.join(root, "runtime", "include", "ergon")
    found = []
    for path in sorted(glob.glob(os.path.join(base, "*.hpp"))):
        text = open(path).read()
        ns = "net::" if os.path.basename(path) == "net.hpp" else ""
        for m in re.finditer(r"^(?:class|struct)\s+(\w+)(?:\s+final)?\s*:\s*public\s+"
                             r"((?:ergon::)?Error|std::\w+_error|std::exception)\b", text, re.M):
            if m.group(1) != "Error" or ns:
                found.append((ns + m.group(1), os.path.relpath(path, root)))
    return found


def check_errors_section(root):
    doc = API_DOC
    at, sec = api_section(root, "## Errors")
    if at is None:
        return sec
    text = "\n".join(sec)
    errors = []
    for name, where in exception_classes(root):
        if not re.search(r"`(ergon::)?%s`" % re.escape(name), text):
            errors.append("%s:%d: the Errors section does not list %s (%s)" % (
                doc, at + 1, name, where))
    return errors


def check(root, jobs=JOBS, only=None):
    """(errors, blocks compiled, blocks skipped); only: a test of which blocks to compile."""
    errors = []
    blocks = [b for doc in DOCS for b in blocks_of(root, doc)]
    to_compile = []
    for b in blocks:
        if "skip" in b.directives:
            if not re.match(r"^\(.+\)$", b.directives["skip"]):
                errors.append("%s: <!-- snippet: skip --> needs its reason in parentheses" % b.where())
            continue
        if only is None or only(b):
            to_compile.append(b)
    for b in blocks:
        if b.doc == "docs/tutorial.md":
            e = check_quoted(root, b)
            if e:
                errors.append(e)
    with tempfile.TemporaryDirectory(prefix="ergon-snippets-") as tmp:
        e = build_preamble(root, tmp)
        if e:
            return errors + [e], 0, 0
        with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
            results = list(pool.map(lambda nb: compile_block(root, nb[1], tmp, nb[0]),
                                    enumerate(to_compile)))
    errors += [r for r in results if r]
    errors += check_options_table(root)
    errors += check_errors_section(root)
    return errors, len(to_compile), len(blocks) - len(to_compile)


def self_test(root):
    """Plants faults in a copy of the docs and headers; the checker must name each."""
    with tempfile.TemporaryDirectory(prefix="ergon-snippets-self-test-") as tmp:
        for sub in ("runtime/include", "mailbox/include", "docs", "examples"):
            shutil.copytree(os.path.join(root, sub), os.path.join(tmp, sub))
        shutil.copy(os.path.join(root, "README.md"), tmp)
        api = os.path.join(tmp, "docs", "api.md")
        original = open(api).read()
        cases = [
            ("docs/api.md", "\n## Planted\n\n```cpp\nergon::Pid p = ergon::spown([] {});\n```\n",
             "docs/api.md:%d: the block does not compile" % (len(original.split("\n")) + 3),
             "spown"),
            ("docs/api.md", "\n## Planted\n\n<!-- snippet: skip -->\n```cpp\nx\n```\n",
             "needs its reason", ""),
            ("docs/tutorial.md", "\n## 9. Planted — `examples/pingpong.cpp`\n\n```cpp\n"
             "struct Ping {\n  ergon::Pid to;\n};\n```\n", "is not examples/pingpong.cpp's code",
             "ergon::Pid to;"),
        ]
        for path, text, want, also in cases:
            full = os.path.join(tmp, path)
            before = open(full).read()
            open(full, "w").write(before + text)
            # Only the planted block is compiled: the rest is what check() above compiled.
            planted_from = len(before.split("\n"))
            errors = check(tmp, only=lambda b: b.doc == path and b.line > planted_from)[0]
            open(full, "w").write(before)
            if not any(want in e and also in e for e in errors):
                print("check_snippets self-test: planting %r in %s was not reported (expected "
                      "'%s'); got: %s" % (text.strip(), path, want, errors))
                return False
        # A blank line inside the Options table, and a field missing from it.
        planted = original.replace("| `reductions` |", "\n| `reductions` |", 1)
        planted = re.sub(r"^\| `spin_rounds` \|.*\n", "", planted, count=1, flags=re.M)
        open(api, "w").write(planted)
        errors = check_options_table(tmp)
        open(api, "w").write(original)
        for want in ("a blank line inside the Options table", "no row for Options::spin_rounds"):
            if not any(want in e for e in errors):
                print("check_snippets self-test: %r not reported; got: %s" % (want, errors))
                return False
        # An error class that the Errors section does not list.
        errors_hpp = os.path.join(tmp, "runtime", "include", "ergon", "errors.hpp")
        hdr = open(errors_hpp).read()
        open(errors_hpp, "w").write(hdr.replace(
            "class Deadlock : public Error {",
            "class PlantedError : public Error {};\nclass Deadlock : public Error {", 1))
        errors = check_errors_section(tmp)
        open(errors_hpp, "w").write(hdr)
        if not any("does not list PlantedError" in e for e in errors):
            print("check_snippets self-test: the unlisted PlantedError not reported; got: %s" % errors)
            return False
    print("check_snippets self-test: a broken block, a skip without a reason, a misquoted "
          "tutorial block, a blank line in and a field missing from the Options table and an "
          "unlisted error class all reported")
    return True


def main(argv):
    args = [a for a in argv if not a.startswith("--")]
    root = os.path.abspath(args[0] if args else os.path.join(os.path.dirname(__file__), "..", ".."))
    if "--dump" in argv:  # prints each block's translation unit, for writing a snippet
        for doc in DOCS:
            for b in blocks_of(root, doc):
                if "skip" not in b.directives:
                    print("// ===== %s\n%s" % (b.where(), translation_unit(b)[0]))
        return 0
    errors, compiled, skipped = check(root)
    for e in errors:
        print(e)
    ok = not errors
    if ok:
        print("check_snippets: %d blocks of %s compile (%d skipped), the tutorial quotes its "
              "programs, api.md lists every option and error" % (compiled, ", ".join(DOCS), skipped))
    if "--self-test" in argv:
        ok = self_test(root) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
