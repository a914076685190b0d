#!/usr/bin/env python3
"""Turn criterion's stored estimates into the ratio tables of benches/README.md.

    python3 benches/report.py [--criterion-dir $CARGO_TARGET_DIR/criterion] [--cpython FILE]

Reads <dir>/<group>/<bench>/new/estimates.json (median of the last run) and, optionally, the
table printed by benches/cpython_collect.py (saved to FILE) for the CPython column.
"""

import argparse
import json
import os
import re

LIBS = ["pygc", "rust_cc", "bacon_rajan_cc", "rust_gc", "dumpster", "gcmodule"]
CASES = [
    ("W1_pairs", 1_000_000),
    ("W2_ring", 1_000_000),
    ("W2_ring", 100_000),
    ("W3_live", 1_000_000),
    ("W3_live", 100_000),
]
GOALS = {("W1_pairs", 1_000_000): 20, ("W2_ring", 1_000_000): 20, ("W3_live", 1_000_000): 60,
         ("W3_live", 100_000): 25}


def median_ns(root, group, bench):
    path = os.path.join(root, group, bench, "new", "estimates.json")
    try:
        with open(path) as f:
            return json.load(f)["median"]["point_estimate"]
    except FileNotFoundError:
        return None


def probes(root):
    out = {}
    try:
        with open(os.path.join(root, "collect-stack-probe.txt")) as f:
            for line in f:
                if line.startswith("#") or not line.strip():
                    continue
                lib, w, n, outcome = line.split(maxsplit=3)
                out[(lib, w, int(n))] = outcome.strip()
    except FileNotFoundError:
        pass
    return out


def cpython(path):
    out = {}
    if not path:
        return out
    with open(path) as f:
        for line in f:
            m = re.match(r"\|\s*(W\w+)\s*\|\s*(\d+)\s*\|\s*([\d.]+)\s*\|", line)
            if m:
                out[(m.group(1), int(m.group(2)))] = float(m.group(3))
    return out


def main():
    ap = argparse.ArgumentParser()
    target = os.environ.get("CARGO_TARGET_DIR", "target")
    ap.add_argument("--criterion-dir", default=os.path.join(target, "criterion"))
    ap.add_argument("--cpython", default=None)
    args = ap.parse_args()
    root = args.criterion_dir

    # ---- refcount -------------------------------------------------------------------------
    n = 1_000_000
    print("### Refcount churn (1M objects, ns/object, median)\n")
    rc = median_ns(root, "churn", "rc_refcell")
    print("| implementation | ns/object | vs Rc<RefCell> |")
    print("|---|---|---|")
    for bench, label in [("pygc_gc_enabled", "pygc (automatic gc enabled)"),
                         ("pygc_gc_disabled", "pygc (gc disabled)"),
                         ("rc_refcell", "Rc<RefCell<_>>"), ("gcmodule", "gcmodule Cc<RefCell<_>>")]:
        v = median_ns(root, "churn", bench)
        if v is None:
            print(f"| {label} | n/a | |")
            continue
        ratio = f"{v / rc:.2f}x" if rc else ""
        print(f"| {label} | {v / n:.2f} | {ratio} |")
    print("\n### Handle clone + drop (ns/pair, median)\n")
    rc = median_ns(root, "clone_drop", "rc")
    pg = median_ns(root, "clone_drop", "pygc")
    print("| implementation | ns/pair | vs Rc |")
    print("|---|---|---|")
    if pg and rc:
        print(f"| pygc Gc | {pg:.3f} | {pg / rc:.2f}x |")
        print(f"| Rc | {rc:.3f} | 1.00x |")
    print("\n### Deep-chain teardown (1M links, ns/object, median)\n")
    pg = median_ns(root, "deep_teardown", "pygc")
    rc = median_ns(root, "deep_teardown", "rc_1gib_stack_thread")
    print("| implementation | ns/object | vs Rc |")
    print("|---|---|---|")
    if pg and rc:
        print(f"| pygc (trashcan, any stack) | {pg / n:.2f} | {pg / rc:.2f}x |")
        print(f"| Rc (recursive; 1 GiB-stack thread) | {rc / n:.2f} | 1.00x |")

    # ---- collector ------------------------------------------------------------------------
    pr = probes(root)
    cp = cpython(args.cpython)
    print("\n### One full collection (ns/object, median)\n")
    head = ["workload", "n"] + LIBS + ["CPython 3.11", "goal", "pygc vs best peer",
                                       "pygc vs CPython"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for w, n in CASES:
        group = f"collect_{w}_{n // 1000}k"
        row = [w, f"{n // 1000}k"]
        vals = {}
        for lib in LIBS:
            v = median_ns(root, group, lib)
            outcome = pr.get((lib, w, n), "ok")
            if outcome != "ok":
                row.append(outcome.replace("stack-overflow-during-", "overflow in "))
            elif v is None:
                row.append("n/a")
            else:
                vals[lib] = v / n
                row.append(f"{v / n:.1f}")
        c = cp.get((w, n))
        row.append(f"{c:.1f}" if c else "n/a")
        row.append(f"<= {GOALS[(w, n)]}" if (w, n) in GOALS else "")
        peers = {k: v for k, v in vals.items() if k != "pygc"}
        p = vals.get("pygc")
        if p and peers:
            best = min(peers, key=peers.get)
            row.append(f"{p / peers[best]:.2f}x ({best})")
        else:
            row.append("")
        row.append(f"{p / c:.2f}x" if p and c else "")
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
