#!/usr/bin/env python3
"""CPython 3.11 on the workloads of benches/workloads.rs, each case in a fresh process.

Two node shapes per collector workload, as the Rust bench's N1/N4 are:
  list:  N1 = [e], N4 = [e0, e1, e2, e3]     (a list is CPython's own container)
  slots: class N1: __slots__ = ("e",); class N4: __slots__ = ("e0", "e1", "e2", "e3")
W3's root is a list holding every N4.

  W1: n/2 garbage 2-cycles; W2: one garbage ring of n; W3: n live N4 with 4 seeded random
  edges each, held by the root (a collection that frees nothing): the graph is built with
  gc disabled after gc.collect() + gc.freeze(), and only gc.collect() is timed (its return
  value is checked against the workload's garbage).
  W4: churn b = new(); a.e = b; a = b for n steps with gc enabled, then gc.collect(); all timed.
  W5a/W5b: pymalloc itself (PyObject_Malloc/Free), through benches/pymalloc_w5.c, compiled
  here against libpython3.11.

Prints one JSON object per case: {"case", "shape", "samples_ns_per_object", "median"}.
Run:  python3 benches/cpython_workloads.py [--samples 10] [--only W3_1M] > cpython.json
"""

import argparse
import gc
import json
import os
import random
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time

SEED = 0x5EED1234
CASES = [("W1", 1_000_000), ("W1", 100_000), ("W2", 1_000_000), ("W3", 1_000_000),
         ("W3", 100_000), ("W4", 1_000_000), ("W5a", 1_000_000), ("W5b", 1_000_000)]


def case_name(w, n):
    if w.startswith("W5"):
        return w
    return f"{w}_{n // 1_000_000}M" if n >= 1_000_000 else f"{w}_{n // 1000}k"


class S1:
    __slots__ = ("e",)

    def __init__(self):
        self.e = None


class S4:
    __slots__ = ("e0", "e1", "e2", "e3")

    def __init__(self):
        self.e0 = self.e1 = self.e2 = self.e3 = None


def build(w, n, shape):
    """Returns (root, expected garbage)."""
    if w == "W1":
        if shape == "list":
            for _ in range(n // 2):
                a = [None]
                b = [a]
                a[0] = b
        else:
            for _ in range(n // 2):
                a = S1()
                b = S1()
                a.e = b
                b.e = a
        return None, n
    if w == "W2":
        if shape == "list":
            first = prev = [None]
            for _ in range(n - 1):
                node = [None]
                prev[0] = node
                prev = node
            prev[0] = first
        else:
            first = prev = S1()
            for _ in range(n - 1):
                node = S1()
                prev.e = node
                prev = node
            prev.e = first
        return None, n
    if w == "W3":
        rng = random.Random(SEED)
        r = rng.randrange
        if shape == "list":
            nodes = [[None, None, None, None] for _ in range(n)]
            for node in nodes:
                node[0] = nodes[r(n)]
                node[1] = nodes[r(n)]
                node[2] = nodes[r(n)]
                node[3] = nodes[r(n)]
        else:
            nodes = [S4() for _ in range(n)]
            for node in nodes:
                node.e0 = nodes[r(n)]
                node.e1 = nodes[r(n)]
                node.e2 = nodes[r(n)]
                node.e3 = nodes[r(n)]
        return nodes, 0
    raise ValueError(w)


def churn(n, shape):
    if shape == "list":
        a = [None]
        for _ in range(n):
            b = [None]
            a[0] = b
            a = b
    else:
        a = S1()
        for _ in range(n):
            b = S1()
            a.e = b
            a = b
    del a
    gc.collect()


def one_sample(w, n, shape):
    """ns for one run (the timed part only)."""
    gc.collect()
    gc.freeze()
    if w == "W4":
        gc.enable()
        t0 = time.perf_counter_ns()
        churn(n, shape)
        dt = time.perf_counter_ns() - t0
        gc.unfreeze()
        return dt
    gc.disable()
    root, expected = build(w, n, shape)
    t0 = time.perf_counter_ns()
    found = gc.collect()
    dt = time.perf_counter_ns() - t0
    # gc.collect() counts the garbage it found: the workload's, nothing else (all else is
    # frozen). W3's root list is live.
    assert found == expected, (w, n, shape, found, expected)
    del root
    gc.unfreeze()
    gc.enable()
    return dt


def child(w, n, shape, samples):
    one_sample(w, n, shape)  # warm-up
    out = [one_sample(w, n, shape) / n for _ in range(samples)]
    print(json.dumps(out))


def pymalloc_binary(tmp):
    src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pymalloc_w5.c")
    exe = os.path.join(tmp, "pymalloc_w5")
    inc = sysconfig.get_paths()["include"]
    libdir = sysconfig.get_config_var("LIBDIR")
    ver = sysconfig.get_config_var("LDVERSION")
    subprocess.run(["gcc", "-O2", "-o", exe, src, f"-I{inc}", f"-L{libdir}", f"-lpython{ver}",
                    f"-Wl,-rpath,{libdir}", "-lm", "-ldl"], check=True)
    return exe


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=int, default=10)
    ap.add_argument("--only", default=None, help="substring of the case name")
    ap.add_argument("--child", nargs=3, metavar=("W", "N", "SHAPE"))
    args = ap.parse_args()
    if args.child:
        w, n, shape = args.child
        child(w, int(n), shape, args.samples)
        return
    with tempfile.TemporaryDirectory() as tmp:
        exe = None
        for w, n in CASES:
            name = case_name(w, n)
            if args.only and args.only not in name:
                continue
            if w.startswith("W5"):
                exe = exe or pymalloc_binary(tmp)
                subprocess.run([exe, w, str(n)], check=True, capture_output=True)  # warm-up
                xs = []
                for _ in range(args.samples):
                    r = subprocess.run([exe, w, str(n)], check=True, capture_output=True, text=True)
                    xs.append(int(r.stdout) / n)
                print(json.dumps({"case": name, "shape": "pymalloc", "samples": xs,
                                  "median": statistics.median(xs)}), flush=True)
                continue
            for shape in ("list", "slots"):
                r = subprocess.run([sys.executable, __file__, "--samples", str(args.samples),
                                    "--child", w, str(n), shape],
                                   check=True, capture_output=True, text=True)
                xs = json.loads(r.stdout)
                print(json.dumps({"case": name, "shape": shape, "samples": xs,
                                  "median": statistics.median(xs)}), flush=True)


if __name__ == "__main__":
    main()
