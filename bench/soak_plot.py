#!/usr/bin/env python3
"""Draws the samples of `ergon-bench soak` as an SVG: resident memory and live processes over
time, each on a linear axis from zero, with the end of the warm-up marked. Where the samples
carry stacks_kb (since 2026-12-03), the memory panel also draws the resident stack pages, so
the part of RSS that pooled stacks hold can be read off beside the whole.

    build/release/bench/ergon-bench soak 1.0 > bench/soak-<date>.txt
    bench/soak_plot.py bench/soak-<date>.txt docs/soak.svg

The standard library only (no matplotlib on the build machines): the SVG is written by hand.
"""
import re
import sys

SAMPLE = re.compile(r"SAMPLE t_s=(\d+) rss_kb=(-?\d+) processes=(\d+)")
STACKS = re.compile(r"stacks_kb=(\d+)")
W, H, PAD = 720, 200, 48


def panel(points, y_label, top, colour, warm, second=None):
    """One chart of (t, value) pairs, its y axis from 0 to a round maximum; `second`, if given,
    is a (points, colour) pair drawn on the same axis (it must not exceed the first)."""
    t_max = max(t for t, _ in points)
    v_max = max(v for _, v in points) * 1.2 or 1
    step = 10 ** (len(str(int(v_max))) - 1)
    v_max = (int(v_max / step) + 1) * step

    def x(t):
        return PAD + (W - 2 * PAD) * t / t_max

    def y(v):
        return top + H - (H - 20) * v / v_max

    out = ['<text x="%d" y="%d" font-size="13">%s</text>' % (PAD, top + 12, y_label)]
    out.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#888"/>' % (PAD, y(0), W - PAD, y(0)))
    out.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#888"/>' % (PAD, y(0), PAD, y(v_max)))
    for frac in (0, 0.5, 1):
        v = v_max * frac
        out.append('<text x="%d" y="%d" font-size="11" text-anchor="end">%g</text>' %
                   (PAD - 4, y(v) + 4, v))
    for frac in (0, 0.25, 0.5, 0.75, 1):
        t = t_max * frac
        out.append('<text x="%d" y="%d" font-size="11" text-anchor="middle">%d s</text>' %
                   (x(t), y(0) + 14, t))
    out.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#c33" stroke-dasharray="4,3"/>' %
               (x(warm), y(0), x(warm), y(v_max)))
    out.append('<polyline fill="none" stroke="%s" stroke-width="1.5" points="%s"/>' %
               (colour, " ".join("%.1f,%.1f" % (x(t), y(v)) for t, v in points)))
    if second:
        out.append('<polyline fill="none" stroke="%s" stroke-width="1.5" points="%s"/>' %
                   (second[1], " ".join("%.1f,%.1f" % (x(t), y(v)) for t, v in second[0])))
    return out


def main(argv):
    if len(argv) != 3:
        sys.exit(__doc__)
    lines = [line for line in open(argv[1]) if SAMPLE.search(line)]
    rows = [tuple(map(int, SAMPLE.search(line).groups())) for line in lines]
    stacks = [(row[0], int(m.group(1)) / 1024.0)
              for row, m in zip(rows, map(STACKS.search, lines)) if m]
    if not rows:
        sys.exit("soak_plot: no SAMPLE lines in %s" % argv[1])
    warm = max(1, rows[-1][0] // 10)
    rss = [(t, kb / 1024.0) for t, kb, _ in rows]
    procs = [(t, n) for t, _, n in rows]
    if stacks:
        body = panel(rss, "resident memory (MiB): all (blue), stack pages (orange); dashed: end of"
                     " warm-up", 0, "#2a6db0", warm, (stacks, "#d2691e"))
    else:
        body = panel(rss, "resident memory (MiB); dashed: end of warm-up", 0, "#2a6db0", warm)
    body += panel(procs, "live processes", H + 40, "#2e8b57", warm)
    svg = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif">'
           % (W, 2 * H + 80), '<rect width="100%" height="100%" fill="white"/>'] + body + ["</svg>"]
    open(argv[2], "w").write("\n".join(svg) + "\n")


if __name__ == "__main__":
    main(sys.argv)
