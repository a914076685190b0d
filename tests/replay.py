"""Replay a pygc differential trace in CPython 3.11 (the oracle of tests/all/differential.rs).

Input (stdin): traces separated by lines `---`; one op per line, fields separated by spaces:

    N s       roots[s] = L()                      (new container; replaces what was there)
    E s t     roots[s].append(roots[t])           (add an edge)
    P s       roots[s].pop() if roots[s]          (remove the newest edge)
    D s       roots[s] = None                     (drop a root reference)
    W s k     weaks[k] = ref(roots[s], cb)        (weak reference with a callback)
    B s k     weaks[k] = ref(roots[s])            (the shared basic weak reference)
    X k       weaks[k] = None                     (drop a weak reference)
    A s k     roots[s].append(weaks[k])           (a container holds a weak reference)
    C g       collect(g)
    F         gc.freeze()
    U         gc.unfreeze()
    T a b c   gc.set_threshold(a, b, c)           (automatic gc stays disabled)

Output (stdout): per trace, one line per op, then a line `---`. Each op line is `<op index> <collect() result or -> <count0> <count1>
<count2> <weak callbacks run so far>`.

Keeping `gc.get_count()` exact means the replay loop must allocate no GC object that
outlives an op, and must allocate and free its temporaries in balanced pairs:

* The whole trace is parsed, and every long-lived object (roots, result list, callback,
  spare objects) created, *before* `gc.collect(); gc.freeze()`. The loop itself is a
  `while` over indices: a `for` would allocate a list iterator (a GC object).
* Method calls (`append`, `pop`, `gc.collect(g)`) allocate nothing in 3.11 (LOAD_METHOD,
  vectorcall). The weak callback is a pre-created function that appends a small int to a
  pre-created list: no GC allocation (3.11 frames live on the data stack).
* Temporaries that are GC objects, allocated and freed within one op: `L()`'s empty
  argument tuple (a singleton, no allocation), the 2-tuple of arguments of `ref(o, cb)`,
  the 3-tuple of `gc.set_threshold` (METH_VARARGS), the 3-tuple `gc.get_count()`
  returns, and the 2n-tuple of (weakref, callback) pairs `PyObject_ClearWeakRefs` builds
  when an object with n >= 2 callback weak references dies by refcount. Tuples come from CPython's free lists, which bypass the count (no +1 on reuse,
  no -1 when pushed back). That is balanced while the free list of that size is non-empty,
  but `collect(2)` clears all free lists: the next fresh tuple of that size is counted (+1)
  and then parked on the free list (no -1). So right after every `collect(2)` the script
  refills the free lists of every size 1..19 (+19) and frees 19 spare `L` objects made
  before the freeze (-19; `L` is a list subclass, which never goes to the list free list).
  The counts after that are exactly those of a model with no free lists, as pygc has.
"""

import gc
import sys
import weakref


class L(list):
    """A list that supports weak references: one pygc `Gc<Node>`."""

    __slots__ = ("__weakref__",)


# Tuples of sizes 1..19 are kept on free lists (PyTuple_MAXSAVESIZE = 20).
TUPLE_SIZES = 19


def refill_tuple_free_lists(a, spares):
    """After a collect(2) emptied the tuple free lists: put one tuple of each size 1..19 back
    (each counted +1 when made, not -1 when parked) and free as many spare objects (-1 each),
    so count[0] is unchanged and every later temporary tuple is a balanced free-list reuse.
    Calling this function allocates nothing (3.11 frames live on the data stack)."""
    t = (a,)
    t = None
    k = 2
    while k <= TUPLE_SIZES:
        t = (a,) * k
        t = None
        k += 1
    k = 0
    while k < TUPLE_SIZES:
        spares.pop()
        k += 1


def replay(text):
    """Replay one trace; returns its output lines."""
    lines = text.split("\n")
    ops = []
    for line in lines:
        parts = line.split()
        if not parts:
            continue
        ops.append(tuple([parts[0]] + [int(p) for p in parts[1:]]))
    nroots = 1 + max([o[1] for o in ops if o[0] in "NEPDWBA"] + [o[2] for o in ops if o[0] == "E"] + [0])
    nweaks = 1 + max([o[2] for o in ops if o[0] in "WBA"] + [o[1] for o in ops if o[0] == "X"] + [0])
    ncollect2 = sum(1 for o in ops if o[0] == "C" and o[1] == 2)

    roots = [None] * nroots
    weaks = [None] * nweaks
    hits = []
    spares = [L() for _ in range(TUPLE_SIZES * (ncollect2 + 1))]
    res = [0] * (6 * len(ops))
    ref = weakref.ref
    get_count = gc.get_count
    collect = gc.collect
    freeze = gc.freeze
    unfreeze = gc.unfreeze
    set_threshold = gc.set_threshold
    # Integers used below, made now (ints are not GC objects anyway).
    n = len(ops)
    a = None
    hits.append(0)
    hits.pop()

    def cb(w):
        hits.append(1)

    gc.disable()
    gc.unfreeze()  # what the previous trace froze
    gc.collect()
    gc.freeze()
    # The collect(2) above cleared the free lists: refill sizes 2 and 3 as after every
    # collect(2) below, paying with spares, so the counts start at (0, 0, 0).
    refill_tuple_free_lists(a, spares)

    i = 0
    j = 0
    while i < n:
        op = ops[i]
        k = op[0]
        r = -1
        if k == "N":
            roots[op[1]] = L()
        elif k == "E":
            roots[op[1]].append(roots[op[2]])
        elif k == "P":
            x = roots[op[1]]
            if x:
                x.pop()
            x = None
        elif k == "D":
            roots[op[1]] = None
        elif k == "W":
            weaks[op[2]] = ref(roots[op[1]], cb)
        elif k == "B":
            weaks[op[2]] = ref(roots[op[1]])
        elif k == "X":
            weaks[op[1]] = None
        elif k == "A":
            roots[op[1]].append(weaks[op[2]])
        elif k == "C":
            r = collect(op[1])
            if op[1] == 2:
                refill_tuple_free_lists(a, spares)
        elif k == "F":
            freeze()
        elif k == "U":
            unfreeze()
        elif k == "T":
            set_threshold(op[1], op[2], op[3])
        c0, c1, c2 = get_count()
        res[j] = i
        res[j + 1] = r
        res[j + 2] = c0
        res[j + 3] = c1
        res[j + 4] = c2
        res[j + 5] = len(hits)
        j += 6
        i += 1

    out = []
    for q in range(0, j, 6):
        r = res[q + 1]
        out.append(
            "%d %s %d %d %d %d" % (res[q], "-" if r < 0 else str(r), res[q + 2], res[q + 3], res[q + 4], res[q + 5])
        )
    return out


def main():
    # Several traces per process (startup dominates), separated by lines "---"; each is
    # replayed from a clean, frozen heap and its output is followed by a line "---".
    for text in sys.stdin.read().split("---\n"):
        if text.strip():
            sys.stdout.write("\n".join(replay(text)) + "\n---\n")


main()
