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
  # Go's busy goroutines starve even its main goroutine at scale 1: bound the wait.
  timeout 60 "$out/tenants_noisy_go" "$scale" ||
    echo "ERROR tenants_noisy go did not finish within 60 s (its probe and main goroutine wait behind the busy ones)"
done | tee "$out/results.txt"
# The medians as the markdown table docs/benchmarks.md shows.
python3 - "$out/results.txt" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    f = line.split()
    if len(f) < 3 or f[0] != "RESULT":
        continue
    kv = dict(x.split("=", 1) for x in f[3:])
    for k, v in kv.items():
        rows.setdefault(f[2], {}).setdefault(k, []).append(float(v))
def med(rt, k):
    v = rows.get(rt, {}).get(k)
    return statistics.median(v) if v else None
print("\n| runtime | probe alone p99 (us) | probe beside the noise p99 (us) | noisy / alone |")
print("|---|---|---|---|")
for rt, label, key in [("ergon", "ergon, tenants", "p99_noisy_us"),
                       ("ergon", "ergon, high-priority probe", "p99_high_us"),
                       ("ergon", "ergon, neither (one tenant)", "p99_notenant_us"),
                       ("erlang", "BEAM, high-priority probe", "p99_noisy_us"),
                       ("go", "Go (no option)", "p99_noisy_us")]:
    a, n = med(rt, "p99_alone_us"), med(rt, key)
    if a is None or n is None:
        continue
    print("| %s | %.0f | %.0f | %.1fx |" % (label, a, n, n / a))
s = med("ergon", "slice_us")
if s is not None:
    print("\nergon slice: %.0f us; bar: noisy <= 2 x alone + one slice" % s)
PY
