"""Compare two runs: per-function deltas, totals, and the regression gate (DESIGN §5, Compare).

Pure functions over `Profile`s and the facts of each side (`Side`); reading runs and writing
the `compare` run directory is `profwork.comparison`'s job.

- **Matching**: a function is its module and qualified name, not its line (which moves with
  every edit above it) nor its full path (another checkout, another virtualenv). Python code's
  module comes from its path (after `site-packages/` or `lib/pythonX.Y/`, or the package
  directories holding `__init__.py`, else the file's stem). Native code carries no module that
  every profiler agrees on: cProfile says `<built-in method time.sleep>` and
  `<method 'append' of 'collections.deque' objects>`, pyinstrument `sleep` and `deque.append`;
  both become `sleep` and `deque.append` under the module `<native>`.
- **Refusal**: runs of different units, methods, rates or clocks (py-spy with `--idle` is wall
  time, without it CPU time) are not comparable; `compare` refuses them unless forced, and a
  forced comparison carries the warning into every output.
- **The gate** (`gate`): the total or one of the top functions regressing past the threshold
  fails it; when both sides hold repeats, the total's change must also pass `stats.differ`, and
  so must a function's when both sides hold its time per iteration (`Side.function_repeats`:
  cprofile runs taken with `--repeat`).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from profwork.analyses.stats import Verdict, differ
from profwork.errors import ProfworkError
from profwork.model import Frame, FrameKind, Profile, Unit
from profwork.units import json_safe

Key = tuple[str, str]  # (module, qualified name)
NATIVE_MODULE = "<native>"

# ---- matching -----------------------------------------------------------------------------------

_METHOD_OF = re.compile(
    r"^<(?:method|slot wrapper|method-wrapper) '([^']+)' of '([^']+)' objects>$"
)
_BOUND_BUILTIN = re.compile(r"^<built-in method (\S+) of (\S+) object(?: at 0x[0-9a-fA-F]+)?>$")
_BUILTIN = re.compile(r"^<built-in (?:method|function) ([^ >]+)>$")
_LIB_PYTHON = re.compile(r"/lib/python\d+(?:\.\d+)*t?/")


def native_name(function: str) -> str:
    """One name for a native function whichever profiler named it (see the module doc)."""
    match = _METHOD_OF.match(function)
    if match:
        return f"{match[2].rsplit('.', 1)[-1]}.{match[1]}"
    match = _BOUND_BUILTIN.match(function)
    if match:
        return f"{match[2].rsplit('.', 1)[-1]}.{match[1]}"
    match = _BUILTIN.match(function)
    if match:
        return match[1].rsplit(".", 1)[-1]
    return function


def module_of(file: str) -> str:
    """The dotted module a source file holds, as far as its path tells."""
    if file.startswith("<frozen ") and file.endswith(">"):
        return file[len("<frozen ") : -1]
    if not file or file.startswith("<"):
        return file
    path = file.replace("\\", "/")
    for marker in ("/site-packages/", "/dist-packages/"):
        if marker in path:
            return _dotted(path.rsplit(marker, 1)[1])
    found = list(_LIB_PYTHON.finditer(path))
    if found:
        return _dotted(path[found[-1].end() :])
    parts = [_stem(os.path.basename(path))]
    directory = os.path.dirname(path)
    while directory and os.path.isfile(os.path.join(directory, "__init__.py")):
        parts.append(os.path.basename(directory))
        directory = os.path.dirname(directory)
    return ".".join(p for p in reversed(parts) if p != "__init__") or parts[0]


def _stem(name: str) -> str:
    return name[: -len(".py")] if name.endswith(".py") else name.rsplit(".", 1)[0]


def _dotted(relative: str) -> str:
    parts = [p for p in relative.split("/") if p]
    if parts:
        parts[-1] = _stem(parts[-1])
    if len(parts) > 1 and parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def function_key(frame: Frame) -> Key:
    if frame.kind is FrameKind.NATIVE:
        return (NATIVE_MODULE, native_name(frame.function))
    return (module_of(frame.file), frame.function)


# ---- the sides and their checks -----------------------------------------------------------------


@dataclass(frozen=True)
class Side:
    """One side of a comparison: what was measured and how."""

    label: str
    unit: Unit
    total: float
    method: str | None = None
    rate: float | None = None
    clock: str | None = None  # "cpu", "wall", "gil" where the method lets it differ
    target: str | None = None
    repeats: tuple[float, ...] = ()  # per-iteration measurements (bench timings), when any
    # per function, its cumulative figure in each iteration (profiles taken with --repeat)
    function_repeats: Mapping[Key, tuple[float, ...]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "unit": self.unit,
            "total": self.total,
            "method": self.method,
            "rate": self.rate,
            "clock": self.clock,
            "target": self.target,
            "repeats": len(self.repeats),
            "functions_with_repeats": len(self.function_repeats),
        }


def mismatches(base: Side, new: Side) -> list[str]:
    """Why two sides are not comparable as they are (empty: they are)."""
    out = []
    if base.unit != new.unit:
        out.append(f"units differ ({base.unit} vs {new.unit})")
    if base.method and new.method and base.method != new.method:
        out.append(f"methods differ ({base.method} vs {new.method})")
    if base.rate and new.rate and not math.isclose(base.rate, new.rate, rel_tol=1e-6):
        out.append(f"sampling rates differ ({base.rate:g} Hz vs {new.rate:g} Hz)")
    if base.clock and new.clock and base.clock != new.clock:
        out.append(f"clocks differ ({base.clock} time vs {new.clock} time)")
    return out


# ---- per-function figures -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Figures:
    cumulative: float
    self: float
    calls: int | None


@dataclass(frozen=True, slots=True)
class FunctionDelta:
    """One function in both runs (`None`: absent from that run)."""

    module: str
    function: str
    location: str
    kind: FrameKind
    base: Figures | None
    new: Figures | None

    @property
    def status(self) -> Literal["both", "new", "removed"]:
        if self.base is None:
            return "new"
        return "removed" if self.new is None else "both"

    def _pair(self, name: str) -> tuple[float, float]:
        before = getattr(self.base, name, 0.0) if self.base else 0.0
        after = getattr(self.new, name, 0.0) if self.new else 0.0
        return before, after

    @property
    def cumulative_delta(self) -> float:
        before, after = self._pair("cumulative")
        return after - before

    @property
    def cumulative_relative(self) -> float | None:
        before, after = self._pair("cumulative")
        return (after - before) / before if before > 0 else None

    @property
    def self_delta(self) -> float:
        before, after = self._pair("self")
        return after - before

    @property
    def self_relative(self) -> float | None:
        before, after = self._pair("self")
        return (after - before) / before if before > 0 else None

    @property
    def calls_delta(self) -> int | None:
        before = self.base.calls if self.base else 0
        after = self.new.calls if self.new else 0
        if before is None or after is None:
            return None
        return after - before

    @property
    def weight(self) -> float:
        """The larger cumulative figure of the two runs: what ranks the top functions."""
        before, after = self._pair("cumulative")
        return max(before, after)

    def to_dict(self) -> dict[str, Any]:
        def figures(f: Figures | None) -> dict[str, Any] | None:
            return (
                None
                if f is None
                else {"cumulative": f.cumulative, "self": f.self, "calls": f.calls}
            )

        return {
            "module": self.module,
            "function": self.function,
            "location": self.location,
            "kind": self.kind.value,
            "status": self.status,
            "base": figures(self.base),
            "new": figures(self.new),
            "cumulative_delta": self.cumulative_delta,
            "cumulative_relative": self.cumulative_relative,
            "self_delta": self.self_delta,
            "self_relative": self.self_relative,
            "calls_delta": self.calls_delta,
        }


def per_function(profile: Profile) -> dict[Key, tuple[Figures, Frame]]:
    """Each function's figures by key; frames that share a key (the same function at another
    line, native code named twice) are added up. Pseudo-frames are left out."""
    cumulative = profile.cumulative()
    selfs = profile.self_times()
    calls = profile.calls()
    out: dict[Key, tuple[Figures, Frame]] = {}
    for frame in profile.functions():
        counted = calls.get(frame) if calls is not None else None
        figures = Figures(
            cumulative.get(frame, 0.0),
            selfs.get(frame, 0.0),
            counted[0] if counted else (0 if calls is not None else None),
        )
        key = function_key(frame)
        known = out.get(key)
        if known is not None:
            old, first = known
            figures = Figures(
                old.cumulative + figures.cumulative,
                old.self + figures.self,
                None if old.calls is None or figures.calls is None else old.calls + figures.calls,
            )
            frame = first if first.line else frame
        out[key] = (figures, frame)
    return out


# ---- the comparison -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Comparison:
    base: Side
    new: Side
    functions: tuple[FunctionDelta, ...]  # by the size of the cumulative change, largest first
    warnings: tuple[str, ...] = ()
    total_verdict: Verdict | None = None  # when both sides hold repeats
    # per function, when both sides hold its repeats: is its change real?
    function_verdicts: Mapping[Key, Verdict] = field(default_factory=dict)

    @property
    def unit(self) -> Unit:
        return self.new.unit

    @property
    def total_delta(self) -> float:
        return self.new.total - self.base.total

    @property
    def total_relative(self) -> float | None:
        return self.total_delta / self.base.total if self.base.total > 0 else None

    def regressions(self, n: int = 10) -> list[FunctionDelta]:
        """The n functions whose cumulative figure grew most."""
        grown = [f for f in self.functions if f.cumulative_delta > 0]
        return sorted(grown, key=lambda f: (-f.cumulative_delta, f.function))[:n]

    def improvements(self, n: int = 10) -> list[FunctionDelta]:
        shrunk = [f for f in self.functions if f.cumulative_delta < 0]
        return sorted(shrunk, key=lambda f: (f.cumulative_delta, f.function))[:n]

    def top(self, n: int = 10) -> list[FunctionDelta]:
        """The n heaviest functions of either run (user code and libraries alike)."""
        return sorted(self.functions, key=lambda f: (-f.weight, f.function))[:n]

    def to_dict(self, top: int = 25) -> dict[str, Any]:
        data: dict[str, Any] = json_safe(
            {
                "unit": self.unit,
                "base": self.base.to_dict(),
                "new": self.new.to_dict(),
                "total_delta": self.total_delta,
                "total_relative": self.total_relative,
                "total_verdict": self.total_verdict.to_dict() if self.total_verdict else None,
                "function_verdicts": [
                    {"module": module, "function": function, **verdict.to_dict()}
                    for (module, function), verdict in sorted(self.function_verdicts.items())
                ],
                "warnings": list(self.warnings),
                "regressions": [f.to_dict() for f in self.regressions(top)],
                "improvements": [f.to_dict() for f in self.improvements(top)],
                "functions": len(self.functions),
            }
        )
        return data


class NotComparable(ProfworkError):
    """Two runs that cannot be compared as they are."""


def compare(
    base: Side,
    new: Side,
    base_profile: Profile | None = None,
    new_profile: Profile | None = None,
    *,
    force: bool = False,
) -> Comparison:
    """Compare two sides (and their profiles, when both have one). Different units, methods,
    rates or clocks raise `NotComparable` unless `force`, which keeps them as warnings."""
    problems = mismatches(base, new)
    if problems and not force:
        raise NotComparable(
            f"cannot compare {base.label} with {new.label}: {'; '.join(problems)}",
            remedy="compare runs recorded the same way, or pass --force to compare anyway",
        )
    warnings = [f"compared although {p} (--force)" for p in problems]
    functions: list[FunctionDelta] = []
    if base_profile is not None and new_profile is not None:
        functions = _function_deltas(per_function(base_profile), per_function(new_profile))
    elif (base_profile is None) != (new_profile is None):
        warnings.append("only one side has a profile: totals are compared, functions are not")
    verdict = None
    if base.repeats and new.repeats:
        verdict = differ(base.repeats, new.repeats)
    verdicts = {
        key: differ(base.function_repeats[key], new.function_repeats[key])
        for key in base.function_repeats.keys() & new.function_repeats.keys()
    }
    return Comparison(base, new, tuple(functions), tuple(warnings), verdict, verdicts)


def _function_deltas(
    base: Mapping[Key, tuple[Figures, Frame]], new: Mapping[Key, tuple[Figures, Frame]]
) -> list[FunctionDelta]:
    out = []
    for key in {*base, *new}:
        before, after = base.get(key), new.get(key)
        frame = (after or before)[1]  # type: ignore[index]
        out.append(
            FunctionDelta(
                module=key[0],
                function=frame.function if frame.kind is not FrameKind.NATIVE else key[1],
                location=frame.location,
                kind=frame.kind,
                base=before[0] if before else None,
                new=after[0] if after else None,
            )
        )
    out.sort(key=lambda f: (-abs(f.cumulative_delta), f.module, f.function))
    return out


# ---- the gate -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Finding:
    """One change the gate looked at and found past the threshold."""

    subject: str
    relative: float
    counted: bool  # False: past the threshold, but the rank test calls it noise
    why: str


@dataclass(frozen=True)
class GateResult:
    threshold: float
    findings: tuple[Finding, ...] = field(default_factory=tuple)

    @property
    def failed(self) -> bool:
        return any(f.counted for f in self.findings)

    def to_dict(self) -> dict[str, Any]:
        return {
            "threshold": self.threshold,
            "failed": self.failed,
            "findings": [
                {"subject": f.subject, "relative": f.relative, "counted": f.counted, "why": f.why}
                for f in self.findings
            ],
        }


def gate(
    comparison: Comparison,
    threshold: float = 0.15,
    *,
    top: int = 10,
    min_share: float | None = None,
) -> GateResult:
    """Which changes fail the gate: the total grown by more than `threshold` (a fraction), or one
    of the `top` heaviest functions grown by more than `threshold` of its own time *and* by at
    least `min_share` of the base total (default: the threshold itself, so a function fails the
    gate when it alone costs the run the threshold, even if other functions made up for it; a
    function that doubles from 1% to 2% of one profile is within that profile's noise).
    With repeats on both sides, the total's growth counts only if `stats.differ` agrees and the
    fastest iteration grew past the threshold too, and a function's only if `stats.differ`
    agrees on the function's repeats, where both sides hold them."""
    findings = []
    relative = comparison.total_relative
    if relative is not None and relative > threshold:
        verdict = comparison.total_verdict
        counted = verdict is None or verdict.real is not False
        why = verdict.test if verdict else "no repeats: the threshold alone decides"
        base_runs, new_runs = comparison.base.repeats, comparison.new.repeats
        if counted and base_runs and new_runs and min(base_runs) > 0:
            # A busy machine slows a whole run, most iterations more than its fastest; slower
            # code slows the fastest iteration too. So the fastest must be past it as well.
            fastest = min(new_runs) / min(base_runs) - 1
            if fastest <= threshold:
                counted = False
                why += (
                    f"; but the fastest iteration changed only {_signed(fastest)}: "
                    "the machine's load, not the code"
                )
        findings.append(Finding("total", relative, counted, why))
    floor = (threshold if min_share is None else min_share) * comparison.base.total
    for function in _ranked(comparison.functions, top):
        change = function.cumulative_relative
        if change is None or change <= threshold or function.cumulative_delta < floor:
            continue
        why = f"{_signed(change)} of its cumulative time"
        verdict = comparison.function_verdicts.get((function.module, function.function))
        if verdict is not None:
            why += f"; {verdict.test}"
        counted = verdict is None or verdict.real is not False
        findings.append(Finding(function.function, change, counted, why))
    return GateResult(threshold, tuple(findings))


def _ranked(functions: Iterable[FunctionDelta], top: int) -> list[FunctionDelta]:
    real = [f for f in functions if f.kind not in (FrameKind.PROFWORK, FrameKind.THREAD)]
    return sorted(real, key=lambda f: (-f.weight, f.function))[:top]


def _signed(fraction: float) -> str:
    return f"{fraction:+.1%}"


def parse_threshold(text: str) -> float:
    """`15%`, `15` or `0.15` → 0.15 (a bare number above 1 is a percentage)."""
    raw = text.strip()
    percent = raw.endswith("%")
    try:
        value = float(raw.rstrip("%").strip())
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise ProfworkError(
            f"threshold {text!r} is not a positive percentage", remedy="e.g. --threshold 15%"
        )
    return value / 100 if percent or value > 1 else value


def trend(values: Sequence[float]) -> list[float | None]:
    """Each value's change from the one before it (None for the first)."""
    out: list[float | None] = [None]
    for before, after in zip(values, values[1:], strict=False):
        out.append((after - before) / before if before else None)
    return out
