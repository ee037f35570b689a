#!/usr/bin/env python3
"""Compares two sets of ferry-bench result files (JSON, from `--out`), figure by figure:
the median of each set and the ratio after/before, with every run's value, so that noise
(a wide spread within one set) is visible beside any change.

    scripts/bench-compare.py --before a1.json a2.json --after b1.json b2.json

Run the two builds in turn (before, after, before, after) on one machine, so that drift
in the machine's speed falls on both sides.
"""

import argparse
import json
import statistics


def figures(path):
    """Every numeric figure of one result file, by (scenario, figure name)."""
    out = {}
    with open(path) as f:
        runs = json.load(f)
    for run in runs:
        scenario = run["scenario"]
        for name, value in run.get("figures", {}).items():
            out[(scenario, name)] = value
        for name, histogram in run.get("latency", {}).items():
            for q in ("p50", "p99"):
                if isinstance(histogram, dict) and q in histogram:
                    out[(scenario, f"{name} {q}")] = histogram[q]
        out[(scenario, "problems")] = len(run.get("problems", []))
        start, end = run.get("server_start"), run.get("server_end")
        if start and end:
            out[(scenario, "server CPU s")] = end["cpu_secs"] - start["cpu_secs"]
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", nargs="+", required=True, help="result files of the old build")
    parser.add_argument("--after", nargs="+", required=True, help="result files of the new build")
    args = parser.parse_args()
    before = [figures(p) for p in args.before]
    after = [figures(p) for p in args.after]
    print(f"{'scenario':<12} {'figure':<44} {'before':>10} {'after':>10} {'ratio':>6}  runs")
    for key in before[0]:
        old = [f[key] for f in before if key in f]
        new = [f[key] for f in after if key in f]
        if not new or not all(isinstance(v, (int, float)) for v in old + new):
            continue
        b, a = statistics.median(old), statistics.median(new)
        ratio = f"{a / b:6.2f}" if b else "     -"
        spread = f"before {', '.join(f'{v:.4g}' for v in old)}; after {', '.join(f'{v:.4g}' for v in new)}"
        print(f"{key[0]:<12} {key[1]:<44} {b:>10.4g} {a:>10.4g} {ratio}  {spread}")


if __name__ == "__main__":
    main()
