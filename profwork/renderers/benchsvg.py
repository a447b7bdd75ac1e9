"""`histogram.svg` of a bench run: how the iteration times spread, with the median, p95 and p99
marked. Self-contained (no script), every text escaped."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from profwork.renderers.flamesvg import escape
from profwork.units import format_quantity

WIDTH, HEIGHT = 720, 360
LEFT, RIGHT, TOP, BOTTOM = 56, 20, 48, 56
BAR = "#4c78a8"
MARKS = (("median", "#1b9e77"), ("p95", "#d95f02"), ("p99", "#7570b3"))


def bins(timings: Sequence[float]) -> tuple[float, float, list[int]]:
    """Equal-width bins over [min, max]: the square-root rule, between 5 and 40 bins."""
    low, high = min(timings), max(timings)
    count = max(5, min(40, math.ceil(math.sqrt(len(timings)))))
    if high <= low:
        high = low + (abs(low) * 1e-3 or 1e-9)
    width = (high - low) / count
    counts = [0] * count
    for t in timings:
        counts[min(count - 1, int((t - low) / width))] += 1
    return low, high, counts


def histogram(timings: Sequence[float], stats: Mapping[str, float], title: str) -> str:
    low, high, counts = bins(timings)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    tallest = max(counts) or 1
    bar_w = plot_w / len(counts)

    def x_of(value: float) -> float:
        return LEFT + (value - low) / (high - low) * plot_w

    out = [
        '<?xml version="1.0" encoding="UTF-8" standalone="no"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="Bench histogram" '
        'font-family="DejaVu Sans, Verdana, sans-serif" font-size="11">',
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>',
        f'<text x="{LEFT}" y="22" font-size="15" font-weight="600">'
        f"{escape(title)} — {len(timings):,} iterations</text>",
        f'<text x="{LEFT}" y="38" fill="#4b5563">mean {format_quantity(stats["mean"], "seconds")}'
        f" · stdev {format_quantity(stats['stdev'], 'seconds')} · "
        f"{stats['per_second']:,.2f} iterations/s</text>",
    ]
    for i, count in enumerate(counts):
        h = count / tallest * plot_h
        out.append(
            f'<rect class="bin" x="{LEFT + i * bar_w + 0.5:.2f}" y="{TOP + plot_h - h:.2f}" '
            f'width="{max(bar_w - 1, 0.5):.2f}" height="{h:.2f}" fill="{BAR}">'
            f"<title>{count:,} iteration{'s' if count != 1 else ''}</title></rect>"
        )
    base = TOP + plot_h
    out.append(f'<line x1="{LEFT}" y1="{base}" x2="{LEFT + plot_w}" y2="{base}" stroke="#374151"/>')
    for value, anchor in ((low, "start"), (high, "end")):
        out.append(
            f'<text x="{x_of(value):.2f}" y="{base + 16}" text-anchor="{anchor}">'
            f"{format_quantity(value, 'seconds')}</text>"
        )
    out.append(f'<text x="{LEFT - 8}" y="{TOP + 4}" text-anchor="end">{tallest:,}</text>')
    out.append(f'<text x="{LEFT - 8}" y="{base}" text-anchor="end">0</text>')
    legend_x = LEFT
    for name, colour in MARKS:
        value = stats[name]
        x = x_of(value)
        out.append(
            f'<line class="mark" x1="{x:.2f}" y1="{TOP}" x2="{x:.2f}" y2="{base}" '
            f'stroke="{colour}" stroke-width="2" stroke-dasharray="5 3"/>'
        )
        out.append(
            f'<text x="{legend_x}" y="{HEIGHT - 14}" fill="{colour}">{name} '
            f"{format_quantity(value, 'seconds')}</text>"
        )
        legend_x += 150
    out.append("</svg>")
    return "\n".join(out) + "\n"
