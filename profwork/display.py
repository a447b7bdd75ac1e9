"""Rich display in notebooks: what `Profile._repr_html_`, a run's `_repr_html_` and the
`%%profwork` magic show — a one-line verdict, the summary table and the interactive flame graph.

The flame graph is `flamesvg`'s own `<svg>` (its script works on the element that contains it, so
it runs unchanged inside a notebook's output where scripts are allowed, and the drawing stays
readable where they are not). Every text from profiled code is escaped here, as in `report.html`.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING

from profwork.model import Profile
from profwork.renderers.flamesvg import FlameSvg, escape
from profwork.units import format_calls, format_fact, format_quantity, format_share, visible

if TYPE_CHECKING:
    from profwork.analyses import Summary
    from profwork.model import FunctionRow

TABLE_ROWS = 10


@dataclass(frozen=True)
class NotebookProfile(Profile):
    """A `Profile` that draws itself: what `profwork.load`, a run's and a block's `.profile`
    give. (The model itself imports nothing of profwork, so drawing lives up here.)"""

    def flame_svg(self, width: int = 1200) -> FlameGraph:
        """The interactive flame graph (`flame.svg`'s drawing) `width` px wide: it displays
        inline in a notebook; `.svg` is the text and `save(path)` writes it."""
        return flame_graph(self, width=width)

    def _repr_html_(self) -> str:
        """A notebook's rich display: the verdict, the summary table and the flame graph."""
        return profile_html(self)


def drawable(profile: Profile) -> NotebookProfile:
    """`profile` as a `NotebookProfile` (the same data; its views are computed again)."""
    if isinstance(profile, NotebookProfile):
        return profile
    return NotebookProfile(**{f.name: getattr(profile, f.name) for f in fields(Profile)})


@dataclass(frozen=True)
class FlameGraph:
    """A drawn flame graph: `svg` is the document; notebooks display it inline."""

    svg: str

    def _repr_html_(self) -> str:
        return f'<div class="profwork-flame" style="overflow-x:auto">{self.svg}</div>'

    def __str__(self) -> str:
        return self.svg

    def save(self, path: str | Path) -> Path:
        """Write the SVG file (what `flame.svg` holds in a run directory)."""
        target = Path(path)
        target.write_text(
            '<?xml version="1.0" encoding="UTF-8" standalone="no"?>\n' + self.svg + "\n",
            encoding="utf-8",
        )
        return target


def _summary(profile: Profile, summary: Summary | None) -> Summary:
    if summary is not None:
        return summary
    from profwork.analyses import analyse

    return analyse(profile, top=TABLE_ROWS)


def flame_graph(profile: Profile, summary: Summary | None = None, width: int = 1200) -> FlameGraph:
    renderer = FlameSvg(width=width)
    drawn = renderer.layout(profile)
    return FlameGraph(visible(renderer.svg(drawn, profile, _summary(profile, summary))))


def _name(row: FunctionRow) -> str:
    location = row.frame.location
    return f"{row.frame.function} ({location})" if location else row.frame.function


def verdict(summary: Summary) -> str:
    """One or two sentences: the top hotspot and the pattern behind it, as every output says it
    first (`Summary.verdict`)."""
    return " ".join(summary.verdict().sentences())


def summary_table(summary: Summary, rows: int | None = None) -> str:
    """The bottleneck table (ranked by cumulative time), as HTML: the first `rows` (all the
    summary holds, by default: its `top`)."""
    unit = summary.unit
    head = "".join(
        f"<th>{h}</th>"
        for h in ("function", "location", "calls", "self", "own", "cumulative", "share")
    )
    body = []
    for row in summary.bottlenecks[:rows]:
        user = row.frame.kind.value == "user"
        cells = (
            row.frame.function,
            row.frame.location,
            format_calls(row.calls, row.primitive_calls),
            format_quantity(row.self, unit),
            format_quantity(row.own, unit) if user else "",
            format_quantity(row.cumulative, unit),
            format_share(row.share),
        )
        weight = ' style="font-weight:bold"' if user else ""
        body.append(
            f"<tr{weight}>" + "".join(f"<td>{escape(str(c))}</td>" for c in cells) + "</tr>"
        )
    return (
        '<table class="profwork-summary"><thead><tr>'
        + head
        + "</tr></thead><tbody>"
        + "".join(body)
        + "</tbody></table>"
    )


def profile_html(
    profile: Profile,
    summary: Summary | None = None,
    path: Path | None = None,
    flame: bool = True,
) -> str:
    """The verdict, the facts, the summary table, the notes and the flame graph of a profile
    (and where its run directory is, when there is one)."""
    summary = _summary(profile, summary)
    facts = " · ".join(f"{fact.label}: {format_fact(fact)}" for fact in summary.facts())
    parts = [
        '<div class="profwork">',
        f"<p><strong>{escape(verdict(summary))}</strong></p>",
        f'<p style="color:#555">{escape(facts)}</p>',
    ]
    if path is not None:
        parts.append(f"<p>Run directory: <code>{escape(str(path))}</code></p>")
    parts.append(summary_table(summary))
    if summary.notes:
        parts.append(
            "<ul>" + "".join(f"<li>{escape(note)}</li>" for note in summary.notes) + "</ul>"
        )
    if flame:
        parts.append(flame_graph(profile, summary)._repr_html_())
    parts.append("</div>")
    return visible("\n".join(parts))
