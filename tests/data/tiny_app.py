"""A tiny program the data files in this directory were recorded from (see README.md).

It has a class method, a closure, recursion and a diamond-shaped call graph (two callers of one
leaf), and optionally a second thread.
"""

import json
import sys
import threading
import time


class Shape:
    def area(self, n):
        return sum(i * i for i in range(n))


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def leaf(n):
    total = 0
    for i in range(n):
        total += i % 7
    return total


def left(n):
    return leaf(n)


def right(n):
    return leaf(2 * n)


def outer(n):
    def inner():
        return json.dumps([Shape().area(200) for _ in range(n)])

    return inner()


def worker(stop):
    while not stop.is_set():
        leaf(20000)
        time.sleep(0.001)


def main(seconds=0.4, threads=False):
    stop = threading.Event()
    thread = threading.Thread(target=worker, args=(stop,), name="worker-1")
    if threads:
        thread.start()
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        fib(15)
        left(3000)
        right(3000)
        outer(20)
    stop.set()
    if threads:
        thread.join()


if __name__ == "__main__":
    main(threads="--threads" in sys.argv)
