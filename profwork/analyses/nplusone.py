"""N+1 findings (DESIGN §5): many small queries where one would do.

Two sources, one kind of finding (`NPlusOne`), ranked by the time they cost:

- **SQL** (`sql_findings`, from the SQL probe's `QueryLog`): the same normalised statement executed
  at least `threshold` times within one unit of work, from one call site, with at least
  `threshold` different parameter sets. The same statement from several call sites is several
  groups (each judged alone); a statement repeated with identical parameters is a cache's
  business, not an N+1. A finding gathers every unit of work in which its group qualified.
- **Calls** (`call_findings`, from exact per-function statistics: cProfile): a callee called at
  least `threshold` times per call of its caller (a function of the target's code), where each of
  its calls does I/O — a DB-API cursor's `execute`, a socket, an HTTP client's request — counted
  from the call graph (the I/O calls below a function are its callees' I/O shared in proportion to
  the calls on each edge). When SQL was captured, database I/O is left to the SQL analysis, which
  knows the units of work; call counts cannot tell a per-request loop from a per-row one.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from profwork.model import Frame, FrameKind, FunctionStats, Profile

if TYPE_CHECKING:
    from profwork.sqlprobe import Query, QueryLog, Site

DEFAULT_THRESHOLD = 5


@dataclass(frozen=True, slots=True)
class NPlusOne:
    """One N+1 pattern."""

    kind: Literal["sql", "calls"]
    what: str  # the normalised statement, or the callee's qualified name
    count: float  # executions (calls) per unit of work (per call of the caller), mean
    most: int  # the most in one unit of work (call of the caller)
    units: int  # units of work (calls of the caller) in which it happened
    unit: str  # what a unit is: its label(s) (`GET /calendar`), or the caller's name
    total: int  # executions (calls) in all of them
    seconds: float  # time spent in them
    site: str  # the call site: `function (file:line)`
    loop: str | None  # the loop issuing it, when known
    io: str  # what each one does: "SQL", "DB-API cursor", "socket", "HTTP client"
    fix: str

    @property
    def headline(self) -> str:
        """One line for the summary's verdict."""
        return f"N+1: {self.verdict}"

    @property
    def verdict(self) -> str:
        """What the summary's first line says of the worst finding: the statement (callee),
        how many per unit of work (per call of its caller), the time and the call site."""
        return f"{_short(self.what)} {self.per_unit} at {self.site}, {self.time} in all"

    @property
    def per_unit(self) -> str:
        """The count as the tables show it: `×17.9 per unit of work (most 25)`."""
        per = "per call" if self.kind == "calls" else "per unit of work"
        most = f" (most {self.most:,})" if self.most != round(self.count) else ""
        return f"×{_figure(self.count)} {per}{most}"

    @property
    def spread(self) -> str:
        """Where it happened, as the tables show it: `500 in 28 × a day's agenda`, or
        `500 in 4 calls of Report.build`."""
        if self.kind == "calls":
            return f"{self.total:,} in {self.units:,} call(s) of {self.unit}"
        return f"{self.total:,} in {self.units:,} × {self.unit}"

    @property
    def time(self) -> str:
        return _seconds(self.seconds)

    def to_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "what": self.what,
            "count": self.count,
            "most": self.most,
            "units": self.units,
            "unit": self.unit,
            "total": self.total,
            "seconds": self.seconds,
            "site": self.site,
            "loop": self.loop,
            "io": self.io,
            "fix": self.fix,
        }


def _short(text: str, width: int = 70) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _figure(value: float) -> str:
    return f"{value:,.0f}" if abs(value - round(value)) < 0.05 else f"{value:,.1f}"


def _seconds(value: float) -> str:
    from profwork.units import format_quantity

    return format_quantity(value, "seconds")


@dataclass(frozen=True)
class Findings:
    """The N+1 section of a summary: the findings, heaviest first, the threshold they were found
    with, and how many SQL statements were captured (None: no SQL was captured)."""

    findings: tuple[NPlusOne, ...] = ()
    threshold: int = DEFAULT_THRESHOLD
    statements: int | None = None

    @property
    def worst(self) -> NPlusOne | None:
        return self.findings[0] if self.findings else None

    @property
    def scope(self) -> str:
        """What was looked at, for a section's last line."""
        sql = (
            "no SQL was captured"
            if self.statements is None
            else f"{self.statements:,} SQL statement(s) captured"
        )
        return f"threshold {self.threshold}; {sql}"

    def to_dict(self) -> dict[str, object]:
        return {
            "threshold": self.threshold,
            "sql_statements": self.statements,
            "findings": [f.to_dict() for f in self.findings],
        }


# ---- SQL -----------------------------------------------------------------------------------------


def sql_findings(log: QueryLog, threshold: int = DEFAULT_THRESHOLD) -> list[NPlusOne]:
    """SQL N+1 findings of a query log, heaviest first."""
    groups: dict[tuple[str, Site | None], dict[int, list[Query]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for q in log.queries:
        groups[(q.normalised, q.site)][q.unit].append(q)
    found = []
    for (normalised, site), by_unit in groups.items():
        flagged = {
            unit: queries
            for unit, queries in by_unit.items()
            if len(queries) >= threshold and len({q.params for q in queries}) >= threshold
        }
        if not flagged:
            continue
        counts = [len(queries) for queries in flagged.values()]
        flagged_queries = [q for queries in flagged.values() for q in queries]
        loops = {q.loop for q in flagged_queries if q.loop is not None}
        loop = min(loops, key=lambda s: (s.file, s.line)) if loops else None
        labels = sorted({log.unit_label(u) for u in flagged})
        found.append(
            NPlusOne(
                kind="sql",
                what=normalised,
                count=sum(counts) / len(counts),
                most=max(counts),
                units=len(flagged),
                unit=", ".join(labels[:3]) + (f" (+{len(labels) - 3})" if len(labels) > 3 else ""),
                total=sum(counts),
                seconds=sum(q.seconds for q in flagged_queries),
                site=site.label if site is not None else "(no frame of the target's code)",
                loop=loop.label if loop is not None else None,
                io="SQL",
                fix=_sql_fix(normalised, {q.driver for q in flagged_queries}),
            )
        )
    return rank(found)


_WRITE = re.compile(r"^\s*(INSERT|UPDATE|DELETE|REPLACE|UPSERT)\b", re.IGNORECASE)


def _sql_fix(normalised: str, drivers: set[str]) -> str:
    if _WRITE.match(normalised):
        return "batch the writes: one executemany() or one multi-row statement for the whole loop"
    if "sqlalchemy" in drivers:
        return (
            "load the related rows with the query that lists them: selectinload()/joinedload() "
            "on the relationship, or one `WHERE … IN (...)` query before the loop"
        )
    return "fetch the rows for every item in one `WHERE … IN (...)` query before the loop"


# ---- call counts ---------------------------------------------------------------------------------

# What each I/O primitive is: (the kind of I/O, a pattern of its function name, a pattern its
# file must match, or None for native code). cProfile names C methods
# `<method 'execute' of 'sqlite3.Cursor' objects>`.
_DB = "DB-API cursor"
_IO: tuple[tuple[str, re.Pattern[str], re.Pattern[str] | None], ...] = (
    (_DB, re.compile(r"^<method 'execute(many)?' of '[\w.]*(Cursor|Connection)' objects>$"), None),
    (
        _DB,
        re.compile(r"^(Async)?(Server|Client|Raw)?Cursor\.execute(many)?$"),
        re.compile(r"/psycopg/"),
    ),
    (
        _DB,
        re.compile(r"^(Async)?(Server|Client|Raw)?Cursor\.execute(many)?$"),
        re.compile(r"/(psycopg2|pymysql|MySQLdb|oracledb)/"),
    ),
    (
        "socket",
        re.compile(
            r"^<method '(recv|recv_into|recvfrom|send|sendall|sendto|connect)' "
            r"of '_socket\.socket' objects>$"
        ),
        None,
    ),
    ("HTTP client", re.compile(r"^HTTPConnection\.getresponse$"), re.compile(r"/http/client\.py$")),
    ("HTTP client", re.compile(r"^HTTPConnectionPool\.urlopen$"), re.compile(r"/urllib3/")),
    (
        "HTTP client",
        re.compile(r"^(Async)?HTTPTransport\.handle(_async)?_request$"),
        re.compile(r"/httpx/"),
    ),
)


def io_kind(frame: Frame) -> str | None:
    """The kind of I/O a frame is a primitive of, if any."""
    for kind, name, file in _IO:
        if name.match(frame.function) and (
            frame.kind is FrameKind.NATIVE if file is None else bool(file.search(frame.file))
        ):
            return kind
    return None


def call_findings(
    profile: Profile,
    threshold: int = DEFAULT_THRESHOLD,
    *,
    sql_captured: bool = False,
) -> list[NPlusOne]:
    """Call-pattern N+1 findings from a profile's exact statistics (none without them)."""
    stats = profile.stats
    if not stats:
        return []
    primitives = {f: kind for f in stats if (kind := io_kind(f)) is not None}
    if sql_captured:
        primitives = {f: k for f, k in primitives.items() if k != _DB}
    if not primitives:
        return []
    io = _io_below(stats, primitives)
    found = []
    for callee, callee_stats in stats.items():
        below = io.get(callee)
        if not below or callee_stats.calls <= 0:
            continue
        per_call = below[0] / callee_stats.calls
        if per_call < 1:
            continue  # not each of its calls does I/O
        for caller, edge in callee_stats.callers.items():
            caller_stats = stats.get(caller)
            if caller.kind is not FrameKind.USER or caller_stats is None:
                continue
            calls_of_caller = max(caller_stats.calls, 1)
            ratio = edge.calls / calls_of_caller
            if ratio < threshold:
                continue
            found.append(
                NPlusOne(
                    kind="calls",
                    what=callee.function,
                    count=ratio,
                    most=edge.calls,
                    units=calls_of_caller,
                    unit=caller.function,
                    total=edge.calls,
                    seconds=edge.cumulative,
                    site=f"{caller.function} ({caller.file}:{caller.line})",
                    loop=None,
                    io=below[1],
                    fix=_call_fix(below[1]),
                )
            )
    return rank(found)


def _call_fix(kind: str) -> str:
    if kind == "HTTP client":
        return "one batched request for all the items (a bulk endpoint), or concurrent requests"
    if kind == "socket":
        return "batch the round trips: one request for all the items, or pipelining"
    return "one query for all the items (`WHERE … IN (...)`) or executemany(), before the loop"


def _io_below(
    stats: Mapping[Frame, FunctionStats], primitives: Mapping[Frame, str]
) -> dict[Frame, tuple[float, str]]:
    """For each function, the I/O calls made below it (its own callees' I/O, shared in
    proportion to the calls on each edge) and the kind of the commonest; cycles are cut."""
    children: dict[Frame, list[tuple[Frame, int]]] = defaultdict(list)
    for callee, s in stats.items():
        for caller, edge in s.callers.items():
            if caller != callee:
                children[caller].append((callee, edge.calls))
    memo: dict[Frame, dict[str, float]] = {}

    def combine(frame: Frame) -> dict[str, float]:
        kind = primitives.get(frame)
        if kind is not None:
            return {kind: float(stats[frame].calls)}
        out: dict[str, float] = defaultdict(float)
        for child, calls in children.get(frame, ()):
            child_calls = stats[child].calls if child in stats else 0
            if child_calls > 0:
                for k, n in memo.get(child, {}).items():  # absent: a cycle, cut here
                    out[k] += n * calls / child_calls
        return dict(out)

    # post-order, without recursion: call graphs can be thousands of functions deep
    for root in stats:
        if root in memo:
            continue
        visiting = {root}
        stack = [(root, iter(children.get(root, ())))]
        while stack:
            frame, pending = stack[-1]
            for child, _ in pending:
                if child not in memo and child not in visiting and child not in primitives:
                    visiting.add(child)
                    stack.append((child, iter(children.get(child, ()))))
                    break
                if child in primitives and child not in memo:
                    memo[child] = combine(child)
            else:
                stack.pop()
                visiting.discard(frame)
                memo[frame] = combine(frame)

    result = {}
    for frame, counts in memo.items():
        if counts:
            kind, _ = max(counts.items(), key=lambda kv: kv[1])
            result[frame] = (sum(counts.values()), kind)
    return result


# ---- both ----------------------------------------------------------------------------------------


def rank(findings: Iterable[NPlusOne]) -> list[NPlusOne]:
    """Heaviest first: by time spent, then by count."""
    return sorted(findings, key=lambda f: (-f.seconds, -f.total, f.what, f.site))


def find(
    profile: Profile | None,
    queries: QueryLog | None,
    threshold: int = DEFAULT_THRESHOLD,
) -> list[NPlusOne]:
    """Every N+1 finding of a run: SQL ones from its queries, call-pattern ones from its exact
    statistics, heaviest first."""
    found = sql_findings(queries, threshold) if queries is not None else []
    if profile is not None:
        found += call_findings(profile, threshold, sql_captured=queries is not None)
    return rank(found)


def analyse(
    profile: Profile | None, queries: QueryLog | None, threshold: int = DEFAULT_THRESHOLD
) -> Findings:
    """A summary's N+1 section (`Summary.nplusone`)."""
    return Findings(
        tuple(find(profile, queries, threshold)),
        threshold,
        None if queries is None else len(queries.queries),
    )
