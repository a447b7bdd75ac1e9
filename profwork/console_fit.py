"""Fitting the terminal: tables as wide as the console (80 columns when piped) without breaking a
word, and locations short enough to read beside a name.

- `short_location`: a user's file relative to the working directory, a library's from its
  package (`…/site-packages/sqlalchemy/orm/attributes.py:123`, `…/python3.11/json/encoder.py:183`),
  and, to fit a width, leading directories dropped whole (`…/orm/attributes.py:123`). The line
  number is always kept.
- `fitted_table`: a compact table whose figure columns keep their full width and whose one
  name column takes the rest; text in it is cut with an ellipsis rather than wrapped mid-word.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Literal, NamedTuple

from rich import box
from rich.table import Table
from rich.text import Text

# Where a library's own path starts: what follows is the package (`sqlalchemy/orm/…`), the
# standard library's module (`json/encoder.py`).
_PACKAGE_ROOT = re.compile(r"/(?:site|dist)-packages/|/lib/(python3\.\d+)/")
# A `path:line` inside running text (an N+1 finding's call site).
_PATH_IN_TEXT = re.compile(r"(/[^\s():]+\.pyw?):(\d+)")
MIN_TEXT = 12  # the narrowest a table's text column gets, whatever the terminal
GAP = 2  # columns between two cells of a fitted table


def short_location(location: str, width: int | None = None) -> str:
    """`path:line` as the terminal shows it, in at most `width` characters when given."""
    if not location:
        return ""
    path, sep, line = location.rpartition(":")
    if not sep or not line.isdigit():
        path, line = location, ""
    path = _short_path(path)
    suffix = f":{line}" if line else ""
    if width is None or len(path) + len(suffix) <= width:
        return path + suffix
    parts = path.split("/")
    for start in range(1, len(parts)):
        candidate = "…/" + "/".join(parts[start:])
        if len(candidate) + len(suffix) <= width:
            return candidate + suffix
    name = parts[-1]
    room = max(1, width - len(suffix) - 1)
    return "…" + name[len(name) - room :] + suffix if len(name) > room else name + suffix


def _short_path(path: str) -> str:
    try:
        relative = Path(path).relative_to(Path.cwd())
    except (ValueError, OSError):
        pass
    else:
        return str(relative)
    # the last one: a venv inside a project inside site-packages is still its package
    match = next(reversed(list(_PACKAGE_ROOT.finditer(path))), None)
    if match is None:
        return path
    head = match.group(1) or match.group().strip("/")
    return f"…/{head}/{path[match.end() :]}"


def shorten_paths(text: str) -> str:
    """Every `path:line` in `text` as `short_location` writes it (without a width)."""
    return _PATH_IN_TEXT.sub(lambda m: short_location(f"{m.group(1)}:{m.group(2)}"), text)


Justify = Literal["left", "right"]


class Named(NamedTuple):
    """A text column's cell: a function's name over its location (dim), both cut to fit."""

    name: str
    location: str
    style: str = ""
    detail: str = ""  # a third line (a line's source), cut to fit like the name

    def cell(self, width: int) -> Text:
        text = Text(self.name, style=self.style)
        if self.location:
            text.append("\n" + short_location(self.location, width), style="dim")
        if self.detail:
            text.append("\n" + self.detail)
        return text


def fitted_table(
    title: Text,
    columns: Sequence[tuple[str, Justify]],
    rows: Sequence[Sequence[str | Text | Named]],
    *,
    width: int,
) -> Table:
    """A compact table at most `width` characters wide: every figure column as wide as its
    widest cell (figures are never cut), the one column of `Named` cells taking what is left
    (at least `MIN_TEXT`); a name too long for it ends in an ellipsis, and its location loses
    leading directories, never its line number. No cell wraps, so no word is ever split."""
    widths = [len(name) for name, _ in columns]
    text_column = 0
    for row in rows:
        for i, cell in enumerate(row):
            if isinstance(cell, Named):
                text_column = i
                shown = (cell.name, short_location(cell.location), cell.detail)
                cell_width = max(len(line) for line in shown)
            else:
                cell_width = max((len(line) for line in str(cell).split("\n")), default=0)
            widths[i] = max(widths[i], cell_width)
    fixed = sum(w for i, w in enumerate(widths) if i != text_column)
    room = max(MIN_TEXT, width - fixed - GAP * (len(columns) - 1))
    text_width = min(room, widths[text_column])
    table = Table(
        title=title,
        title_justify="left",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        padding=(0, 1, 0, 0),
    )
    for i, (name, justify) in enumerate(columns):
        table.add_column(
            name,
            justify=justify,
            no_wrap=True,
            overflow="ellipsis",
            width=text_width if i == text_column else widths[i],
        )
    for row in rows:
        table.add_row(*(c.cell(text_width) if isinstance(c, Named) else c for c in row))
    return table
