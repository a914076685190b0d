# CPython counterpart of the cells of examples/threads_tour.rs that the seed notebook
# (001_3f8830b7e484a3ac) shows without output: DataBase.update from two threads without and
# with a Lock, Pool.map, the multiprocessing Queue and the Pipe, each as the notebook wrote
# it. Prints `== NAME` before each cell's output. Usage: python3 threads_tour.py [SCALE]
# (SCALE multiplies the notebook's sleeps).
import multiprocessing
import sys
import threading
import time
from multiprocessing import Pool, Process, Queue


SCALE = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0


class DataBase:
    def __init__(self):
        self.value = 0
        self._lock = threading.Lock()
    def update(self, name):
        print(name, " - start thread", flush=True)
        local_copy = self.value
        local_copy += 1
        time.sleep(0.1 * SCALE)
        self.value = local_copy
        print(name, " - finish thread", flush=True)
    def locked_update(self, name):
        print(name, " - start thread", flush=True)
        with self._lock:
            local_copy = self.value
            local_copy += 1
            time.sleep(0.1 * SCALE)
            self.value = local_copy
        print(name, " - finish thread", flush=True)


def calc(number):
    return number * 2


stop_number = -1
def task_creator(data, q):
    for item in data:
        q.put(item)
def consmuer(q):
    while True:
        data = q.get()
        print('data: {}'.format(data), flush=True)
        processed = data * 2
        print(processed, flush=True)
        if data is stop_number:
            break


def sender(conn, msgs):
    for msg in msgs:
        conn.send(msg)
        print("Sent the message: {}".format(msg), flush=True)
    conn.close()

def receiver(conn):
    while 1:
        msg = conn.recv()
        if msg == "END":
            break
        print("Received the message: {}".format(msg), flush=True)


if __name__ == '__main__':
    print("== database", flush=True)
    for testing, method in (("Testing update", "update"), ("Testing locked update", "locked_update")):
        database = DataBase()
        print(f"{testing}. Starting value is {database.value}.", flush=True)
        threads = [threading.Thread(target=getattr(database, method), args=(name,))
                   for name in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        print(f"{testing}. Ending value is {database.value}.", flush=True)

    print("== pool", flush=True)
    numbers = [5, 10, 20]
    pool = Pool(processes=3)
    print(pool.map(calc, numbers), flush=True)
    pool.close()
    pool.join()

    print("== queue", flush=True)
    q = Queue()
    data = [5, 10, 13, -1]
    process_one = Process(target=task_creator, args=(data, q))
    process_two = Process(target=consmuer, args=(q,))
    process_one.start()
    process_two.start()
    q.close()
    q.join_thread()
    process_one.join()
    process_two.join()

    print("== pipe", flush=True)
    msgs = ["START", "END"]
    parent_conn, child_conn = multiprocessing.Pipe()
    p1 = multiprocessing.Process(target=sender, args=(parent_conn,msgs))
    p2 = multiprocessing.Process(target=receiver, args=(child_conn,))
    p1.start()
    p2.start()
    p1.join()
    p2.join()
