#!/usr/bin/env python3
"""The micropools seed's table, simulated on 16 workers beside the real run on this machine.

    python3 bench/simulate.py [--bench build/release/bench/ergon-bench] [--workers 16]
                              [--scale 1] [--seeds 1,2,3] [--real-runs 3] [--real-scale 1]
                              [--out docs/benchmarks-simulated.md]

Runs the four bimodal workloads (bench/bimodal.cpp: balance, steal, balance+steal, pools)
  - simulated: ERGON_SIMULATE=1 ERGON_WORKERS=<workers> ERGON_SEED=<seed>, once per seed
    (latencies on the logical clock; docs/design.md, "Simulated-parallel mode");
  - real: with ergon's defaults (one worker per core), --real-runs times (0: skip),
and writes one markdown table: per configuration and kind, the p50, p99, p99.9 and p99.95
log2-ns buckets of each run (bucket b holds latencies in [2^b, 2^(b+1)) ns: 20 is 1.0-2.1 ms,
22 is 4.2-8.4 ms), as the seed prints its quartiles, the same quantiles in microseconds (the
bucket's upper edge) for the median run, and the count of packets at 8.4 ms or more. The
command lines that produced it head the file. A run that prints an ERROR line stops the script.

Standard library only. Measure the real runs on a quiet machine (nothing building): they are
wall-clock latencies. The simulated ones do not depend on the machine.
"""
import argparse
import os
import re
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
CONFIGS = [("balance", "bimodal_balance"), ("steal", "bimodal_steal"),
           ("balance+steal", "bimodal_balance_steal"), ("pools", "bimodal_pools")]
QUANTILES = [("p50", "p50_log2", "p50_us"), ("p99", "p99_log2", "p99_us"),
             ("p99.9", "p999_log2", "p999_us"), ("p99.95", "p9995_log2", "p9995_us")]


def run(bench, workload, scale, env_extra):
    env = dict(os.environ)
    for k in list(env):
        if k.startswith("ERGON_"):
            del env[k]
    env.update(env_extra)
    cmd = [bench, workload, str(scale)]
    p = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = next((l for l in p.stdout.splitlines() if l.startswith(("RESULT", "ERROR"))), None)
    shown = " ".join("%s=%s" % kv for kv in env_extra.items()) + " " + " ".join(
        [os.path.relpath(bench, TOP), workload, str(scale)])
    if p.returncode != 0 or line is None or line.startswith("ERROR"):
        sys.exit("bench/simulate.py: %s failed (status %d): %s\n%s" %
                 (shown.strip(), p.returncode, line, p.stderr[-2000:]))
    fields = dict(re.findall(r"(\w+)=(\S+)", line))
    sys.stderr.write("%s -> p50/p99/p99.9/p99.95 buckets %s/%s/%s/%s\n" %
                     (shown.strip(), fields["p50_log2"], fields["p99_log2"],
                      fields["p999_log2"], fields["p9995_log2"]))
    return fields


def cells(runs):
    """The row's cells: buckets of every run, microseconds of the median run, slow packets."""
    out = []
    for _, key, _ in QUANTILES:
        out.append(", ".join(r[key] for r in runs))
    # The median run by its p99.9 bucket then its p99.95 (ties: the first).
    order = sorted(range(len(runs)),
                   key=lambda i: (int(runs[i]["p999_log2"]), int(runs[i]["p9995_log2"])))
    mid = runs[order[(len(order) - 1) // 2]]
    out.append(" / ".join("%g" % float(mid[us]) for _, _, us in QUANTILES))
    out.append(", ".join("{:,}".format(int(r["slow_ge_b23"])) for r in runs))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bench", default=os.path.join(TOP, "build", "release", "bench",
                                                    "ergon-bench"))
    ap.add_argument("--workers", type=int, default=16)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--seeds", default="1,2,3")
    ap.add_argument("--real-runs", type=int, default=3)
    ap.add_argument("--real-scale", type=float, default=1.0)
    ap.add_argument("--out", default=os.path.join(TOP, "docs", "benchmarks-simulated.md"))
    a = ap.parse_args()
    seeds = [s for s in a.seeds.split(",") if s]
    rows = []
    logical = {}
    for name, workload in CONFIGS:
        sim = [run(a.bench, workload, a.scale,
                   {"ERGON_SIMULATE": "1", "ERGON_WORKERS": str(a.workers), "ERGON_SEED": s})
               for s in seeds]
        logical[name] = statistics.median(float(r["logical_ms"]) for r in sim)
        label = "%s, %d simulated" % (name, a.workers)
        if name == "pools":
            label = "pools (%d + 1), simulated" % (a.workers - 1)
        rows.append([label] + cells(sim))
    if a.real_runs > 0:
        cores = os.cpu_count() or 1
        for name, workload in CONFIGS:
            real = [run(a.bench, workload, a.real_scale, {}) for _ in range(a.real_runs)]
            label = "%s, %d real cores" % (name, cores)
            if name == "pools":
                label = "pools (%d + 1), real" % max(1, cores - 1)
            rows.append([label] + cells(real))
    with open(a.out, "w") as f:
        f.write("<!-- written by bench/simulate.py; do not edit by hand -->\n")
        f.write("Simulated: `ERGON_SIMULATE=1 ERGON_WORKERS=%d ERGON_SEED=<seed> ergon-bench "
                "bimodal_<policy> %g`, seeds %s. Real: `ergon-bench bimodal_<policy> %g`, %d "
                "runs. Buckets are log2 ns (20: 1.0-2.1 ms, 22: 4.2-8.4 ms), one per run; "
                "the microseconds are the median run's bucket upper edges.\n\n" %
                (a.workers, a.scale, ", ".join(seeds), a.real_scale, a.real_runs))
        f.write("| config | p50 | p99 | p99.9 | p99.95 | median run, us (p50 / p99 / p99.9 / "
                "p99.95) | packets >= 8.4 ms |\n")
        f.write("|---|---|---|---|---|---|---|\n")
        for r in rows:
            f.write("| " + " | ".join(r) + " |\n")
        f.write("\nSimulated logical time of a run (first injection to last completion, "
                "median of the seeds): " +
                ", ".join("%s %.0f ms" % (k, v) for k, v in logical.items()) + ".\n")
    sys.stderr.write("wrote %s\n" % a.out)


if __name__ == "__main__":
    main()
