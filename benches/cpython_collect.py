#!/usr/bin/env python3
"""CPython 3.11 baseline for benches/collect.rs: one full gc.collect() per workload.

Same workloads as the Rust bench, with lists as nodes (a pygc node is a cell holding a Vec
of handles, i.e. a list):
  W1_pairs: n lists in n/2 garbage 2-cycles (a.append(b); b.append(a))
  W2_ring:  one garbage ring of n lists
  W3_live:  n live lists with 4 random edges each, plus a root list holding all of them

The graph is built with gc disabled (gc.disable()), after a gc.collect() + gc.freeze() so
that only the workload is in the generations; only gc.collect() is timed (perf_counter).
Prints the median (and min) ns per object over --runs runs.

    python3 benches/cpython_collect.py [--runs 7] [--only W3_live]
"""

import argparse
import gc
import platform
import random
import statistics
import sys
import time

EDGES = 4
SEED = 0x5EED1234

CASES = [
    ("W1_pairs", 1_000_000),
    ("W2_ring", 1_000_000),
    ("W2_ring", 100_000),
    ("W3_live", 1_000_000),
    ("W3_live", 100_000),
]


def build(workload, n):
    """Build the graph; return the external root (None when it is all garbage)."""
    if workload == "W1_pairs":
        for _ in range(n // 2):
            a = []
            b = [a]
            a.append(b)
        return None
    if workload == "W2_ring":
        first = prev = []
        for _ in range(n - 1):
            node = []
            prev.append(node)
            prev = node
        prev.append(first)
        return None
    if workload == "W3_live":
        rng = random.Random(SEED)
        nodes = [[] for _ in range(n)]
        randrange = rng.randrange
        for node in nodes:
            for _ in range(EDGES):
                node.append(nodes[randrange(n)])
        return nodes  # the root list
    raise ValueError(workload)


def expected(workload, n):
    return 0 if workload == "W3_live" else n


def run_once(workload, n):
    gc.disable()
    gc.collect()
    gc.freeze()  # whatever the interpreter holds stays out of the measured collection
    root = build(workload, n)
    # Locals of build() are gone; for W1/W2 the graph is now unreachable garbage.
    t0 = time.perf_counter()
    found = gc.collect()
    t1 = time.perf_counter()
    if found != expected(workload, n):
        raise AssertionError(f"{workload} n={n}: gc.collect() found {found}")
    if root is not None:
        for node in root:  # untimed, non-recursive cleanup
            node.clear()
        del root
    gc.unfreeze()
    gc.collect()
    return (t1 - t0) * 1e9 / n


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--only", default=None, help="run only this workload name")
    args = ap.parse_args()
    print(f"# {platform.python_implementation()} {platform.python_version()} "
          f"({sys.executable}), {args.runs} runs per case")
    print(f"| {'workload':<10} | {'n':>9} | {'median ns/obj':>13} | {'min ns/obj':>10} |")
    print(f"|{'-' * 12}|{'-' * 11}|{'-' * 15}|{'-' * 12}|")
    for workload, n in CASES:
        if args.only and workload != args.only:
            continue
        samples = [run_once(workload, n) for _ in range(args.runs)]
        print(f"| {workload:<10} | {n:>9} | {statistics.median(samples):>13.1f} | "
              f"{min(samples):>10.1f} |", flush=True)


if __name__ == "__main__":
    main()
