# CPython counterpart of examples/factorize.rs: the seed notebook's naive factorization
# (000_435ab4e7cf011ae7, In [1]-[6]) run serially, in threads (threading) and in processes
# (multiprocessing). Usage: python3 factorize.py N [REPS]
# Prints one line per variant: `name wall_seconds number_of_factors cpu_seconds`, the best of
# REPS runs (cpu: this process's and its children's CPU time over that run).
import math
import multiprocessing
import os
import sys
import threading
import time


def factorize_naive(n):
    """ A naive factorization method. Take integer 'n', return list of
        factors.
    """
    if n < 2:
        return []
    factors = []
    p = 2

    while True:
        if n == 1:
            return factors

        r = n % p
        if r == 0:
            factors.append(p)
            n = n / p
        elif p * p >= n:
            factors.append(n)
            return factors
        elif p > 2:
            # Advance in steps of 2 over odd numbers
            p += 2
        else:
            # If p == 2, get to 3
            p += 1
    assert False, "unreachable"


def serial_factorizer(count):
    return {n: factorize_naive(n) for n in range(1, count + 1)}


def threaded_factorizer(count, nthreads):
    def worker(nums, outdict):
        for n in nums:
            outdict[n] = factorize_naive(n)

    chunksize = int(math.ceil(count / float(nthreads)))
    threads = []
    outs = [{} for i in range(nthreads)]
    for i in range(nthreads):
        t = threading.Thread(
                target=worker,
                args=(range(chunksize * i + 1, min(chunksize * (i + 1), count) + 1),
                      outs[i]))
        threads.append(t)
        t.start()
    for t in threads:
        t.join()
    return {k: v for out_d in outs for k, v in out_d.items()}


def mp_worker(nums, out_q):
    out_q.put({n: factorize_naive(n) for n in nums})


def mp_factorizer(count, nprocs):
    # The same chunks, each in its own process; results come back through a Queue.
    out_q = multiprocessing.Queue()
    chunksize = int(math.ceil(count / float(nprocs)))
    procs = []
    for i in range(nprocs):
        p = multiprocessing.Process(
                target=mp_worker,
                args=(range(chunksize * i + 1, min(chunksize * (i + 1), count) + 1),
                      out_q))
        procs.append(p)
        p.start()
    result = {}
    for i in range(nprocs):
        result.update(out_q.get())
    for p in procs:
        p.join()
    return result


def timed(name, f, *args):
    best = None
    for _ in range(REPS):
        t = os.times()
        start = time.perf_counter()
        results = f(*args)
        wall = time.perf_counter() - start
        u = os.times()
        cpu = sum(u[:4]) - sum(t[:4])
        assert len(results) == args[0]
        if best is None or wall < best[0]:
            best = (wall, cpu)
        found = sum(len(v) for v in results.values())
        del results
    print(name, f"{best[0]:.6f}", found, f"{best[1]:.6f}", flush=True)


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 100000
    REPS = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    timed("serial", serial_factorizer, count)
    timed("threads2", threaded_factorizer, count, 2)
    timed("threads4", threaded_factorizer, count, 4)
    timed("processes2", mp_factorizer, count, 2)
    timed("processes4", mp_factorizer, count, 4)
