"""How figures and profiled text are written for people: one formatter for the terminal,
Markdown, HTML and SVG.

Every output that shows a time, a size, a count or a share formats it here, so that the same
figure reads the same everywhere (a run's total and its body duration in the same units, a share
never above 100%). `visible` is the one rule for characters that must not reach a page raw.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from profwork.model import Unit

if TYPE_CHECKING:
    from profwork.analyses import Fact

# (scale, suffix, decimals), largest first: a value takes the first scale at which it reads
# as at least 1 *after rounding*, so 0.99996 s is `1.00 s`, never `1000.0 ms`.
_SECONDS = ((1.0, "s", 2), (1e-3, "ms", 1), (1e-6, "µs", 1), (1e-9, "ns", 0))
_BYTES = ((1 << 30, "GiB", 1), (1 << 20, "MiB", 1), (1 << 10, "KiB", 1), (1, "B", 0))


def _scaled(value: float, scales: tuple[tuple[float, str, int], ...], zero: str) -> str:
    if value == 0:
        return zero
    if not math.isfinite(value):
        return f"{value} {scales[0][1]}"
    for scale, suffix, decimals in scales:
        text = f"{value / scale:.{decimals}f}"
        if abs(float(text)) >= 1:
            return f"{text} {suffix}"
    scale, suffix, decimals = scales[-1]
    return f"{value / scale:.{decimals}f} {suffix}"


def format_quantity(value: float, unit: Unit) -> str:
    """A human figure: `1.23 s`, `45.6 ms`, `12.0 µs`, `300 ns`, `3.4 MiB`, `1,200 samples`.

    Small times keep their digits (a threshold of 0.3 µs is `300 ns`, not `0 µs`); zero is `0 s`."""
    if unit == "seconds":
        return _scaled(value, _SECONDS, "0 s")
    if unit == "bytes":
        return _scaled(value, _BYTES, "0 B")
    return f"{value:,.0f} samples"


def format_count(value: float, unit: Unit) -> str:
    """A table cell: like `format_quantity`, but sample counts as bare numbers (the unit is in
    the table's heading, not repeated in every cell)."""
    return f"{value:,.0f}" if unit == "samples" else format_quantity(value, unit)


def format_calls(calls: int | None, primitive: int | None) -> str:
    """pstats' `ncalls`: `total/primitive` when recursion made them differ; blank when unknown
    (a sampler counts no calls)."""
    if calls is None:
        return ""
    if primitive is not None and primitive != calls:
        return f"{calls:,}/{primitive:,}"
    return f"{calls:,}"


def share(part: float, total: float) -> float:
    """`part` as a fraction of `total`, within [0, 1].

    A part can exceed its total when the two come from different measurements (cProfile's
    cumulative time of a function against the sum of self times, which leaves out the
    profiler's own bookkeeping): a share is still never shown above 100%."""
    if not total or not math.isfinite(part) or not math.isfinite(total):
        return 0.0
    return min(1.0, max(0.0, part / total))


def format_share(fraction: float) -> str:
    """`12.3%`, clamped to 0–100%."""
    if not math.isfinite(fraction):
        return "—"
    return f"{min(1.0, max(0.0, fraction)):.1%}"


def format_rate(hertz: float) -> str:
    return f"{hertz:g} Hz"


def format_fact(fact: Fact) -> str:
    """A run fact (`Summary.facts`) as every output shows it."""
    if isinstance(fact.value, str) or fact.unit is None:
        return str(fact.value)
    if fact.unit == "hertz":
        return format_rate(fact.value)
    return format_quantity(fact.value, fact.unit)


# Target metrics with these names are durations in seconds (the `api` target's latencies).
_LATENCY = re.compile(r"^(p\d+(\.\d+)?|mean|median|min|max|std|stdev|avg|average)$", re.IGNORECASE)
_METRIC_ORDER = ("p50", "p90", "p95", "p99", "mean", "median", "min", "max", "stdev")


def format_metric(name: str, value: float) -> str:
    """A target metric: latencies as durations, counts as integers, the rest as numbers."""
    if _LATENCY.match(name):
        return format_quantity(value, "seconds")
    if not math.isfinite(value):
        return str(value)
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


# C0 controls but tab, newline and carriage return; DEL; C1 controls; lone surrogates (which
# cannot even be encoded as UTF-8). HTML forbids the controls, a terminal obeys them, and a
# Markdown reader would get them raw.
_INVISIBLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def visible(text: str) -> str:
    """`text` with every control character written as its escape (`\\x00`, `\\x1b`, `\\ud800`),
    so that a function named with a NUL shows the NUL instead of breaking the page."""
    return _INVISIBLE.sub(_escape, text)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def json_safe(value: Any) -> Any:
    """`value` with every float that is not finite (NaN, ±Infinity) replaced by None, in
    mappings and sequences too: what JSON can hold (every JSON file profwork writes)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value
