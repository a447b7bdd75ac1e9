"""Methods: one profiler each, producing a raw artefact in `raw/` and normalising it.

A method module exposes `METHOD` with `name`, `unit`, `options` (the options it takes, declared
with `flag`, `integer`, `number`, `text`, `texts`), `run(bound, raw_dir, options)` and
`normalise(raw)`. The registry maps names to import paths, so that choosing a method imports only
its own tool.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import (
    TYPE_CHECKING,
    Any,
    Generic,
    Literal,
    Protocol,
    TypeVar,
    overload,
    runtime_checkable,
)

from profwork.errors import MethodError, ProfworkError
from profwork.facts import RunFacts
from profwork.model import Status as Status  # re-exported: how a run ended
from profwork.registry import Registry

if TYPE_CHECKING:
    from profwork.model import Profile, Unit
    from profwork.processes import ThreadDump
    from profwork.targets import BoundTarget

# Registered in the `profwork.methods` entry-point group (profwork's own in pyproject.toml).
METHODS: Registry[Method] = Registry(
    "profwork.methods",
    "method",
    lambda value: (
        isinstance(getattr(value, "name", None), str)
        and callable(getattr(value, "run", None))
        and callable(getattr(value, "normalise", None))
        and isinstance(getattr(value, "options", None), tuple)
        and all(isinstance(o, MethodOption) for o in value.options)
    ),
)

META_FILE = "meta.json"


@dataclass(frozen=True)
class RawArtefact:
    """What a profiler wrote in `raw/`, and the facts of the run that produced it (`facts`).

    `meta` carries what normalising needs later, anywhere: the profiled interpreter's paths
    (`sys_paths`), thread names, the rate actually used, qualified names.
    """

    directory: Path
    format: str
    files: tuple[str, ...]
    facts: RunFacts = field(default_factory=RunFacts)
    meta: Mapping[str, Any] = field(default_factory=dict)

    def run_metadata(
        self, method: str, *, rate: float | None, threads: int, notes: Sequence[str]
    ) -> dict[str, Any]:
        """What every method's `Profile` says about its run: the method, the rate used, threads,
        and the body's duration and status from `facts`, with the notes to show; under
        `--repeat`, each iteration's seconds (`repeats`, what `compare`'s rank test reads)."""
        data: dict[str, Any] = {
            "method": method,
            "rate": rate,
            "threads": threads,
            "duration": self.facts.duration,
            "status": self.facts.status,
            "notes": list(notes),
        }
        if self.facts.iterations:
            data["repeats"] = list(self.facts.iterations)
        return data

    def save(self) -> None:
        """Write `raw/meta.json` so that the run can be normalised again (`profwork report`)."""
        data = {
            "format": self.format,
            "files": list(self.files),
            "facts": self.facts.to_json(),
            "meta": dict(self.meta),
        }
        (self.directory / META_FILE).write_text(json.dumps(data, indent=1), encoding="utf-8")

    @classmethod
    def load(cls, directory: Path) -> RawArtefact:
        data = json.loads((directory / META_FILE).read_text(encoding="utf-8"))
        meta = data.get("meta", {})
        facts = data.get("facts")
        if facts is None:  # written before the facts had a key of their own
            facts = {
                **data,
                "metrics": meta.get("target_metrics"),
                "exit_code": meta.get("exit_code"),
                "notes": meta.get("notes"),
            }
        return cls(
            directory=directory,
            format=data["format"],
            files=tuple(data["files"]),
            facts=RunFacts.from_json(facts),
            meta=meta,
        )


class Method(Protocol):
    """A profiler: `run` profiles a bound target's body and leaves the tool's output in `raw/`;
    `normalise` turns that output into a `Profile` (again whenever the run is reported later).

    `options` declares the options the method takes (`--native`, `--rate`, …): the CLI offers
    them on `run` (and on `attach`, for a method that attaches), and `run` receives them parsed
    and checked in a `MethodOptions`. An option the chosen method does not declare is refused
    in one line naming the methods that take it."""

    name: str
    unit: Unit
    options: tuple[MethodOption[Any], ...]

    def run(self, bound: BoundTarget, raw_dir: Path, options: MethodOptions) -> RawArtefact: ...

    def normalise(self, raw: RawArtefact) -> Profile: ...


@runtime_checkable
class Attachable(Protocol):
    """A method that can also watch a process it did not start (`profwork attach`, `dump`).

    `attach` records process `pid` for `duration` seconds, until it exits, or until Ctrl-C
    (SIGTERM, SIGHUP), into the directory `raw_dir()` gives: it asks for it only once there is
    something to write, so that a PID that cannot be recorded leaves nothing behind. The
    artefact's `meta` may say `process_exited` (the process ended the recording). `dump` gives
    every thread's current stack."""

    name: str

    def attach(
        self,
        pid: int,
        raw_dir: Callable[[], Path],
        options: MethodOptions,
        duration: float | None,
    ) -> RawArtefact: ...

    def dump(self, pid: int) -> list[ThreadDump]: ...


def get_method(name: str) -> Method:
    """The method registered under `name` (any case), imported on first use."""
    return METHODS.get(name)


def get_attachable(name: str) -> Attachable:
    """The method registered under `name`, if it can attach to a running process (and dump
    its threads); else one line naming the methods that can."""
    method = get_method(name)
    if isinstance(method, Attachable):
        return method
    able = []
    for other in METHODS.names():
        try:
            if isinstance(get_method(other), Attachable):
                able.append(other)
        except ProfworkError:  # a plug-in that does not load is no candidate
            continue
    return_hint = ", ".join(f"-m {n}" for n in able) or "none is installed"
    raise MethodError(
        f"-m {method.name} cannot attach to a running process",
        remedy=f"use a method that can: {return_hint}",
    )


# ---- options ------------------------------------------------------------------------------------

OptionKind = Literal["flag", "int", "float", "str", "repeatable"]
V = TypeVar("V")
_NAME = re.compile(r"[a-z][a-z0-9]*(-[a-z0-9]+)*")


@dataclass(frozen=True)
class MethodOption(Generic[V]):
    """One option a method declares: `--NAME` on the command line, `NAME` in the manifest.

    `kind` is how it is written: a `flag` (`--native`), a whole number (`int`), a number
    (`float`), a text (`str`), or a text given any number of times (`repeatable`, a tuple).
    `check` sees the parsed value and returns the value used, or refuses it: with a
    `ProfworkError` (one line of its own) or a `ValueError` whose text says what is wrong
    (`"is not a positive finite number"`). Build one with `flag`, `integer`, `number`, `text`
    or `texts`; read its value from the options a method is given with `option.of(options)`."""

    name: str
    kind: OptionKind
    help: str
    default: V
    metavar: str | None = None
    example: str | None = None  # a good value, shown in the remedy of a refused one
    check: Callable[[V], V] | None = None

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.name):
            raise ValueError(f"a method option's name is lowercase words and dashes: {self.name!r}")

    @property
    def cli_name(self) -> str:
        """How it is written on the command line."""
        return f"--{self.name}"

    def of(self, options: MethodOptions) -> V:
        """This option's value among `options` (its default when it is not there)."""
        value: V = options.values.get(self.name, self.default)
        return value

    def parse(self, value: Any) -> V:
        """The typed, checked value of what was given: text from the command line (a bool for a
        flag, a sequence of texts when repeatable) or a Python value from the API."""
        parsed: Any
        shown = value if isinstance(value, str) else repr(value)
        if self.kind == "flag":
            if not isinstance(value, bool):
                raise self._refused(shown, "takes no value: it is a flag")
            parsed = value
        elif self.kind == "repeatable":
            items = (value,) if isinstance(value, str) else value
            if not isinstance(items, Iterable) or not all(isinstance(i, str) for i in items):
                raise self._refused(shown, "is not a text")
            parsed = tuple(items)
        elif self.kind == "str":
            if not isinstance(value, str):
                raise self._refused(shown, "is not a text")
            parsed = value
        else:
            parsed = self._number(value, shown)
        if self.check is not None:
            try:
                parsed = self.check(parsed)
            except ValueError as exc:
                raise self._refused(shown, str(exc)) from None
        return parsed  # type: ignore[no-any-return]

    def _number(self, value: Any, shown: str) -> int | float:
        whole = self.kind == "int"
        if isinstance(value, bool):
            raise self._refused(shown, "is not a number")
        try:
            if isinstance(value, str):
                return int(value) if whole else float(value)
            if isinstance(value, int) or (not whole and isinstance(value, float)):
                return value if whole else float(value)
        except ValueError:
            pass
        raise self._refused(shown, "is not a whole number" if whole else "is not a number")

    def _refused(self, shown: str, reason: str) -> MethodError:
        return MethodError(
            f"{self.cli_name} {shown} {reason}",
            remedy=f"e.g. {self.cli_name} {self.example}"
            if self.example
            else "see `profwork run --help`",
        )


def flag(name: str, *, help: str) -> MethodOption[bool]:
    """An on/off option (`--native`), off unless given."""
    return MethodOption(name, "flag", help, False)


@overload
def integer(
    name: str,
    *,
    help: str,
    default: int,
    metavar: str = "N",
    example: str | None = None,
    check: Callable[[int], int] | None = None,
) -> MethodOption[int]: ...
@overload
def integer(
    name: str,
    *,
    help: str,
    default: None = None,
    metavar: str = "N",
    example: str | None = None,
    check: Callable[[int | None], int | None] | None = None,
) -> MethodOption[int | None]: ...
def integer(
    name: str,
    *,
    help: str,
    default: int | None = None,
    metavar: str = "N",
    example: str | None = None,
    check: Callable[[Any], Any] | None = None,
) -> MethodOption[Any]:
    """A whole number (`--frame-depth 32`)."""
    return MethodOption(name, "int", help, default, metavar, example, check)


@overload
def number(
    name: str,
    *,
    help: str,
    default: float,
    metavar: str = "NUMBER",
    example: str | None = None,
    check: Callable[[float], float] | None = None,
) -> MethodOption[float]: ...
@overload
def number(
    name: str,
    *,
    help: str,
    default: None = None,
    metavar: str = "NUMBER",
    example: str | None = None,
    check: Callable[[float | None], float | None] | None = None,
) -> MethodOption[float | None]: ...
def number(
    name: str,
    *,
    help: str,
    default: float | None = None,
    metavar: str = "NUMBER",
    example: str | None = None,
    check: Callable[[Any], Any] | None = None,
) -> MethodOption[Any]:
    """A number (`--rate 250`, `--interval 0.1`)."""
    return MethodOption(name, "float", help, default, metavar, example, check)


def text(
    name: str,
    *,
    help: str,
    metavar: str = "TEXT",
    example: str | None = None,
    check: Callable[[str | None], str | None] | None = None,
) -> MethodOption[str | None]:
    """A text (`--mode wall`), None unless given."""
    return MethodOption(name, "str", help, None, metavar, example, check)


def texts(
    name: str,
    *,
    help: str,
    metavar: str = "TEXT",
    example: str | None = None,
    check: Callable[[tuple[str, ...]], tuple[str, ...]] | None = None,
) -> MethodOption[tuple[str, ...]]:
    """A text given any number of times (`--function mod:f --function mod:g`), () unless given."""
    return MethodOption(name, "repeatable", help, (), metavar, example, check)


def positive(value: float | None) -> float | None:
    """A `check` for a rate or an interval: a finite number above zero."""
    if value is not None and not (math.isfinite(value) and value > 0):
        raise ValueError("is not a positive finite number")
    return value


def sampling_rate(default: str) -> MethodOption[float | None]:
    """`--rate HZ`, as a sampling method declares it; `default` says what the tool does without."""
    return number(
        "rate",
        help=f"Samples per second (default: {default}).",
        metavar="HZ",
        example="100",
        check=positive,
    )


def _repeat(value: int | None) -> int | None:
    if value is not None and value < 1:
        raise ValueError("is not a number of iterations (1 or more)")
    return value


# Options every method takes: how stacks are rooted is one rule for all (DESIGN §1); `--repeat`
# runs the body N times after one unmeasured warm-up (the runner's job, for every method); SQL is
# captured under every method (`profwork.sqlcapture`; the N+1 analysis reads the threshold).
THREADS = flag("threads", help="Root every stack in its thread.")
REPEAT = integer(
    "repeat",
    help="Run the body N times after one unmeasured warm-up (-m memory: the leak check).",
    example="5",
    check=_repeat,
)
NO_SQL = flag("no-sql", help="Do not capture the SQL the target executes (no queries.json).")


def _threshold(value: int) -> int:
    if value < 2:
        raise ValueError("is below 2: a pattern needs at least two executions")
    return value


N1_THRESHOLD = integer(
    "n1-threshold",
    help="Executions per unit of work (calls per call) that make an N+1 finding (default: 5).",
    default=5,  # profwork.analyses.nplusone.DEFAULT_THRESHOLD (kept equal by a test)
    example="5",
    check=_threshold,
)
COMMON_OPTIONS: tuple[MethodOption[Any], ...] = (THREADS, REPEAT, NO_SQL, N1_THRESHOLD)


@dataclass(frozen=True)
class MethodOptions:
    """The options a method runs with: each one it declares and the common ones, parsed and
    checked, defaults filled in (`method_options` builds them). A method reads one through its
    declaration: `NATIVE.of(options)`."""

    values: Mapping[str, Any] = field(default_factory=dict)

    @property
    def threads(self) -> bool:
        return THREADS.of(self)

    @property
    def repeat(self) -> int | None:
        """`--repeat N`: the body's measured iterations after a warm-up; None: run it once."""
        return REPEAT.of(self)

    def to_json(self) -> dict[str, Any]:
        """For the manifest and `raw/meta.json`: tuples as lists."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in self.values.items()}


def method_options(method: Method, given: Mapping[str, Any] | None = None) -> MethodOptions:
    """The options `method` runs with, from those `given` (by name; what the command line or
    the caller gave, nothing else). An option the method does not declare is refused in one
    line naming the methods that take it; a value it cannot take, in one line saying why."""
    declared = {o.name: o for o in (*COMMON_OPTIONS, *method.options)}
    values: dict[str, Any] = {name: option.default for name, option in declared.items()}
    for name, value in (given or {}).items():
        option = declared.get(name)
        if option is None:
            raise _not_taken(method.name, name)
        values[name] = option.parse(value)
    return MethodOptions(values)


def _not_taken(method: str, name: str) -> MethodError:
    takers = [f"-m {m}" for m in taking(name)]
    return MethodError(
        f"-m {method} takes no --{name}",
        remedy=f"drop it, or use a method that takes it: {', '.join(takers)}"
        if takers
        else "drop it",
    )


def registered_methods() -> list[Method]:
    """Every registered method that loads (a broken plug-in is refused only when chosen)."""
    out = []
    for name in METHODS.names():
        try:
            out.append(METHODS.get(name))
        except ProfworkError:
            continue
    return out


def taking(name: str) -> list[str]:
    """The registered methods that declare the option `name`."""
    return [m.name for m in registered_methods() if any(o.name == name for o in m.options)]
