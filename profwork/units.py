"""How figures are written for people: one formatter for the terminal, Markdown, HTML and SVG.

Every output that shows a time, a size or a count formats it here, so that the same figure reads
the same everywhere.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from profwork.model import Unit


def format_quantity(value: float, unit: Unit) -> str:
    """A human figure: `1.23 s`, `45.6 ms`, `12 µs`, `3.4 MiB`, `120 samples`."""
    if unit == "seconds":
        magnitude = abs(value)
        if magnitude >= 1:
            return f"{value:.2f} s"
        if magnitude >= 1e-3:
            return f"{value * 1e3:.1f} ms"
        return f"{value * 1e6:.0f} µs"
    if unit == "bytes":
        for suffix, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
            if abs(value) >= scale:
                return f"{value / scale:.1f} {suffix}"
        return f"{value:.0f} B"
    return f"{value:.0f} samples"


# Target metrics with these names are durations in seconds (the `api` target's latencies).
_LATENCY = re.compile(r"^(p\d+(\.\d+)?|mean|median|min|max|std|stdev|avg|average)$", re.IGNORECASE)
_METRIC_ORDER = ("p50", "p90", "p95", "p99", "mean", "median", "min", "max", "stdev")


def format_metric(name: str, value: float) -> str:
    """A target metric: latencies as durations, counts as integers, the rest as numbers."""
    if _LATENCY.match(name):
        return format_quantity(value, "seconds")
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.6g}"


def metric_columns(target_metrics: Mapping[str, Mapping[str, float]]) -> list[str]:
    """Every metric name reported, latencies first in their usual order."""
    names: list[str] = []
    for figures in target_metrics.values():
        names.extend(m for m in figures if m not in names)
    order = {m: i for i, m in enumerate(_METRIC_ORDER)}
    return sorted(names, key=lambda m: (order.get(m, len(order)), m))
