#!/usr/bin/env python3
"""Tables and charts of the compass / smolscale runs, ergon against its peers.

    python3 bench/report.py --csv <results.csv> [--csv more.csv ...] --out docs/
                            [--peers go,tokio,...] [--title TEXT]

Reads the CSV rows that ../shared/peers/run.sh appends to <results>/<date>.csv:

    runtime,workload,wall_ms,metric,value,user_s,sys_s,max_rss_kb,scale,rep,run_id

and writes, into --out:

    benchmarks-table.md  one row per (workload, scale): the median headline metric of every
                         runtime (ergon first) with the median user+sys cpu seconds of the whole
                         process in brackets, and the ratio ergon / best peer (< 1: ergon is
                         better; every headline metric is lower-is-better). Noisy cells follow.
    benchmarks.svg       small multiples: one panel per (workload, scale), one log-scale bar per
                         runtime, ergon highlighted.

The cell selection and the medians are run.sh's (its `table` function): for every
(workload, scale, runtime) only the newest invocation (run_id) that ran it counts, so a re-run
of one cell replaces that cell; the headline metric per workload is run.sh's HEAD; a cell is
noisy when (max - min) > 25 % of the median. --peers restricts which runtimes count as "best
peer" (default: every runtime in the CSV other than ergon, variants included).
Standard library only.
"""
import argparse
import csv
import glob
import math
import os
import statistics
import sys
from xml.sax.saxutils import escape

# run.sh's headline metric per workload (plus ergon's extra hog_latency_checkpoint).
HEAD = {"pingpong": "ns_per_rt", "pingpong_pairs": "ns_per_rt", "ring": "ns_per_hop",
        "skynet": "wall_ms", "spawn_many": "ns_per_spawn", "spawn_one": "ns_per_spawn",
        "yield": "ns_per_yield", "big": "wall_ms", "memory": "bytes_per_proc",
        "hog_latency": "max_rt_us", "hog_latency_checkpoint": "max_rt_us",
        "blocking_latency": "max_rt_us", "idle_cpu": "cpu_s"}
for _w in ["s_spawn_one", "s_spawn_many", "s_yield_now", "s_ping_pong", "s_ctx_quiet",
           "s_ctx_busy", "s_fanout"]:
    HEAD[_w] = "ns_per_iter"  # smolscale suite: median time of one iteration
ORDER_W = list(HEAD)
ORDER_RT = ["ergon", "erlang", "go", "caf", "caf_main_spawn", "boost_fiber",
            "boost_fiber_suspend", "tokio", "smol"]
NAMES = ["runtime", "workload", "wall_ms", "metric", "value", "user_s", "sys_s", "max_rss_kb",
         "scale", "rep", "run_id"]
# How a headline metric reads on a chart: (axis caption, kind, factor). kind "time": the value
# times factor is in ns and labels read "290 ns", "1.2 ms"; "bytes"; "plain".
UNITS = {"ns_per_rt": ("time per round trip", "time", 1), "ns_per_hop": ("time per hop", "time", 1),
         "wall_ms": ("wall time", "time", 1e6), "ns_per_spawn": ("time per spawn", "time", 1),
         "ns_per_yield": ("time per yield", "time", 1),
         "bytes_per_proc": ("resident bytes per process", "bytes", 1),
         "max_rt_us": ("longest round trip", "time", 1e3),
         "cpu_s": ("cpu time (user+sys) in the timed region", "time", 1e9),
         "ns_per_iter": ("time per iteration", "time", 1)}


def unit_of(metric):
    return UNITS.get(metric, (metric, "plain", 1))


def sig3(x):
    """x with 3 significant digits, no exponent (x >= 0)."""
    if x >= 100:
        return f"{x:,.0f}"
    if x >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


def chart_label(metric, v, tick=False):
    """A value as the chart shows it: with a unit for times and bytes. Ticks drop zero decimals."""
    _, kind, factor = unit_of(metric)
    if kind == "plain":
        return decade_label(round(math.log10(v))) if tick else fmt(v)
    x = v * factor
    steps = ([(1e9, "s"), (1e6, "ms"), (1e3, "µs"), (1, "ns")] if kind == "time" else
             [(1e9, "GB"), (1e6, "MB"), (1e3, "kB"), (1, "B")])
    for div, name in steps:
        if x >= div or div == 1:
            q = x / div
            text = f"{q:g}" if tick else sig3(q)
            return f"{text} {name}"
    return fmt(v)


def headline(workload):
    return HEAD.get(workload, "wall_ms")


# ------------------------------------------------------------------ reading
def read_rows(paths):
    rows = []
    for path in paths:
        with open(path, newline="") as f:
            for r in csv.DictReader(f, fieldnames=NAMES):
                if r["runtime"] == "runtime" or not r["runtime"]:
                    continue  # header line(s)
                rows.append(r)
    return rows


def cells_of(rows):
    """{(workload, scale, runtime): {"reps": {rep: {metric: value, cpu, rss, wall_ms}}, "err": []}}"""
    latest = {}
    for r in rows:
        k = (r["workload"], r["scale"], r["runtime"])
        latest[k] = max(latest.get(k, ""), r["run_id"] or "")
    cells = {}
    for r in rows:
        k = (r["workload"], r["scale"], r["runtime"])
        if (r["run_id"] or "") != latest[k]:
            continue
        d = cells.setdefault(k, {"reps": {}, "err": []})
        if r["metric"] == "ERROR":
            d["err"].append(r["value"])
            continue
        rep = d["reps"].setdefault(r["rep"], {"cpu": fnum(r["user_s"]) + fnum(r["sys_s"]),
                                              "rss": fnum(r["max_rss_kb"]),
                                              "wall_ms": fnum(r["wall_ms"])})
        try:
            rep[r["metric"]] = float(r["value"])
        except ValueError:
            pass  # a non-numeric extra field (none in the peers' lines)
    return cells


def fnum(s):
    try:
        return float(s)
    except (TypeError, ValueError):
        return 0.0


def med(d, metric):
    v = [rep[metric] for rep in d["reps"].values() if metric in rep]
    return (statistics.median(v), v) if v else (None, [])


def fmt(v):
    if v is None:
        return "-"
    if v >= 100:
        return f"{v:,.0f}"
    if v >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def order_runtimes(cells):
    rts = [rt for rt in ORDER_RT if any(k[2] == rt for k in cells)]
    return rts + sorted({k[2] for k in cells} - set(rts))


def order_groups(cells):
    def key(g):
        w, sc = g
        try:
            s = -float(sc)
        except ValueError:
            s = 0.0
        return (ORDER_W.index(w) if w in ORDER_W else 99, w, s)
    return sorted({(k[0], k[1]) for k in cells}, key=key)


# ------------------------------------------------------------------ the model both outputs use
def build(cells, peers_filter):
    rts = order_runtimes(cells)
    groups = []
    for w, sc in order_groups(cells):
        m = headline(w)
        g = {"workload": w, "scale": sc, "metric": m, "cells": {}, "noisy": []}
        for rt in rts:
            d = cells.get((w, sc, rt))
            if not d:
                continue
            value, vals = med(d, m)
            g["cells"][rt] = {"value": value, "vals": vals, "cpu": med(d, "cpu")[0],
                              "err": list(d["err"])}
            if value is not None and len(vals) >= 2 and value > 0 and \
                    (max(vals) - min(vals)) / value > 0.25:
                g["noisy"].append((rt, vals))
        peers = {rt: c["value"] for rt, c in g["cells"].items()
                 if rt != "ergon" and c["value"] is not None
                 and (peers_filter is None or rt in peers_filter)}
        g["best_peer"] = min(peers, key=lambda rt: (peers[rt], rt)) if peers else None
        e = g["cells"].get("ergon", {}).get("value")
        if e is not None and g["best_peer"] is not None and peers[g["best_peer"]] > 0:
            g["ratio"] = e / peers[g["best_peer"]]
        else:
            g["ratio"] = None
        groups.append(g)
    return rts, groups


# ------------------------------------------------------------------ markdown
def cell_text(c):
    if c is None:
        return "-"
    if c["value"] is None:
        return "ERR(" + ",".join(c["err"]) + ")"
    t = f"{fmt(c['value'])} ({c['cpu']:.1f}s)"
    if c["err"]:
        t += f" [{len(c['err'])} failed: {','.join(c['err'])}]"
    return t


def ratio_fmt(r):
    if r < 10:
        return f"{r:.2f}"
    if r < 100:
        return f"{r:.1f}"
    return f"{r:,.0f}"


def ratio_text(g):
    if g["ratio"] is None:
        return "-"
    return f"{ratio_fmt(g['ratio'])}× {g['best_peer']}"


def markdown(rts, groups, sources):
    hdr = ["workload (metric) @scale"] + rts + ["ergon / best peer"]
    lines = ["| " + " | ".join(hdr) + " |", "|" + "---|" * len(hdr)]
    for g in groups:
        row = [f"{g['workload']} ({g['metric']}) @{g['scale']}"]
        for rt in rts:
            c = g["cells"].get(rt)
            t = cell_text(c)
            if rt == "ergon" and c is not None and c["value"] is not None:
                t = f"**{t}**"
            row.append(t)
        row.append(ratio_text(g))
        lines.append("| " + " | ".join(row) + " |")
    out = ["<!-- generated by bench/report.py from " + ", ".join(sources) + " -->", "",
           "Median headline metric per workload (lower is better everywhere), with the median "
           "user+sys cpu seconds of the whole process in brackets. The last column is ergon's "
           "median divided by the best (lowest) peer median: below 1 ergon is better.", ""]
    out += lines
    noisy = [f"{g['workload']}@{g['scale']}/{rt}: " + ", ".join(fmt(x) for x in vals)
             for g in groups for rt, vals in g["noisy"]]
    if noisy:
        out += ["", "Noisy cells (max-min > 25% of median), all runs: " + "; ".join(noisy)]
    return "\n".join(out) + "\n"


# ------------------------------------------------------------------ SVG
PANEL_W, PANEL_H_TOP, BAR_H, BAR_GAP, PANEL_PAD = 340, 44, 14, 4, 16
LABEL_W, VALUE_W = 124, 60
ERGON_COLOR, PEER_COLOR, BEST_COLOR = "#d1495b", "#8d99ae", "#2b7a78"


def nice_decades(lo, hi):
    """Decade bounds [10^a, 10^b] enclosing lo..hi (both > 0), at least one decade wide."""
    a = math.floor(math.log10(lo))
    b = math.ceil(math.log10(hi))
    if b <= a:
        b = a + 1
    return a, b


def svg(rts, groups, title, cols):
    n = len(groups)
    cols = max(1, min(cols, n)) if n else 1
    rows_n = math.ceil(n / cols) if n else 1
    panel_h = PANEL_H_TOP + len(rts) * (BAR_H + BAR_GAP) + 30
    width = cols * PANEL_W + (cols + 1) * PANEL_PAD
    height = 70 + rows_n * (panel_h + PANEL_PAD) + 10
    o = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
         f'viewBox="0 0 {width} {height}" font-family="Helvetica, Arial, sans-serif" '
         f'font-size="11">',
         f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
         f'<text x="{PANEL_PAD}" y="26" font-size="17" font-weight="bold">{escape(title)}</text>',
         f'<text x="{PANEL_PAD}" y="46" fill="#444">Median of the headline metric per '
         f'runtime, log scale, lower is better. '
         f'<tspan fill="{ERGON_COLOR}" font-weight="bold">ergon</tspan> highlighted; '
         f'<tspan fill="{BEST_COLOR}" font-weight="bold">best peer</tspan> in green; '
         f'the ratio is ergon / best peer.</text>']
    for i, g in enumerate(groups):
        x0 = PANEL_PAD + (i % cols) * (PANEL_W + PANEL_PAD)
        y0 = 64 + (i // cols) * (panel_h + PANEL_PAD)
        o.append(panel(g, rts, x0, y0, panel_h))
    o.append("</svg>")
    return "\n".join(o) + "\n"


def panel(g, rts, x0, y0, h):
    unit = unit_of(g["metric"])[0] + " (" + g["metric"] + ")"
    o = [f'<g transform="translate({x0},{y0})">',
         f'<rect x="0" y="0" width="{PANEL_W}" height="{h}" fill="#f8f9fa" stroke="#dee2e6"/>',
         f'<text x="8" y="17" font-size="12.5" font-weight="bold">{escape(g["workload"])}'
         f'<tspan font-weight="normal" fill="#555"> @{escape(g["scale"])}</tspan></text>',
         f'<text x="8" y="32" fill="#555">{escape(unit)}</text>']
    if g["ratio"] is not None:
        r = g["ratio"]
        color = "#2b7a78" if r <= 1 else ERGON_COLOR
        rs = ratio_fmt(r)
        o.append(f'<text x="{PANEL_W - 8}" y="17" text-anchor="end" font-weight="bold" '
                 f'fill="{color}">ergon / best = {rs}×</text>')
    vals = [c["value"] for c in g["cells"].values() if c["value"] is not None and c["value"] > 0]
    bx0, bx1 = LABEL_W, PANEL_W - VALUE_W
    if vals:
        a, b = nice_decades(min(vals), max(vals))

        def xpos(v):
            return bx0 + (math.log10(v) - a) / (b - a) * (bx1 - bx0)

        top, bottom = PANEL_H_TOP - 4, PANEL_H_TOP + len(rts) * (BAR_H + BAR_GAP)
        step = max(1, math.ceil((b - a + 1) / 4))  # at most 4 tick labels fit
        for d in range(a, b + 1, step):
            x = xpos(10 ** d)
            o.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{bottom}" '
                     f'stroke="#ced4da" stroke-width="0.8"/>')
            o.append(f'<text x="{x:.1f}" y="{bottom + 12}" text-anchor="middle" fill="#666" '
                     f'font-size="9.5">{escape(chart_label(g["metric"], 10.0 ** d, tick=True))}</text>')
    for j, rt in enumerate(rts):
        y = PANEL_H_TOP + j * (BAR_H + BAR_GAP)
        is_ergon = rt == "ergon"
        weight = ' font-weight="bold"' if is_ergon else ""
        lcolor = ERGON_COLOR if is_ergon else "#222"
        o.append(f'<text x="{LABEL_W - 6}" y="{y + BAR_H - 3}" text-anchor="end" '
                 f'fill="{lcolor}"{weight}>{escape(rt)}</text>')
        c = g["cells"].get(rt)
        if c is None:
            o.append(f'<text x="{bx0 + 2}" y="{y + BAR_H - 3}" fill="#999">not run</text>')
            continue
        if c["value"] is None:
            o.append(f'<text x="{bx0 + 2}" y="{y + BAR_H - 3}" fill="{ERGON_COLOR}">'
                     f'failed ({escape(",".join(c["err"]))})</text>')
            continue
        v = c["value"]
        if v <= 0 or not vals:
            o.append(f'<text x="{bx0 + 2}" y="{y + BAR_H - 3}" fill="#222">'
                     f'{escape(chart_label(g["metric"], v)) if v > 0 else "0"}</text>')
            continue
        x = xpos(v)
        fill = ERGON_COLOR if is_ergon else (BEST_COLOR if rt == g["best_peer"] else PEER_COLOR)
        stroke = ' stroke="#7a1f2b" stroke-width="1.2"' if is_ergon else ""
        o.append(f'<rect x="{bx0}" y="{y}" width="{max(x - bx0, 1.5):.1f}" height="{BAR_H}" '
                 f'fill="{fill}"{stroke}><title>{escape(rt)}: {fmt(v)} {escape(g["metric"])}'
                 f'</title></rect>')
        o.append(f'<text x="{x + 4:.1f}" y="{y + BAR_H - 3}" fill="#222"{weight}>'
                 f'{escape(chart_label(g["metric"], v))}</text>')
    o.append("</g>")
    return "\n".join(o)


def decade_label(d):
    if -3 <= d <= 5:
        v = 10.0 ** d
        return f"{v:,.0f}" if d >= 0 else f"{v:g}"
    return f"1e{d}"


# ------------------------------------------------------------------ main
def expand(paths):
    out = []
    for p in paths:
        if os.path.isdir(p):
            out += sorted(glob.glob(os.path.join(p, "*.csv")))
        else:
            hits = sorted(glob.glob(p))
            out += hits if hits else [p]
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--csv", action="append", required=True,
                    help="a run.sh results CSV (repeatable; a directory or glob reads every *.csv)")
    ap.add_argument("--out", required=True, help="output directory")
    ap.add_argument("--peers", default=None,
                    help="comma-separated runtimes that count as peers for 'best peer'")
    ap.add_argument("--title", default="ergon vs. peers: compass and smolscale workloads")
    ap.add_argument("--cols", type=int, default=4, help="panels per row of the SVG")
    args = ap.parse_args(argv)
    paths = expand(args.csv)
    missing = [p for p in paths if not os.path.isfile(p)]
    if missing or not paths:
        print("report.py: no such CSV: " + ", ".join(missing or args.csv), file=sys.stderr)
        return 2
    cells = cells_of(read_rows(paths))
    if not cells:
        print("report.py: no result rows in " + ", ".join(paths), file=sys.stderr)
        return 2
    peers = set(args.peers.split(",")) if args.peers else None
    rts, groups = build(cells, peers)
    os.makedirs(args.out, exist_ok=True)
    md_path = os.path.join(args.out, "benchmarks-table.md")
    svg_path = os.path.join(args.out, "benchmarks.svg")
    with open(md_path, "w") as f:
        f.write(markdown(rts, groups, [os.path.basename(p) for p in paths]))
    with open(svg_path, "w") as f:
        f.write(svg(rts, groups, args.title, args.cols))
    print(f"wrote {md_path} and {svg_path}: {len(groups)} workloads x {len(rts)} runtimes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
