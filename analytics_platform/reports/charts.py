"""Inline SVG bar charts, drawn server side in a few lines of our own.

Why not a library: the report needs two bar charts; matplotlib or pygal would add a large
dependency (and fonts or scripts) for what is a rectangle per value. The SVG is returned
as markup the template inserts unescaped, so every label is escaped here.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from markupsafe import Markup

WIDTH = 680
HEIGHT = 180
_LEFT = 48
_BOTTOM = 22
_TOP = 8


def bar_chart(labels: Sequence[str], values: Sequence[float], title: str) -> Markup:
    """Vertical bars of `values` with every `step`-th label under its bar."""
    plot_width = WIDTH - _LEFT - 4
    plot_height = HEIGHT - _BOTTOM - _TOP
    top = max(values, default=0) or 1
    slot = plot_width / max(len(values), 1)
    step = max(1, round(len(values) / 16))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        f'<text x="{_LEFT - 4}" y="{_TOP + 8}" text-anchor="end" font-size="9">'
        f"{escape(_short(top))}</text>",
        f'<text x="{_LEFT - 4}" y="{_TOP + plot_height}" text-anchor="end" font-size="9">0</text>',
        f'<line x1="{_LEFT}" y1="{_TOP + plot_height}" x2="{WIDTH - 4}" '
        f'y2="{_TOP + plot_height}" stroke="#888" stroke-width="0.5"/>',
    ]
    for index, (label, value) in enumerate(zip(labels, values, strict=True)):
        bar = plot_height * value / top
        x = _LEFT + index * slot
        parts.append(
            f'<rect x="{x + slot * 0.1:.1f}" y="{_TOP + plot_height - bar:.1f}" '
            f'width="{slot * 0.8:.1f}" height="{bar:.1f}" fill="#3b6ea5">'
            f"<title>{escape(label)}: {escape(_short(value))}</title></rect>"
        )
        if index % step == 0:
            parts.append(
                f'<text x="{x + slot / 2:.1f}" y="{HEIGHT - 6}" text-anchor="middle" '
                f'font-size="9">{escape(label)}</text>'
            )
    parts.append("</svg>")
    # Safe: every interpolated label above went through escape().
    return Markup("".join(parts))


def _short(value: float) -> str:
    if value >= 1_000_000:
        return f"{value / 1_000_000:.1f}M"
    if value >= 10_000:
        return f"{value / 1_000:.0f}k"
    return f"{value:,.0f}" if value == int(value) else f"{value:,.2f}"
