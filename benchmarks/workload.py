"""A function-call-heavy workload for the overhead benchmarks (about 1 s unprofiled here).

Recursion, small methods, closures, generators and comprehensions: the kind of code where a
deterministic profiler's per-call cost shows. It is deterministic (fixed seed) and times its own
body with `time.perf_counter()`, so that every tool is compared on the same measured region,
without interpreter start-up, imports or the profiler's own set-up and output:

    PROFWORK_BENCH_OUT=body.txt python benchmarks/workload.py

writes the body's wall time in seconds to `body.txt`. `PROFWORK_BENCH_SCALE` (default 1) scales
the amount of work.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass

SEED = 20240610


def fib(n: int) -> int:
    return n if n < 2 else fib(n - 1) + fib(n - 2)


@dataclass
class Vector:
    x: float
    y: float

    def add(self, other: Vector) -> Vector:
        return Vector(self.x + other.x, self.y + other.y)

    def scale(self, k: float) -> Vector:
        return Vector(self.x * k, self.y * k)

    def dot(self, other: Vector) -> float:
        return self.x * other.x + self.y * other.y


def integrate(points: list[Vector]) -> float:
    position = Vector(0.0, 0.0)
    energy = 0.0
    for point in points:
        position = position.add(point.scale(0.5))
        energy += position.dot(point)
    return energy


class Node:
    __slots__ = ("left", "right", "value")

    def __init__(self, value: int, left: Node | None = None, right: Node | None = None) -> None:
        self.value = value
        self.left = left
        self.right = right


def build(rng: random.Random, depth: int) -> Node | None:
    if depth == 0:
        return None
    return Node(rng.randrange(1000), build(rng, depth - 1), build(rng, depth - 1))


def walk(node: Node | None) -> int:
    if node is None:
        return 0
    return node.value + walk(node.left) + walk(node.right)


def tokens(text: str) -> Iterator[str]:
    word: list[str] = []
    for char in text:
        if is_word_char(char):
            word.append(char)
        elif word:
            yield "".join(word)
            word = []
    if word:
        yield "".join(word)


def is_word_char(char: str) -> bool:
    return char.isalnum() or char == "_"


def count_words(text: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for token in tokens(text):
        key = normalise(token)
        counts[key] = counts.get(key, 0) + 1
    return counts


def normalise(token: str) -> str:
    return token.lower()


def make_adder(k: int) -> object:
    def add(x: int) -> int:
        return x + k

    return add


def body(scale: float) -> int:
    rng = random.Random(SEED)
    rounds = max(1, round(72 * scale))
    total = 0
    words = [rng.choice(("alpha", "Beta", "gamma_2", "delta", "EPS")) for _ in range(2000)]
    text = " ".join(words) + ", " + "; ".join(words[:500])
    adders = [make_adder(k) for k in range(10)]
    for _ in range(rounds):
        total += fib(20)
        points = [Vector(rng.random(), rng.random()) for _ in range(8000)]
        total += int(integrate(points))
        total += walk(build(rng, 12))
        total += sum(count_words(text).values())
        total += sum(adder(i) for i in range(3000) for adder in adders[:3])  # type: ignore[operator]
    return total


def main() -> None:
    scale = float(os.environ.get("PROFWORK_BENCH_SCALE", "1"))
    started = time.perf_counter()
    body(scale)
    elapsed = time.perf_counter() - started
    out = os.environ.get("PROFWORK_BENCH_OUT")
    if out:
        with open(out, "w", encoding="utf-8") as handle:
            handle.write(f"{elapsed!r}\n")
    else:
        print(f"body: {elapsed:.3f} s")


if __name__ == "__main__":
    main()
