#!/usr/bin/env bash
# Instructions per operation (pingpong round trip, ring hop, yield, spawn+exit, send to a
# blocked receiver), counted by callgrind, for one or more ergon-bench binaries side by side:
# figures that the noise of a shared machine does not move, for costs too small for wall-clock
# medians to resolve. bench/budget.py does the counting (its docstring says how) and holds the
# budget that `scons check` enforces.
#
#   bench/instructions.sh BENCH [BENCH ...]     e.g. two ergon-bench builds of different commits
#
# Needs valgrind (setup.sh installs it).
set -euo pipefail

if [[ $# -eq 0 || $1 == -h || $1 == --help ]]; then
  sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'
  exit 0
fi
exec python3 "$(dirname "$0")/budget.py" count "$@"
