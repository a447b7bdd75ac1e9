"""Is a change real or noise? The rank test and the interval test the regression gate uses.

asv's rule (DESIGN §5, Compare): with repeated measurements on both sides, a change counts only
when a Mann–Whitney U test gives p < 0.002; when the repeats are too few for the test ever to get
there (two-sided, no ties: 6 against 6 cannot go below 2/924 ≈ 0.0022), the 99% confidence
intervals of the two means must not overlap instead.

The U test is implemented here (scipy is not a dependency): the exact null distribution for
small samples without ties (the coefficients of the Gaussian binomial, counted by recurrence, as
in Mann and Whitney's 1947 table), and the normal approximation with the tie correction and a
continuity correction otherwise (as scipy's `method="asymptotic"`).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

ALPHA = 0.002  # asv's threshold for the rank test
EXACT_LIMIT = 20  # the exact distribution for samples up to this size (both sides), without ties

# Student's t, two-sided 99% (the 0.995 quantile), for 1..30 degrees of freedom.
_T995 = (
    63.657, 9.925, 5.841, 4.604, 4.032, 3.707, 3.499, 3.355, 3.250, 3.169,
    3.106, 3.055, 3.012, 2.977, 2.947, 2.921, 2.898, 2.878, 2.861, 2.845,
    2.831, 2.819, 2.807, 2.797, 2.787, 2.779, 2.771, 2.763, 2.756, 2.750,
)  # fmt: skip
_Z995 = 2.5758293035489


def t995(df: int) -> float:
    """The 0.995 quantile of Student's t with `df` degrees of freedom (Cornish–Fisher past 30)."""
    if df < 1:
        raise ValueError("at least one degree of freedom")
    if df <= len(_T995):
        return _T995[df - 1]
    z = _Z995
    return z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)


def u_statistic(a: Sequence[float], b: Sequence[float]) -> float:
    """U of `a` against `b`: the pairs in which `a`'s value is larger, ties counting one half."""
    ranks = _ranks([*a, *b])
    return sum(ranks[: len(a)]) - len(a) * (len(a) + 1) / 2


def _ranks(values: Sequence[float]) -> list[float]:
    order = sorted(range(len(values)), key=values.__getitem__)
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


@cache
def _u_counts(n: int, m: int) -> tuple[int, ...]:
    """How many of the C(n+m, n) orderings give each U = 0..n·m (no ties)."""
    if n == 0 or m == 0:
        return (1,)
    # the largest value belongs to the first sample (U grows by m) or to the second
    with_a = _u_counts(n - 1, m)
    with_b = _u_counts(n, m - 1)
    counts = [0] * (n * m + 1)
    for u, c in enumerate(with_a):
        counts[u + m] += c
    for u, c in enumerate(with_b):
        counts[u] += c
    return tuple(counts)


def mann_whitney(a: Sequence[float], b: Sequence[float]) -> float:
    """The two-sided p-value of the Mann–Whitney U test of `a` against `b`."""
    n, m = len(a), len(b)
    if n == 0 or m == 0:
        raise ValueError("both samples need values")
    u = u_statistic(a, b)
    ties = len(set(a) | set(b)) < n + m
    if not ties and n <= EXACT_LIMIT and m <= EXACT_LIMIT:
        counts = _u_counts(n, m)
        extreme = min(u, n * m - u)  # symmetric distribution
        tail = sum(counts[: int(extreme) + 1])
        return min(1.0, 2 * tail / math.comb(n + m, n))
    mean = n * m / 2
    tie_sizes: dict[float, int] = {}
    for value in (*a, *b):
        tie_sizes[value] = tie_sizes.get(value, 0) + 1
    total = n + m
    correction = sum(t**3 - t for t in tie_sizes.values()) / (total * (total - 1))
    variance = n * m / 12 * ((total + 1) - correction)
    if variance <= 0:  # every value equal: no evidence of a difference
        return 1.0
    z = (abs(u - mean) - 0.5) / math.sqrt(variance)
    return min(1.0, math.erfc(max(z, 0.0) / math.sqrt(2)))


def smallest_p(n: int, m: int) -> float:
    """The smallest two-sided p the exact test can give for samples of n and m values."""
    return 2 / math.comb(n + m, n) if n and m else 1.0


def interval99(values: Sequence[float]) -> tuple[float, float]:
    """The 99% confidence interval of the mean (Student's t); needs two values or more."""
    mean = statistics.fmean(values)
    half = t995(len(values) - 1) * statistics.stdev(values) / math.sqrt(len(values))
    return mean - half, mean + half


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether two sets of repeats differ beyond noise, and by which test it was decided.
    `real` is None when there are too few repeats to test at all."""

    real: bool | None
    test: str

    def to_dict(self) -> dict[str, object]:
        return {"real": self.real, "test": self.test}


def differ(base: Sequence[float], new: Sequence[float], alpha: float = ALPHA) -> Verdict:
    """asv's rule: the rank test when the repeats can reach `alpha`, else non-overlapping 99%
    intervals; fewer than two repeats on a side cannot be tested."""
    if len(base) < 2 or len(new) < 2:
        return Verdict(None, "too few repeats to test (fewer than 2 on a side)")
    if smallest_p(len(base), len(new)) < alpha:
        p = mann_whitney(base, new)
        verb = "<" if p < alpha else "≥"
        return Verdict(p < alpha, f"Mann–Whitney U p = {p:.2g} {verb} {alpha:g}")
    low_b, high_b = interval99(base)
    low_n, high_n = interval99(new)
    apart = high_b < low_n or high_n < low_b
    overlap = "do not overlap" if apart else "overlap"
    return Verdict(
        apart, f"99% intervals {overlap} ({len(base)} and {len(new)} repeats: too few for U)"
    )
