"""Naming and classifying functions: one resolver and one classifier shared by every method.

`Classifier` decides a frame's kind once, at normalise time, from the *profiled* interpreter's
paths (recorded in `raw/meta.json`, so a run loaded elsewhere classifies the same way). The code
of the target being run is user code wherever it is installed.

`qualname` gives a function's qualified name (`Class.method`, `outer.<locals>.inner`) from its
file and first line, by scanning the source once per file (cached). Our own cProfile runs and
py-spy already carry qualified names; this fills in for the rest (pyinstrument, foreign pstats).
"""

from __future__ import annotations

import contextlib
import marshal
import os
import re
import site
import sys
import sysconfig
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from types import CodeType
from typing import Any

from profwork.model import Frame, FrameKind

PROFWORK_DIR = str(Path(__file__).resolve().parent)

# Where a profiler files native code: cProfile's `~`, pyinstrument's `<built-in>`.
_NATIVE_FILES = frozenset({"~", "<built-in>", "<native>"})
# Names only native code has: cProfile's and pyinstrument's built-ins (and cProfile's repr of a
# callable it cannot name otherwise, `<function f at 0x…>`), C++ (`ns::f`), and the
# bracketed names native profilers give (`[unknown]`, `[kernel.kallsyms]`).
_NATIVE_PREFIXES = ("<built-in", "<method ", "<native", "<slot wrapper", "<function ")
_THREAD_TEXT = re.compile(r"^thread \([^()]*\)(?::.*)?$", re.DOTALL)
_PROCESS_TEXT = re.compile(r"^process \d+(?::.*)?$", re.DOTALL)
_STDLIB_LIKE = re.compile(r"/lib/python3\.\d+/")


@dataclass(frozen=True)
class SysPaths:
    """Where the profiled interpreter keeps the standard library and third-party packages."""

    stdlib: tuple[str, ...] = ()
    site_packages: tuple[str, ...] = ()
    prefixes: tuple[str, ...] = ()
    user: tuple[str, ...] = ()
    profwork: str = PROFWORK_DIR

    @classmethod
    def current(cls, user: tuple[str, ...] = ()) -> SysPaths:
        """The paths of this interpreter, with `user` naming the target's own files."""
        paths = sysconfig.get_paths()
        stdlib = {paths["stdlib"], paths["platstdlib"]}
        sites = {paths["purelib"], paths["platlib"]}
        with contextlib.suppress(AttributeError):  # virtualenv's old site module lacks it
            sites.update(site.getsitepackages())
        if site.ENABLE_USER_SITE and site.USER_SITE:
            sites.add(site.USER_SITE)
        prefixes = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
        return cls(
            stdlib=tuple(sorted(stdlib)),
            site_packages=tuple(sorted(sites)),
            prefixes=tuple(sorted(prefixes)),
            user=tuple(sorted(user)),
        )

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SysPaths:
        return cls(
            stdlib=tuple(data.get("stdlib", ())),
            site_packages=tuple(data.get("site_packages", ())),
            prefixes=tuple(data.get("prefixes", ())),
            user=tuple(data.get("user", ())),
            profwork=data.get("profwork", PROFWORK_DIR),
        )


# An object's address in a native frame's name: cProfile names a C call it cannot name otherwise
# by the callable's repr (`<function _Cursor.execute at 0x7f15596d2ac0>`), which differs in every
# process, so the same function would never match between two runs.
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+>")


def native_name(function: str) -> str:
    """A native frame's name without an object's address in it."""
    return _ADDRESS.sub(">", function) if " at 0x" in function else function


def is_native(function: str, file: str = "") -> bool:
    """The one rule for native code, whether a frame comes with a file or by its name alone."""
    return (
        file in _NATIVE_FILES
        or function.startswith(_NATIVE_PREFIXES)
        or "::" in function
        or (function.startswith("[") and function.endswith("]"))
    )


def frame_by_name(text: str) -> Frame:
    """A frame known by its name alone: a pseudo-frame (`thread (TID): NAME`, py-spy's
    `process PID:"cmd"`), native code, or a foreign frame (user code, as far as is known)."""
    if _THREAD_TEXT.match(text):
        return Frame(text, "", 0, FrameKind.THREAD)
    if _PROCESS_TEXT.match(text):
        return Frame(text, "", 0, FrameKind.PROCESS)
    if is_native(text):
        return Frame(native_name(text), "", 0, FrameKind.NATIVE)
    return Frame(text, "", 0, FrameKind.USER)


def is_thread_text(text: str) -> bool:
    return _THREAD_TEXT.match(text) is not None


def _under(path: str, roots: tuple[str, ...]) -> bool:
    return any(path == r or path.startswith(r.rstrip("/") + "/") for r in roots if r)


@dataclass
class Classifier:
    """Decides a frame's kind from its file; cached per file."""

    paths: SysPaths
    _cache: dict[str, FrameKind] = field(default_factory=dict)

    def kind(self, file: str, function: str = "") -> FrameKind:
        if not file or is_native(function, file):
            return FrameKind.NATIVE
        cached = self._cache.get(file)
        if cached is None:
            cached = self._cache[file] = self._classify(file)
        return cached

    def _classify(self, file: str) -> FrameKind:
        p = self.paths
        if file.startswith("<frozen"):
            return FrameKind.STDLIB
        if file.startswith("<"):
            # generated code (`<string>` from dataclasses and namedtuple, SQLAlchemy's
            # `<sqlalchemy generated …>`) is not the user's, except what they typed in
            if file.startswith(("<stdin>", "<ipython-input", "<cell")):
                return FrameKind.USER
            return FrameKind.THIRD_PARTY
        if _under(file, p.user):
            return FrameKind.USER
        if _under(file, (p.profwork,)):
            return FrameKind.PROFWORK
        if _under(file, p.site_packages) or "/site-packages/" in file or "/dist-packages/" in file:
            return FrameKind.THIRD_PARTY
        if _under(file, p.stdlib):
            return FrameKind.STDLIB
        if not p.stdlib and _STDLIB_LIKE.search(file):
            return FrameKind.STDLIB  # the interpreter's paths are unknown: its usual layout
        return FrameKind.USER

    def frame(self, function: str, file: str, line: int) -> Frame:
        """A classified frame, named by its qualified name where the source tells it."""
        kind = self.kind(file, function)
        if kind is not FrameKind.NATIVE:
            function = qualname(file, line, function)
        else:
            function = native_name(function)
        return Frame(function, file, line, kind)


class FrameMaker:
    """Frames for `name`, `file`, `line` triples, classified once each (cached). A triple without
    a file is a frame known by its name (`frame_by_name`); `qualified=True` takes names as
    qualified already (py-spy on 3.11+) and skips the source lookup."""

    def __init__(self, classifier: Classifier, *, qualified: bool = False) -> None:
        self.classifier = classifier
        self.qualified = qualified
        self._cache: dict[tuple[str, str, int], Frame] = {}

    def __call__(self, name: str, file: str, line: int) -> Frame:
        key = (name, file, line)
        frame = self._cache.get(key)
        if frame is None:
            if not file:
                frame = frame_by_name(name)
            elif self.qualified:
                frame = Frame(name, file, line, self.classifier.kind(file, name))
            else:
                frame = self.classifier.frame(name, file, line)
            self._cache[key] = frame
        return frame


def default_classifier(classifier: Classifier | None) -> Classifier:
    """The classifier given, or one for this interpreter's paths."""
    return classifier if classifier is not None else Classifier(SysPaths.current())


_DEF = re.compile(r"^([ \t]*)(async[ \t]+def|def|class)[ \t]+([A-Za-z_][A-Za-z0-9_]*)")
_DECORATOR = re.compile(r"^[ \t]*@")
_STRINGS = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"")


_ANONYMOUS = ("<lambda>", "<genexpr>", "<listcomp>", "<dictcomp>", "<setcomp>")


@lru_cache(maxsize=4096)
def _scan(file: str) -> tuple[dict[int, str], list[tuple[str, bool] | None]]:
    """Scan a source file once: first line → qualified name for every def/class (decorator lines
    too, since `co_firstlineno` is the first decorator's line), and for every line the innermost
    def/class containing it (name, is_function), for lambdas and comprehensions. Empty when the
    file is unreadable."""
    try:
        from profwork.codelines import source

        text = source(file).decode("utf-8", errors="replace")
    except (OSError, ValueError):
        return {}, []
    defs: dict[int, str] = {}
    enclosing: list[tuple[str, bool] | None] = [None]
    scope: list[tuple[int, str, bool]] = []  # indent, qualified name, is_function
    decorator_line: int | None = None
    depth = 0  # open brackets: continuation lines never close a scope
    in_string: str | None = None  # inside a triple-quoted string
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        continuation = depth > 0 or in_string is not None
        if stripped and not stripped.startswith("#") and not continuation:
            indent = len(line) - len(line.lstrip())
            while scope and scope[-1][0] >= indent:
                scope.pop()
        code = line
        for quote in ('"""', "'''"):
            if quote in code and (in_string is None or in_string == quote):
                if code.count(quote) % 2 == 1:
                    in_string = None if in_string == quote else quote
                code = code.replace(quote, "")
        if in_string is None:
            code = _STRINGS.sub("", code).partition("#")[0]
            depth = max(
                0, depth + sum(code.count(c) for c in "([{") - sum(code.count(c) for c in ")]}")
            )
        match = None if continuation else _DEF.match(line)
        if match is not None:
            parent = scope[-1] if scope else None
            name = match.group(3)
            if parent is not None:
                name = f"{parent[1]}.<locals>.{name}" if parent[2] else f"{parent[1]}.{name}"
            defs[number] = name
            if decorator_line is not None:
                defs.setdefault(decorator_line, name)
            decorator_line = None
            scope.append((len(match.group(1).expandtabs()), name, match.group(2) != "class"))
        elif not continuation and _DECORATOR.match(line):
            decorator_line = decorator_line or number
        enclosing.append((scope[-1][1], scope[-1][2]) if scope else None)
    return defs, enclosing


@lru_cache(maxsize=4096)
def _compiled(file: str) -> dict[int, tuple[str, ...]] | None:
    """First line → the `co_qualname` of every function, lambda and comprehension defined in
    `file`, from the bytecode Python cached for it (`__pycache__`, or `PYTHONPYCACHEPREFIX`):
    the names the interpreter itself gives, read in a few milliseconds where scanning the source
    takes tens. `None` when there is no cache entry that matches the source as it is now (its
    recorded modification time and size) for this interpreter's bytecode version."""
    from importlib.util import MAGIC_NUMBER, cache_from_source

    try:
        stat = os.stat(file)
        with open(cache_from_source(file), "rb") as cached:
            data = cached.read()
        if (
            data[:4] != MAGIC_NUMBER
            or int.from_bytes(data[4:8], "little") != 0  # hash-based: not checked by time
            or int.from_bytes(data[8:12], "little") != int(stat.st_mtime) & 0xFFFFFFFF
            or int.from_bytes(data[12:16], "little") != stat.st_size & 0xFFFFFFFF
        ):
            return None
        module = marshal.loads(data[16:])
    except (OSError, ValueError, EOFError, TypeError, NotImplementedError):
        return None
    if not isinstance(module, CodeType):
        return None
    names: dict[int, list[str]] = {}
    pending = [const for const in module.co_consts if isinstance(const, CodeType)]
    while pending:
        code = pending.pop()
        names.setdefault(code.co_firstlineno, []).append(code.co_qualname)
        pending.extend(const for const in code.co_consts if isinstance(const, CodeType))
    return {line: tuple(found) for line, found in names.items()}


def qualname(file: str, line: int, name: str) -> str:
    """The qualified name of the function `name` that starts at `file:line`.

    Keeps `name` when it is already qualified, or when the source is unavailable or disagrees
    (a file changed since it was profiled)."""
    if "." in name or (name.startswith("<") and name not in _ANONYMOUS):
        return name  # already qualified, or `<module>` and the like, which never are
    compiled = _compiled(file)
    if compiled is not None:
        for compiled_name in compiled.get(line, ()):
            if compiled_name.rsplit(".", 1)[-1] == name:
                return compiled_name
        return name
    defs, enclosing = _scan(file)
    if name in _ANONYMOUS:
        scope = enclosing[line] if 0 < line < len(enclosing) else None
        if scope is None:
            return name
        return f"{scope[0]}.<locals>.{name}" if scope[1] else f"{scope[0]}.{name}"
    found = defs.get(line)
    if found is not None and found.rsplit(".", 1)[-1] == name:
        return found
    return name
