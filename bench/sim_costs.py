#!/usr/bin/env python3
"""The simulated mode's cost model, measured: Deterministic::Cost (testing/deterministic.hpp).

    python3 bench/sim_costs.py [--bench build/release/bench/ergon-bench] [--runs 5]

Wall clock (release build, ERGON_WORKERS=1, the median of --runs runs each; run it while
nothing else builds):
    yield            ns_per_yield            -> shown only: its 1,000 stacks miss the caches
    pingpong         ns_per_rt               -> a round trip: 2 sends + 2 direct switches,
                                                and the ns per instruction
    spawn_one        ns_per_spawn            -> a spawn: the spawn, the child's step, its send
                                                and exit, the spawner's step
    checkpoint_cost  per_checkpoint_alone_ns -> kReductionNs
    bimodal_step     ns_per_step             -> bimodal's kStepReductions
    wake_rt          ns_per_rt (ERGON_SPIN_ROUNDS=0) and the run's system CPU time per
                     round trip (getrusage of the child): two wake-ups of a parked worker
Callgrind (instructions, converted with the ns per instruction of pingpong: its measured
ns_per_rt over bench/budget.txt's pingpong_rt):
    yield            bench/budget.txt's count  -> kStepNs: one trip through the worker loop
    send_blocked     bench/budget.txt's count  -> kSendNs
    Worker::steal    inclusive instructions per call, in `spawn_many` on 2 workers with
                     ERGON_POLICY=steal       -> kStealNs
    Worker::remote_wake + Worker::push_back per call, in `wake_rt` (every send pushes
                     into the other worker's inbox, which drains it) -> kMigrateNs (the
                     balancer's move is the same push into the receiver's inbox, and the
                     requeue when it drains it)
Derived:
    kReductionNs is 1 ns, the unit a program charges its own work in (ergon::reduce(n)); the
                reduction point's own cost (checkpoint_cost) is shown beside it
    kSwitchNs = (pingpong - 2 kSendNs) / 2
    kSpawnNs  = spawn_one - 2 kStepNs - kSendNs
    wake      = (wake_rt - pingpong) / 2, one wake-up's whole latency; kWakeNs is the
                waker's share: half the system CPU time of a wake-up (a futex wake; the other
                half is the wakee's futex wait returning), plus remote_wake's instructions;
                kUnparkNs = wake - kWakeNs.
Prints each measurement and the constants. Standard library only; needs valgrind.
"""
import argparse
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)


def clean_env(extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ERGON_")}
    env.update(extra)
    return env


def timed(bench, workload, scale, metric, env, runs):
    """(median of `metric`, median of system CPU seconds per run) over `runs` runs."""
    vals, syss = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        p = subprocess.run([bench, workload, str(scale)], env=clean_env(env),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        m = re.search(r"\b%s=([0-9.]+)" % metric, p.stdout)
        if p.returncode != 0 or not m:
            sys.exit("sim_costs.py: %s %s failed:\n%s%s" % (workload, scale, p.stdout, p.stderr))
        vals.append(float(m.group(1)))
        syss.append(after.ru_stime - before.ru_stime)
    return statistics.median(vals), statistics.median(syss)


def budget(op):
    with open(os.path.join(HERE, "budget.txt")) as f:
        for line in f:
            parts = line.split()
            if parts and parts[0] == op:
                return int(parts[1])
    sys.exit("sim_costs.py: no %s in bench/budget.txt" % op)


def per_call(bench, workload, scale, env, functions):
    """Inclusive instructions per call of each function, from one callgrind run."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "cg")
        p = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out,
                            bench, workload, str(scale)], env=clean_env(env),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if p.returncode != 0:
            sys.exit("sim_costs.py: callgrind %s failed:\n%s" % (workload, p.stderr[-2000:]))
        a = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--tree=none", out],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True).stdout
    # The source annotation's call lines ("Ir => file:function (Nx)": the inclusive cost of
    # the calls made from that line, and their count), summed over every call site: a
    # function partly inlined has no entry of its own, but its real calls still show.
    result = {}
    for fn in functions:
        ir = calls = 0
        for line in a.splitlines():
            m = re.match(r"\s*([\d,]+) \([^)]*\)\s+=> \S*:ergon::detail::%s \(([\d,]+)x\)"
                         % re.escape(fn), line)
            if m:
                ir += int(m.group(1).replace(",", ""))
                calls += int(m.group(2).replace(",", ""))
        if not calls:
            sys.exit("sim_costs.py: no calls of %s in callgrind's %s" % (fn, workload))
        result[fn] = (ir / calls, calls)
    return result


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bench", default=os.path.join(TOP, "build", "release", "bench",
                                                    "ergon-bench"))
    ap.add_argument("--runs", type=int, default=5)
    a = ap.parse_args()
    one = {"ERGON_WORKERS": "1"}
    yield_ns, _ = timed(a.bench, "yield", 0.2, "ns_per_yield", one, a.runs)
    pp_ns, _ = timed(a.bench, "pingpong", 0.2, "ns_per_rt", one, a.runs)
    spawn_ns, _ = timed(a.bench, "spawn_one", 0.2, "ns_per_spawn", one, a.runs)
    red_ns, _ = timed(a.bench, "checkpoint_cost", 0.2, "per_checkpoint_alone_ns", one, a.runs)
    sha_ns, _ = timed(a.bench, "bimodal_step", 0.5, "ns_per_step", {}, a.runs)
    wake_scale = 0.5
    wake_rt_ns, wake_sys = timed(a.bench, "wake_rt", wake_scale, "ns_per_rt",
                                 {"ERGON_SPIN_ROUNDS": "0"}, a.runs)
    wake_rts = round(2e5 * wake_scale)
    ns_per_ir = pp_ns / budget("pingpong_rt")
    send_ns = budget("send_blocked") * ns_per_ir
    steal = per_call(a.bench, "spawn_many", 0.01,
                     {"ERGON_WORKERS": "2", "ERGON_POLICY": "steal"}, ["Worker::steal()"])
    mig = per_call(a.bench, "wake_rt", 0.02, {},
                   ["Worker::remote_wake(ergon::detail::Process*)",
                    "Worker::push_back(ergon::detail::Process*)"])
    print("measured (median of %d): yield %.1f ns, pingpong %.1f ns/rt, spawn_one %.1f ns, "
          "checkpoint alone %.2f ns, sha1 step %.1f ns, wake_rt %.1f ns/rt (system CPU %.0f ns "
          "per rt)" % (a.runs, yield_ns, pp_ns, spawn_ns, red_ns, sha_ns, wake_rt_ns,
                       wake_sys / wake_rts * 1e9))
    print("ns per instruction (pingpong): %.4f" % ns_per_ir)
    for fn, (ir, calls) in list(steal.items()) + list(mig.items()):
        print("callgrind: %s %.0f instructions per call (%d calls)" % (fn, ir, calls))
    step = budget("yield") * ns_per_ir
    switch = (pp_ns - 2 * send_ns) / 2
    spawn = spawn_ns - 2 * step - send_ns
    steal_ns = steal["Worker::steal()"][0] * ns_per_ir
    migrate = (mig["Worker::remote_wake(ergon::detail::Process*)"][0] +
               mig["Worker::push_back(ergon::detail::Process*)"][0]) * ns_per_ir
    wake_total = (wake_rt_ns - pp_ns) / 2
    wake = (wake_sys / wake_rts * 1e9) / 4 + \
        mig["Worker::remote_wake(ergon::detail::Process*)"][0] * ns_per_ir
    unpark = wake_total - wake
    for name, v in [("kStepNs", step), ("kSwitchNs", switch), ("kSendNs", send_ns),
                    ("kSpawnNs", spawn), ("kReductionNs", red_ns), ("kStealNs", steal_ns),
                    ("kMigrateNs", migrate), ("kWakeNs", wake), ("kUnparkNs", unpark)]:
        print("%-13s %8.1f ns" % (name, v))
    print("kStepReductions (bimodal, at kReductionNs = 1 ns) %.0f" % sha_ns)


if __name__ == "__main__":
    main()
