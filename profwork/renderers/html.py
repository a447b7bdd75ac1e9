"""`report.html`: one self-contained page (DESIGN §4) — no network, no external file.

The page shows the run's facts and notes, target metrics, the bottleneck and hotspot tables, the
heaviest paths and the interactive flame graph, inline: the `<svg>` element of `flamesvg`, whose
script works on the `<svg>` that contains it and so runs unchanged inside the page.

Escaping: the template (`assets/report.html.j2`) is rendered by jinja2 with autoescaping on, so
every name, path and metadata value from profiled code is escaped by default. The only values
marked safe are our own static CSS and the flame graph, which `flamesvg` escapes itself. The
summary is also embedded as JSON for tools, through jinja2's `tojson` (`<`, `>`, `&` and `'` as
`\\u003c`…), so a `</script>` in a function name cannot close the script element. Control
characters (a NUL in a function name) are shown as escapes (`\\x00`), never written raw.

The block `nplusone` holds the N+1 findings (their SQL is profiled code's text: escaped like any
name); the block `memory` is where the memory timeline goes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any

from profwork.model import Frame, FrameKind, FunctionRow, Unit
from profwork.renderers import lines as lines_section
from profwork.renderers import memory as memory_section
from profwork.renderers.flamesvg import FlameSvg, asset, title_of
from profwork.units import (
    format_calls,
    format_fact,
    format_metric,
    format_quantity,
    format_share,
    metric_columns,
    visible,
)

if TYPE_CHECKING:
    import jinja2

    from profwork.analyses import HotPath, Summary
    from profwork.model import Profile

KIND_LABELS: dict[FrameKind, str] = {
    FrameKind.USER: "user",
    FrameKind.STDLIB: "stdlib",
    FrameKind.THIRD_PARTY: "third-party",
    FrameKind.NATIVE: "native",
    FrameKind.PROFWORK: "profwork",
    FrameKind.THREAD: "thread",
    FrameKind.PROCESS: "process",
}


@dataclass(frozen=True)
class HtmlReport:
    """`report.html`; the flame graph it embeds is drawn by `flame`, from the layout `flame`
    computes once per profile (shared with `flame.svg` when both are written)."""

    name: str = "html"
    filename: str = "report.html"
    flame: FlameSvg = field(default_factory=FlameSvg)

    def render(self, profile: Profile, summary: Summary) -> bytes:
        from markupsafe import Markup

        template = _environment().get_template("report.html.j2")
        page = template.render(
            context(profile, summary),
            css=Markup(asset("report.css")),
            flame_svg=Markup(self.flame.svg(self.flame.layout(profile), profile, summary)),
        )
        # The last edge: a control character in a profiled name (a NUL is legal in `co_name`)
        # is invalid in HTML whatever escaping the template did, so the whole page, the
        # embedded flame graph included, shows it as an escape (`\x00`).
        return visible(page).encode("utf-8")


@cache
def _environment() -> jinja2.Environment:
    import jinja2

    from profwork.renderers.jinjacache import bytecode_cache

    settings: dict[str, Any] = {
        "autoescape": True,
        "undefined": jinja2.StrictUndefined,
        "trim_blocks": True,
        "lstrip_blocks": True,
        "keep_trailing_newline": True,
    }
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("profwork.renderers", "assets"),
        # the compiled templates are kept between runs (each run is a new process)
        bytecode_cache=bytecode_cache(repr(sorted(settings.items()))),
        **settings,
    )
    environment.policies["json.dumps_kwargs"] = {"sort_keys": True, "default": str}
    return environment


# ---- the template's context: plain strings and numbers, escaped by the template ------------------


def context(profile: Profile, summary: Summary) -> dict[str, Any]:
    unit = summary.unit
    metadata: dict[str, Any] = {**profile.metadata, **summary.metadata}
    heading = title_of(metadata)
    return {
        "title": f"profwork report — {heading}" if heading else "profwork report",
        "target": str(metadata.get("target") or ""),
        "status": str(metadata.get("status") or ""),
        "facts": facts(summary),
        "details": details(profile.metadata, summary.metadata),
        "notes": list(summary.notes),
        "bottlenecks": [_row(r, unit, r.share) for r in summary.bottlenecks],
        "hotspots": [_row(r, unit, summary.own_share(r)) for r in summary.hotspots],
        "hot_paths": paths(summary),
        "verdict": verdict(summary),
        "wrappers": [f.function for f in summary.wrappers],
        "metrics": metrics(summary.target_metrics),
        "nplusone": nplusone(summary),
        "summary_data": summary.to_dict(),
        "memory": memory_section.html(summary.memory),
        "lines": lines_section.html(summary.lines),
    }


def facts(summary: Summary) -> list[tuple[str, str]]:
    """The headline figures, in reading order (chosen once, by `Summary.facts`)."""
    return [(fact.label, format_fact(fact)) for fact in summary.facts()]


def details(profile_metadata: Mapping[str, Any], shown: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Other scalar run metadata (the facts and notes have their own places)."""
    skip = {"notes", "target", "method", "duration", "status", "rate", "threads", "stacks"}
    return [
        (str(k), str(v))
        for k, v in sorted(profile_metadata.items(), key=lambda kv: str(kv[0]))
        if k not in skip and k not in shown and isinstance(v, str | int | float | bool)
    ]


def _frame(frame: Frame) -> dict[str, Any]:
    return {
        "function": frame.function,
        "location": frame.location,
        "kind": frame.kind.value,
        "kind_label": KIND_LABELS[frame.kind],
        "user": frame.kind is FrameKind.USER,
    }


def _row(row: FunctionRow, unit: Unit, share: float) -> dict[str, Any]:
    return {
        **_frame(row.frame),
        "calls": format_calls(row.calls, row.primitive_calls),
        "self": format_quantity(row.self, unit),
        "own": format_quantity(row.own, unit) if row.frame.kind is FrameKind.USER else "",
        "cumulative": format_quantity(row.cumulative, unit),
        "share": format_share(share),
        "bar": f"{max(0.0, min(1.0, share)) * 100:.1f}",
    }


def verdict(summary: Summary) -> dict[str, Any]:
    """The verdict's parts, for the page's first lines (`Summary.verdict`)."""
    found = summary.verdict()
    frame = found.hotspot
    return {
        "headline": found.headline,
        "hotspot": None if frame is None else _frame(frame),
        "share": found.share_text,
        "bar": f"{max(0.0, min(1.0, found.share)) * 100:.1f}",
        "of_total": found.of_total(),
        "pattern": found.pattern() or "",
    }


def paths(summary: Summary) -> list[dict[str, Any]]:
    """The heaviest paths, each with the frames that tell it apart from the others (`elide`:
    the shared start and the middle give way to `…`) for its one-line summary."""
    from profwork.analyses import elide

    shown = elide([p.stack for p in summary.hot_paths])
    return [
        _path(p, summary.unit) | {"distinct": [None if f is None else _frame(f) for f in chain]}
        for p, chain in zip(summary.hot_paths, shown, strict=True)
    ]


def _path(path: HotPath, unit: Unit) -> dict[str, Any]:
    frames = [_frame(f) for f in path.stack]
    return {
        "frames": frames,
        "leaf": frames[-1] if frames else None,
        "weight": format_quantity(path.weight, unit),
        "share": format_share(path.share),
        "bar": f"{max(0.0, min(1.0, path.share)) * 100:.1f}",
    }


def metrics(target_metrics: Mapping[str, Mapping[str, float]]) -> dict[str, Any]:
    """A table: one row per endpoint/name, one column per metric (latencies first)."""
    columns = metric_columns(target_metrics)
    rows = [
        {
            "name": str(name),
            "values": [format_metric(m, figures[m]) if m in figures else "" for m in columns],
        }
        for name, figures in target_metrics.items()
    ]
    return {"columns": columns, "rows": rows}


def nplusone(summary: Summary) -> dict[str, Any]:
    """The N+1 section: plain strings, escaped by the template."""
    section = summary.nplusone
    return {
        "findings": [
            {
                "what": f.what,
                "io": f.io,
                "per_unit": f.per_unit,
                "spread": f.spread,
                "time": f.time,
                "site": f.site,
                "loop": f.loop or "",
                "fix": f.fix,
            }
            for f in section.findings
        ],
        "scope": section.scope[0].upper() + section.scope[1:] + ".",
    }


RENDERER = HtmlReport()
