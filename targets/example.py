"""`example`: a small pure-Python workload with a known hotspot and its fix.

An order book deduplicates incoming order ids. The naive variant checks each id against a list
(`id in seen_list`, linear per check: quadratic overall), which makes `is_duplicate` the hotspot;
`variant=fast` uses a set. The body runs `rounds` times so that it lasts about a second here.
"""

from __future__ import annotations

import random
from typing import Literal

from profwork.targets import target


def make_orders(orders: int, seed: int = 7) -> list[int]:
    rng = random.Random(seed)
    return [rng.randrange(orders * 2) for _ in range(orders)]


def is_duplicate(order_id: int, seen: list[int]) -> bool:
    return order_id in seen  # linear scan: the known hotspot


def dedupe_naive(ids: list[int]) -> list[int]:
    seen: list[int] = []
    for order_id in ids:
        if not is_duplicate(order_id, seen):
            seen.append(order_id)
    return seen


def dedupe_fast(ids: list[int]) -> list[int]:
    seen: set[int] = set()
    unique = []
    for order_id in ids:
        if order_id not in seen:
            seen.add(order_id)
            unique.append(order_id)
    return unique


def price(ids: list[int]) -> float:
    return sum((i % 97) * 1.25 for i in ids)


def setup(orders: int = 3000) -> list[int]:
    return make_orders(orders)


def body(ids: list[int], rounds: int = 40, variant: Literal["naive", "fast"] = "naive") -> float:
    """Deduplicate and price an order batch, `rounds` times."""
    dedupe = dedupe_naive if variant == "naive" else dedupe_fast
    total = 0.0
    for _ in range(rounds):
        total += price(dedupe(ids))
    return total


TARGET = target(
    "example",
    description="Order-book dedupe with a quadratic list scan (variant=fast uses a set)",
    sizes={"small": {"orders": 1000}, "medium": {"orders": 3000}, "large": {"orders": 6000}},
    setup=setup,
)(body)
