#!/usr/bin/env bash
# Instructions per round trip of the pingpong workload, counted by callgrind: a figure that the
# noise of a shared machine does not move, for costs too small for wall-clock medians to
# resolve (a branch on a hot path, a store per switch). Each binary runs pingpong at two scales
# with one worker; the difference of the two totals over the difference of the round trips
# removes start-up and shutdown.
#
#   bench/instructions.sh BENCH [BENCH ...]     e.g. two ergon-bench builds of different commits
#
# Needs valgrind (apt-get install valgrind). Prints one line per binary:
#   <binary> instructions_per_rt=<n>
set -euo pipefail

if [[ $# -eq 0 || $1 == -h || $1 == --help ]]; then
  sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'
  exit 0
fi
command -v valgrind > /dev/null || { echo "bench/instructions.sh: needs valgrind (apt-get install valgrind)" >&2; exit 1; }

readonly small=0.02 large=0.06
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

count() {  # count BINARY SCALE -> "<round_trips> <instructions>"
  local log="$out/log" rt ir
  ERGON_WORKERS=1 valgrind --tool=callgrind --callgrind-out-file="$out/cg" "$1" pingpong "$2" > "$out/stdout" 2> "$log"
  rt=$(grep -o 'round_trips=[0-9]*' "$out/stdout" | cut -d= -f2)
  ir=$(grep -o 'Collected : [0-9]*' "$log" | grep -o '[0-9]*$')
  echo "$rt $ir"
}

for bin in "$@"; do
  read -r rt1 ir1 < <(count "$bin" "$small")
  read -r rt2 ir2 < <(count "$bin" "$large")
  echo "$bin instructions_per_rt=$(( (ir2 - ir1) / (rt2 - rt1) ))"
done
