# CPython counterpart of examples/gil_fight.rs: the same CPU-bound work (a countdown loop,
# the classic demonstration of the GIL fight) done by one thread, then split between 2 and
# 4 threads. Usage: python3 gil_fight.py ITERATIONS
# Prints one line per variant: `name wall_seconds`.
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
    start = time.perf_counter()
    countdown(total)
    print("serial", f"{time.perf_counter() - start:.6f}", flush=True)
    for n in (2, 4):
        print(f"threads{n}", f"{run(total, n):.6f}", flush=True)
