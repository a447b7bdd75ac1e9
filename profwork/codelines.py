"""Which function a source line belongs to, for tools that report lines rather than functions.

tracemalloc records `(file, line)` pairs: the line running when memory was allocated, with no
function name and no first line. The model keys a function on its file and first line (the
`co_firstlineno` of its code object: a decorator's line when it is decorated, DESIGN §1), so each
line is mapped here to the innermost function (lambda, comprehension on 3.11) whose source spans
it, by parsing the file once (cached). Names then come from the shared resolver
(`frames.Classifier.frame`), so a function reads the same under every method.

Module-level code belongs to `<module>` at line 1, as cProfile reports it. A file that cannot be
read or parsed (frozen modules, `<string>`) gives `None`; callers name such a line by itself.
"""

from __future__ import annotations

import ast
import bisect
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

# Comprehensions run in their own frame up to 3.11; 3.12 inlines all but generator expressions.
_OWN_FRAME: tuple[type[ast.AST], ...] = (ast.Lambda, ast.GeneratorExp)
if sys.version_info < (3, 12):
    _OWN_FRAME += (ast.ListComp, ast.SetComp, ast.DictComp)
_COMPREHENSION_NAMES: dict[type[ast.AST], str] = {
    ast.Lambda: "<lambda>",
    ast.GeneratorExp: "<genexpr>",
    ast.ListComp: "<listcomp>",
    ast.SetComp: "<setcomp>",
    ast.DictComp: "<dictcomp>",
}


_ANONYMOUS = frozenset(_COMPREHENSION_NAMES.values())


@dataclass(frozen=True, slots=True)
class Scope:
    """A function as its code object sees it: simple name, first line, last line."""

    name: str
    first: int
    last: int


@dataclass(frozen=True)
class _Index:
    scopes: tuple[Scope, ...]  # sorted by first line; nested ones after their parent
    firsts: tuple[int, ...]


def source(file: str) -> bytes:
    """A source file's text; for code typed into IPython or Jupyter (`<ipython-input-…>`, a
    kernel's cell file), which is not on disk, the lines the shell keeps in `linecache`.
    OSError when neither has it."""
    try:
        return Path(file).read_bytes()
    except OSError:
        import linecache

        lines = linecache.cache.get(file)
        if lines is None or len(lines) < 3 or not lines[2]:
            raise
        return "".join(lines[2]).encode("utf-8")


@lru_cache(maxsize=1024)
def _index(file: str) -> _Index | None:
    try:
        tree = ast.parse(source(file), filename=file)
    except (OSError, ValueError, SyntaxError, RecursionError):
        return None
    scopes: list[Scope] = []
    for node in ast.walk(tree):
        end = getattr(node, "end_lineno", None)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            scopes.append(Scope(node.name, first, end or node.lineno))
        elif isinstance(node, _OWN_FRAME):
            line = int(getattr(node, "lineno", 0))
            scopes.append(Scope(_COMPREHENSION_NAMES[type(node)], line, end or line))
    scopes.sort(key=lambda s: (s.first, -s.last))
    return _Index(tuple(scopes), tuple(s.first for s in scopes))


def _spanning(file: str, line: int) -> list[Scope] | None:
    """Every function whose source spans `file:line`, innermost first; None when the file
    cannot be parsed."""
    index = _index(file)
    if index is None:
        return None
    end = bisect.bisect_right(index.firsts, line)
    found = [s for s in index.scopes[:end] if s.first <= line <= s.last]
    return sorted(found, key=lambda s: (s.last - s.first, -s.first))


def scope_of(file: str, line: int, callee: tuple[str, int] | None = None) -> Scope | None:
    """The innermost function whose source spans `file:line`; `<module>` (first line 1) when
    none does; None when the file cannot be parsed.

    A lambda or comprehension shares its lines with the function that creates it, so a frame on
    such a line is the lambda only when it is not the caller of the lambda: `callee`, the
    next frame towards the allocation, lying inside the same lambda means this frame created it
    and belongs to the enclosing function."""
    scopes = _spanning(file, line)
    if scopes is None:
        return None
    while (
        scopes
        and callee is not None
        and scopes[0].name in _ANONYMOUS
        and callee[0] == file
        and scopes[0].first <= callee[1] <= scopes[0].last
    ):
        scopes = scopes[1:]
    return scopes[0] if scopes else Scope("<module>", 1, 1)


def function_lines(file: str, first: int) -> tuple[int, int] | None:
    """The first and last source lines of the function starting at `first` (its decorator's
    line for a decorated one)."""
    index = _index(file)
    if index is None:
        return None
    position = bisect.bisect_left(index.firsts, first)
    if position < len(index.scopes) and index.scopes[position].first == first:
        return first, index.scopes[position].last
    return None
