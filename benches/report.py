#!/usr/bin/env python3
"""The workloads table of benches/README.md, from one run of benches/workloads.rs (criterion)
and benches/cpython_workloads.py.

    python3 benches/report.py --criterion-dir benches/target/criterion --cpython cpython.json \
        [--write benches/README.md]

Reads <dir>/<case>/<system>/new/estimates.json (criterion's median of the case's samples, ns
per run) and divides by the case's n: ns per object (W5: per alloc+free pair). With --write,
replaces the text between the README's `<!-- workloads:begin -->` and `<!-- workloads:end -->`
markers.
"""

import argparse
import json
import os
import re

CASES = [("W1_1M", 1_000_000), ("W1_100k", 100_000), ("W2_1M", 1_000_000),
         ("W3_1M", 1_000_000), ("W3_100k", 100_000), ("W4_1M", 1_000_000),
         ("W5a", 1_000_000), ("W5b", 1_000_000)]
COLLECTORS = ["rust_cc", "bacon_rajan_cc", "rust_gc", "dumpster", "gcmodule"]
PEERS = {c: COLLECTORS for c, _ in CASES}
PEERS["W4_1M"] = ["rc"] + COLLECTORS
PEERS["W5a"] = PEERS["W5b"] = ["mimalloc", "glibc"]
# Cases where a system's `collect` does no scan at all (it only looks at candidate roots it
# buffered, and W3 gives dumpster none): shown as measured, not counted as the best peer.
SCANS_NOTHING = {("W3_1M", "dumpster"), ("W3_100k", "dumpster")}
# The goals, ns per object, or a ratio against a named baseline.
GOALS = {"W1_1M": ("abs", 25), "W1_100k": ("abs", 15), "W2_1M": ("abs", 25),
         "W3_1M": ("abs", 75), "W3_100k": ("abs", 30), "W4_1M": ("rel", "rc", 1.2),
         "W5a": ("rel", "mimalloc", 1.0), "W5b": ("rel", "mimalloc", 1.2)}


def median(root, case, system, n):
    path = os.path.join(root, case, system, "new", "estimates.json")
    try:
        with open(path) as f:
            return json.load(f)["median"]["point_estimate"] / n
    except FileNotFoundError:
        return None


def outcomes(root):
    out = {}
    try:
        with open(os.path.join(root, "workloads-outcomes.txt")) as f:
            for line in f:
                if line.startswith("#") or not line.strip():
                    continue
                case, system, outcome = line.split(maxsplit=2)
                out[(case, system)] = outcome.strip()
    except FileNotFoundError:
        pass
    return out


def cpython(path):
    res = {}
    if path:
        with open(path) as f:
            for line in f:
                if line.strip():
                    r = json.loads(line)
                    res[(r["case"], r["shape"])] = r["median"]
    return res


def fmt(x):
    return "—" if x is None else (f"{x:.1f}" if x >= 10 else f"{x:.2f}")


def table(root, cp):
    outs = outcomes(root)
    lines = ["| workload | pygc | peers (ns/object) | best peer | CPython 3.11 | goal | pygc's speed-up over best peer / CPython | met |",
             "|---|---|---|---|---|---|---|---|"]
    for case, n in CASES:
        p = median(root, case, "pygc", n)
        peers = []
        for s in PEERS[case]:
            v = median(root, case, s, n)
            o = outs.get((case, s), "ok")
            peers.append((s, v, o))
        cells = []
        for s, v, o in peers:
            if o != "ok":
                cells.append(f"{s} failed")
            elif (case, s) in SCANS_NOTHING and v is not None:
                cells.append(f"{s} {fmt(v)} (scans nothing)")
            elif v is not None:
                cells.append(f"{s} {fmt(v)}")
        # W4's Rc is the floor (no collector), not a peer to beat.
        contenders = [(s, v) for s, v, o in peers
                      if v is not None and o == "ok" and s != "rc" and (case, s) not in SCANS_NOTHING]
        best = min(contenders, key=lambda t: t[1]) if contenders else None
        if case.startswith("W5"):
            cpy = fmt(cp.get((case, "pymalloc"))) + " (pymalloc)"
            cpy_best = cp.get((case, "pymalloc"))
        else:
            cpy = f"{fmt(cp.get((case, 'list')))} / {fmt(cp.get((case, 'slots')))}"
            shapes = [v for v in (cp.get((case, "list")), cp.get((case, "slots"))) if v]
            cpy_best = min(shapes) if shapes else None
        goal = GOALS[case]
        if goal[0] == "abs":
            gtext = f"≤ {goal[1]}"
            met = p is not None and p <= goal[1]
        else:
            base = median(root, case, goal[1], n)
            gtext = f"≤ {goal[2]}× {goal[1]}" + (f" = {fmt(base * goal[2])}" if base else "")
            met = p is not None and base is not None and p <= base * goal[2]
        vs = (f"{best[1] / p:.2f}×" if best and p else "—") + " / " + \
            (f"{cpy_best / p:.2f}×" if cpy_best and p else "—")
        lines.append(f"| {case} | {fmt(p)} | {', '.join(cells)} | "
                     f"{best[0] + ' ' + fmt(best[1]) if best else '—'} | {cpy} | {gtext} | {vs} | "
                     f"{'yes' if met else 'no'} |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--criterion-dir", default="benches/target/criterion")
    ap.add_argument("--cpython", default=None)
    ap.add_argument("--write", default=None, help="README to update between the markers")
    args = ap.parse_args()
    t = table(args.criterion_dir, cpython(args.cpython))
    print(t)
    if args.write:
        with open(args.write) as f:
            text = f.read()
        new = re.sub(r"(<!-- workloads:begin -->\n).*?(<!-- workloads:end -->)",
                     lambda m: m.group(1) + t + "\n" + m.group(2), text, flags=re.S)
        with open(args.write, "w") as f:
            f.write(new)


if __name__ == "__main__":
    main()
