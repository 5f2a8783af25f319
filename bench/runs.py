#!/usr/bin/env python3
"""Run weft_bench several times and summarize, or summarize CSVs you have.

  bench/runs.py BUILD/bench/weft_bench --runs 3 [--out DIR] [-- BENCH ARGS...]
  bench/runs.py --summarize a.csv b.csv c.csv

Each run writes DIR/run-N.csv (DIR defaults to bench-runs/). The summary
prints, per weft row, the median over runs of the per-run ratio (itself the
median of per-round ratios) and the spread over runs, and per implementation
the median over runs of each primary metric. BENCHMARKS.md asks for medians
of several runs with their spread: this is that table.
"""
import argparse
import csv
import os
import re
import statistics
import subprocess
import sys


def load(paths):
    runs = []
    for p in paths:
        with open(p, newline="") as f:
            runs.append(list(csv.DictReader(f)))
    return runs


def summarize(paths):
    runs = load(paths)
    ratios = {}   # (workload, impl) -> [ratio per run], note
    notes = {}
    primary = {}  # (workload, impl, metric, unit) -> [median per run]
    memory = {}   # (workload, impl, metric, unit) -> [value per run]
    for rows in runs:
        for r in rows:
            key = (r["workload"], r["impl"])
            if r["metric"] == "ratio_vs_peer":
                ratios.setdefault(key, []).append(float(r["median"]))
                notes[key] = r.get("note", "")
            elif r.get("note", "").startswith("memory"):
                memory.setdefault((r["workload"], r["impl"], r["metric"], r["unit"]), []).append(
                    float(r["median"]))
            elif r["primary"] == "1":
                primary.setdefault((r["workload"], r["impl"], r["metric"], r["unit"]), []).append(
                    float(r["median"]))
    print(f"{len(paths)} run(s)")
    print(f"{'row':4} {'impl':26} {'metric':20} {'median':>12} {'min..max over runs':>26}")
    for (w, impl, metric, unit), vals in primary.items():
        print(f"{w:4} {impl:26} {metric:20} {statistics.median(vals):12.6g} "
              f"{min(vals):12.6g}..{max(vals):<12.6g} {unit}")
    if memory:
        print()
        print("memory (each run measured once in a forked child)")
        for (w, impl, metric, unit), vals in memory.items():
            print(f"{w:5} {impl:26} {metric:24} {statistics.median(vals):10.4g} "
                  f"{min(vals):10.4g}..{max(vals):<10.4g} {unit}")
    print()
    print(f"{'row':4} {'weft impl':22} {'ratio':>7} {'spread over runs':>18}  {'status':8} peer; goal")
    for (w, impl), vals in ratios.items():
        med = statistics.median(vals)
        note = notes[(w, impl)]
        # The note is "vs PEER; goal <= 1.10x ...; met|NOT met" (last run).
        m = re.search(r"goal (<=|>=) ([0-9.]+)x", note)
        status = "?"
        if m:
            goal = float(m.group(2))
            ok = med <= goal if m.group(1) == "<=" else med >= goal
            status = "met" if ok else "NOT met"
            if ok and note.endswith("NOT met"):
                status = "NOT met*"  # the ratio passes; an extra check (e.g. W2 shares) failed
        peer_goal = note.rsplit(";", 1)[0]
        print(f"{w:4} {impl:22} {med:7.3f} {min(vals):8.3f}..{max(vals):<8.3f}  {status:8} {peer_goal}")
    print("(status from the median ratio; * = the ratio passes but an extra check failed in the last run)")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("bench", nargs="?", help="path to weft_bench")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--out", default="bench-runs")
    ap.add_argument("--summarize", nargs="+", metavar="CSV", help="only summarize these CSV files")
    argv = sys.argv[1:]
    extra = []
    if "--" in argv:
        i = argv.index("--")
        argv, extra = argv[:i], argv[i + 1:]
    a = ap.parse_args(argv)
    if a.summarize:
        summarize(a.summarize)
        return 0
    if not a.bench:
        ap.error("give the weft_bench path or --summarize")
    os.makedirs(a.out, exist_ok=True)
    paths = []
    for i in range(a.runs):
        p = os.path.join(a.out, f"run-{i + 1}.csv")
        print(f"# run {i + 1}/{a.runs} -> {p}", file=sys.stderr, flush=True)
        rc = subprocess.call([a.bench, "--csv", p] + extra, stdout=subprocess.DEVNULL)
        if rc != 0:
            print(f"weft_bench failed with status {rc}", file=sys.stderr)
            return rc
        paths.append(p)
    summarize(paths)
    return 0


if __name__ == "__main__":
    sys.exit(main())
