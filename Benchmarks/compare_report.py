#!/usr/bin/env python3
"""Reads the outputs of one Benchmarks/compare run and prints the ratio table and writes the chart.

  compare_report.py table DIR [--svg FILE]   the table of DIR's runs (and the chart, if asked)
  compare_report.py check FILE...            exit 1 unless every FILE is a run in the bench format
  compare_report.py same-ops A B             exit 1 unless runs A and B timed the same operations
                                             (equal count and misses per kind: same sequence)
  compare_report.py verdict DIR PROCS STEM   one line: the STEM run's ops/s (cask-cache or
                                             cask-store) over each peer's at PROCS processes

A run's output (from `cask bench` or a peer in Benchmarks/peers) is a header line, then lines
`get|set|delete count=N miss=N median_us=X p90_us=X p99_us=X max_us=X` and last
`wall_s=X ops_per_s=N`. DIR holds one file per system and process count, named
`<system>-<procs>.txt`, for the systems in SYSTEMS below.
"""
import math
import os
import re
import sys

# (file stem, label), in table order; the first is the reference of the ratios.
SYSTEMS = [
    ("cask-cache", "Cask Cache (typed, default bench)"),
    ("cask-store", "Cask --api store (engine)"),
    ("lmdb-writemap", "LMDB from C, NOSYNC + WRITEMAP"),
    ("lmdb", "LMDB from C, NOSYNC"),
    ("diskcache", "diskcache (Cache / FanoutCache(8))"),
]
PROCS = (1, 8)

NUMBER = r"[0-9]+(?:\.[0-9]+)?"
OPERATION = re.compile(rf"^(get|set|delete) +count=([0-9]+) miss=([0-9]+) median_us=({NUMBER}) "
                       rf"p90_us=({NUMBER}) p99_us=({NUMBER}) max_us=({NUMBER})$")
WALL = re.compile(rf"^wall_s=({NUMBER}) ops_per_s=([0-9]+)$")


class FormatError(Exception):
    pass


def parse(path):
    """{'header': str, 'ops_per_s': int, 'get': {'median_us': .., ..}, ..} of one run's output."""
    with open(path, encoding="utf-8") as f:
        lines = [line.rstrip("\n") for line in f if line.strip()]
    if len(lines) < 3:
        raise FormatError(f"{path}: expected a header, operation lines and a wall line; got {len(lines)} lines")
    run = {"header": lines[0]}
    if OPERATION.match(lines[0]) or WALL.match(lines[0]):
        raise FormatError(f"{path}: the first line is not a header: {lines[0]!r}")
    for line in lines[1:-1]:
        m = OPERATION.match(line)
        if not m:
            raise FormatError(f"{path}: not an operation line: {line!r}")
        kind = m.group(1)
        if kind in run:
            raise FormatError(f"{path}: two '{kind}' lines")
        count = int(m.group(2))
        p50, p90, p99, top = (float(m.group(i)) for i in range(4, 8))
        if count == 0 or not p50 <= p90 <= p99 <= top:
            raise FormatError(f"{path}: percentiles out of order or no samples: {line!r}")
        run[kind] = {"count": count, "miss": int(m.group(3)), "median_us": p50, "p99_us": p99}
    m = WALL.match(lines[-1])
    if not m:
        raise FormatError(f"{path}: the last line is not 'wall_s=.. ops_per_s=..': {lines[-1]!r}")
    run["ops_per_s"] = int(m.group(2))
    for kind in ("get", "set"):
        if kind not in run:
            raise FormatError(f"{path}: no '{kind}' line")
    return run


def load(directory, procs_list=PROCS, reference=("cask-cache", 1)):
    runs = {}
    for stem, _ in SYSTEMS:
        for procs in procs_list:
            path = os.path.join(directory, f"{stem}-{procs}.txt")
            if os.path.exists(path):
                runs[(stem, procs)] = parse(path)
    if reference not in runs:
        raise FormatError(f"{directory}: no {reference[0]}-{reference[1]}.txt, the reference run")
    return runs


# The peers of the verdict line, in its order, with their short names.
VERDICT_PEERS = [("diskcache", "diskcache"), ("lmdb-writemap", "LMDB (WRITEMAP)"), ("lmdb", "LMDB")]
VERDICT_NAMES = {"cask-cache": "Cask Cache", "cask-store": "Cask store"}


def ratio(r):
    """1.9, 14.4; two significant digits below 1 (0.72, 0.034)."""
    return f"{r:.1f}" if r >= 0.95 else f"{r:.2g}"


def verdict(runs, procs, stem):
    """`Cask Cache: 1.9× diskcache, 0.7× LMDB (WRITEMAP) in ops/s at 1 process`, for the peers that ran."""
    ours = runs[(stem, procs)]["ops_per_s"]
    ratios = [f"{ratio(ours / runs[(peer, procs)]['ops_per_s'])}× {name}"
              for peer, name in VERDICT_PEERS if (peer, procs) in runs]
    if not ratios:
        return None
    unit = "process" if procs == 1 else "processes"
    return f"{VERDICT_NAMES[stem]}: {', '.join(ratios)} in ops/s at {procs} {unit}"


def us(v):
    return f"{v:,.2f} µs" if v < 100 else f"{v:,.0f} µs"


def table(runs):
    """The rows: label, ops/s at 1 and 8 processes with Cask Cache's ratio to each, latencies."""
    reference = {p: runs[("cask-cache", p)]["ops_per_s"] for p in PROCS if ("cask-cache", p) in runs}
    rows = []
    for stem, label in SYSTEMS:
        cells = [label]
        for p in PROCS:
            run = runs.get((stem, p))
            if run is None:
                cells += ["-", "-"]
                continue
            cells.append(f"{run['ops_per_s'] / 1000:,.0f}k")
            cells.append(f"{reference[p] / run['ops_per_s']:.2f}x" if p in reference else "-")
        one, eight = runs.get((stem, 1)), runs.get((stem, 8))
        cells.append(us(one["get"]["median_us"]) if one else "-")
        cells.append(us(one["set"]["median_us"]) if one else "-")
        cells.append(us(eight["set"]["p99_us"]) if eight else "-")
        rows.append(cells)
    head = ["system", "ops/s 1 proc", "Cache ÷ it", "ops/s 8 procs", "Cache ÷ it",
            "get p50 (1 proc)", "set p50 (1 proc)", "set p99 (8 procs)"]
    widths = [max(len(r[i]) for r in rows + [head]) for i in range(len(head))]

    def fmt(cells):
        return "| " + " | ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))) + " |"
    out = [fmt(head), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += [fmt(r) for r in rows]
    return "\n".join(out)


def escape(s):
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def nice_step(x):
    """The smallest of 1, 2, 5 x 10^k at least x (x > 0)."""
    decade = 10 ** math.floor(math.log10(x))
    return next((m * decade for m in (1, 2, 5, 10) if m * decade >= x * (1 - 1e-9)), 10 * decade)


def tick_label(v, unit):
    text = f"{v / 1e6:g}M" if v >= 1e6 else f"{v / 1e3:g}k" if v >= 1e3 else f"{v:g}"
    return f"{text} {unit}"


def svg(runs, title):
    """Panels of horizontal bars from zero on a linear axis with ticks in the panel's unit: every
    system side by side, each bar labelled with its value (`data-value` on each bar's rect)."""
    panels = [
        ("Throughput, 1 process (ops/s, higher is better)", lambda r: r["ops_per_s"], 1, "ops/s"),
        ("Throughput, 8 processes (ops/s, higher is better)", lambda r: r["ops_per_s"], 8, "ops/s"),
        ("get p50, 1 process (µs, lower is better)", lambda r: r["get"]["median_us"], 1, "µs"),
        ("set p50, 1 process (µs, lower is better)", lambda r: r["set"]["median_us"], 1, "µs"),
        ("set p99, 8 processes (µs, lower is better)", lambda r: r["set"]["p99_us"], 8, "µs"),
    ]
    colors = ["#4c78a8", "#9ecae9", "#f58518", "#ffbf79", "#54a24b"]
    width, left, right, bar, gap, head, foot = 880, 290, 150, 18, 6, 30, 34
    panel_height = head + len(SYSTEMS) * (bar + gap) + foot
    height = 50 + panel_height * len(panels)
    out = [f'<?xml version="1.0" encoding="UTF-8"?>',
           f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
           f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>',
           f'<text x="{width / 2}" y="26" text-anchor="middle" font-size="15" font-weight="bold">{escape(title)}</text>']
    plot = width - left - right
    for n, (name, value, procs, unit) in enumerate(panels):
        top = 50 + n * panel_height
        out.append(f'<text x="{left}" y="{top + 18}" font-weight="bold">{escape(name)}</text>')
        values = [(label, value(runs[(stem, procs)]) if (stem, procs) in runs else None, colors[i])
                  for i, (stem, label) in enumerate(SYSTEMS)]
        largest = max((v for _, v, _ in values if v is not None), default=0) or 1
        step = nice_step(largest / 4)
        scale_end = math.ceil(largest / step - 1e-9) * step
        bottom = top + head + len(SYSTEMS) * (bar + gap) - gap
        ticks = [i * step for i in range(int(round(scale_end / step)) + 1)]
        for t in ticks:  # grid line, tick label in the panel's unit
            tx = left + plot * t / scale_end
            out.append(f'<line x1="{tx:.1f}" y1="{top + head - 3}" x2="{tx:.1f}" y2="{bottom + 3}" stroke="#dddddd"/>')
            out.append(f'<text x="{tx:.1f}" y="{bottom + 17}" text-anchor="middle" font-size="10">'
                       f'{escape(tick_label(t, unit))}</text>')
        for i, (label, v, color) in enumerate(values):
            y = top + head + i * (bar + gap)
            out.append(f'<text x="{left - 8}" y="{y + bar - 5}" text-anchor="end">{escape(label)}</text>')
            if v is None:
                out.append(f'<text x="{left + 4}" y="{y + bar - 5}" fill="#888888">not run</text>')
                continue
            w = plot * v / scale_end
            shown = f"{v:,.0f} {unit}" if unit == "ops/s" or v >= 100 else f"{v:,.2f} {unit}"
            out.append(f'<rect x="{left}" y="{y}" width="{w:.1f}" height="{bar}" fill="{color}" data-value="{v}">'
                       f'<title>{escape(label)}: {escape(shown)}</title></rect>')
            out.append(f'<text x="{left + w + 4:.1f}" y="{y + bar - 5}">{escape(shown)}</text>')
        out.append(f'<line x1="{left}" y1="{top + head - 3}" x2="{left}" y2="{bottom + 3}" stroke="#333333"/>')
        out.append(f'<line x1="{left}" y1="{bottom + 3}" x2="{left + plot}" y2="{bottom + 3}" stroke="#333333"/>')
        out.append(f'<text x="{left + plot / 2}" y="{bottom + 30}" text-anchor="middle" fill="#555555">{escape(unit)}, linear, from zero</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main(argv):
    if len(argv) >= 2 and argv[0] == "check":
        bad = 0
        for path in argv[1:]:
            try:
                parse(path)
            except (OSError, FormatError) as error:
                print(f"check: {error}", file=sys.stderr)
                bad = 1
        return bad
    if len(argv) == 3 and argv[0] == "same-ops":
        try:
            a, b = parse(argv[1]), parse(argv[2])
        except (OSError, FormatError) as error:
            print(f"same-ops: {error}", file=sys.stderr)
            return 1
        differ = [k for k in ("get", "set", "delete")
                  if (a.get(k, {}).get("count"), a.get(k, {}).get("miss")) != (b.get(k, {}).get("count"), b.get(k, {}).get("miss"))]
        for k in differ:
            print(f"same-ops: {k} differs: {argv[1]} {a.get(k)} vs {argv[2]} {b.get(k)}", file=sys.stderr)
        return 1 if differ else 0
    if len(argv) == 4 and argv[0] == "verdict" and argv[2].isdigit() and argv[3] in VERDICT_NAMES:
        procs = int(argv[2])
        try:
            runs = load(argv[1], (procs,), (argv[3], procs))
        except (OSError, FormatError) as error:
            print(f"compare_report: {error}", file=sys.stderr)
            return 1
        line = verdict(runs, procs, argv[3])
        if line:
            print(line)
        return 0
    if len(argv) in (2, 4) and argv[0] == "table" and (len(argv) == 2 or argv[2] == "--svg"):
        try:
            runs = load(argv[1])
        except (OSError, FormatError) as error:
            print(f"compare_report: {error}", file=sys.stderr)
            return 1
        print(table(runs))
        if len(argv) == 4:
            m = re.search(r"\bops=([0-9]+)", runs[("cask-cache", 1)]["header"])
            ops = f"{int(m.group(1)):,}" if m else "?"
            with open(argv[3], "w", encoding="utf-8") as f:
                f.write(svg(runs, f"Core workload, same run ({ops} ops per process)"))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
