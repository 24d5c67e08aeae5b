"""Charts as server-rendered SVG geometry (no JavaScript: the CSP forbids inline script, and no
charting library to serve), each with its text alternative: a title, a one-sentence summary
(the SVG's <desc>) and the same numbers as a table. Templates: templates/charts/.

Two shapes: columns over days (a budget period, the last 30 days), optionally stacked on what
was spent before each day with a budget line and a dashed projection; and ranked horizontal
bars (top spenders, totals per plan or server).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

PAD_TOP = 12  # room for the budget line's label above the tallest column


@dataclass(frozen=True)
class Column:
    label: str  # what the column's tooltip and table row say: "3 December"
    amount: Decimal  # the day's own spend, drawn dark
    base: Decimal = Decimal(0)  # spent before it (a cumulative chart), drawn light under it
    future: bool = False  # a day still to come in the period: an empty slot

    @property
    def total(self) -> Decimal:
        return self.base + self.amount


@dataclass(frozen=True)
class ColumnGeometry:
    column: Column
    x: float
    width: float
    base_y: float
    base_height: float
    y: float
    height: float


@dataclass(frozen=True)
class ColumnChart:
    dom_id: str  # prefix of the element ids: two charts on a page must not share them
    title: str
    summary: str
    columns: list[ColumnGeometry]
    width: int
    height: int
    line_y: float | None = None  # the budget line
    line_label: str = ""
    projection: str = ""  # SVG polyline points, dashed: where the spend goes at this rate
    cumulative: bool = False

    @property
    def line_text_y(self) -> float:
        return max((self.line_y or 0) - 3, 10)


def column_chart(
    columns: list[Column],
    *,
    dom_id: str,
    title: str,
    summary: str,
    line: Decimal | None = None,
    line_label: str = "",
    projection_to: Decimal | None = None,
    stacked: bool = False,
    width: int = 600,
    height: int = 160,
) -> ColumnChart:
    """`stacked`: columns stand on what came before (the table says "so far").
    `projection_to`: the level the last future column reaches at this rate, drawn as a dashed
    line from the top of the last past column (clipped to the chart)."""
    tops = [c.total for c in columns]
    # Headroom over the budget line, so a projection is seen crossing it, not ending on it.
    scale = max([*tops, (line or Decimal(0)) * Decimal("1.1"), Decimal(0)]) or Decimal(1)
    usable = height - PAD_TOP
    slot = width / max(len(columns), 1)

    def y_of(value: Decimal) -> float:
        return height - float(min(value, scale) / scale) * usable

    shapes = []
    for n, c in enumerate(columns):
        base_top, top = y_of(c.base), y_of(c.total)
        shapes.append(
            ColumnGeometry(
                c, n * slot + 1, max(slot - 2, 1), base_top, height - base_top, top, base_top - top
            )
        )
    projection = ""
    past = [n for n, c in enumerate(columns) if not c.future]
    if projection_to is not None and past and past[-1] < len(columns) - 1:
        last = past[-1]
        x0, x1, v0 = last * slot + slot, len(columns) * slot, tops[last]
        if projection_to > scale > v0:  # stop at the chart's top edge, past the budget line
            x1 = x0 + (x1 - x0) * float((scale - v0) / (projection_to - v0))
        projection = f"{x0:.1f},{y_of(v0):.1f} {x1:.1f},{y_of(projection_to):.1f}"
    return ColumnChart(
        dom_id=dom_id,
        title=title,
        summary=summary,
        columns=shapes,
        width=width,
        height=height,
        line_y=y_of(line) if line is not None else None,
        line_label=line_label,
        projection=projection,
        cumulative=stacked,
    )


@dataclass(frozen=True)
class Rank:
    label: str
    amount: Decimal
    note: str = ""  # a second column in the table (a forecast, a share)
    link: str = ""


@dataclass(frozen=True)
class RankGeometry:
    rank: Rank
    y: float
    width: float
    text_y: float


@dataclass(frozen=True)
class RankChart:
    dom_id: str
    title: str
    summary: str
    rows: list[RankGeometry]
    width: int
    height: int
    label_width: int
    note_header: str = ""
    bar_height: int = 16
    empty: bool = field(default=False)


def rank_chart(
    ranks: list[Rank],
    *,
    dom_id: str,
    title: str,
    summary: str,
    note_header: str = "",
    width: int = 600,
    label_width: int = 220,
    row_height: int = 22,
) -> RankChart:
    top = max((r.amount for r in ranks), default=Decimal(0)) or Decimal(1)
    room = width - label_width - 80  # the amount is written after the bar
    rows = [
        RankGeometry(r, n * row_height + 3, max(float(r.amount / top) * room, 1.0), n * row_height + 16)
        for n, r in enumerate(ranks)
    ]
    return RankChart(
        dom_id=dom_id,
        title=title,
        summary=summary,
        rows=rows,
        width=width,
        height=max(len(ranks), 1) * row_height + 4,
        label_width=label_width,
        note_header=note_header,
        empty=not ranks,
    )
