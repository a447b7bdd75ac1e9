"""The interactive flame graph: one self-contained SVG (`flame.svg`, DESIGN §4), also inline in
`report.html` and in notebooks.

In the spirit of Brendan Gregg's flamegraph.pl (its `?s=` search parameter, its Search / Reset
Zoom controls), drawn from the views `flame_views` lays out from the profile's stacks (call
tree, merged, inverted; library frames collapsed or not; blocks under 0.1% of a view merged):

- **Icicle orientation**: the virtual `all` root spans the total at the top, callees hang below
  their callers, thread/process pseudo-frames are the roots right under `all`.
- **Drawn twice, the same way**: here, the call tree with library frames collapsed, as SVG
  rectangles `width` px wide, so the graph reads where no script runs (an `<img>`, a notebook that
  blocks scripts); and by the script (assets/flameviews.js), which fits the graph to its window's
  width and draws every view from the embedded data (`<script type="application/json">`).
- Labels carry the share on wide blocks and are cut with an ellipsis (`fit` estimates the width
  here; the script measures it).
- Interaction (flameviews.js): view switcher, `Show library frames`, hover details, click to
  zoom, `Search` (Ctrl-F standalone, `?s=REGEX`), keys (arrows, Enter, Backspace, Escape, M),
  `?view=` and `?libs=shown` in the URL.
- **Escaping**: every text from profiled code (names, paths, the target spec) is XML-escaped into
  `<title>` and `<text>` content; the data is JSON with `<`, `>` and `&` escaped (`\\u003c`…)
  (so it can close neither its CDATA nor an HTML `<script>`), and the script shows names with
  `textContent`; script and style are our static assets inside CDATA (checked not to contain
  `]]>`). Characters XML cannot carry at all (C0 controls, lone surrogates) become U+FFFD.

`layout`, `Block` and `Layout` are the plain call-tree layout the differential flame graph
(`diffsvg`) draws.
"""

from __future__ import annotations

import colorsys
import math
import re
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources
from operator import countOf, indexOf, itemgetter
from typing import TYPE_CHECKING

from profwork.model import Frame, FrameKind, Stack, Unit
from profwork.renderers import flame_views
from profwork.renderers.flame_layout import group_children, shared_run, weighted
from profwork.renderers.flame_views import MIN_SHARE, ViewBlock, Views
from profwork.units import format_quantity

if TYPE_CHECKING:
    from profwork.analyses import Summary
    from profwork.model import Profile

PAD = 10  # left and right margin, px
HEADER = 112  # y of the `all` row in the differential flame graph (diffsvg)
TOP = 140  # y of the first row of frames in flame.svg
CHAR_WIDTH = 6.6  # average advance of the 11 px frame font (DejaVu Sans / Verdana), px

_SVG_NS = "http://www.w3.org/2000/svg"

# ---- escaping ------------------------------------------------------------------------------------

# Code points XML 1.0 cannot carry, not even as character references.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_XML_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"})


def escape(text: str) -> str:
    """Text safe inside XML (and HTML) element content and quoted attribute values."""
    return _NOT_XML.sub("\ufffd", text).translate(_XML_ESCAPES)


# ---- layout -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Block:
    """One drawn rectangle: a frame, the `all` root, or merged narrow frames."""

    depth: int  # 0 is the `all` root
    x: float  # px from the left edge of the plot
    width: float  # px
    weight: float
    frame: Frame | None  # None for `all` and for merged blocks
    merged: int = 0  # the number of narrow frames a merged block stands for


@dataclass(frozen=True, slots=True)
class Layout:
    """The blocks of one flame graph at one width: what `FlameSvg.layout` computes once per
    profile and `FlameSvg.svg` draws (for `flame.svg` and again inline in `report.html`)."""

    blocks: list[Block]
    total: float
    depth: int  # the deepest depth drawn
    narrow: int  # frames narrower than min_width px, not drawn individually
    stacks: int


def _order(frame: Frame) -> tuple[str, str, int, str]:
    return (frame.function, frame.file, frame.line, frame.kind.value)


def layout(stacks: Mapping[Stack, float], plot_width: float, min_width: float = 1.0) -> Layout:
    """Merge the stacks' common prefixes into the blocks to draw, top-down, visiting only blocks
    at least `min_width` px wide.

    Each pending node holds the stacks below it. A node's children come from one pass over those
    stacks, grouped by the identity of the next frame (fast: `id` hashing is native, a frame's
    dataclass hash is not), then merged by equality, so frames that are equal but not the same
    object still make one block. A run of levels every stack of a node shares (a framework's
    entry path) is found by sampling and checked with one native pass per run, not per level.
    Stacks weighing nothing (or less) are left out.
    """
    subs, weights = weighted(stacks)
    total = math.fsum(weights)
    if not subs or total <= 0:
        return Layout([], 0.0, 0, 0, 0)
    scale = plot_width / total
    threshold = min_width / scale
    blocks = [Block(0, 0.0, plot_width, total, None)]
    narrow = 0
    # pending nodes: (the stacks below, their weights, the prefix length they share, x in px)
    todo: list[tuple[list[Stack], list[float], int, float]] = [(subs, weights, 0, 0.0)]
    while todo:
        sub, ws, p, x = todo.pop()
        shortest = min(map(len, sub))
        if shortest == p:
            # The stacks are distinct and share p frames: at most one ends here (self weight).
            at = indexOf(map(len, sub), p)
            del sub[at], ws[at]
            if not sub:
                continue
            shortest = min(map(len, sub))
        rest = sum(ws)
        first = sub[0]
        if rest >= threshold:
            end = shared_run(sub, first, p, shortest)
            if end > p:
                width = rest * scale
                blocks.extend(Block(d + 1, x, width, rest, first[d]) for d in range(p, end))
                todo.append((sub, ws, end, x))
                continue
        children = group_children(sub, ws, p)
        wide = [(f, c) for f, c in children.items() if c[0] >= threshold]
        wide.sort(key=lambda item: _order(item[0]))
        for frame, (weight, child_stacks, child_weights) in wide:
            width = weight * scale
            blocks.append(Block(p + 1, x, width, weight, frame))
            todo.append((child_stacks, child_weights, p + 1, x))
            x += width
        if len(wide) < len(children):
            count = len(children) - len(wide)
            weight = sum(c[0] for c in children.values() if c[0] < threshold)
            narrow += count
            if weight >= threshold:
                blocks.append(Block(p + 1, x, weight * scale, weight, None, count))
    blocks.sort(key=lambda b: (b.depth, b.x))
    return Layout(blocks, total, max(b.depth for b in blocks), narrow, len(subs))

    if countOf(map(itemgetter(slice(p, end)), sub), first[p:end]) == len(sub):
        return end
    return p


# ---- colours ------------------------------------------------------------------------------------

# kind → (hue range start, hue range width, saturation, lightness), degrees and fractions
_PALETTES: dict[FrameKind, tuple[float, float, float, float]] = {
    FrameKind.USER: (6, 34, 0.80, 0.60),
    FrameKind.STDLIB: (200, 24, 0.62, 0.70),
    FrameKind.THIRD_PARTY: (128, 40, 0.42, 0.60),
    FrameKind.NATIVE: (36, 16, 0.22, 0.70),
    FrameKind.PROFWORK: (262, 20, 0.48, 0.74),
    FrameKind.THREAD: (215, 8, 0.18, 0.42),
    FrameKind.PROCESS: (215, 8, 0.18, 0.42),
}
_LEGEND: tuple[tuple[str, FrameKind | None], ...] = (
    ("user code", FrameKind.USER),
    ("stdlib", FrameKind.STDLIB),
    ("third-party", FrameKind.THIRD_PARTY),
    ("native", FrameKind.NATIVE),
    ("profwork", FrameKind.PROFWORK),
    ("thread / process", FrameKind.THREAD),
    ("merged narrow frames", None),
)
ROOT_FILL = "#3f4a5c"
MERGED_FILL = "#d4d4d8"


def _hex(hue: float, saturation: float, lightness: float) -> str:
    r, g, b = colorsys.hls_to_rgb(hue / 360.0, lightness, saturation)
    return f"#{round(r * 255):02x}{round(g * 255):02x}{round(b * 255):02x}"


@lru_cache(maxsize=65536)
def colour(kind: FrameKind, function: str) -> str:
    """The fill of a frame: its kind's palette, jittered deterministically by its name."""
    start, spread, saturation, lightness = _PALETTES[kind]
    h = zlib.crc32(function.encode("utf-8", "surrogatepass"))
    hue = start + spread * ((h & 0xFFFF) / 0xFFFF)
    light = lightness + 0.08 * (((h >> 16) & 0xFF) / 0xFF) - 0.04
    return _hex(hue, saturation, light)


def _legend_fill(kind: FrameKind | None) -> str:
    if kind is None:
        return MERGED_FILL
    start, spread, saturation, lightness = _PALETTES[kind]
    return _hex(start + spread / 2, saturation, lightness)


# ---- assets -------------------------------------------------------------------------------------


@cache
def asset(name: str) -> str:
    """One of our static assets; those embedded in CDATA must not be able to close it."""
    text = resources.files("profwork.renderers").joinpath("assets", name).read_text("utf-8")
    if "]]>" in text:
        raise ValueError(f"asset {name} contains ']]>' and cannot be embedded in CDATA")
    return text


# ---- the renderer -------------------------------------------------------------------------------


def title_of(metadata: Mapping[str, object]) -> str:
    """`target · method` from run metadata, or the empty string."""
    parts = [str(metadata[k]) for k in ("target", "method") if metadata.get(k)]
    return " · ".join(parts)


@dataclass(frozen=True)
class FlameSvg:
    """`flame.svg`: `width` is the drawing's width where no script runs (the script fits the
    graph to its window), `min_width` the narrowest block drawn, in px at that width."""

    name: str = "svg"
    filename: str = "flame.svg"
    width: int = 1200
    min_width: float = 1.0
    frame_height: int = 16

    @property
    def plot_width(self) -> float:
        return float(self.width - 2 * PAD)

    @property
    def min_share(self) -> float:
        """The narrowest block drawn, as a share of its view's total (0.1% at the default)."""
        if self.plot_width <= 0:
            return MIN_SHARE
        return max(MIN_SHARE, self.min_width / self.plot_width)

    def layout(self, profile: Profile) -> Views:
        """The profile's views: a cached view of the profile, computed once however many
        renderers draw it (`flame.svg`, `report.html`), in whatever order."""
        return profile.view(_views_of, self.min_share)

    def render(self, profile: Profile, summary: Summary) -> bytes:
        head = '<?xml version="1.0" encoding="UTF-8" standalone="no"?>\n'
        return (head + self.svg(self.layout(profile), profile, summary) + "\n").encode("utf-8")

    def svg(self, drawn: Views, profile: Profile, summary: Summary) -> str:
        """The `<svg>` element alone, for inlining into an HTML page: `drawn` is
        `self.layout(profile)`. Without a script it shows the call tree (library frames
        collapsed) at `width`; the script redraws every view from the embedded data."""
        plot_width = self.plot_width
        unit: Unit = profile.unit
        tree = drawn.tree.collapsed
        rows = max((b.depth for b in tree.blocks), default=-1) + 1
        height = TOP + rows * self.frame_height + PAD if rows else TOP + 96

        metadata = {**profile.metadata, **summary.metadata}
        heading = title_of(metadata)
        out: list[str] = [
            f'<svg xmlns="{_SVG_NS}" class="pwf" width="100%" height="{height}" '
            f'viewBox="0 0 {self.width} {height}" preserveAspectRatio="xMinYMin meet" '
            f'role="img" aria-label="Flame graph" tabindex="0" '
            f'data-unit="{escape(unit)}" data-total="{drawn.total!r}" data-left="{PAD}" '
            f'data-top="{TOP}" data-plot-width="{plot_width!r}" '
            f'data-frame-height="{self.frame_height}" data-view="tree" data-collapsed="1">',
            f"<style><![CDATA[\n{asset('flame.css')}]]></style>",
            f'<rect class="bg" x="0" y="0" width="100%" height="{height}"/>',
            f'<text class="title" x="{PAD}" y="26">'
            f"{escape('Flame graph — ' + heading if heading else 'Flame graph')}</text>",
        ]
        out.extend(self._controls(bool(drawn.merged)))
        out.append(self._subtitle(drawn, unit))
        out.append(self._legend())
        bar_y = TOP - 30
        out.append(
            f'<rect class="bar" x="{PAD}" y="{bar_y}" width="{plot_width:g}" height="22" rx="4"/>'
            f'<text class="details" x="{PAD + 8}" y="{bar_y + 15}">'
            f"{IDLE if rows else ''}</text>"
            f'<text class="matched" x="{self.width - PAD - 8}" y="{bar_y + 15}"></text>'
        )
        if rows:
            out.append('<g class="frames">')
            out.extend(self._block(b, drawn.total, unit, plot_width) for b in tree.blocks)
            out.append("</g>")
            payload = flame_views.to_json(flame_views.data(drawn, unit))
            out.append(
                f'<script type="application/json" class="pwf-data"><![CDATA[{payload}]]></script>'
            )
        else:
            out.append(
                f'<text class="empty" x="{self.width / 2:g}" y="{TOP + 44}">no samples</text>'
            )
        out.append(f"<script><![CDATA[\n{asset('flameviews.js')}]]></script>")
        out.append("</svg>")
        return "\n".join(out)

    def _controls(self, merged: bool) -> list[str]:
        buttons = [
            ("view tree on", "Call tree", 80, "tree"),
            ("view merged", "Merged", 68, "merged"),
            ("view inverted", "Inverted", 72, "inverted"),
            ("libs", "Show library frames", 142, ""),
            ("search", "Search", 64, ""),
            ("reset h", "Reset zoom", 86, ""),
        ]
        out = []
        x = PAD
        for cls, label, w, view in buttons:
            if view == "merged" and not merged:
                continue
            gap = 14 if cls in ("libs", "search") else 6
            if cls in ("libs", "search"):
                x += gap
            data = f' data-view="{view}"' if view else ""
            out.append(
                f'<g class="btn {cls}"{data}><rect x="{x}" y="38" width="{w}" height="24"/>'
                f'<text x="{x + w / 2:g}" y="54">{label}</text></g>'
            )
            x += w + 6
        return out

    def _subtitle(self, drawn: Views, unit: Unit) -> str:
        if not drawn.tree.collapsed.blocks:
            return f'<text class="sub" x="{PAD}" y="80">no samples recorded</text>'
        text = escape(
            f"Total {format_quantity(drawn.total, unit)} in {drawn.stacks:,} distinct "
            f"stack{'s' if drawn.stacks != 1 else ''} · click: zoom · double-click: merged "
            "view · keys: arrows, Enter, Backspace, Escape"
        )
        if drawn.thinned:
            note = (
                f"a big profile: every view is drawn from the call paths over "
                f"{flame_views.THIN_SHARE:.2%} of the total"
            )
            text += f' · <tspan class="note">{escape(note)}</tspan>'
        narrow = drawn.tree.collapsed.narrow
        if narrow:
            s = "s" if narrow != 1 else ""
            verb = "were" if narrow != 1 else "was"
            note = (
                f"{narrow:,} frame{s} narrower than {drawn.min_share:.2%} of the total {verb} "
                "merged into grey blocks"
            )
            text += f' · <tspan class="note">{escape(note)}</tspan>'
        return f'<text class="sub" x="{PAD}" y="80">{text}</text>'

    def _legend(self) -> str:
        out = ['<g class="legend">']
        x = PAD
        for label, fill in _LEGEND_FILLS:
            out.append(f'<rect x="{x}" y="89" width="12" height="12" rx="2" fill="{fill}"/>')
            if not label:  # another swatch of the same entry
                x += 14
                continue
            out.append(f'<text x="{x + 17}" y="99.5">{label}</text>')
            x += 17 + round(len(label) * 6.2) + 16
        out.append("</g>")
        return "".join(out)

    def _block(self, block: ViewBlock, total: float, unit: Unit, plot_width: float) -> str:
        y = TOP + block.depth * self.frame_height
        scale = plot_width / total
        x = PAD + block.start * scale
        width = block.weight * scale
        share = block.weight / total
        figure = f"{format_quantity(block.weight, unit)} · {share:.2%}"
        frame = block.frame
        if frame is None and block.merged:
            cls, fill = "f n", MERGED_FILL
            s = "s" if block.merged != 1 else ""
            name = f"[{block.merged:,} narrow frame{s}]"
            lines = [name, "each too narrow to draw, merged", figure]
        elif frame is None:
            cls, fill, name = "f r", ROOT_FILL, "all"
            lines = [name, figure]
        else:
            hidden = flame_views.is_hidden(frame)
            cls = "f t" if frame.is_pseudo else ("f x" if hidden else "f")
            fill = flame_views.fill(frame)
            name = frame.function
            location = frame.location
            lines = [name, location, figure] if location else [name, figure]
        label = fit(name, width, share)
        text = (
            f'<text x="{x + 3:.2f}" y="{y + self.frame_height - 4.5:g}">{escape(label)}</text>'
            if label
            else ""
        )
        return (
            f'<g class="{cls}"><title>{escape(chr(10).join(lines))}</title>'
            f'<rect x="{x:.3f}" y="{y}" width="{width:.3f}" '
            f'height="{self.frame_height - 1}" fill="{fill}"/>{text}</g>'
        )


IDLE = "Hover over a frame for details, click to zoom"
_LEGEND_FILLS: tuple[tuple[str, str], ...] = (
    ("", flame_views.USER_PALETTE[0]),
    ("", flame_views.USER_PALETTE[1]),
    ("your code (a colour per module)", flame_views.USER_PALETTE[2]),
    ("stdlib", flame_views.MUTED[FrameKind.STDLIB]),
    ("third-party", flame_views.MUTED[FrameKind.THIRD_PARTY]),
    ("native", flame_views.MUTED[FrameKind.NATIVE]),
    ("hidden library frames", flame_views.HIDDEN_FILL),
    ("thread / process", ROOT_FILL),
    ("merged narrow frames", MERGED_FILL),
)


def fit(name: str, width: float, share: float | None = None) -> str:
    """The label that fits a block `width` px wide, by the average advance of the font (the
    script measures the real text): the name, with its share when there is room, cut with an
    ellipsis when it does not fit."""
    room = int((width - 6) // CHAR_WIDTH)
    if share is not None:
        figure = f" {share:.1%}" if share < 0.9995 else " 100%"
        if len(name) + len(figure) <= room:
            return name + figure
    if len(name) <= room:
        return name
    return name[: room - 1] + "…" if room >= 4 else ""


def _views_of(profile: Profile, min_share: float) -> Views:
    return flame_views.compute(profile, None, min_share)


RENDERER = FlameSvg()
