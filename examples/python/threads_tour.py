# CPython counterpart of the cells of examples/threads_tour.rs that the seed notebook
# (001_3f8830b7e484a3ac) shows without output: Pool.map, the multiprocessing Queue and the
# Pipe, each as the notebook wrote it. Prints `== NAME` before each cell's output.
import multiprocessing
from multiprocessing import Pool, Process, Queue


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
