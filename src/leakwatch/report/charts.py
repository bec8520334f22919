"""Inline SVG charts for the HTML report: columns for periods, bars for groups and types.

Each chart has a value axis with round ticks and gridlines, and room for every label: a
period's label is short and sits under its column; a group's (a site name) can be long, so
groups are drawn as horizontal bars with their names to the left, cut with an ellipsis
only past 40 characters. A period not over yet is drawn faded and labelled "(so far)".
Text comes from crawled pages: it is escaped here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from leakwatch.report.markup import escape

CHAR_WIDTH = 6.6  # px of an average 11 px system-ui character: enough for Latin and digits
LABEL_CHARS = 40
_FADED = ' opacity="0.45"'  # a period not over yet: its column is still growing


@dataclass(frozen=True, slots=True)
class Bar:
    """One column or bar: its label and its stacked parts (class name, value)."""

    label: str
    parts: tuple[tuple[str, int], ...]
    faded: bool = False
    tip: str = ""

    @property
    def total(self) -> int:
        return sum(value for _, value in self.parts)


def nice_ticks(largest: int, count: int = 5) -> list[int]:
    """Round tick values from 0 to at least `largest` (1, 2 or 5 times a power of ten apart)."""
    if largest <= 0:
        return [0, 1]
    raw = largest / count
    power = 10 ** math.floor(math.log10(raw)) if raw >= 1 else 1
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    step = max(1, int(step))
    top = math.ceil(largest / step) * step
    return list(range(0, top + 1, step))


def _label(text: str) -> str:
    return text if len(text) <= LABEL_CHARS else text[: LABEL_CHARS - 1] + "…"


def _legend(x: float, items: Sequence[tuple[str, str]]) -> list[str]:
    out = []
    for css, name in items:
        out.append(f'<rect class="{css}" x="{x:.0f}" y="6" width="10" height="10"/>'
                   f'<text x="{x + 14:.0f}" y="15">{escape(name)}</text>\n')  # fmt: skip
        x += 24 + CHAR_WIDTH * len(name)
    return out


def columns(title: str, bars: Sequence[Bar], legend: Sequence[tuple[str, str]], *,
            width: int = 880, height: int = 300) -> str:  # fmt: skip
    """Vertical stacked columns (periods), a value axis on the left."""
    ticks = nice_ticks(max((b.total for b in bars), default=0))
    left = 14 + CHAR_WIDTH * len(f"{ticks[-1]:,}")
    right, top, bottom = 12, 28, 58
    plot_w, plot_h = width - left - right, height - top - bottom
    base = top + plot_h
    step = plot_w / max(len(bars), 1)
    bar_w = max(1.0, step * 0.7)
    # Labels lie under their columns while they fit, else slant; slanted, one in `every`
    # is written so that they stay apart (60 months: every third).
    longest = max((len(b.label) for b in bars), default=1)
    rotate = longest * CHAR_WIDTH > step - 4
    every = max(1, math.ceil(len(bars) * 16 / plot_w)) if rotate else 1
    out = [_open(title, width, height), *_legend(left, legend)]
    for value in ticks:
        y = base - plot_h * value / ticks[-1]
        out.append(f'<line class="grid" x1="{left:.0f}" y1="{y:.1f}" x2="{left + plot_w:.0f}" '
                   f'y2="{y:.1f}"/><text x="{left - 6:.0f}" y="{y + 4:.1f}" '
                   f'text-anchor="end">{value:,}</text>\n')  # fmt: skip
    out.append(f'<line class="axis" x1="{left:.0f}" y1="{base}" x2="{left + plot_w:.0f}" '
               f'y2="{base}"/>\n')  # fmt: skip
    for i, bar in enumerate(bars):
        x = left + i * step + (step - bar_w) / 2
        out.append(f"<g{_FADED if bar.faded else ''}><title>{escape(bar.tip)}</title>")
        y = base
        for css, value in bar.parts:
            h = plot_h * value / ticks[-1]
            y -= h
            out.append(f'<rect class="{css}" x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" '
                       f'height="{h:.1f}"/>')  # fmt: skip
        out.append("</g>\n")
        if i % every == 0:
            cx = x + bar_w / 2
            if rotate:
                out.append(f'<text x="{cx:.1f}" y="{base + 14}" text-anchor="end" '
                           f'transform="rotate(-40 {cx:.1f} {base + 14})">'
                           f"{escape(_label(bar.label))}</text>\n")  # fmt: skip
            else:
                out.append(f'<text x="{cx:.1f}" y="{base + 16}" text-anchor="middle">'
                           f"{escape(bar.label)}</text>\n")  # fmt: skip
    out.append("</svg>\n")
    return "".join(out)


def bars(title: str, rows: Sequence[Bar], legend: Sequence[tuple[str, str]], *,
         width: int = 880) -> str:  # fmt: skip
    """Horizontal stacked bars (groups, types): the labels whole on the left, a value axis
    along the bottom."""
    ticks = nice_ticks(max((b.total for b in rows), default=0))
    left = 12 + CHAR_WIDTH * max((len(_label(b.label)) for b in rows), default=4)
    right, top, row_h = 12 + CHAR_WIDTH * len(f"{ticks[-1]:,}") / 2, 28, 22
    height = top + row_h * len(rows) + 30
    plot_w = width - left - right
    base = top + row_h * len(rows)
    out = [_open(title, width, height), *_legend(left, legend)]
    for value in ticks:
        x = left + plot_w * value / ticks[-1]
        out.append(f'<line class="grid" x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{base}"/>'
                   f'<text x="{x:.1f}" y="{base + 16}" text-anchor="middle">'
                   f"{value:,}</text>\n")  # fmt: skip
    out.append(f'<line class="axis" x1="{left:.0f}" y1="{top}" x2="{left:.0f}" y2="{base}"/>\n')
    for i, row in enumerate(rows):
        y = top + i * row_h + 4
        out.append(f'<text x="{left - 6:.0f}" y="{y + 11:.1f}" text-anchor="end">'
                   f"{escape(_label(row.label))}</text>")  # fmt: skip
        out.append(f"<g{_FADED if row.faded else ''}><title>{escape(row.tip)}</title>")
        x = left
        for css, value in row.parts:
            w = plot_w * value / ticks[-1]
            out.append(f'<rect class="{css}" x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" '
                       f'height="{row_h - 8}"/>')  # fmt: skip
            x += w
        out.append("</g>\n")
    out.append("</svg>\n")
    return "".join(out)


def _open(title: str, width: int, height: float) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height:.0f}" '
            f'viewBox="0 0 {width} {height:.0f}" role="img" aria-label="{escape(title)}">\n'
            f"<title>{escape(title)}</title>\n")  # fmt: skip
