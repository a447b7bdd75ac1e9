"""Figures the built-in targets report about themselves (shared by `api` and `task`)."""

from __future__ import annotations

import math
import statistics


def latency_figures(samples: list[float]) -> dict[str, float]:
    """Nearest-rank percentiles and the mean, in seconds."""
    ordered = sorted(samples)

    def rank(q: float) -> float:
        return ordered[max(0, math.ceil(q * len(ordered)) - 1)]

    return {
        "p50": rank(0.50),
        "p95": rank(0.95),
        "p99": rank(0.99),
        "mean": statistics.fmean(ordered),
        "count": len(ordered),
    }
