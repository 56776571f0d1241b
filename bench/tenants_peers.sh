#!/usr/bin/env bash
# tenants_noisy side by side: ergon (tenants, no tenants, a high-priority probe), BEAM (a
# high-priority probe, bench/peers/tenants_noisy.erl) and Go (no option,
# bench/peers/tenants_noisy.go), one after the other in one run, on the release build.
#
#   bench/tenants_peers.sh [scale] [reps]      (needs erlang-base and golang-go from apt)
#
# Prints each runtime's RESULT lines (reps of each, alternated). docs/benchmarks.md quotes the
# medians ("Priorities and tenants").
set -euo pipefail
cd "$(dirname "$0")/.."
scale=${1:-1}
reps=${2:-3}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
erlc -o "$out" bench/peers/tenants_noisy.erl
(cd "$out" && cp "$OLDPWD/bench/peers/tenants_noisy.go" . && GO111MODULE=off go build -o tenants_noisy_go tenants_noisy.go)
for _ in $(seq "$reps"); do
  build/release/bench/ergon-bench tenants_noisy "$scale"
  erl -noshell +P 1000000 -pa "$out" -run tenants_noisy main "$scale"
  "$out/tenants_noisy_go" "$scale"
done
