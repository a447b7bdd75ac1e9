"""Line-by-line timing with line_profiler: choosing the functions, recording, and the raw files.

Functions are named `module:function` or `file.py:function` (a method as `Class.method`). A
file already imported (the target's own file, under the name profwork imported it as) is looked
up by path, so the function profiled is the one the body calls; otherwise it is imported by the
dotted name `sys.path` reaches it by (the name the body will import it by), or by its path.
line_profiler works on function objects: a function that exists only while a script runs (a
script run as `__main__`) or a closure made anew on each call cannot be named, and is refused
with what was found instead.

Without named functions the method picks the hottest user functions from a quick cProfile pass
(`hottest`): the user functions with the most own time (DESIGN §5 Hotspots), skipping those
line_profiler cannot reach.

`LineRecorder` is the method's hook: line_profiler's `enable_by_count`/`disable_by_count` around
the body. `write` leaves in `raw/`: `line_profiler.lprof` (line_profiler's own pickle, for
`python -m line_profiler raw/line_profiler.lprof`), `line_profiler.txt` (its own text report) and
`lines.json` (the timings in seconds with each function's source, which normalising reads: a
pickle from a run directory is never loaded).
"""

from __future__ import annotations

import importlib
import inspect
import io
import json
import sys
import types
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from profwork.errors import MethodError
from profwork.runner import Hook

LINES_FILE = "lines.json"
LPROF_FILE = "line_profiler.lprof"
TEXT_FILE = "line_profiler.txt"
DEFAULT_COUNT = 3


@dataclass(frozen=True)
class Chosen:
    """A function to time: how it was named and the function object line_profiler wraps."""

    name: str
    function: types.FunctionType


def _module_by_file(file: Path) -> types.ModuleType | None:
    wanted = file.resolve()
    for module in list(sys.modules.values()):
        path = getattr(module, "__file__", None)
        if isinstance(path, str):
            try:
                if Path(path).resolve() == wanted:
                    return module
            except OSError:
                continue
    return None


def _module_name(file: Path) -> str | None:
    """The dotted name `file` is importable as from `sys.path` (the working directory for an
    empty entry), so that the module timed is the one the body will import."""
    resolved = file.resolve()
    for entry in sys.path:
        try:
            relative = resolved.relative_to(Path(entry or ".").resolve())
        except (ValueError, OSError):
            continue
        parts = list(relative.with_suffix("").parts)
        if parts and parts[-1] == "__init__":
            parts.pop()
        if parts and all(part.isidentifier() for part in parts):
            return ".".join(parts)
    return None


def _import_file(file: Path) -> types.ModuleType:
    """The module of `file`: by its dotted name when `sys.path` reaches it (the name the body
    imports it by), else by its path under a name of its own."""
    name = _module_name(file)
    if name is not None:
        try:
            module = importlib.import_module(name)
        except (Exception, SystemExit):  # noqa: BLE001 - import it by path below
            module = None
        path = getattr(module, "__file__", None)
        if module is not None and path and Path(path).resolve() == file.resolve():
            return module
    return _import_path(file)


def _import_path(file: Path) -> types.ModuleType:
    import importlib.util
    import re

    name = f"_profwork_lines_{re.sub(r'[^A-Za-z0-9_]', '_', file.stem)}"
    spec = importlib.util.spec_from_file_location(name, file.resolve())
    if spec is None or spec.loader is None:
        raise MethodError(f"cannot import {file}", remedy="give a Python source file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - any failure of user code
        del sys.modules[name]
        raise MethodError(
            f"--function: importing {file} failed: {type(exc).__name__}: {exc}",
            remedy="name a function in a file that imports cleanly",
        ) from None
    return module


def _functions_in(module: types.ModuleType) -> list[str]:
    """The functions and methods a module defines, as `--function` would name them."""
    found = []
    for name, value in vars(module).items():
        if inspect.isfunction(value) and value.__module__ == module.__name__:
            found.append(name)
        elif inspect.isclass(value) and value.__module__ == module.__name__:
            found += [
                f"{name}.{attr}"
                for attr, member in vars(value).items()
                if inspect.isfunction(_unwrap(member))
            ]
    return sorted(found)


def _unwrap(member: Any) -> Any:
    if isinstance(member, staticmethod | classmethod):
        return member.__func__
    if isinstance(member, property):
        return member.fget
    return member


def _not_found(spec: str, what: str, module: types.ModuleType) -> MethodError:
    found = _functions_in(module)
    shown = ", ".join(found[:20]) + (f" and {len(found) - 20} more" if len(found) > 20 else "")
    return MethodError(
        f"--function {spec}: {what}",
        remedy=f"functions found there: {shown}" if found else "no functions are defined there",
    )


def resolve(spec: str) -> Chosen:
    """The function `spec` (`module:function` or `file.py:function`) names, or one line saying
    what was found instead."""
    where, _, qualname = spec.rpartition(":")
    if not where or not qualname:
        raise MethodError(
            f"--function {spec!r} names no function",
            remedy="name it as module:function or file.py:function (Class.method for a method)",
        )
    if where.endswith(".py"):
        file = Path(where)
        if not file.is_file():
            raise MethodError(f"--function {spec}: no file {where}", remedy="check the path")
        module = _module_by_file(file) or _import_file(file)
    else:
        try:
            module = importlib.import_module(where)
        except ImportError as exc:
            raise MethodError(
                f"--function {spec}: cannot import {where} ({exc})",
                remedy="check the module name and that it is importable (PYTHONPATH, venv)",
            ) from None
        except (Exception, SystemExit) as exc:  # noqa: BLE001 - any failure of user code
            raise MethodError(
                f"--function {spec}: importing {where} failed: {type(exc).__name__}: {exc}",
                remedy="name a function in a module that imports cleanly",
            ) from None
    obj: Any = module
    for part in qualname.split("."):
        holder = obj
        obj = vars(holder).get(part) if hasattr(holder, "__dict__") else None
        if obj is None:
            obj = getattr(holder, part, None)
        if obj is None:
            raise _not_found(spec, f"{where} has no {qualname}", module)
    function = _unwrap(obj)
    while hasattr(function, "__wrapped__"):  # a decorated function: time the function itself
        function = function.__wrapped__
    if not isinstance(function, types.FunctionType):
        raise _not_found(
            spec, f"{qualname} is a {type(obj).__name__}, not a Python function", module
        )
    return Chosen(spec, function)


def function_for(file: str, qualname: str) -> types.FunctionType | None:
    """The module-level function or method at `file` named `qualname`, if line_profiler can
    reach it (not a closure, not a function of a script run as `__main__`)."""
    if "<locals>" in qualname or "<" in qualname:
        return None
    module = _module_by_file(Path(file)) if Path(file).is_file() else None
    if module is None or module.__name__ == "__main__":
        return None
    obj: Any = module
    for part in qualname.split("."):
        obj = vars(obj).get(part) if hasattr(obj, "__dict__") else None
        if obj is None:
            return None
    function = _unwrap(obj)
    while hasattr(function, "__wrapped__"):
        function = function.__wrapped__
    return function if isinstance(function, types.FunctionType) else None


@dataclass
class LineRecorder(Hook):
    """The line method's hook: line_profiler enabled around the body only."""

    chosen: Sequence[Chosen]
    profiler: Any = None
    _added: list[types.FunctionType] = field(default_factory=list)

    def __post_init__(self) -> None:
        from line_profiler import LineProfiler

        self.profiler = LineProfiler()
        for item in self.chosen:
            self.profiler.add_function(item.function)

    def start(self) -> None:
        self.profiler.enable_by_count()

    def stop(self) -> None:
        self.profiler.disable_by_count()

    def write(self, raw_dir: Path) -> tuple[str, ...]:
        """line_profiler's own files and `lines.json` in `raw_dir`; their names."""
        stats = self.profiler.get_stats()
        self.profiler.dump_stats(str(raw_dir / LPROF_FILE))
        text = io.StringIO()
        self.profiler.print_stats(stream=text)
        (raw_dir / TEXT_FILE).write_text(text.getvalue(), encoding="utf-8")
        unit = float(stats.unit)
        functions = []
        names = {id(c.function.__code__): c.name for c in self.chosen}
        by_key = {
            (c.function.__code__.co_filename, c.function.__code__.co_firstlineno): c
            for c in self.chosen
        }
        for (file, first, name), timings in stats.timings.items():
            chosen = by_key.get((file, first))
            code = chosen.function.__code__ if chosen else None
            try:
                source, start = inspect.getsourcelines(chosen.function) if chosen else ([], first)
            except (OSError, TypeError):
                source, start = [], first
            functions.append(
                {
                    "name": names.get(id(code), name) if code else name,
                    "function": code.co_qualname if code else name,
                    "file": file,
                    "line": first,
                    "source_start": start,
                    "source": [line.rstrip("\n") for line in source],
                    "lines": [[line, hits, t * unit] for line, hits, t in timings],
                }
            )
        (raw_dir / LINES_FILE).write_text(
            json.dumps({"timer_unit": unit, "functions": functions}), encoding="utf-8"
        )
        return LINES_FILE, LPROF_FILE, TEXT_FILE


def hottest(
    profile_body: Callable[[], Any], count: int = DEFAULT_COUNT
) -> tuple[list[Chosen], list[str]]:
    """The `count` hottest user functions line_profiler can reach, from a profile that
    `profile_body()` returns (a quick cProfile pass of the target), and the hot ones skipped."""
    from profwork.analyses import bottlenecks

    profile = profile_body()
    chosen: list[Chosen] = []
    skipped: list[str] = []
    for row in bottlenecks.hotspots(profile, 50):
        frame = row.frame
        function = function_for(frame.file, frame.function)
        if function is None:
            skipped.append(frame.function)
            continue
        chosen.append(Chosen(f"{frame.file}:{frame.function}", function))
        if len(chosen) == count:
            break
    return chosen, skipped
