# CPython counterpart of examples/dining_philosophers.rs: the seed notebook's philosophers
# (001_3f8830b7e484a3ac, "Задание 1", In [4]) exactly as written, with every time scaled
# by SCALE (the seed thinks 5-10 s, eats 10-20 s and stops after 50 s) and the threads made
# daemons so that a philosopher blocked forever cannot keep the process alive.
# Usage: python3 dining_philosophers.py SCALE RUN_SECONDS
# Prints the seed's lines, then `eats NAME COUNT` and `blocked NAME 0|1` per philosopher.
import random
import sys
import threading
import time

SCALE = float(sys.argv[1])
RUN = float(sys.argv[2])
eats = {}


class Philosopher(threading.Thread):
    running = True
    def __init__(self, name, left_fork, right_fork):
        threading.Thread.__init__(self, daemon=True)
        self.name = name
        self.left_fork = left_fork
        self.right_fork = right_fork
    def run(self):
        while self.running ==True:
            time.sleep(random.uniform(5,10) * SCALE)
            print(f"{self.name} is hungry", flush=True)
            self.dine()
    def dine(self):
        while self.running:
            self.left_fork.acquire()
            if not self.right_fork.locked():
                self.right_fork.acquire()
                break
            else:
                self.left_fork.release()
        else:
            return
        self.start_dining()
        self.left_fork.release()
        print(f'{self.name} stop eating, start thinking', flush=True)


    def start_dining(self):
        print(f'{self.name} start eating', flush=True)
        eats[self.name] += 1
        time.sleep(random.uniform(10,20) * SCALE)

def start():
    forks = [threading.Lock() for n in range(5)]
    philosoohes_name = ['Sokrat','Niche', 'Aristotel','Kant','Mark']

    philosophers = [Philosopher(philosoohes_name[i], forks[i%5], forks[(i+1)%5]) for i in  range(5)]
    Philosopher.running = True
    for name in philosoohes_name:
        eats[name] = 0

    for p in philosophers:
        p.start()
    time.sleep(RUN)
    Philosopher.running = False
    print('finish', flush=True)
    # The seed stops here; we wait a while for each thread to end (a thread still alive
    # after that is blocked forever in `left_fork.acquire()`).
    deadline = time.monotonic() + 20 * SCALE + 0.5
    for p in philosophers:
        p.join(max(0.0, deadline - time.monotonic()))
    for p in philosophers:
        print("eats", p.name, eats[p.name])
        print("blocked", p.name, int(p.is_alive()))

start()
