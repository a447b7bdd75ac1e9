"""`summary.md` and `summary.json`: the ranked bottlenecks, hotspots, N+1 patterns, hot paths,
target metrics.

Markdown (CommonMark with GitHub's tables): function names and paths go into code spans, so that
they read and grep as written (`enrich_with_rules`, not `enrich\\_with\\_rules`) and nothing in
them is markup; a backtick inside a name lengthens the span's fence, and a `|` is escaped so that
it cannot split a table cell. Other text from the run (a target metric's name, a note) is
backslash-escaped wherever Markdown would read it as markup or HTML. Control characters (a NUL
in a function name) are shown as escapes (`\\x00`) in both, never written raw.

JSON: strict (`allow_nan=False`): `Summary.to_dict` has already turned any NaN or infinity into
null, and the flag makes sure none ever slips through as the invalid literals `NaN`/`Infinity`.
"""

from __future__ import annotations

import json
import re

from profwork.analyses import Summary
from profwork.model import Frame, FrameKind, FunctionRow, Profile
from profwork.renderers import lines as lines_section
from profwork.renderers import memory as memory_section
from profwork.units import (
    format_calls,
    format_fact,
    format_metric,
    format_quantity,
    format_share,
    metric_columns,
    visible,
)

# ASCII punctuation that starts markup in running text: code, emphasis, links, raw HTML and
# entities, table cells, strikethrough. `_` only counts at a word's edge (`snake_case` stays).
_MD_SPECIAL = re.compile(r"([\\`*\[\]<>&|~])|(?<!\w)_|_(?!\w)")


def md_text(text: str) -> str:
    """Text shown as written in running Markdown (a heading, a list item, a table cell)."""
    text = visible(text).replace("\r", " ").replace("\n", " ")
    return _MD_SPECIAL.sub(lambda m: "\\" + m.group(), text)


def md_code(text: str, *, in_table: bool = False) -> str:
    """`text` as a code span: a fence one backtick longer than any run of backticks inside,
    padded with a space when the text starts or ends with a backtick (or with spaces, which
    CommonMark would otherwise strip)."""
    text = visible(text).replace("\r", " ").replace("\n", " ")
    if not text:
        return ""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    edged = text[0] == "`" or text[-1] == "`"
    spaced = text[0] == " " and text[-1] == " " and text.strip() != ""
    pad = " " if edged or spaced else ""
    if in_table:  # GitHub's tables split cells on `|` even inside a code span; `\|` is a `|`
        text = text.replace("|", "\\|")
    return f"{fence}{pad}{text}{pad}{fence}"


def _function(frame: Frame) -> str:
    return md_code(frame.function, in_table=True)


def _location(frame: Frame) -> str:
    return md_code(frame.location, in_table=True)


class MarkdownSummary:
    name = "md"
    filename = "summary.md"

    def render(self, profile: Profile, summary: Summary) -> bytes:
        unit = summary.unit

        def q(value: float) -> str:
            return format_quantity(value, unit)

        def own(row: FunctionRow) -> str:
            return q(row.own) if row.frame.kind is FrameKind.USER else ""

        title = summary.metadata.get("target") or profile.metadata.get("source") or "profile"
        lines = [f"# profwork summary: {md_text(str(title))}", ""]
        lines += verdict_section(summary)
        lines += [f"- **{f.label}**: {md_text(format_fact(f))}" for f in summary.facts()]
        lines.append("")

        lines += ["## Bottlenecks (by cumulative time, user code first)", ""]
        lines += [
            "| # | function | location | calls | self | own | cumulative | share | kind |",
            "|--:|---|---|--:|--:|--:|--:|--:|---|",
        ]
        for i, r in enumerate(summary.bottlenecks, 1):
            calls = format_calls(r.calls, r.primitive_calls)
            lines.append(
                f"| {i} | {_function(r.frame)} | {_location(r.frame)} | {calls} | "
                f"{q(r.self)} | {own(r)} | {q(r.cumulative)} | {format_share(r.share)} | "
                f"{r.frame.kind.value} |"
            )
        lines += wrappers_line(summary)
        lines += ["", "## Hotspots (user functions by own time)", ""]
        if summary.hotspots:
            lines += [
                "| # | function | location | own | self | share |",
                "|--:|---|---|--:|--:|--:|",
            ]
            for i, r in enumerate(summary.hotspots, 1):
                lines.append(
                    f"| {i} | {_function(r.frame)} | {_location(r.frame)} | {q(r.own)} | "
                    f"{q(r.self)} | {format_share(summary.own_share(r))} |"
                )
        else:
            lines.append("No user code was measured.")
        lines += ["", *nplusone_section(summary)]
        lines += ["", "## Heaviest paths", ""]
        for i, p in enumerate(summary.hot_paths, 1):
            chain = " → ".join(md_code(f.function) for f in p.stack)
            lines.append(f"{i}. {q(p.weight)} ({format_share(p.share)}): {chain}")
        if not summary.hot_paths:
            lines.append("No stacks were recorded.")
        lines += ["", "## Target metrics", ""]
        if summary.target_metrics:
            keys = metric_columns(summary.target_metrics)
            lines += [
                "| name | " + " | ".join(md_text(k) for k in keys) + " |",
                "|---|" + "--:|" * len(keys),
            ]
            for name, values in summary.target_metrics.items():
                cells = [format_metric(k, values[k]) if k in values else "" for k in keys]
                lines.append(f"| {md_text(name)} | " + " | ".join(cells) + " |")
        else:
            lines.append("None reported by this target.")
        lines += memory_section.markdown(summary.memory)
        lines += lines_section.markdown(summary.lines)
        if summary.notes:
            lines += ["", "## Notes", ""]
            lines += [f"- {md_text(n)}" for n in summary.notes]
        return ("\n".join(lines) + "\n").encode("utf-8")


def verdict_section(summary: Summary) -> list[str]:
    """The verdict, before everything else: the hotspot's sentence, then the pattern's."""
    verdict = summary.verdict()
    frame = verdict.hotspot
    if frame is None:
        return [md_text(verdict.headline), ""]
    where = f" ({md_code(frame.location)})" if frame.location else ""
    lines = [
        f"**Hotspot:** {md_code(frame.function)}{where} — **{verdict.share_text}** "
        f"{md_text(verdict.of_total())}.",
        "",
    ]
    pattern = verdict.pattern()
    if pattern is not None:
        lines += [f"**Pattern:** {md_text(pattern)}.", ""]
    return lines


def wrappers_line(summary: Summary) -> list[str]:
    """What the bottleneck table leaves out, when it leaves anything out."""
    if not summary.wrappers:
        return []
    names = ", ".join(md_code(f.function) for f in summary.wrappers)
    why = "wrappers every path runs through, or dispatch into your code"
    return ["", f"Not ranked ({why}): {names}."]


def nplusone_section(summary: Summary) -> list[str]:
    """The "N+1 patterns" section: one row per finding, heaviest first. The statement (callee)
    and the call site are code spans, so that SQL reads as written and nothing in it is markup."""
    section = summary.nplusone
    lines = ["## N+1 patterns (by time spent)", ""]
    if section.findings:
        lines += [
            "| # | kind | statement or callee | count | where | time | call site | loop | fix |",
            "|--:|---|---|---|---|--:|---|---|---|",
        ]
        for i, f in enumerate(section.findings, 1):
            loop = md_code(f.loop, in_table=True) if f.loop else ""
            lines.append(
                f"| {i} | {md_text(f.io)} | {md_code(f.what, in_table=True)} | "
                f"{md_text(f.per_unit)} | {md_text(f.spread)} | {f.time} | "
                f"{md_code(f.site, in_table=True)} | {loop} | {md_text(f.fix)} |"
            )
        lines += ["", md_text(section.scope[0].upper() + section.scope[1:]) + "."]
    else:
        lines.append(md_text(f"None found ({section.scope})."))
    return lines


class JsonSummary:
    name = "json"
    filename = "summary.json"

    def render(self, profile: Profile, summary: Summary) -> bytes:
        text = json.dumps(summary.to_dict(), indent=2, ensure_ascii=False, allow_nan=False)
        return text.encode("utf-8", errors="backslashreplace")


MARKDOWN = MarkdownSummary()
JSON = JsonSummary()
