"""`summary.md` and `summary.json`: the ranked bottlenecks, hotspots, hot paths, target metrics.

Markdown escapes profiled text (names and paths can hold `|`, `*`, `<`), so the table renders
as data on GitHub and in any Markdown viewer.
"""

from __future__ import annotations

import json
import re

from profwork.analyses import Summary
from profwork.model import FunctionRow, Profile
from profwork.units import format_metric, format_quantity, metric_columns

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]<>()#+!|~])")


def md_escape(text: str) -> str:
    return _MD_SPECIAL.sub(r"\\\1", text).replace("\n", " ")


def _calls(row: FunctionRow) -> str:
    if row.calls is None:
        return ""
    if row.primitive_calls is not None and row.primitive_calls != row.calls:
        return f"{row.calls}/{row.primitive_calls}"
    return str(row.calls)


class MarkdownSummary:
    name = "md"
    filename = "summary.md"

    def render(self, profile: Profile, summary: Summary) -> bytes:
        unit = summary.unit
        meta = summary.metadata

        def q(value: float) -> str:
            return format_quantity(value, unit)

        title = meta.get("target") or profile.metadata.get("source") or "profile"
        lines = [f"# profwork summary: {md_escape(str(title))}", ""]
        facts = [
            ("method", meta.get("method")),
            ("status", meta.get("status")),
            ("total", q(summary.total)),
            ("body duration", f"{meta['duration']:.3f} s" if meta.get("duration") else None),
            ("rate", f"{meta['rate']:g} Hz" if meta.get("rate") else None),
            ("threads", meta.get("threads")),
            ("stacks", meta.get("stacks")),
        ]
        lines += [f"- **{k}**: {md_escape(str(v))}" for k, v in facts if v not in (None, "")]
        lines.append("")

        lines += ["## Bottlenecks (by cumulative time, user code first)", ""]
        lines += [
            "| # | function | location | calls | self | own | cumulative | share | kind |",
            "|--:|---|---|--:|--:|--:|--:|--:|---|",
        ]
        for i, r in enumerate(summary.bottlenecks, 1):
            lines.append(
                f"| {i} | {md_escape(r.frame.function)} | {md_escape(r.frame.location)} | "
                f"{_calls(r)} | {q(r.self)} | {q(r.own)} | {q(r.cumulative)} | "
                f"{r.share:.1%} | {r.frame.kind.value} |"
            )
        lines += ["", "## Hotspots (user functions by own time)", ""]
        if summary.hotspots:
            lines += [
                "| # | function | location | own | self | share |",
                "|--:|---|---|--:|--:|--:|",
            ]
            total = summary.total or 1.0
            for i, r in enumerate(summary.hotspots, 1):
                lines.append(
                    f"| {i} | {md_escape(r.frame.function)} | {md_escape(r.frame.location)} | "
                    f"{q(r.own)} | {q(r.self)} | {r.own / total:.1%} |"
                )
        else:
            lines.append("No user code was measured.")
        lines += ["", "## Heaviest paths", ""]
        for i, p in enumerate(summary.hot_paths, 1):
            chain = " → ".join(md_escape(f.function) for f in p.stack)
            lines.append(f"{i}. {q(p.weight)} ({p.share:.1%}): {chain}")
        if not summary.hot_paths:
            lines.append("No stacks were recorded.")
        lines += ["", "## Target metrics", ""]
        if summary.target_metrics:
            keys = metric_columns(summary.target_metrics)
            lines += [
                "| name | " + " | ".join(keys) + " |",
                "|---|" + "--:|" * len(keys),
            ]
            for name, values in summary.target_metrics.items():
                cells = [format_metric(k, values[k]) if k in values else "" for k in keys]
                lines.append(f"| {md_escape(name)} | " + " | ".join(cells) + " |")
        else:
            lines.append("None reported by this target.")
        if summary.notes:
            lines += ["", "## Notes", ""]
            lines += [f"- {md_escape(n)}" for n in summary.notes]
        return ("\n".join(lines) + "\n").encode("utf-8")


class JsonSummary:
    name = "json"
    filename = "summary.json"

    def render(self, profile: Profile, summary: Summary) -> bytes:
        return json.dumps(summary.to_dict(), indent=2, ensure_ascii=False).encode("utf-8")


MARKDOWN = MarkdownSummary()
JSON = JsonSummary()
