# CPython counterpart of examples/io_latency.rs: round-trip latency of a socket-pair echo
# between two threads while 0 or 1 CPU-bound threads run, for several switch intervals
# (the seed's claim, 000_435ab4e7cf011ae7 "Интересные свойства": a CPU-bound thread can hold
# an I/O-bound one off for a whole interval). Usage: python3 io_latency.py ROUNDS MS [MS...]
# The client pauses 1 ms between requests (a server waiting for its next request).
# Prints one line per case: `rtt interval_ms cpu_threads median_us p99_us mean_us`.
import math
import socket
import sys
import threading
import time

GAP = 0.001  # seconds between two requests


def echo_server(sock, rounds):
    for _ in range(rounds):
        msg = sock.recv(64)
        reply = [msg]  # handle the message: allocate an object while holding the GIL
        sock.sendall(reply[0])


def cpu_bound(stop):
    n = 0
    while not stop.is_set():
        n += 1


def measure(rounds, cpu_threads):
    a, b = socket.socketpair()
    stop = threading.Event()
    hogs = [threading.Thread(target=cpu_bound, args=(stop,)) for _ in range(cpu_threads)]
    for t in hogs:
        t.start()
    time.sleep(0.01)
    server = threading.Thread(target=echo_server, args=(b, rounds))
    server.start()
    samples = []

    def client():
        for i in range(rounds):
            time.sleep(GAP)  # the peer is idle a while: the CPU-bound thread takes the GIL
            start = time.perf_counter()
            a.sendall(b"ping")
            a.recv(64)
            samples.append(time.perf_counter() - start)

    c = threading.Thread(target=client)
    c.start()
    c.join()
    server.join()
    stop.set()
    for t in hogs:
        t.join()
    a.close()
    b.close()
    samples.sort()

    def rank(q):
        return samples[max(1, math.ceil(q * len(samples))) - 1]

    return rank(0.5), rank(0.99), sum(samples) / len(samples)


if __name__ == "__main__":
    rounds = int(sys.argv[1])
    for ms in sys.argv[2:]:
        sys.setswitchinterval(float(ms) / 1000)
        for cpu in (0, 1):
            median, p99, mean = measure(rounds, cpu)
            print("rtt", ms, cpu, f"{median * 1e6:.1f}", f"{p99 * 1e6:.1f}", f"{mean * 1e6:.1f}",
                  flush=True)
