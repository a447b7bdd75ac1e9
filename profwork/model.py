"""The one model every profiler is normalised into, and the views derived from it.

A `Profile` holds weighted stacks (root first, collapsed: one entry per distinct stack) and, when
an exact profiler ran, per-function statistics. Every number a renderer or an analysis shows is
derived here on demand and never stored twice. Nothing in this module knows which profiler ran.

Rules that hold for every method (DESIGN §1):
- a function is identified by its full path and first line and named by its qualified name;
- `thread`/`process` pseudo-frames may start a stack and are never ranked;
- when exact statistics exist (cProfile), they drive every per-function number and the stacks
  (rebuilt from the caller graph) only feed the stack views.
"""

from __future__ import annotations

import heapq
from collections import Counter, defaultdict
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from itertools import chain
from typing import Any, Literal, NamedTuple, Protocol, TypeVar, runtime_checkable

Unit = Literal["seconds", "bytes", "samples"]
# How a run ended (the manifest's `status`).
Status = Literal["ok", "error", "interrupted"]
# What `Profile.top` ranks by.
RankBy = Literal["cumulative", "self", "own", "calls"]
RANK_BY: tuple[RankBy, ...] = ("cumulative", "self", "own", "calls")
T = TypeVar("T")


class FrameKind(StrEnum):
    USER = "user"
    STDLIB = "stdlib"
    THIRD_PARTY = "third_party"
    NATIVE = "native"
    PROFWORK = "profwork"
    THREAD = "thread"
    PROCESS = "process"

    @property
    def is_pseudo(self) -> bool:
        return self in (FrameKind.THREAD, FrameKind.PROCESS)


class Frame(NamedTuple):
    """One function: qualified name, full path, first line of the function, and its kind.

    A named tuple rather than a frozen dataclass: every view hashes frames millions of times on
    big profiles, and a tuple hashes and compares in C (a dataclass's `__hash__`/`__eq__` are
    Python functions, about 2.5× slower per stack frame here)."""

    function: str
    file: str = ""
    line: int = 0
    kind: FrameKind = FrameKind.USER

    @property
    def is_pseudo(self) -> bool:
        return self.kind.is_pseudo

    @property
    def location(self) -> str:
        """`path:line`, or the empty string for native and pseudo frames."""
        if self.is_pseudo or not self.file or self.file in ("~", "<built-in>"):
            return ""
        return f"{self.file}:{self.line}"

    @property
    def label(self) -> str:
        """`qualname (path:line)`, as the folded format and py-spy's raw format spell a frame."""
        location = self.location
        return f"{self.function} ({location})" if location else self.function


Stack = tuple[Frame, ...]


@dataclass(frozen=True, slots=True)
class EdgeStats:
    """One caller → callee edge of an exact profile (pstats' caller tuple)."""

    calls: int
    primitive_calls: int
    self: float
    cumulative: float

    def __add__(self, other: EdgeStats) -> EdgeStats:
        return EdgeStats(
            self.calls + other.calls,
            self.primitive_calls + other.primitive_calls,
            self.self + other.self,
            self.cumulative + other.cumulative,
        )


@dataclass(frozen=True, slots=True)
class FunctionStats:
    """Exact statistics of one function; only exact profilers (cProfile) provide them."""

    calls: int
    primitive_calls: int
    self: float
    cumulative: float
    callers: Mapping[Frame, EdgeStats] = field(default_factory=dict)

    def __add__(self, other: FunctionStats) -> FunctionStats:
        callers = dict(self.callers)
        for caller, edge in other.callers.items():
            callers[caller] = callers[caller] + edge if caller in callers else edge
        return FunctionStats(
            self.calls + other.calls,
            self.primitive_calls + other.primitive_calls,
            self.self + other.self,
            self.cumulative + other.cumulative,
            callers,
        )


@dataclass(frozen=True, slots=True)
class FunctionRow:
    """One ranked function with every per-function figure the views show."""

    frame: Frame
    self: float
    cumulative: float
    own: float
    calls: int | None
    primitive_calls: int | None
    share: float

    def to_dict(self) -> dict[str, Any]:
        """The row as plain data (summary.json's rows, a DataFrame's records). Own time is
        defined for user functions only (DESIGN §5): None for the others."""
        return {
            "function": self.frame.function,
            "file": self.frame.file,
            "line": self.frame.line,
            "kind": self.frame.kind.value,
            "calls": self.calls,
            "primitive_calls": self.primitive_calls,
            "self": self.self,
            "own": self.own if self.frame.kind is FrameKind.USER else None,
            "cumulative": self.cumulative,
            "share": self.share,
        }


class NumberedStacks(NamedTuple):
    """A profile's stacks as tuples of frame numbers (`Profile.numbered_stacks`), which the
    stack-based renderers (pstats, speedscope, folded) share.

    `frames` lists the distinct frames, the `real` ones (not pseudo) first, so that a stack
    without its leading pseudo-frames (`numbers[lead:]`) only holds numbers below `real`.
    `stacks` follows the profile's own order: (numbers, lead, weight); a sequence, which a
    stack table makes as it is read."""

    frames: list[Frame]
    real: int
    stacks: Sequence[tuple[tuple[int, ...], int, float]]


_PSEUDO = (FrameKind.THREAD, FrameKind.PROCESS)


@runtime_checkable
class StackTable(Protocol):
    """Collapsed stacks that compute the stack views over their call-tree nodes, once per node,
    rather than over every frame of every stack (`profwork.stacktree.StackTree`, which a deep
    pstats rebuild gives: its stacks as tuples would be quadratic in depth)."""

    def heaviest(self, n: int) -> list[tuple[Stack, float]]:
        """The n heaviest non-empty stacks, heaviest first (ties in order)."""
        ...

    def deepest(self, keep: Callable[[Frame], bool]) -> dict[Frame, float]:
        """Each stack's weight added to its deepest frame that `keep` keeps."""
        ...

    def root_weights(self) -> dict[Frame, float]:
        """The total weight under each first frame of a stack."""
        ...


@runtime_checkable
class StackBodies(Protocol):
    """Collapsed stacks as interned leads (pseudo-frames) and bodies, each distinct body held
    once (`profwork.flatstacks.FlatStacks`): the views are counted once per distinct body, with
    the sums the code on tuples gives."""

    def self_weights(self) -> dict[Frame, float]: ...

    def cumulative_weights(self) -> dict[Frame, float]: ...

    def edge_weights(self) -> dict[tuple[Frame, Frame], float]: ...

    def numbered(self) -> NumberedStacks: ...


@dataclass(frozen=True)
class Profile:
    """Weighted stacks plus optional exact statistics, in one unit."""

    unit: Unit
    stacks: Mapping[Stack, float]
    stats: Mapping[Frame, FunctionStats] | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)

    # ---- totals -------------------------------------------------------------------------------

    @cached_property
    def total(self) -> float:
        """Everything measured: the sum of self times when exact, else the sum of stack weights."""
        if self.stats is not None:
            return sum(s.self for s in self.stats.values())
        return sum(self.stacks.values())

    @cached_property
    def stack_total(self) -> float:
        return sum(self.stacks.values())

    @property
    def is_exact(self) -> bool:
        return self.stats is not None

    @cached_property
    def threads(self) -> tuple[Frame, ...]:
        """The pseudo-frames (threads, processes) that root stacks, heaviest first."""
        if isinstance(self.stacks, StackTable):
            roots = self.stacks.root_weights()
            return tuple(sorted((f for f in roots if f.is_pseudo), key=lambda f: -roots[f]))
        weights: dict[Frame, float] = defaultdict(float)
        for stack, weight in self.stacks.items():
            if stack and stack[0].is_pseudo:
                weights[stack[0]] += weight
        return tuple(sorted(weights, key=lambda f: -weights[f]))

    # ---- per-function views --------------------------------------------------------------------

    def self_times(self) -> Mapping[Frame, float]:
        return self._self_times

    @cached_property
    def _by_weight(self) -> dict[float, list[Stack]]:
        """Stacks grouped by weight. Sampled profiles have few distinct weights (sample counts),
        so the per-frame work of the views below runs inside `Counter` (in C) per group."""
        groups: dict[float, list[Stack]] = defaultdict(list)
        for stack, weight in self.stacks.items():
            if stack:
                groups[weight].append(stack)
        return dict(groups)

    def _weighted_counts(self, per_stack: Callable[[Stack], Iterable[Any]]) -> dict[Any, float]:
        out: dict[Any, float] = defaultdict(float)
        for weight, stacks in self._by_weight.items():
            for key, count in Counter(chain.from_iterable(map(per_stack, stacks))).items():
                out[key] += weight * count
        return out

    @cached_property
    def _self_times(self) -> dict[Frame, float]:
        if self.stats is not None:
            return {f: s.self for f, s in self.stats.items()}
        if isinstance(self.stacks, StackBodies):  # once per distinct body
            return self.stacks.self_weights()
        leaves = self._weighted_counts(lambda stack: stack[-1:])
        return {f: w for f, w in leaves.items() if not f.is_pseudo}

    def cumulative(self) -> Mapping[Frame, float]:
        """Cumulative time per function; a recursive function counts once per stack."""
        return self._cumulative

    @cached_property
    def _cumulative(self) -> dict[Frame, float]:
        if self.stats is not None:
            return {f: s.cumulative for f, s in self.stats.items()}
        # a set per stack: a recursive function counts once per stack
        if isinstance(self.stacks, StackBodies):
            return self.stacks.cumulative_weights()
        cumulative = self._weighted_counts(set)
        return {f: w for f, w in cumulative.items() if not f.is_pseudo}

    def own_times(self) -> Mapping[Frame, float]:
        """Own time of user functions: self time plus the library time below, up to the next
        user frame. Each stack's weight goes to its deepest user frame. For an exact profile this
        reads the rebuilt stacks, so it is an estimate."""
        return self._own_times

    @cached_property
    def _own_times(self) -> dict[Frame, float]:
        if isinstance(self.stacks, StackTable):  # deep stacks: one pass over the tree's nodes
            return self.stacks.deepest(lambda frame: frame.kind is FrameKind.USER)
        out: dict[Frame, float] = defaultdict(float)
        for stack, weight in self.stacks.items():
            for frame in reversed(stack):
                if frame.kind is FrameKind.USER:
                    out[frame] += weight
                    break
        return dict(out)

    def calls(self) -> Mapping[Frame, tuple[int, int]] | None:
        """(calls, primitive calls) per function, when an exact profiler counted them."""
        if self.stats is None:
            return None
        return {f: (s.calls, s.primitive_calls) for f, s in self.stats.items()}

    def edges(self) -> Mapping[tuple[Frame, Frame], float]:
        """Caller → callee cumulative weight (pseudo-frames excluded)."""
        return self._edges

    @cached_property
    def _edges(self) -> dict[tuple[Frame, Frame], float]:
        out: dict[tuple[Frame, Frame], float] = defaultdict(float)
        if self.stats is not None:
            for callee, s in self.stats.items():
                for caller, edge in s.callers.items():
                    out[(caller, callee)] += edge.cumulative
            return dict(out)
        if isinstance(self.stacks, StackBodies):
            return self.stacks.edge_weights()
        pairs = self._weighted_counts(lambda stack: set(zip(stack, stack[1:], strict=False)))
        return {pair: w for pair, w in pairs.items() if not pair[0].is_pseudo}

    def functions(self) -> Iterator[Frame]:
        """Every real (non-pseudo) function of the profile."""
        return (f for f in self._cumulative if not f.is_pseudo)

    def rows(self) -> list[FunctionRow]:
        """One row per function with every figure, unsorted."""
        total = self.total or 1.0
        selfs, cums, owns = self._self_times, self._cumulative, self._own_times
        calls = self.calls() or {}
        rows = []
        for frame in self.functions():
            counted = calls.get(frame)
            rows.append(
                FunctionRow(
                    frame=frame,
                    self=selfs.get(frame, 0.0),
                    cumulative=cums[frame],
                    own=owns.get(frame, 0.0),
                    calls=counted[0] if counted else None,
                    primitive_calls=counted[1] if counted else None,
                    share=cums[frame] / total,
                )
            )
        return rows

    def top(self, n: int = 15, by: RankBy = "cumulative") -> list[FunctionRow]:
        """The n functions ranked `by` cumulative time (pstats' `cumtime`), self time, own time
        (user functions only: self plus the library time below them) or call count (exact
        profiles only)."""
        if by not in RANK_BY:
            raise ValueError(f"top(by={by!r}): rank by one of {', '.join(RANK_BY)}")
        rows: list[FunctionRow] = self.view(Profile.rows)  # once per profile; not modified here
        if by == "calls":
            if self.stats is None:
                raise ValueError(
                    "top(by='calls'): this profile was sampled, so calls were not counted "
                    "(profile with method='cprofile' for call counts)"
                )
            return sorted(rows, key=lambda r: (-(r.calls or 0), -r.cumulative))[:n]
        if by == "own":
            rows = [r for r in rows if r.frame.kind is FrameKind.USER]
        key: Callable[[FunctionRow], float] = {
            "cumulative": lambda r: r.cumulative,
            "self": lambda r: r.self,
            "own": lambda r: r.own,
        }[by]
        return sorted(rows, key=lambda r: (-key(r), r.frame.function))[:n]

    def find(self, name: str) -> list[Frame]:
        """Functions whose qualified name is `name`, ends with `.name`, or contains it (in that
        order, each heaviest first); `name` may also be a `path:line` location."""
        cumulative = self._cumulative
        ranked = [
            (_match_rank(frame, name), -cumulative[frame], frame.function, frame)
            for frame in self.functions()
            if name in frame.function or frame.location == name
        ]
        return [item[-1] for item in sorted(ranked)]

    def function(self, fn: Frame | str) -> Frame:
        """The one function `fn` names (see `find`); a ValueError when none or several do."""
        if isinstance(fn, Frame):
            if fn not in self._cumulative:
                raise ValueError(f"{fn.label} is not in this profile")
            return fn
        found = self.find(fn)
        best = (
            [f for f in found if _match_rank(f, fn) == _match_rank(found[0], fn)] if found else []
        )
        if len(best) == 1:
            return best[0]
        if not best:
            raise ValueError(f"no function named {fn!r} in this profile")
        shown = "; ".join(f.label for f in best[:5]) + ("; …" if len(best) > 5 else "")
        raise ValueError(
            f"{len(best)} functions match {fn!r}: {shown} (pass one of the frames `find` gives)"
        )

    def callers(self, fn: Frame | str) -> dict[Frame, float]:
        """Who calls `fn` (a frame, or a name `find` resolves to one function), with the
        cumulative weight of each call edge, heaviest first."""
        callee = self.function(fn)
        found = {a: w for (a, b), w in self._edges.items() if b == callee and a != callee}
        return dict(sorted(found.items(), key=lambda item: -item[1]))

    def callees(self, fn: Frame | str) -> dict[Frame, float]:
        """What `fn` calls, with the cumulative weight of each call edge, heaviest first."""
        caller = self.function(fn)
        found = {b: w for (a, b), w in self._edges.items() if a == caller and b != caller}
        return dict(sorted(found.items(), key=lambda item: -item[1]))

    # ---- views for notebooks (pandas is imported lazily; the flame graph and the rich display
    # are on `profwork.display.NotebookProfile`, since this module imports nothing of profwork)

    def to_dataframe(self, by: RankBy = "cumulative") -> Any:
        """Every function as a pandas DataFrame, one row each, ranked `by` (see `top`);
        `df.attrs["unit"]` is the profile's unit. pandas is optional: `pip install pandas` (or
        the `notebooks` extra)."""
        try:
            import pandas
        except ImportError:
            raise ModuleNotFoundError(
                "Profile.to_dataframe() needs pandas, which is not installed: "
                "pip install pandas (or pip install 'profwork[notebooks]')",
                name="pandas",
            ) from None
        rows = self.top(len(self._cumulative), by=by)
        frame = pandas.DataFrame(
            [r.to_dict() for r in rows],
            columns=[
                "function",
                "file",
                "line",
                "kind",
                "calls",
                "primitive_calls",
                "self",
                "own",
                "cumulative",
                "share",
            ],
        )
        frame.attrs["unit"] = self.unit
        return frame

    def heaviest_paths(self, n: int = 5) -> list[tuple[Stack, float]]:
        """The n heaviest distinct call paths (pseudo roots kept, so a path names its thread)."""
        if isinstance(self.stacks, StackTable):
            return self.stacks.heaviest(n)
        ranked = heapq.nlargest(n + 1, self.stacks.items(), key=lambda item: item[1])
        return [(stack, weight) for stack, weight in ranked if stack][:n]

    # ---- views for renderers --------------------------------------------------------------------

    def numbered_stacks(self) -> NumberedStacks:
        """The stacks with their frames numbered (see `NumberedStacks`), computed once."""
        return self._numbered_stacks

    @cached_property
    def _numbered_stacks(self) -> NumberedStacks:
        if isinstance(self.stacks, StackBodies):  # a stack table numbers its frames already
            return self.stacks.numbered()
        # A long recording has millions of frame occurrences. They are numbered once, looked up
        # by `id` (in C, where a lookup by frame runs `Frame.__hash__` each time); the ids are
        # stable while the profile holds its frames. Equal frames share a number even as
        # different objects.
        occurrences = list(chain.from_iterable(self.stacks))
        objects = dict(zip(map(id, occurrences), occurrences, strict=True))
        del occurrences
        distinct: dict[Frame, list[int]] = {}
        for key, frame in objects.items():
            distinct.setdefault(frame, []).append(key)
        ordered = sorted(distinct, key=lambda frame: frame.kind in _PSEUDO)  # stable: real first
        by_id: dict[int, int] = {}
        for number, frame in enumerate(ordered):
            for key in distinct[frame]:
                by_id[key] = number
        number_of = by_id.__getitem__
        stacks = []
        for stack, weight in self.stacks.items():
            lead = 0
            while lead < len(stack) and stack[lead].kind in _PSEUDO:
                lead += 1
            stacks.append((tuple(map(number_of, map(id, stack))), lead, weight))
        real = sum(1 for frame in ordered if frame.kind not in _PSEUDO)
        return NumberedStacks(ordered, real, stacks)

    def view(self, compute: Callable[..., T], *args: Hashable) -> T:
        """`compute(self, *args)`, computed once per profile and arguments: a derived view that
        belongs to a renderer (the flame graph's layout, which `flame.svg` and `report.html`
        both draw), cached here rather than in a module global, so that it lives exactly as long
        as the profile and the order in which renderers run does not matter. `compute` should be
        a module-level function (it is part of the key)."""
        key = (compute, *args)
        views = self._views
        if key not in views:
            views[key] = compute(self, *args)
        result: T = views[key]
        return result

    @cached_property
    def _views(self) -> dict[tuple[Hashable, ...], Any]:
        return {}


def _match_rank(frame: Frame, name: str) -> int:
    """How closely `frame` matches `name` in `Profile.find`: 0 exactly, 1 by its last part."""
    if frame.function == name or frame.location == name:
        return 0
    return 1 if frame.function.endswith("." + name) else 2
