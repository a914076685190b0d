# CPython counterpart of examples/gil_fight.rs: the same CPU-bound work (a countdown loop,
# the classic demonstration of the GIL fight) done by one thread, then split between 2 and
# 4 threads. Usage: python3 gil_fight.py ITERATIONS [REPS]
# Prints one line per variant: `name wall_seconds`, the best of REPS runs.
import sys
import threading
import time


def countdown(n):
    while n > 0:
        n -= 1


def run(total, nthreads):
    threads = [threading.Thread(target=countdown, args=(total // nthreads,))
               for _ in range(nthreads)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - start


if __name__ == "__main__":
    total = int(sys.argv[1])
    reps = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    # One thread doing all the work is the serial run (a thread like the others).
    for name, n in (("serial", 1), ("threads2", 2), ("threads4", 4)):
        print(name, f"{min(run(total, n) for _ in range(reps)):.6f}", flush=True)
