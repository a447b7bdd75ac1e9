"""One lazy registry per kind of plug-in, all found through entry points (DESIGN §8).

Targets, methods, readers and renderers are each registered in an entry-point group
(`profwork.targets`, `profwork.methods`, `profwork.readers`, `profwork.renderers`): the built-ins
in profwork's own `pyproject.toml`, a third-party package in its own, the same way. Nothing keeps
a second list of the names.

The entry points are read once per process and only when a name is looked up or listed:
`profwork --help` never pays for them. profwork's own come first and a name's first registration
wins, so looking up one of profwork's own names reads only profwork's `entry_points.txt`, found
on `sys.path` as `importlib.metadata` would find it, without importing `importlib.metadata` and
its email parser (about 30 ms); listing the names, or a name that is not profwork's, reads every
package's. An entry point is imported only when its plug-in is used, so choosing a method imports
only its own tool.
Names are matched without regard to case (`-m cProfile` is `cprofile`).
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from importlib import import_module
from typing import Any, Generic, TypeVar

from profwork.errors import ProfworkError

T = TypeVar("T")

GROUPS = ("profwork.targets", "profwork.methods", "profwork.readers", "profwork.renderers")
DISTRIBUTION = "profwork"


@dataclass(frozen=True, slots=True)
class EntryPoint:
    """One registration: `name = module:attribute` in an entry-point group."""

    group: str
    name: str
    value: str

    def load(self) -> Any:
        """Import the module and return the attribute the entry point names."""
        module, _, attribute = self.value.partition(":")
        obj: Any = import_module(module.strip())
        for part in filter(None, attribute.strip().split(".")):
            obj = getattr(obj, part)
        return obj


def _parse_entry_points(text: str) -> Iterator[EntryPoint]:
    """The entry points of an `entry_points.txt` (an INI file: `[group]`, then `name = value`)."""
    group = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            group = line[1:-1].strip()
        elif "=" in line and group:
            name, _, value = line.partition("=")
            yield EntryPoint(group, name.strip(), value.strip())


@cache
def _own_dist_info() -> str | None:
    """profwork's `*.dist-info` directory: the first `profwork-*.dist-info` on `sys.path`, the
    one `importlib.metadata.distribution("profwork")` reads."""
    prefix = DISTRIBUTION + "-"
    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        for name in sorted(names):
            if name.lower().startswith(prefix) and name.endswith(".dist-info"):
                return os.path.join(entry or ".", name)
    return None


def _own_file() -> str | None:
    """profwork's `entry_points.txt`, in its `*.dist-info` directory."""
    info = _own_dist_info()
    path = None if info is None else os.path.join(info, "entry_points.txt")
    return path if path is not None and os.path.isfile(path) else None


@cache
def own_version(unknown: str = "0+unknown") -> str:
    """profwork's installed version (`importlib.metadata.version("profwork")`), read from the
    `Version:` field of its dist-info's METADATA without importing `importlib.metadata`;
    `unknown` when it is not installed."""
    info = _own_dist_info()
    try:
        if info is not None:
            with open(os.path.join(info, "METADATA"), encoding="utf-8") as file:
                for line in file:
                    if not line.strip():
                        break  # the end of the headers
                    field, _, value = line.partition(":")
                    if field.strip().lower() == "version":
                        return value.strip()
    except (OSError, UnicodeDecodeError):
        pass
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:
        return unknown


@cache
def _own_points() -> dict[str, tuple[EntryPoint, ...]]:
    """profwork's own entry points by group, each by name; read from its `entry_points.txt`
    (through `importlib.metadata` only when that file is not where it is expected)."""
    path = _own_file()
    if path is not None:
        with open(path, encoding="utf-8") as file:
            points: Iterable[EntryPoint] = list(_parse_entry_points(file.read()))
    else:  # pragma: no cover - an unusual installation (an egg, a zip)
        from importlib.metadata import PackageNotFoundError, distribution

        try:
            points = [
                EntryPoint(ep.group, ep.name, ep.value)
                for ep in distribution(DISTRIBUTION).entry_points
            ]
        except PackageNotFoundError:
            points = []
    return {
        group: tuple(sorted((ep for ep in points if ep.group == group), key=_key))
        for group in GROUPS
    }


@cache
def _entry_points() -> dict[str, tuple[EntryPoint, ...]]:
    """Every profwork group's entry points, profwork's own first, then the other packages',
    each by name (build back ends write entry points sorted, so a declared order is lost).

    profwork's own are told by its distribution's entry_points.txt, never by asking each entry
    point for its distribution's name: that parses every installed package's METADATA with
    the email parser (about 90 ms in a venv of 40 packages)."""
    own = _own_points()
    found = _installed_points()
    out: dict[str, tuple[EntryPoint, ...]] = {}
    for group in GROUPS:
        own_set = set(own[group])
        others = [point for point in found if point.group == group and point not in own_set]
        out[group] = (*own[group], *sorted(others, key=_key))
    return out


def _installed_points() -> list[EntryPoint]:
    """Every installed package's entry points in profwork's groups, as
    `importlib.metadata.entry_points()` finds them: the `*.dist-info` and `*.egg-info`
    directories of each `sys.path` directory, in its listing's order, the first of each
    (normalised) distribution name winning. They are read without importing
    `importlib.metadata` (with its email and zip modules: ~20 ms on every run, and again in a
    `-m pyspy` target's process), which is asked instead whenever the search is not that plain
    one: a zip or egg on `sys.path`, or a finder of distributions other than the standard one."""
    import importlib.machinery

    plain = all(
        finder is importlib.machinery.PathFinder or not hasattr(finder, "find_distributions")
        for finder in sys.meta_path
    )
    points: list[EntryPoint] = []
    seen: set[str] = set()
    for entry in sys.path if plain else ():
        root = entry or "."
        if not os.path.isdir(root):
            if os.path.exists(root):  # a zip: importlib.metadata reads inside it
                plain = False
                break
            continue
        if root.lower().endswith(".egg"):
            plain = False
            break
        try:
            children = os.listdir(root)
        except OSError:
            continue
        for child in children:
            stem, dot, suffix = child.rpartition(".")
            if not dot or suffix not in ("dist-info", "egg-info"):
                if child.lower().endswith((".dist-info", ".egg-info")):
                    plain = False  # a spelling importlib.metadata names otherwise
                continue
            name = re.sub(r"[-_.]+", "_", stem.partition("-")[0]).lower()
            if name in seen:
                continue
            seen.add(name)
            try:
                with open(os.path.join(root, child, "entry_points.txt"), encoding="utf-8") as file:
                    text = file.read()
            except (FileNotFoundError, NotADirectoryError):
                continue
            except (OSError, UnicodeDecodeError):
                plain = False
                break
            points.extend(ep for ep in _parse_entry_points(text) if ep.group in GROUPS)
        if not plain:
            break
    if plain:
        return points
    from importlib.metadata import entry_points

    found = entry_points()
    return [
        EntryPoint(ep.group, ep.name, ep.value)
        for group in GROUPS
        for ep in found.select(group=group)
    ]


def _key(ep: EntryPoint) -> tuple[str, str]:
    return (ep.name.lower(), ep.value)


class Registry(Generic[T]):
    """The plug-ins of one entry-point group, by name.

    `check` tells whether a loaded value is a plug-in of this kind; `kind` names the kind in
    error messages ("method", "output format", …)."""

    def __init__(
        self,
        group: str,
        kind: str,
        check: Callable[[Any], bool],
        *,
        load_remedy: str = "reinstall the package that provides it, or uninstall it",
    ) -> None:
        if group not in GROUPS:
            raise ValueError(f"unknown entry-point group {group!r}")
        self.group, self.kind, self._check = group, kind, check
        self.load_remedy = load_remedy  # when a plug-in's module fails to import
        self._loaded: dict[str, T] = {}

    def _points(self) -> dict[str, EntryPoint]:
        """Every registered name's entry point (the first registration of a name wins)."""
        points: dict[str, EntryPoint] = {}
        for ep in _entry_points()[self.group]:
            points.setdefault(ep.name.lower(), ep)
        return points

    def _point(self, name: str) -> EntryPoint | None:
        """The entry point of `name`: profwork's own without reading any other package's."""
        key = name.lower()
        for ep in _own_points()[self.group]:
            if ep.name.lower() == key:
                return ep
        return self._points().get(key)

    def names(self) -> tuple[str, ...]:
        """Every registered name, profwork's own first, each by name."""
        return tuple(ep.name for ep in self._points().values())

    def own_names(self) -> tuple[str, ...]:
        """profwork's own names, each by name (no other package's entry points are read)."""
        return tuple(ep.name for ep in _own_points()[self.group])

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self._point(name) is not None

    def entry_point(self, name: str) -> EntryPoint:
        """The entry point registered under `name` (not loaded)."""
        ep = self._point(name)
        if ep is None:
            raise ProfworkError(
                f"unknown {self.kind} {name!r}",
                remedy=f"choose one of: {', '.join(self.names()) or 'none is installed'}",
            )
        return ep

    def get(self, name: str) -> T:
        """The plug-in registered under `name`, imported on first use."""
        ep = self.entry_point(name)
        key = ep.name.lower()
        if key in self._loaded:
            return self._loaded[key]
        try:
            value = ep.load()
        except (Exception, SystemExit) as exc:  # a broken plug-in is the user's to fix
            raise ProfworkError(
                f"the {self.kind} {ep.name!r} ({ep.value}) cannot be loaded: "
                f"{type(exc).__name__}: {exc}",
                remedy=self.load_remedy,
            ) from None
        if not self._check(value):
            raise ProfworkError(
                f"the entry point {ep.name!r} ({ep.value}) of {self.group} is not a "
                f"profwork {self.kind}",
                remedy="fix or uninstall the package that registers it",
            )
        self._loaded[key] = value
        return value  # type: ignore[no-any-return]
