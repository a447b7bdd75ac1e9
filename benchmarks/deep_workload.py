"""A deep, branchy workload for the py-spy conversion benchmark (`bench_pyspy.py`).

It walks a fixed set of call paths (built from a fixed seed): each path is a chain of 10 to 105
calls through sixteen small functions `b00`..`b15`, ending in `leaf`, which spins for a few
milliseconds so that a sampler at 1,000 Hz sees each path a few times. Recorded with
`py-spy record -r 1000 -f raw --function --full-filenames --threads`, one pass gives about as
many distinct stacks as paths and about 5.5 samples per stack: the shape of a large real
recording (many distinct deep stacks), which the benchmark replicates under distinct process
roots up to a million samples.

    python benchmarks/deep_workload.py [PATHS]
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Callable

SEED = 1729
MIN_DEPTH, MAX_DEPTH = 10, 105


def leaf(spin: int) -> int:
    """Busy work for `spin` microseconds."""
    end = time.perf_counter() + spin * 1e-6
    n = 0
    while time.perf_counter() < end:
        n += 1
    return n


def b00(path: tuple[int, ...], i: int, spin: int) -> int:
    if i == len(path):
        return leaf(spin)
    return BRANCHES[path[i]](path, i + 1, spin)


def b01(path: tuple[int, ...], i: int, spin: int) -> int:
    if i == len(path):
        return leaf(spin)
    return BRANCHES[path[i]](path, i + 1, spin)


def b02(path: tuple[int, ...], i: int, spin: int) -> int:
    if i == len(path):
        return leaf(spin)
    return BRANCHES[path[i]](path, i + 1, spin)


def b03(path: tuple[int, ...], i: int, spin: int) -> int:
    if i == len(path):
        return leaf(spin)
    return BRANCHES[path[i]](path, i + 1, spin)


def b04(path: tuple[int, ...], i: int, spin: int) -> int:
    if i == len(path):
        return leaf(spin)
    return BRANCHES[path[i]](path, i + 1, spin)


def b05(path: tuple[int, ...], i: int, spin: int) -> int:
    if i == len(path):
        return leaf(spin)
    return BRANCHES[path[i]](path, i + 1, spin)


def b06(path: tuple[int, ...], i: int, spin: int) -> int:
    if i == len(path):
        return leaf(spin)
    return BRANCHES[path[i]](path, i + 1, spin)


def b07(path: tuple[int, ...], i: int, spin: int) -> int:
    if i == len(path):
        return leaf(spin)
    return BRANCHES[path[i]](path, i + 1, spin)


def b08(path: tuple[int, ...], i: int, spin: int) -> int:
    if i == len(path):
        return leaf(spin)
    return BRANCHES[path[i]](path, i + 1, spin)


def b09(path: tuple[int, ...], i: int, spin: int) -> int:
    if i == len(path):
        return leaf(spin)
    return BRANCHES[path[i]](path, i + 1, spin)


def b10(path: tuple[int, ...], i: int, spin: int) -> int:
    if i == len(path):
        return leaf(spin)
    return BRANCHES[path[i]](path, i + 1, spin)


def b11(path: tuple[int, ...], i: int, spin: int) -> int:
    if i == len(path):
        return leaf(spin)
    return BRANCHES[path[i]](path, i + 1, spin)


def b12(path: tuple[int, ...], i: int, spin: int) -> int:
    if i == len(path):
        return leaf(spin)
    return BRANCHES[path[i]](path, i + 1, spin)


def b13(path: tuple[int, ...], i: int, spin: int) -> int:
    if i == len(path):
        return leaf(spin)
    return BRANCHES[path[i]](path, i + 1, spin)


def b14(path: tuple[int, ...], i: int, spin: int) -> int:
    if i == len(path):
        return leaf(spin)
    return BRANCHES[path[i]](path, i + 1, spin)


def b15(path: tuple[int, ...], i: int, spin: int) -> int:
    if i == len(path):
        return leaf(spin)
    return BRANCHES[path[i]](path, i + 1, spin)


BRANCHES: tuple[Callable[[tuple[int, ...], int, int], int], ...] = (
    b00,
    b01,
    b02,
    b03,
    b04,
    b05,
    b06,
    b07,
    b08,
    b09,
    b10,
    b11,
    b12,
    b13,
    b14,
    b15,
)


def paths(count: int, seed: int = SEED) -> list[tuple[tuple[int, ...], int]]:
    """`count` call paths with their spin times in microseconds (mean about 4.5 ms)."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        depth = MIN_DEPTH + int(rng.betavariate(2.0, 3.0) * (MAX_DEPTH - MIN_DEPTH))
        path = tuple(rng.randrange(len(BRANCHES)) for _ in range(depth))
        spin = int(1500 + rng.expovariate(1 / 3000))
        out.append((path, spin))
    return out


def run(count: int) -> int:
    total = 0
    for path, spin in paths(count):
        total += BRANCHES[path[0]](path, 1, spin)
    return total


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 3600
    started = time.perf_counter()
    run(count)
    print(f"{count} paths in {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
