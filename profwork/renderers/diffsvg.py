"""The differential flame graph (`diff.svg` of a `compare` run, DESIGN §5).

What its users asked of the existing ones (Gregg's difffolded, CPython 3.15's diff mode):

- **Widths from the new run**: the same icicle layout as `flame.svg` (`flamesvg.layout`), so the
  picture is the new run's profile and the colour says how each call path changed.
- **Colour by change, per call path**: a block is compared with the same path in the base run
  (paths matched by module and qualified name, as `analyses.compare` matches functions; thread
  roots by thread name, not id). Red is slower, blue faster, and the intensity grows with the
  size of the change (a symmetric relative change, full colour at ±50%).
- **Totals normalised**: the base run's weights are scaled to the new run's total first, so a run
  that is uniformly longer (a slower machine, more requests) draws neutral, and only the shift
  of time between paths shows; the header says by how much the base was scaled.
- **New paths** have a colour of their own (with hatching, so it never depends on hue alone);
  **removed paths**, which have no width in the new run, are listed beside the graph.
- **Colour-blind safe**: ColorBrewer's RdBu ends (dark red #b2182b, dark blue #2166ac) over a
  light neutral, new paths Okabe–Ito yellow hatched; a legend explains each.
- **Self/total toggle**: the button switches between colouring by the path's total (the block and
  everything below it) and by its self time (the block alone); the hover line shows both runs'
  figures for both.

Interaction is `flame.js` (hover, zoom, search) plus `diff.js` (the toggle); escaping is
`flamesvg`'s: every profiled name goes through `escape` into `<title>` and `<text>`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from profwork.analyses.compare import Key, function_key
from profwork.model import Frame, Stack, Unit
from profwork.renderers.flamesvg import (
    CHAR_WIDTH,
    HEADER,
    MERGED_FILL,
    PAD,
    ROOT_FILL,
    Block,
    Layout,
    asset,
    escape,
    fit,
    layout,
)
from profwork.units import format_quantity

if TYPE_CHECKING:
    from profwork.analyses.compare import Comparison
    from profwork.model import Profile

_SVG_NS = "http://www.w3.org/2000/svg"
NEUTRAL = (0xF7, 0xF7, 0xF7)
SLOWER = (0xB2, 0x18, 0x2B)  # RdBu's dark red
FASTER = (0x21, 0x66, 0xAC)  # RdBu's dark blue
NEW_FILL = "#f0e442"  # Okabe–Ito yellow, hatched
NEW_PATTERN = "pwd-new"
FULL_AT = 0.5  # a symmetric relative change of ±50% or more gets the full colour
PANEL = 340  # px: the removed-paths column beside the graph
_THREAD_ID = re.compile(r"^(thread|process) \([^()]*\)(?::\s*)?|^process \d+(?::\s*)?")


class _Node:
    """A node of a path trie: the weight of the stacks through it, of those ending at it, and
    its children by key."""

    __slots__ = ("children", "self", "total")

    def __init__(self) -> None:
        self.total = 0.0
        self.self = 0.0
        self.children: dict[Key, _Node] = {}


def path_key(frame: Frame) -> Key:
    """A frame's key within a call path: a function by module and name; a thread root by its
    name, whatever its id (ids differ between runs)."""
    if frame.is_pseudo:
        name = _THREAD_ID.sub("", frame.function) or frame.function
        return (f"<{frame.kind.value}>", name)
    return function_key(frame)


def trie(stacks: Mapping[Stack, float]) -> _Node:
    """The stacks merged into a trie of path keys, with each node's total and self weight."""
    root = _Node()
    keys: dict[Frame, Key] = {}
    for stack, weight in stacks.items():
        if weight <= 0:
            continue
        node = root
        node.total += weight
        for frame in stack:
            key = keys.get(frame)
            if key is None:
                key = keys[frame] = path_key(frame)
            child = node.children.get(key)
            if child is None:
                child = node.children[key] = _Node()
            child.total += weight
            node = child
        node.self += weight
    return root


def change(new: float, base: float) -> float:
    """The symmetric relative change in [-1, 1]: (new - base) / max(new, base)."""
    top = max(new, base)
    return (new - base) / top if top > 0 else 0.0


def fill(delta: float) -> str:
    """The colour of a symmetric change: neutral at 0, dark red at +FULL_AT, dark blue at -."""
    end = SLOWER if delta > 0 else FASTER
    t = min(1.0, abs(delta) / FULL_AT)
    r, g, b = (round(n + (e - n) * t) for n, e in zip(NEUTRAL, end, strict=True))
    return f"#{r:02x}{g:02x}{b:02x}"


def _signed(fraction: float) -> str:
    return f"{fraction:+.1%}"


@dataclass(frozen=True)
class RemovedPath:
    keys: tuple[Key, ...]
    weight: float  # in the base run, unscaled


def removed_paths(base: _Node, new: _Node, limit: int = 12) -> tuple[list[RemovedPath], int]:
    """Paths of the base run that the new run never reached (the shallowest such prefix of
    each), heaviest first, and how many there are in all."""
    found: list[RemovedPath] = []
    todo: list[tuple[_Node, _Node, tuple[Key, ...]]] = [(base, new, ())]
    while todo:
        b, n, prefix = todo.pop()
        for key, child in b.children.items():
            other = n.children.get(key)
            if other is None:
                found.append(RemovedPath((*prefix, key), child.total))
            else:
                todo.append((child, other, (*prefix, key)))
    found.sort(key=lambda p: -p.weight)
    return found[:limit], len(found)


@dataclass(frozen=True)
class DiffSvg:
    """`diff.svg`: the drawn width of the graph and its narrowest frame, in px."""

    width: int = 1200
    min_width: float = 1.0
    frame_height: int = 16

    @property
    def plot_width(self) -> float:
        return float(self.width - 2 * PAD)

    @staticmethod
    def document(svg: str) -> str:
        return '<?xml version="1.0" encoding="UTF-8" standalone="no"?>\n' + svg + "\n"

    def svg(self, comparison: Comparison, base: Profile, new: Profile) -> str:
        """The `<svg>` element (for `diff.svg`, and inline in the compare `report.html`)."""
        drawn = layout(new.stacks, self.plot_width, self.min_width)
        base_trie, new_trie = trie(base.stacks), trie(new.stacks)
        scale = new_trie.total / base_trie.total if base_trie.total > 0 else 1.0
        unit: Unit = new.unit
        removed, removed_count = removed_paths(base_trie, new_trie)
        rows = drawn.depth + 1 if drawn.blocks else 0
        height = max(HEADER + rows * self.frame_height + PAD, HEADER + 40 + 34 * len(removed) + 60)
        full = self.width + PANEL
        out = [
            f'<svg xmlns="{_SVG_NS}" class="pwf pwd" width="{full}" height="{height}" '
            f'viewBox="0 0 {full} {height}" role="img" aria-label="Differential flame graph" '
            f'data-unit="{escape(unit)}" data-total="{drawn.total!r}" data-left="{PAD}" '
            f'data-plot-width="{self.plot_width!r}" data-char-width="{CHAR_WIDTH}" '
            f'data-frame-height="{self.frame_height}" data-scale="{scale!r}" data-mode="total">',
            f"<style><![CDATA[\n{asset('flame.css')}{asset('diff.css')}]]></style>",
            '<defs><pattern id="' + NEW_PATTERN + '" width="6" height="6" '
            'patternUnits="userSpaceOnUse" patternTransform="rotate(45)">'
            f'<rect width="6" height="6" fill="{NEW_FILL}"/>'
            '<rect width="2" height="6" fill="#8a7d00"/></pattern></defs>',
            f'<rect class="bg" x="0" y="0" width="{full}" height="{height}"/>',
            f'<text class="title" x="{PAD}" y="28">{escape(_title(comparison))}</text>',
            *self._controls(),
            self._subtitle(comparison, drawn, scale, unit),
            self._legend(),
        ]
        bar_y = HEADER - 30
        out.append(
            f'<rect class="bar" x="{PAD}" y="{bar_y}" width="{self.plot_width:g}" height="22" '
            f'rx="4"/><text class="details" x="{PAD + 8}" y="{bar_y + 15}">'
            f"{'Hover over a frame for both runs, click to zoom' if rows else ''}</text>"
            f'<text class="matched" x="{self.width - PAD - 8}" y="{bar_y + 15}"></text>'
        )
        if rows:
            out.append('<g class="frames">')
            out.extend(self._blocks(drawn, base_trie, new_trie, scale, unit))
            out.append("</g>")
        else:
            out.append(
                f'<text class="empty" x="{self.width / 2:g}" y="{HEADER + 44}">'
                "no samples in the new run</text>"
            )
        out.append(self._removed(removed, removed_count, base_trie.total, unit))
        out.append(f"<script><![CDATA[\n{asset('flame.js')}]]></script>")
        out.append(f"<script><![CDATA[\n{asset('diff.js')}]]></script>")
        out.append("</svg>")
        return "\n".join(out)

    def _controls(self) -> list[str]:
        right = self.width - PAD
        buttons = (
            ("search", "Search", 84, right - 84),
            ("reset h", "Reset zoom", 96, right - 188),
            ("mode", "Colour by: total", 136, right - 332),
        )
        return [
            f'<g class="btn {cls}"><rect x="{x}" y="12" width="{w}" height="24"/>'
            f'<text x="{x + w / 2:g}" y="28">{label}</text></g>'
            for cls, label, w, x in buttons
        ]

    def _subtitle(self, comparison: Comparison, drawn: Layout, scale: float, unit: Unit) -> str:
        base, new = comparison.base, comparison.new
        relative = comparison.total_relative
        text = (
            f"Total {format_quantity(new.total, unit)} (base {format_quantity(base.total, unit)}"
            + (f", {_signed(relative)}" if relative is not None else "")
            + f") · widths from the new run · base scaled ×{scale:.3g} to the new total, so "
            "colours show where time moved"
        )
        parts = [escape(text)]
        parts.extend(f'<tspan class="note"> · {escape(w)}</tspan>' for w in comparison.warnings)
        if drawn.narrow:
            parts.append(f'<tspan class="note"> · {drawn.narrow:,} narrow frames merged</tspan>')
        return f'<text class="sub" x="{PAD}" y="50">{"".join(parts)}</text>'

    def _legend(self) -> str:
        items = [
            ("much slower", fill(FULL_AT)),
            ("slower", fill(FULL_AT / 3)),
            ("unchanged", fill(0.0)),
            ("faster", fill(-FULL_AT / 3)),
            ("much faster", fill(-FULL_AT)),
            ("new in this run", f"url(#{NEW_PATTERN})"),
            ("merged narrow frames", MERGED_FILL),
        ]
        out = ['<g class="legend">']
        x = PAD
        for label, colour in items:
            out.append(
                f'<rect x="{x}" y="61" width="12" height="12" rx="2" fill="{colour}"/>'
                f'<text x="{x + 17}" y="71.5">{label}</text>'
            )
            x += 17 + round(len(label) * 6.2) + 16
        out.append("</g>")
        return "".join(out)

    def _blocks(
        self, drawn: Layout, base: _Node, new: _Node, scale: float, unit: Unit
    ) -> list[str]:
        # Each block's trie nodes come from its parent's, the block above it whose span holds
        # it; blocks are sorted by depth, then x.
        out = []
        above: list[tuple[float, float, _Node | None, _Node | None]] = []
        level: list[tuple[float, float, _Node | None, _Node | None]] = []
        depth = 0
        for block in drawn.blocks:
            if block.depth != depth:
                above, level, depth = level, [], block.depth
            frame = block.frame
            if block.depth == 0:
                level.append((block.x, block.x + block.width, base, new))
                out.append(self._group("f r", ROOT_FILL, ROOT_FILL, "all", "", "", block, unit))
                continue
            parent = _holding(above, block.x)
            if frame is None:  # merged narrow frames
                out.append(self._merged(block, unit))
                continue
            key = path_key(frame)
            b_parent = parent[2] if parent else None
            n_parent = parent[3] if parent else None
            b_node = b_parent.children.get(key) if b_parent is not None else None
            n_node = n_parent.children.get(key) if n_parent is not None else None
            level.append((block.x, block.x + block.width, b_node, n_node))
            out.append(self._frame(block, frame, b_node, n_node, scale, unit))
        return out

    def _frame(
        self,
        block: Block,
        frame: Frame,
        b_node: _Node | None,
        n_node: _Node | None,
        scale: float,
        unit: Unit,
    ) -> str:
        new_total = n_node.total if n_node else 0.0
        new_self = n_node.self if n_node else 0.0
        q = format_quantity
        if b_node is None:
            colour = f"url(#{NEW_PATTERN})"
            figure = f"new in this run · total {q(new_total, unit)} · self {q(new_self, unit)}"
            return self._group("f new", colour, colour, frame.function, frame.location, figure,
                               block, unit)  # fmt: skip
        base_total, base_self = b_node.total * scale, b_node.self * scale
        by_total = change(new_total, base_total)
        by_self = change(new_self, base_self)
        figure = (
            f"total {q(new_total, unit)} vs base {q(b_node.total, unit)} "
            f"({_relative(new_total, base_total)}) · self {q(new_self, unit)} vs base "
            f"{q(b_node.self, unit)} ({_relative(new_self, base_self)})"
        )
        cls = "f t" if frame.is_pseudo else "f"
        return self._group(cls, fill(by_total), fill(by_self), frame.function, frame.location,
                           figure, block, unit)  # fmt: skip

    def _merged(self, block: Block, unit: Unit) -> str:
        merged = block.merged
        name = f"[{merged:,} narrow frame{'s' if merged != 1 else ''}]"
        return self._group("f n", MERGED_FILL, MERGED_FILL, name, "", "merged", block, unit)

    def _group(
        self,
        cls: str,
        total_fill: str,
        self_fill: str,
        name: str,
        location: str,
        figure: str,
        block: Block,
        unit: Unit,
    ) -> str:
        width, weight = block.width, block.weight
        y = HEADER + block.depth * self.frame_height
        x = PAD + block.x
        if not figure:
            figure = format_quantity(weight, unit)
        lines = [name, location, figure] if location else [name, figure]
        label = fit(name, width)
        text = (
            f'<text x="{x + 3:.2f}" y="{y + self.frame_height - 4.5:g}">{escape(label)}</text>'
            if label
            else ""
        )
        return (
            f'<g class="{cls}" data-total-fill="{total_fill}" data-self-fill="{self_fill}">'
            f"<title>{escape(chr(10).join(lines))}</title>"
            f'<rect x="{x:.3f}" y="{y}" width="{width:.3f}" height="{self.frame_height - 1}" '
            f'fill="{total_fill}"/>{text}</g>'
        )

    def _removed(
        self, removed: list[RemovedPath], count: int, base_total: float, unit: Unit
    ) -> str:
        x = self.width + 6
        out = [
            f'<g class="removed"><text class="heading" x="{x}" y="{HEADER - 14}">'
            f"Removed paths ({count:,})</text>",
        ]
        if not removed:
            out.append(
                f'<text class="none" x="{x}" y="{HEADER + 6}">none: every call path of the '
                "base run</text>"
                f'<text class="none" x="{x}" y="{HEADER + 20}">is in the new run</text>'
            )
        y = HEADER + 6
        room = int((PANEL - 16) // 6.2)
        for path in removed:
            share = path.weight / base_total if base_total else 0.0
            names = [k[1] for k in path.keys]
            leaf = names[-1]
            via = " ← ".join(reversed(names[-4:-1])) if len(names) > 1 else "(a root)"
            full = " → ".join(names)
            figure = f"{format_quantity(path.weight, unit)} · {share:.1%} · {via}"
            out.append(
                f"<g><title>{escape(full)}</title>"
                f'<text class="leaf" x="{x}" y="{y}">{escape(_cut(leaf, room))}</text>'
                f'<text class="via" x="{x}" y="{y + 13}">'
                f"{escape(_cut(figure, room))}"
                "</text></g>"
            )
            y += 34
        if count > len(removed):
            out.append(
                f'<text class="none" x="{x}" y="{y}">and {count - len(removed):,} lighter ones'
                "</text>"
            )
        out.append("</g>")
        return "".join(out)


def _cut(text: str, room: int) -> str:
    return text if len(text) <= room else text[: max(0, room - 2)] + ".."


def _relative(new: float, base: float) -> str:
    if base <= 0:
        return "new" if new > 0 else "±0"
    return _signed((new - base) / base)


def _holding(
    above: list[tuple[float, float, _Node | None, _Node | None]], x: float
) -> tuple[float, float, _Node | None, _Node | None] | None:
    """The block of the row above whose span holds `x` (rows are sorted by x)."""
    lo, hi = 0, len(above)
    while lo < hi:
        mid = (lo + hi) // 2
        if above[mid][0] <= x + 1e-6:
            lo = mid + 1
        else:
            hi = mid
    if lo and above[lo - 1][1] >= x - 1e-6:
        return above[lo - 1]
    return None


def _title(comparison: Comparison) -> str:
    target = comparison.new.target or comparison.base.target
    return "Differential flame graph" + (f" — {target}" if target else "")
