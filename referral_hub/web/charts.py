"""Charts as server-side inline SVG: data in, markup out. No JavaScript, no chart library.

Every chart is a `<figure>`: a `<figcaption>`, the SVG (`role="img"`, its own `<title>`
and `<desc>` naming every figure), a legend in words where there are several series, and
the numbers again as a table in a `<details>` for screen readers and for copying. Values
are written on or beside their bars, and each series has its own pattern as well as its
own colour, so nothing depends on telling colours apart. Colours are dark enough for
white text (AA, 4.5:1) and for a bar against a white page (3:1); no `style=` attribute
anywhere (the CSP forbids inline styles): presentation attributes and classes only.

The SVG scales to its container: a `viewBox` and `width: 100%` in coordinator.css. Bars
are laid out for a phone too — horizontal bars put their label on a line above the bar.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH = 400
FONT = 13
SMALL = 11


@dataclass(frozen=True)
class Tone:
    """A series' look: a fill colour and a pattern drawn over it in thin white lines."""

    colour: str
    pattern: str  # solid | dots | diagonal | reverse | horizontal | vertical | cross


TONES: dict[str, Tone] = {
    "default": Tone("#1f4e79", "solid"),
    "blue": Tone("#0b5cad", "dots"),
    "green": Tone("#1a6b2c", "solid"),
    "teal": Tone("#005f6b", "horizontal"),
    "red": Tone("#9c2b2b", "diagonal"),
    "brown": Tone("#8a4b00", "cross"),
    "grey": Tone("#595959", "vertical"),
    "olive": Tone("#7a5c00", "dots"),
    "orange": Tone("#b03a00", "diagonal"),
    "purple": Tone("#6a3d9a", "reverse"),
}
ROTATION = ("default", "red", "teal", "brown", "purple", "grey", "olive", "blue")

Number = int | float
Format = Callable[[Number], str]


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[Number]
    tone: str = "default"


def _fmt(value: Number) -> str:
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.1f}"
    return f"{int(value):,}"


def _num(value: float) -> str:
    """A coordinate: short, stable text (tests parse it back)."""
    return f"{value:.2f}".rstrip("0").rstrip(".")


# --- shared pieces --------------------------------------------------------------------------


def _pattern(chart_id: str, index: int, tone: Tone) -> str:
    pid = f"{chart_id}-p{index}"
    lines = {
        "solid": "",
        "dots": '<circle cx="3" cy="3" r="1.3" class="chart-hatch-dot"/>',
        "diagonal": '<path d="M-1,1 l2,-2 M0,6 l6,-6 M5,7 l2,-2" class="chart-hatch"/>',
        "reverse": '<path d="M-1,5 l2,2 M0,0 l6,6 M5,-1 l2,2" class="chart-hatch"/>',
        "horizontal": '<path d="M0,3 h6" class="chart-hatch"/>',
        "vertical": '<path d="M3,0 v6" class="chart-hatch"/>',
        "cross": '<path d="M0,0 l6,6 M6,0 l-6,6" class="chart-hatch"/>',
    }[tone.pattern]
    return (
        f'<pattern id="{pid}" width="6" height="6" patternUnits="userSpaceOnUse">'
        f'<rect width="6" height="6" fill="{tone.colour}"/>{lines}</pattern>'
    )


def _defs(chart_id: str, tones: Sequence[Tone]) -> str:
    return "<defs>" + "".join(_pattern(chart_id, i, t) for i, t in enumerate(tones)) + "</defs>"


def _svg(chart_id: str, height: float, caption: str, description: str, body: str) -> str:
    return (
        f'<svg class="chart-svg" viewBox="0 0 {WIDTH} {_num(height)}" role="img" '
        f'aria-labelledby="{chart_id}-title {chart_id}-desc" focusable="false" '
        f'preserveAspectRatio="xMinYMin meet">'
        f'<title id="{chart_id}-title">{escape(caption)}</title>'
        f'<desc id="{chart_id}-desc">{escape(description)}</desc>{body}</svg>'
    )


def _table(
    caption: str, heading: str, columns: Sequence[str], rows: Sequence[tuple[str, Sequence[str]]]
) -> str:
    head = "".join(f'<th scope="col">{escape(c)}</th>' for c in columns)
    body = "".join(
        f'<tr><th scope="row">{escape(label)}</th>'
        + "".join(f"<td>{escape(v)}</td>" for v in values)
        + "</tr>"
        for label, values in rows
    )
    return (
        '<details class="chart-data"><summary>Data table</summary>'
        '<div class="overflow-auto"><table class="striped">'
        f"<caption>{escape(caption)}</caption>"
        f'<thead><tr><th scope="col">{escape(heading)}</th>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table></div></details>"
    )


def _legend(chart_id: str, series: Sequence[Series]) -> str:
    items = "".join(
        '<li><svg class="chart-swatch" viewBox="0 0 16 16" width="16" height="16" '
        f'aria-hidden="true" focusable="false"><rect x="0.5" y="0.5" width="15" height="15" '
        f'fill="url(#{chart_id}-p{i})" class="chart-bar"/></svg> {escape(s.name)}</li>'
        for i, s in enumerate(series)
    )
    return f'<ul class="chart-legend" aria-label="Key">{items}</ul>'


def _figure(chart_id: str, caption: str, inner: str) -> Markup:
    # every text that came in (labels, names, captions) was escaped where it was placed
    return Markup(  # noqa: S704
        f'<figure class="chart" id="{escape(chart_id)}">'
        f"<figcaption>{escape(caption)}</figcaption>{inner}</figure>"
    )


def empty_chart(chart_id: str, caption: str, text: str = "No data for this period.") -> Markup:
    """The friendly figure for nothing to show: words, not an empty frame."""
    return _figure(chart_id, caption, f'<p class="chart-empty">{escape(text)}</p>')


def _bar_label(x: float, y: float, text: str, *, inside: bool, anchor: str = "start") -> str:
    css = "chart-value-in" if inside else "chart-value"
    return (
        f'<text x="{_num(x)}" y="{_num(y)}" class="{css}" text-anchor="{anchor}" '
        f'dominant-baseline="central">{escape(text)}</text>'
    )


# --- horizontal bars -------------------------------------------------------------------------


def bar_chart(
    chart_id: str,
    caption: str,
    items: Sequence[tuple[str, Number]],
    *,
    description: str = "",
    heading: str = "Item",
    value_heading: str = "Value",
    fmt: Format = _fmt,
    tone: str = "default",
    empty_text: str = "No data for this period.",
) -> Markup:
    """One horizontal bar per item, its label on the line above, its value at its end."""
    if not items or not any(value for _, value in items):
        return empty_chart(chart_id, caption, empty_text)
    top = max(value for _, value in items) or 1
    usable = WIDTH - 70  # room for the value after the longest bar
    row, bar = 46, 20
    parts = []
    for index, (label, value) in enumerate(items):
        y = 8 + index * row
        length = usable * value / top
        parts.append(
            f'<text x="0" y="{_num(y + FONT)}" class="chart-label">{escape(label)}</text>'
            f'<rect class="chart-bar" x="0" y="{_num(y + 18)}" width="{_num(length)}" '
            f'height="{bar}" fill="url(#{chart_id}-p0)" data-value="{value}"/>'
            + _bar_label(length + 6, y + 18 + bar / 2, fmt(value), inside=False)
        )
    return _one_series(
        chart_id,
        caption,
        items,
        parts,
        8 + len(items) * row,
        description=description,
        heading=heading,
        value_heading=value_heading,
        fmt=fmt,
        tone=tone,
    )


# --- columns ---------------------------------------------------------------------------------


def column_chart(
    chart_id: str,
    caption: str,
    items: Sequence[tuple[str, Number]],
    *,
    description: str = "",
    heading: str = "Item",
    value_heading: str = "Value",
    fmt: Format = _fmt,
    tone: str = "default",
    empty_text: str = "No data for this period.",
) -> Markup:
    """Vertical bars (a histogram's buckets, a count per number of hops), values on top."""
    if not items or not any(value for _, value in items):
        return empty_chart(chart_id, caption, empty_text)
    top = max(value for _, value in items) or 1
    plot_top, plot_height = 22, 160
    base = plot_top + plot_height
    slot = WIDTH / len(items)
    bar = min(56.0, slot * 0.7)
    parts = [f'<line x1="0" x2="{WIDTH}" y1="{base}" y2="{base}" class="chart-axis"/>']
    for index, (label, value) in enumerate(items):
        centre = slot * index + slot / 2
        height = plot_height * value / top
        parts.append(
            f'<rect class="chart-bar" x="{_num(centre - bar / 2)}" y="{_num(base - height)}" '
            f'width="{_num(bar)}" height="{_num(height)}" fill="url(#{chart_id}-p0)" '
            f'data-value="{value}"/>'
            + _bar_label(centre, base - height - 9, fmt(value), inside=False, anchor="middle")
            + _wrapped(centre, base + 16, label)
        )
    return _one_series(
        chart_id,
        caption,
        items,
        parts,
        base + 44,
        description=description,
        heading=heading,
        value_heading=value_heading,
        fmt=fmt,
        tone=tone,
    )


def _one_series(
    chart_id: str,
    caption: str,
    items: Sequence[tuple[str, Number]],
    parts: list[str],
    height: float,
    *,
    description: str,
    heading: str,
    value_heading: str,
    fmt: Format,
    tone: str,
) -> Markup:
    """A one-series chart's drawing wrapped as a figure, with its summary and data table."""
    summary = "; ".join(f"{label}: {fmt(value)}" for label, value in items)
    svg = _svg(
        chart_id,
        height,
        caption,
        f"{description} {summary}.".strip(),
        _defs(chart_id, [TONES[tone]]) + "".join(parts),
    )
    table = _table(caption, heading, [value_heading], [(lab, [fmt(v)]) for lab, v in items])
    return _figure(chart_id, caption, svg + table)


def _wrapped(x: float, y: float, label: str) -> str:
    """A column's label under it, on two lines when it has words to break at."""
    words = label.split(" ")
    if len(words) < 3:
        lines = [label]
    else:
        half = (len(words) + 1) // 2
        lines = [" ".join(words[:half]), " ".join(words[half:])]
    spans = "".join(
        f'<tspan x="{_num(x)}" dy="{0 if i == 0 else 14}">{escape(line)}</tspan>'
        for i, line in enumerate(lines)
    )
    return f'<text y="{_num(y)}" class="chart-tick" text-anchor="middle">{spans}</text>'


# --- stacked ----------------------------------------------------------------------------------


def stacked_column_chart(
    chart_id: str,
    caption: str,
    categories: Sequence[str],
    series: Sequence[Series],
    *,
    description: str = "",
    heading: str = "Period",
    empty_text: str = "No data for this period.",
) -> Markup:
    """One column per category (a day, a week), one segment per series, the total on top."""
    totals = [sum(s.values[i] for s in series) for i in range(len(categories))]
    if not categories or not any(totals):
        return empty_chart(chart_id, caption, empty_text)
    top = max(totals) or 1
    plot_top, plot_height = 22, 200
    base = plot_top + plot_height
    slot = WIDTH / len(categories)
    bar = min(48.0, slot * 0.72)
    every = max(1, round(len(categories) / 8))  # a tick label on at most ~8 columns
    parts = [f'<line x1="0" x2="{WIDTH}" y1="{base}" y2="{base}" class="chart-axis"/>']
    for index, category in enumerate(categories):
        centre = slot * index + slot / 2
        y = float(base)
        for number, one in enumerate(series):
            value = one.values[index]
            if not value:
                continue
            height = plot_height * value / top
            y -= height
            parts.append(
                f'<rect class="chart-bar" x="{_num(centre - bar / 2)}" y="{_num(y)}" '
                f'width="{_num(bar)}" height="{_num(height)}" '
                f'fill="url(#{chart_id}-p{number})" data-series="{escape(one.name)}" '
                f'data-value="{value}"/>'
            )
            if height >= 15 and bar >= 18:
                parts.append(
                    _bar_label(centre, y + height / 2, _fmt(value), inside=True, anchor="middle")
                )
        parts.append(_bar_label(centre, y - 9, _fmt(totals[index]), inside=False, anchor="middle"))
        if index % every == 0:
            parts.append(
                f'<text x="{_num(centre)}" y="{base + 16}" class="chart-tick" '
                f'text-anchor="middle">{escape(category)}</text>'
            )
    summary = "; ".join(f"{c}: {_fmt(t)}" for c, t in zip(categories, totals, strict=True))
    svg = _svg(
        chart_id,
        base + 28,
        caption,
        f"{description} Totals: {summary}.".strip(),
        _defs(chart_id, [TONES[s.tone] for s in series]) + "".join(parts),
    )
    table = _table(
        caption,
        heading,
        [s.name for s in series] + ["Total"],
        [
            (c, [_fmt(s.values[i]) for s in series] + [_fmt(totals[i])])
            for i, c in enumerate(categories)
        ],
    )
    return _figure(chart_id, caption, svg + _legend(chart_id, series) + table)


def stacked_bar_chart(
    chart_id: str,
    caption: str,
    rows: Sequence[str],
    series: Sequence[Series],
    *,
    description: str = "",
    heading: str = "Item",
    empty_text: str = "No data for this period.",
    limit: int | None = None,
) -> Markup:
    """One horizontal bar per row (an agency), one segment per series, the total at its end.

    `limit` draws the first rows only (put the ones that matter first); the data table
    under the chart still lists every row, and a note says how many were left out.
    """
    totals = [sum(s.values[i] for s in series) for i in range(len(rows))]
    if not rows or not any(totals):
        return empty_chart(chart_id, caption, empty_text)
    every_row, all_series, all_totals = rows, series, totals
    note = ""
    if limit is not None and len(rows) > limit:
        note = (
            f'<p class="chart-note">The first {limit} of {len(rows)} are drawn; '
            "the data table lists them all.</p>"
        )
        rows = rows[:limit]
        series = [Series(s.name, s.values[:limit], s.tone) for s in series]
        totals = totals[:limit]
    top = max(totals) or 1
    usable = WIDTH - 50
    step, bar = 48, 22
    parts = []
    for index, label in enumerate(rows):
        y = 8 + index * step
        parts.append(f'<text x="0" y="{_num(y + FONT)}" class="chart-label">{escape(label)}</text>')
        x = 0.0
        for number, one in enumerate(series):
            value = one.values[index]
            if not value:
                continue
            length = usable * value / top
            parts.append(
                f'<rect class="chart-bar" x="{_num(x)}" y="{_num(y + 18)}" '
                f'width="{_num(length)}" height="{bar}" fill="url(#{chart_id}-p{number})" '
                f'data-series="{escape(one.name)}" data-value="{value}"/>'
            )
            if length >= 20:
                parts.append(
                    _bar_label(
                        x + length / 2, y + 18 + bar / 2, _fmt(value), inside=True, anchor="middle"
                    )
                )
            x += length
        parts.append(_bar_label(x + 6, y + 18 + bar / 2, _fmt(totals[index]), inside=False))
    summary = "; ".join(
        f"{label}: " + ", ".join(f"{_fmt(s.values[i])} {s.name}" for s in series)
        for i, label in enumerate(rows)
    )
    svg = _svg(
        chart_id,
        8 + len(rows) * step,
        caption,
        f"{description} {summary}.".strip(),
        _defs(chart_id, [TONES[s.tone] for s in series]) + "".join(parts),
    )
    table = _table(
        caption,
        heading,
        [s.name for s in all_series] + ["Total"],
        [
            (label, [_fmt(s.values[i]) for s in all_series] + [_fmt(all_totals[i])])
            for i, label in enumerate(every_row)
        ],
    )
    return _figure(chart_id, caption, svg + _legend(chart_id, series) + note + table)
