"""`task`: a background job — per-client report generation consumed from a queue by worker threads.

Setup (not profiled) builds each client's visit history. The body puts one report job per client
on a `queue.Queue`, starts `workers` threads that consume it (one `None` per worker stops them),
and joins them. A report totals the client's visits per service and gives the p50/p90/p99 of
their durations and amounts.

The deliberately expensive step: the naive `percentile_naive` ranks every value by counting the
values at or below it — quadratic in a client's visits, six times per report — which makes it the
hotspot (seen in the worker threads: use `-m cprofile` or `-m pyspy`; `pyinstrument` samples only
the body's thread, which waits in `join`). `variant=fast` sorts each series once and indexes it.

The body reports each job's latency (dequeue to done) as target metrics.
"""

from __future__ import annotations

import math
import queue
import random
import threading
import time
from dataclasses import dataclass
from typing import Literal

from profwork.targets import Metrics, target

from ._metrics import latency_figures

SERVICES = ("check-up", "consultation", "follow-up", "physio", "imaging")
QUANTILES = (0.50, 0.90, 0.99)
Variant = Literal["naive", "fast"]


@dataclass(frozen=True, slots=True)
class Visit:
    service: str
    minutes: int
    amount_cents: int


@dataclass(frozen=True)
class History:
    client_id: int
    name: str
    visits: tuple[Visit, ...]


def make_histories(clients: int, visits: int, seed: int = 5) -> list[History]:
    rng = random.Random(seed)
    return [
        History(
            client_id=i,
            name=f"Client {i:04d}",
            visits=tuple(
                Visit(
                    service=rng.choice(SERVICES),
                    minutes=rng.choice((15, 30, 45, 60, 90)),
                    amount_cents=rng.randrange(2_000, 40_000),
                )
                for _ in range(visits)
            ),
        )
        for i in range(1, clients + 1)
    ]


def percentile_naive(values: list[int], q: float) -> int:
    """Nearest-rank percentile by ranking every value against all the others: quadratic."""
    wanted = max(1, math.ceil(q * len(values)))
    best: int | None = None
    for v in values:
        rank = 0
        for w in values:
            if w <= v:
                rank += 1
        if rank >= wanted and (best is None or v < best):
            best = v
    if best is None:
        raise ValueError("no values")
    return best


def percentiles_naive(values: list[int]) -> list[int]:
    return [percentile_naive(values, q) for q in QUANTILES]


def percentiles_fast(values: list[int]) -> list[int]:
    """The same nearest-rank percentiles from one sort."""
    ordered = sorted(values)
    return [ordered[max(1, math.ceil(q * len(ordered))) - 1] for q in QUANTILES]


def build_report(history: History, variant: Variant) -> str:
    percentiles = percentiles_naive if variant == "naive" else percentiles_fast
    totals: dict[str, int] = {}
    for visit in history.visits:
        totals[visit.service] = totals.get(visit.service, 0) + visit.amount_cents
    minutes = percentiles([v.minutes for v in history.visits])
    amounts = percentiles([v.amount_cents for v in history.visits])
    lines = [f"Report for {history.name} (#{history.client_id}), {len(history.visits)} visits"]
    lines += [f"  {service:<14}{cents / 100:>12.2f}" for service, cents in sorted(totals.items())]
    lines.append("  minutes  p50/p90/p99: " + "/".join(str(m) for m in minutes))
    lines.append("  amount   p50/p90/p99: " + "/".join(f"{a / 100:.2f}" for a in amounts))
    return "\n".join(lines)


def work(
    jobs: queue.Queue[History | None], reports: list[str], latencies: list[float], variant: Variant
) -> None:
    """A worker: take jobs until the `None` that stops it."""
    while True:
        history = jobs.get()
        if history is None:
            return
        started = time.perf_counter()
        report = build_report(history, variant)
        elapsed = time.perf_counter() - started
        reports.append(report)  # list.append is atomic: no lock needed
        latencies.append(elapsed)


def setup(clients: int = 150, visits: int = 280) -> list[History]:
    return make_histories(clients, visits)


def body(histories: list[History], workers: int = 4, variant: Variant = "naive") -> Metrics:
    """Queue one report job per client and let `workers` threads consume them."""
    jobs: queue.Queue[History | None] = queue.Queue()
    reports: list[str] = []
    latencies: list[float] = []
    threads = [
        threading.Thread(
            target=work, args=(jobs, reports, latencies, variant), name=f"report-worker-{i}"
        )
        for i in range(workers)
    ]
    for thread in threads:
        thread.start()
    for history in histories:
        jobs.put(history)
    for _ in threads:
        jobs.put(None)
    for thread in threads:
        thread.join()
    if len(reports) != len(histories):
        raise RuntimeError(f"{len(histories) - len(reports)} report jobs were lost")
    return Metrics({"report job": latency_figures(latencies)} if latencies else {})


TARGET = target(
    "task",
    description="Report jobs on a queue, consumed by worker threads; quadratic percentile "
    "(variant=fast sorts once)",
    sizes={
        "small": {"clients": 20, "visits": 60},
        "medium": {"clients": 60, "visits": 120},
        "large": {"clients": 120, "visits": 240},
    },
    setup=setup,
)(body)
