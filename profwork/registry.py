"""One lazy registry per kind of plug-in, all found through entry points (DESIGN §8).

Targets, methods, readers and renderers are each registered in an entry-point group
(`profwork.targets`, `profwork.methods`, `profwork.readers`, `profwork.renderers`): the built-ins
in profwork's own `pyproject.toml`, a third-party package in its own, the same way. Nothing keeps
a second list of the names.

The entry points are read once per process, all groups in one pass, and only when a name is
looked up or listed: `profwork --help` never pays for `importlib.metadata`. An entry point is
imported only when its plug-in is used, so choosing a method imports only its own tool.
Names are matched without regard to case (`-m cProfile` is `cprofile`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import cache
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from profwork.errors import ProfworkError

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

T = TypeVar("T")

GROUPS = ("profwork.targets", "profwork.methods", "profwork.readers", "profwork.renderers")
DISTRIBUTION = "profwork"


@cache
def _entry_points() -> dict[str, tuple[EntryPoint, ...]]:
    """Every profwork group's entry points, profwork's own first, then the other packages',
    each by name (build back ends write entry points sorted, so a declared order is lost).

    profwork's own are told by its distribution's entry_points.txt, never by asking each entry
    point for its distribution's name: that parses every installed package's METADATA with
    the email parser (about 90 ms in a venv of 40 packages)."""
    from importlib.metadata import PackageNotFoundError, distribution, entry_points

    try:
        own_points = {
            (ep.group, ep.name, ep.value) for ep in distribution(DISTRIBUTION).entry_points
        }
    except PackageNotFoundError:  # pragma: no cover - profwork itself is always installed
        own_points = set()
    found = entry_points()
    out: dict[str, tuple[EntryPoint, ...]] = {}
    for group in GROUPS:
        items = list(found.select(group=group))
        own = [ep for ep in items if (ep.group, ep.name, ep.value) in own_points]
        others = [ep for ep in items if (ep.group, ep.name, ep.value) not in own_points]
        out[group] = (*sorted(own, key=_key), *sorted(others, key=_key))
    return out


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
        points: dict[str, EntryPoint] = {}
        for ep in _entry_points()[self.group]:
            points.setdefault(ep.name.lower(), ep)  # the first registration of a name wins
        return points

    def names(self) -> tuple[str, ...]:
        """Every registered name, profwork's own first, each by name."""
        return tuple(ep.name for ep in self._points().values())

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._points()

    def entry_point(self, name: str) -> EntryPoint:
        """The entry point registered under `name` (not loaded)."""
        try:
            return self._points()[name.lower()]
        except KeyError:
            raise ProfworkError(
                f"unknown {self.kind} {name!r}",
                remedy=f"choose one of: {', '.join(self.names()) or 'none is installed'}",
            ) from None

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
