#!/usr/bin/env bash
# Sweeps one ERGON_* tunable over values and prints, for each value and workload, the median
# headline metric and the median cpu seconds (user+sys) of N runs of ergon-bench. Used to
# choose the defaults documented in runtime/include/ergon/options.hpp (docs/benchmarks.md).
#
#   bench/sweep.sh ERGON_SPIN_ROUNDS "0 16 64 256 1024" "idle_cpu:0.2 spawn_one pingpong_pairs" [reps]
set -euo pipefail
var=$1; values=$2; workloads=$3; reps=${4:-3}
bench=${ERGON_BENCH:-$(dirname "$0")/../build/release/bench/ergon-bench}
printf '%-22s %-10s %-14s %-12s %s\n' workload "$var" metric median cpu_s
for w in $workloads; do
  name=${w%%:*}; scale=1.0; [[ $w == *:* ]] && scale=${w#*:}
  for v in $values; do
    vals=(); cpus=()
    for ((i = 0; i < reps; i++)); do
      out=$( { env "$var=$v" /usr/bin/time -f 'TIME %U %S' "$bench" "$name" "$scale"; } 2>&1 )
      line=$(grep '^RESULT' <<<"$out")
      metric=$(awk '{print $5}' <<<"$line" | cut -d= -f1)
      vals+=("$(awk '{print $5}' <<<"$line" | cut -d= -f2)")
      cpus+=("$(awk '/^TIME/ {print $2 + $3}' <<<"$out")")
    done
    med=$(printf '%s\n' "${vals[@]}" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
    cpu=$(printf '%s\n' "${cpus[@]}" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
    printf '%-22s %-10s %-14s %-12s %s\n' "$name@$scale" "$v" "$metric" "$med" "$cpu"
  done
done
