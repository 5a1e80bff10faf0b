"""R10: the dashboard's chart as inline SVG, drawn on the server from plain numbers (no script,
no library, nothing fetched): one row per unit, one panel per month, in each panel three bars
laid over each other — deeds recorded, introduced, recognised — and a mark for the quota.

Colour never carries meaning alone: the quota mark is a symbol (✓, ✗, …) and every panel has a
``<title>`` that says its numbers in words; the page's table holds the same figures.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape

LABEL_W = 250
PANEL_W = 215
BAR_W = 150
ROW_H = 30
TOP = 58
COLOURS = {"recorded": "#e6d3a0", "introduced": "#c8731e", "recognised": "#9d1414"}
QUOTA = {True: ("✓", "#1b6e35", "đạt chỉ tiêu"), False: ("✗", "#b3261e", "chưa đạt chỉ tiêu"),
         None: ("–", "#6b6257", "chưa xét")}


@dataclass(frozen=True)
class Cell:
    recorded: int
    introduced: int
    recognised: int
    quota_met: bool | None


@dataclass(frozen=True)
class Row:
    label: str
    title: str
    cells: Sequence[Cell]


def _a(value: str) -> str:
    return escape(value, {'"': "&quot;"})


def _short(label: str, limit: int = 31) -> str:
    return label if len(label) <= limit else label[: limit - 1].rstrip(" ,") + "…"


def bars_svg(title: str, months: Sequence[str], rows: Sequence[Row]) -> str:
    """The chart: ``months`` are the panel headings, ``rows`` one per unit."""
    peak = max([1, *(c.recorded for r in rows for c in r.cells), *(c.introduced for r in rows for c in r.cells)])
    width = LABEL_W + PANEL_W * len(months) + 10
    height = TOP + ROW_H * len(rows) + 12
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" class="chart" role="img" '
        f'aria-labelledby="chart-title chart-desc" font-family="Noto Sans, DejaVu Sans, Arial, sans-serif">',
        f'<title id="chart-title">{escape(title)}</title>',
        '<desc id="chart-desc">Mỗi hàng là một đơn vị, mỗi ô là một tháng: thanh nhạt là số việc tốt được ghi, '
        "thanh cam là số được giới thiệu, thanh đỏ là số được công nhận; dấu ✓ là đạt chỉ tiêu, ✗ là chưa đạt, "
        "– là chưa xét. Bảng bên dưới ghi đủ các số.</desc>",
    ]
    # Legend
    x = 0
    for key, text in (("recorded", "Ghi nhận"), ("introduced", "Giới thiệu"), ("recognised", "Công nhận")):
        out.append(f'<rect x="{x}" y="4" width="14" height="14" fill="{COLOURS[key]}" stroke="#6b6257" stroke-width=".5"/>')
        out.append(f'<text x="{x + 20}" y="16" font-size="13" fill="#1f1a14">{text}</text>')
        x += 120
    for symbol, colour, text in QUOTA.values():
        out.append(f'<text x="{x}" y="16" font-size="14" font-weight="700" fill="{colour}">{symbol}</text>')
        out.append(f'<text x="{x + 16}" y="16" font-size="13" fill="#1f1a14">{text}</text>')
        x += 140
    # Month headings
    for i, month in enumerate(months):
        px = LABEL_W + i * PANEL_W
        out.append(f'<text x="{px + 24}" y="{TOP - 10}" font-size="14" font-weight="700" fill="#1f1a14">{escape(month)}</text>')
    for j, row in enumerate(rows):
        y = TOP + j * ROW_H
        if j % 2 == 0:
            out.append(f'<rect x="0" y="{y}" width="{width}" height="{ROW_H}" fill="#f6f0df"/>')
        out.append(f'<text x="6" y="{y + 19}" font-size="13" fill="#1f1a14"><title>{escape(row.title)}</title>'
                   f"{escape(_short(row.label))}</text>")
        for i, cell in enumerate(row.cells):
            px = LABEL_W + i * PANEL_W
            symbol, colour, quota_text = QUOTA[cell.quota_met]
            words = (f"{row.title}, {months[i]}: {cell.recorded} việc tốt được ghi, {cell.introduced} được giới thiệu, "
                     f"{cell.recognised} được công nhận; {quota_text}")
            out.append(f'<g><title>{escape(words)}</title>')
            out.append(f'<text x="{px + 6}" y="{y + 20}" font-size="15" font-weight="700" fill="{colour}">{symbol}</text>')
            bx = px + 24
            for key, h in (("recorded", 18), ("introduced", 11), ("recognised", 6)):
                value = getattr(cell, key)
                w = round(BAR_W * value / peak, 1)
                if value and w < 2:
                    w = 2
                out.append(f'<rect x="{bx}" y="{y + (ROW_H - h) / 2}" width="{w}" height="{h}" fill="{COLOURS[key]}"/>')
            out.append(f'<text x="{bx + BAR_W + 6}" y="{y + 20}" font-size="12" fill="#1f1a14">'
                       f"{cell.recognised}/{cell.recorded}</text>")
            out.append("</g>")
    out.append("</svg>")
    return "".join(out)
