"""Bar charts as SVG text: inline in the HTML, and drawn into the PDF by fpdf2's own SVG
renderer, so both show the same picture and nothing is fetched or installed (no
matplotlib: one small dependency-free module, deterministic bytes, and no second drawing
library to keep in step with the PDF's). Labels are in the reader's language; units are in
the titles. A PDF names its embedded font as the font-family, so that Chinese labels print."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape

WIDTH, HEIGHT = 480, 220
LEFT, RIGHT, TOP, BOTTOM = 44, 10, 28, 44
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b")


@dataclass(frozen=True, slots=True)
class Series:
    name: str
    values: Sequence[float | None]  # one per category; None draws nothing


def bar_chart(title: str, categories: Sequence[str], series: Sequence[Series], *, y_max: float | None = None,
              stacked: bool = False, value_format: str = "{:g}", font_family: str = "sans-serif") -> str:
    """Grouped (or stacked) bars, a y axis from 0, a legend when there is more than one series."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    if stacked:
        totals = [sum(v or 0 for v in column) for column in zip(*(s.values for s in series))]
    else:
        totals = [v or 0 for s in series for v in s.values]
    step = y_max / 4 if y_max is not None else _nice_step(max([*totals, 1]) / 4)
    top = y_max if y_max is not None else step * max(1, -(-max(totals, default=0) // step))
    out = [(f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
            f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="{escape(font_family)}" font-size="10">'),
           f'<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>',
           f'<text x="{LEFT}" y="16" font-size="12" fill="#1b1f24">{escape(title)}</text>']
    for tick in range(round(top / step) + 1):  # gridlines at round values
        value = tick * step
        y = TOP + plot_h - plot_h * value / top
        out.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" stroke="#d0d7de" '
                   f'stroke-width="0.5"/>')
        out.append(f'<text x="{LEFT - 4}" y="{y + 3:.1f}" text-anchor="end" fill="#57606a">{value:.3g}</text>')
    group = plot_w / max(len(categories), 1)
    bar = group * 0.7 / (1 if stacked else max(len(series), 1))
    for ci, category in enumerate(categories):
        x0 = LEFT + ci * group + group * 0.15
        base = 0.0
        for si, s in enumerate(series):
            value = s.values[ci]
            if value is None:
                continue
            h = plot_h * value / top if top else 0
            x = x0 if stacked else x0 + si * bar
            y = TOP + plot_h - h - (plot_h * base / top if stacked else 0)
            out.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                       f'fill="{PALETTE[si % len(PALETTE)]}"/>')
            if value and not stacked:
                out.append(f'<text x="{x + bar / 2:.1f}" y="{y - 2:.1f}" text-anchor="middle" font-size="8" '
                           f'fill="#1b1f24">{escape(value_format.format(value))}</text>')
            base += value
        if stacked and base:
            y = TOP + plot_h - plot_h * base / top
            out.append(f'<text x="{x0 + bar / 2:.1f}" y="{y - 2:.1f}" text-anchor="middle" font-size="8" '
                       f'fill="#1b1f24">{escape(value_format.format(base))}</text>')
        out.append(f'<text x="{LEFT + ci * group + group / 2:.1f}" y="{TOP + plot_h + 14}" text-anchor="middle" '
                   f'fill="#1b1f24">{escape(category)}</text>')
    out.append(f'<line x1="{LEFT}" y1="{TOP + plot_h}" x2="{WIDTH - RIGHT}" y2="{TOP + plot_h}" stroke="#57606a"/>')
    if len(series) > 1:
        x = LEFT
        for si, s in enumerate(series):
            out.append(f'<rect x="{x}" y="{HEIGHT - 14}" width="8" height="8" fill="{PALETTE[si % len(PALETTE)]}"/>')
            out.append(f'<text x="{x + 11}" y="{HEIGHT - 6}" fill="#1b1f24">{escape(s.name)}</text>')
            x += 14 + sum(10 if ord(c) > 0x2E7F else 6 for c in s.name) + 10  # CJK characters are wider
    out.append("</svg>")
    return "".join(out)


def _nice_step(raw: float) -> float:
    """The smallest 1, 2 or 5 times a power of ten at or above ``raw`` (counts: at least 1)."""
    power = 1.0
    while power * 10 <= raw:
        power *= 10
    for factor in (1, 2, 5, 10):
        if factor * power >= raw:
            return max(factor * power, 1.0)
    return 10 * power


def inline(svg: str) -> str:
    """For an HTML page: the namespace is implied there (and the page names no other host)."""
    return svg.replace(' xmlns="http://www.w3.org/2000/svg"', "", 1)
