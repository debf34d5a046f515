"""Inline SVG charts: scales, ticks, axes, legends, and line / scatter / grouped-bar charts.

Pure functions of plain Python values (no pandas, no DuckDB) that return SVG markup as
strings, ready to be placed inside an HTML5 page (no ``xmlns``, no external fonts or
images). Every string that reaches the markup goes through :func:`esc`; data marks carry
``class="mark ..."`` so tests (and readers of the page source) can find them.
"""

from __future__ import annotations

import bisect
import html
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date

MINUS = "\u2212"  # typographic minus sign for labels
FONT_SIZE = 12.0
CHAR_WIDTH = 0.6  # average glyph width as a share of the font size (DejaVu Sans), for layout estimates
MUTED = "#6b6b6b"
GRID = "#e3e3e3"
AXIS = "#9a9a9a"

HALO = 'paint-order="stroke" stroke="#fff" stroke-width="4" stroke-linejoin="round"'  # legible over lines

Formatter = Callable[[float], str]


def esc(value: object) -> str:
    """``value`` as text safe inside an HTML/SVG element or a double- or single-quoted attribute."""
    return html.escape(str(value), quote=True)


def fmt_number(value: float, *, decimals: int = 0, signed: bool = False, suffix: str = "") -> str:
    """``value`` rounded to ``decimals``, with a typographic minus (and a plus when ``signed``)."""
    text = f"{abs(value):,.{decimals}f}"
    rounded_to_zero = float(text.replace(",", "")) == 0
    if value < 0 and not rounded_to_zero:
        sign = MINUS
    elif signed and not rounded_to_zero:
        sign = "+"
    else:
        sign = ""
    return f"{sign}{text}{suffix}"


def text_width(text: str, size: float = FONT_SIZE) -> float:
    """Estimated rendered width of ``text`` in pixels (no font metrics are available here)."""
    return len(text) * size * CHAR_WIDTH


def _n(value: float) -> str:
    """A coordinate for the markup: one decimal, no ``-0``."""
    text = f"{value:.1f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


# ---------------------------------------------------------------------------------------------
# scales and ticks


def nice_step(span: float, count: int = 5) -> float:
    """The 1-2-5 x 10^k step nearest to ``span / count`` (so about ``count`` intervals)."""
    if span <= 0 or not math.isfinite(span):
        return 1.0
    raw = span / max(count, 1)
    magnitude = 10.0 ** math.floor(math.log10(raw))
    error = raw / magnitude
    if error >= math.sqrt(50):
        return 10 * magnitude
    if error >= math.sqrt(10):
        return 5 * magnitude
    if error >= math.sqrt(2):
        return 2 * magnitude
    return magnitude


def _widen(low: float, high: float) -> tuple[float, float]:
    if low > high:
        low, high = high, low
    if low == high:
        pad = abs(low) * 0.1 or 1.0
        return low - pad, high + pad
    return low, high


def nice_domain(low: float, high: float, count: int = 5) -> tuple[float, float]:
    """``[low, high]`` widened outwards to whole multiples of the nice step."""
    return nice_axis(low, high, count)[0]


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values within ``[low, high]`` (both ends included when they fall on a step)."""
    low, high = _widen(low, high)
    return _ticks(low, high, nice_step(high - low, count))


def nice_axis(low: float, high: float, count: int = 5) -> tuple[tuple[float, float], list[float]]:
    """A widened domain and its ticks, on one step: the domain ends are ticks."""
    low, high = _widen(low, high)
    step = nice_step(high - low, count)
    domain = (math.floor(low / step + 1e-9) * step, math.ceil(high / step - 1e-9) * step)
    return domain, _ticks(*domain, step)


def _ticks(low: float, high: float, step: float) -> list[float]:
    first = math.ceil(low / step - 1e-9)
    last = math.floor(high / step + 1e-9)
    decimals = max(0, -math.floor(math.log10(step)) + 1)
    return [round(index * step, decimals) + 0.0 for index in range(first, last + 1)]


@dataclass(frozen=True)
class LinearScale:
    """Maps ``domain`` (data units) linearly onto ``range`` (pixels); a reversed range flips the axis."""

    domain: tuple[float, float]
    range: tuple[float, float]

    def __call__(self, value: float) -> float:
        d0, d1 = self.domain
        r0, r1 = self.range
        if d1 == d0:
            return (r0 + r1) / 2
        return r0 + (value - d0) / (d1 - d0) * (r1 - r0)


def _month_index(day: date) -> int:
    return day.year * 12 + day.month - 1


def _month_start(index: int) -> date:
    return date(index // 12, index % 12 + 1, 1)


def date_ticks(start: date, end: date, max_ticks: int = 7) -> list[date]:
    """First days of months (1, 2, 3, 6, 12, 24, 60 months apart) within ``[start, end]``."""
    if end < start:
        start, end = end, start
    for step in (1, 2, 3, 6, 12, 24, 60, 120):
        first = _month_index(start) + (0 if start.day == 1 else 1)
        first += (-first) % step
        ticks = [_month_start(index) for index in range(first, _month_index(end) + 1, step)]
        if len(ticks) <= max_ticks:
            return ticks
    return [start, end]


def date_tick_label(day: date, ticks: Sequence[date]) -> str:
    """``2024`` when the ticks are whole years apart, else ``Jan 2024``."""
    if len(ticks) > 1 and all(tick.month == 1 for tick in ticks):
        return str(day.year)
    return f"{day:%b %Y}"


# ---------------------------------------------------------------------------------------------
# building blocks


def line_path(points: Sequence[tuple[float, float] | None]) -> str:
    """SVG path data through ``points``; ``None`` breaks the line (a gap, never interpolated).

    A point standing alone between gaps becomes a dot (a tiny segment drawn with round caps).
    """
    commands: list[str] = []
    segment: list[tuple[float, float]] = []

    def flush() -> None:
        if not segment:
            return
        (x0, y0), rest = segment[0], segment[1:]
        commands.append(f"M{_n(x0)},{_n(y0)}")
        if rest:
            commands.append("L" + " ".join(f"{_n(x)},{_n(y)}" for x, y in rest))
        else:
            commands.append("h0.1")
        segment.clear()

    for point in points:
        if point is None:
            flush()
        else:
            segment.append(point)
    flush()
    return "".join(commands)


def _text(
    x: float,
    y: float,
    content: str,
    *,
    anchor: str = "start",
    size: float = FONT_SIZE,
    fill: str = "#222",
    weight: str | None = None,
    css_class: str | None = None,
    extra: str = "",
) -> str:
    attributes = [f'x="{_n(x)}"', f'y="{_n(y)}"', f'font-size="{_n(size)}"', f'fill="{esc(fill)}"']
    if anchor != "start":
        attributes.append(f'text-anchor="{anchor}"')
    if weight:
        attributes.append(f'font-weight="{weight}"')
    if css_class:
        attributes.append(f'class="{esc(css_class)}"')
    if extra:
        attributes.append(extra)
    return f"<text {' '.join(attributes)}>{esc(content)}</text>"


def _tip(tip: str | None) -> str:
    return f"<title>{esc(tip)}</title>" if tip else ""


@dataclass(frozen=True)
class LegendItem:
    name: str
    color: str
    kind: str = "line"  # line | point | bar
    dash: str | None = None


def legend(items: Sequence[LegendItem], *, x: float, y: float, max_width: float) -> tuple[str, float]:
    """A legend wrapped to ``max_width``; returns the markup and the height it takes."""
    parts: list[str] = []
    cursor_x, cursor_y, row_height = x, y, FONT_SIZE + 6
    for item in items:
        item_width = 26 + text_width(item.name) + 16
        if cursor_x > x and cursor_x + item_width > x + max_width:
            cursor_x, cursor_y = x, cursor_y + row_height
        middle = cursor_y - FONT_SIZE / 3
        if item.kind == "line":
            dash = f' stroke-dasharray="{esc(item.dash)}"' if item.dash else ""
            parts.append(
                f'<line x1="{_n(cursor_x)}" y1="{_n(middle)}" x2="{_n(cursor_x + 20)}" y2="{_n(middle)}" '
                f'stroke="{esc(item.color)}" stroke-width="2.5"{dash}/>'
            )
        elif item.kind == "point":
            parts.append(f'<circle cx="{_n(cursor_x + 10)}" cy="{_n(middle)}" r="5" fill="{esc(item.color)}"/>')
        else:
            parts.append(
                f'<rect x="{_n(cursor_x + 3)}" y="{_n(middle - 6)}" width="14" height="12" fill="{esc(item.color)}"/>'
            )
        parts.append(_text(cursor_x + 26, cursor_y, item.name))
        cursor_x += item_width
    height = (cursor_y - y) + row_height if items else 0.0
    return f'<g class="legend">{"".join(parts)}</g>', height


@dataclass(frozen=True)
class Frame:
    """The plotting area of a chart inside its SVG."""

    width: float
    height: float
    left: float
    right: float
    top: float
    bottom: float

    @property
    def x0(self) -> float:
        return self.left

    @property
    def x1(self) -> float:
        return self.width - self.right

    @property
    def y0(self) -> float:
        return self.height - self.bottom

    @property
    def y1(self) -> float:
        return self.top


def _svg(width: float, height: float, title: str, body: Sequence[str], *, css_class: str) -> str:
    return (
        f'<svg class="{esc(css_class)}" viewBox="0 0 {_n(width)} {_n(height)}" width="{_n(width)}" '
        f'height="{_n(height)}" role="img" preserveAspectRatio="xMinYMin meet">'
        f"<title>{esc(title)}</title>{''.join(body)}</svg>"
    )


def _y_axis(frame: Frame, scale: LinearScale, ticks: Sequence[float], fmt: Formatter, label: str) -> str:
    parts = []
    for tick in ticks:
        y = scale(tick)
        stroke = AXIS if tick == 0 else GRID
        parts.append(f'<line x1="{_n(frame.x0)}" y1="{_n(y)}" x2="{_n(frame.x1)}" y2="{_n(y)}" stroke="{stroke}"/>')
        parts.append(_text(frame.x0 - 6, y + 4, fmt(tick), anchor="end", size=11, fill=MUTED))
    middle = (frame.y0 + frame.y1) / 2
    parts.append(
        _text(
            14,
            middle,
            label,
            anchor="middle",
            fill=MUTED,
            css_class="axis-label",
            extra=f'transform="rotate(-90 14 {_n(middle)})"',
        )
    )
    return f'<g class="axis y-axis">{"".join(parts)}</g>'


def _x_axis_line(frame: Frame) -> str:
    return f'<line x1="{_n(frame.x0)}" y1="{_n(frame.y0)}" x2="{_n(frame.x1)}" y2="{_n(frame.y0)}" stroke="{AXIS}"/>'


def _x_label(frame: Frame, label: str) -> str:
    return _text(
        (frame.x0 + frame.x1) / 2, frame.height - 8, label, anchor="middle", fill=MUTED, css_class="axis-label"
    )


# ---------------------------------------------------------------------------------------------
# line chart over dates


@dataclass(frozen=True)
class Series:
    """One line: ``points`` are (date, value) in date order, a ``None`` value is a gap."""

    name: str
    points: Sequence[tuple[date, float | None]]
    color: str
    dash: str | None = None
    width: float = 2.0
    tips: Sequence[str | None] | None = None  # per point: a small circle with this tooltip
    label_last: bool = False  # print the last value at the right end of the line


@dataclass(frozen=True)
class Band:
    """A shaded span of dates (e.g. months never published)."""

    start: date
    end: date
    label: str


@dataclass(frozen=True)
class Marker:
    """A highlighted point with a label (e.g. the latest print)."""

    x: date
    y: float
    label: str
    color: str = "#111"


def _spread_labels(positions: list[float], *, gap: float, low: float, high: float) -> list[float]:
    """Nudge label baselines apart by at least ``gap`` pixels, staying within ``[low, high]``."""
    order = sorted(range(len(positions)), key=lambda index: positions[index])
    placed = list(positions)
    previous: float | None = None
    for index in order:
        y = max(placed[index], low)
        if previous is not None and y - previous < gap:
            y = previous + gap
        placed[index] = y
        previous = y
    overflow = (previous or 0) - high
    if overflow > 0:
        placed = [y - overflow for y in placed]
    return placed


def line_chart(
    series: Sequence[Series],
    *,
    title: str,
    x_label: str,
    y_label: str,
    y_format: Formatter,
    width: float = 880,
    height: float = 360,
    heading: str | None = None,
    show_legend: bool = True,
    bands: Sequence[Band] = (),
    markers: Sequence[Marker] = (),
    y_include: Sequence[float] = (0.0,),
    y_domain: tuple[float, float] | None = None,
    reference_lines: Sequence[tuple[float, str]] = (),
    max_x_ticks: int = 8,
    last_format: Formatter | None = None,
    hover_columns: int = 60,
) -> str:
    """A time-series line chart with a y grid, date ticks, axis labels, a legend and optional
    shaded bands, labelled horizontal reference lines, highlighted markers and end-of-line
    value labels, and a readout layer (:func:`_readouts`): pointing at, tapping or tabbing to a
    spot shows the nearest date with every series' value there."""
    values = [value for item in series for _, value in item.points if value is not None]
    dates = [day for item in series for day, _ in item.points]
    dates += [day for band in bands for day in (band.start, band.end)]
    if not values or not dates:
        raise ValueError(f"line_chart({title!r}) needs at least one non-null point.")
    has_end_labels = any(item.label_last for item in series)
    legend_markup, legend_height = "", 0.0
    top = 12 + (22 if heading else 0)
    if show_legend:
        legend_markup, legend_height = legend(
            [LegendItem(item.name, item.color, "line", item.dash) for item in series],
            x=64,
            y=top + FONT_SIZE,
            max_width=width - 64 - 16,
        )
    frame = Frame(
        width=width,
        height=height,
        left=70 if width >= 400 else 62,
        right=70 if has_end_labels else 18,
        top=top + legend_height + 8 + 16 * len(markers),  # a row per marker label, above the data
        bottom=46,
    )
    tick_count = 6 if height >= 250 else 3
    if y_domain is None:
        (low, high), y_ticks = nice_axis(min([*values, *y_include]), max([*values, *y_include]), tick_count)
    else:
        (low, high), y_ticks = y_domain, nice_ticks(*y_domain, tick_count)
    y_scale = LinearScale((low, high), (frame.y0, frame.y1))
    first, last = min(dates).toordinal(), max(dates).toordinal()
    x_scale = LinearScale((first, last), (frame.x0, frame.x1))

    def x_of(day: date) -> float:
        return x_scale(day.toordinal())

    parts = [_y_axis(frame, y_scale, y_ticks, y_format, y_label)]
    for band in bands:
        x_start, x_end = x_of(band.start), max(x_of(band.end), x_of(band.start) + 3)
        parts.append(
            f'<g class="band"><rect x="{_n(x_start)}" y="{_n(frame.y1)}" width="{_n(x_end - x_start)}" '
            f'height="{_n(frame.y0 - frame.y1)}" fill="#f1e3c6" opacity="0.8">{_tip(band.label)}</rect>'
            + _text(x_end + 3, frame.y1 + 12, band.label, size=10, fill="#8a6d2f")
            + "</g>"
        )
    for value, label in reference_lines:
        if low <= value <= high:
            y = y_scale(value)
            parts.append(
                f'<g class="reference"><line x1="{_n(frame.x0)}" y1="{_n(y)}" x2="{_n(frame.x1)}" y2="{_n(y)}" '
                f'stroke="#555" stroke-dasharray="2 3"/>'
                + _text(frame.x1 - 4, y - 4, label, anchor="end", size=10, fill="#555", extra=HALO)
                + "</g>"
            )
    ticks = date_ticks(min(dates), max(dates), max_x_ticks)
    axis = [_x_axis_line(frame)]
    for tick in ticks:
        x = x_of(tick)
        axis.append(f'<line x1="{_n(x)}" y1="{_n(frame.y0)}" x2="{_n(x)}" y2="{_n(frame.y0 + 4)}" stroke="{AXIS}"/>')
        axis.append(_text(x, frame.y0 + 17, date_tick_label(tick, ticks), anchor="middle", size=11, fill=MUTED))
    axis.append(_x_label(frame, x_label))
    parts.append(f'<g class="axis x-axis">{"".join(axis)}</g>')
    end_labels: list[tuple[float, str, str]] = []
    for item in series:
        pixels = [(x_of(day), y_scale(value)) if value is not None else None for day, value in item.points]
        dash = f' stroke-dasharray="{esc(item.dash)}"' if item.dash else ""
        parts.append(
            f'<path class="mark line" d="{line_path(pixels)}" fill="none" stroke="{esc(item.color)}" '
            f'stroke-width="{_n(item.width)}" stroke-linejoin="round" stroke-linecap="round"{dash}>'
            f"{_tip(item.name)}</path>"
        )
        if item.tips:
            dots = [
                f'<circle class="mark point" cx="{_n(pixel[0])}" cy="{_n(pixel[1])}" r="2.6" '
                f'fill="{esc(item.color)}">{_tip(tip)}</circle>'
                for pixel, tip in zip(pixels, item.tips, strict=False)
                if pixel is not None and tip
            ]
            parts.append(f'<g class="points">{"".join(dots)}</g>')
        last_value = next((value for _, value in reversed(item.points) if value is not None), None)
        if item.label_last and last_value is not None:
            end_labels.append((y_scale(last_value), (last_format or y_format)(last_value), item.color))
    if end_labels:
        placed = _spread_labels([y for y, _, _ in end_labels], gap=14, low=frame.y1 + 4, high=frame.y0)
        parts.extend(
            _text(frame.x1 + 6, y + 4, text, fill=color, weight="bold", css_class="end-label")
            for y, (_, text, color) in zip(placed, end_labels, strict=True)
        )
    for number, marker in enumerate(markers):
        # the label sits above the plot, in its own row, joined to the point by a thin leader: it never covers
        # a line or another point (a label beside the point used to land on earlier data)
        x, y = x_of(marker.x), y_scale(marker.y)
        label_width = text_width(marker.label, 12)
        label_x = min(max(x, frame.x0 + label_width / 2), frame.x1 - label_width / 2)
        label_y = frame.y1 - 8 - 16 * number
        parts.append(
            f'<g class="marker"><line class="leader" x1="{_n(x)}" y1="{_n(y - 6)}" x2="{_n(x)}" '
            f'y2="{_n(label_y + 4)}" stroke="{esc(marker.color)}" stroke-width="1" stroke-dasharray="2 2"/>'
            f'<circle class="mark point" cx="{_n(x)}" cy="{_n(y)}" r="5.5" fill="#fff" '
            f'stroke="{esc(marker.color)}" stroke-width="2.5">{_tip(marker.label)}</circle>'
            + _text(
                label_x,
                label_y,
                marker.label,
                anchor="middle",
                fill=marker.color,
                weight="bold",
                css_class="marker-label",
            )
            + "</g>"
        )
    if hover_columns:
        parts.append(_readouts(series, frame, x_of, y_scale, y_format, columns=hover_columns))
    if heading:
        parts.append(_text(frame.x0, 22, heading, weight="bold", size=13, css_class="heading"))
    if legend_markup:
        parts.append(legend_markup)
    return _svg(width, height, title, parts, css_class="chart line-chart")


class _Nearest:
    """A series' non-null points, for "the point nearest to a date" by bisection (``points`` are in date order,
    as :class:`Series` requires): nearest by days, the earlier one on a tie."""

    def __init__(self, points: Sequence[tuple[date, float | None]]) -> None:
        self.known = [(day, value) for day, value in points if value is not None]
        self.days = [day for day, _ in self.known]

    def at(self, day: date) -> tuple[date, float] | None:
        after = bisect.bisect_left(self.days, day)
        candidates = self.known[max(after - 1, 0) : after + 1]
        return min(candidates, key=lambda point: abs((point[0] - day).days), default=None)


def _readouts(
    series: Sequence[Series],
    frame: Frame,
    x_of: Callable[[date], float],
    y_scale: LinearScale,
    y_format: Formatter,
    *,
    columns: int,
) -> str:
    """The per-point readout, without a script: the plot is cut into at most ``columns`` vertical strips, one per
    date (thinned evenly when there are more dates). Each strip is focusable (``tabindex``; a tap focuses it too)
    and holds a hidden readout -- a rule at the date, a dot on each series and a box with the date and each
    series' value -- that the page's CSS shows on ``:hover`` and ``:focus``. Its ``<title>`` and ``aria-label``
    say the same for a tooltip and a screen reader."""
    days = sorted({day for item in series for day, value in item.points if value is not None})
    if not days:
        return ""
    if len(days) > columns:
        days = [days[round(index * (len(days) - 1) / (columns - 1))] for index in range(columns)]
        days = sorted(set(days))
    xs = [x_of(day) for day in days]
    lookups = [(item, _Nearest(item.points)) for item in series]
    strips = []
    for index, (day, x) in enumerate(zip(days, xs, strict=True)):
        left = frame.x0 if index == 0 else (xs[index - 1] + x) / 2
        right = frame.x1 if index == len(xs) - 1 else (x + xs[index + 1]) / 2
        found = [(item, nearest.at(day)) for item, nearest in lookups]
        found = [(item, point) for item, point in found if point is not None]
        lines = [day.isoformat()] + [f"{item.name}: {y_format(point[1])}" for item, point in found]
        spoken = f"{lines[0]}: " + "; ".join(lines[1:])
        box_width = max(text_width(line, 12) for line in lines) + 16
        box_height = 16 * len(lines) + 8
        toward_middle_right = x < (frame.x0 + frame.x1) / 2  # the box opens toward the plot's middle
        box_x = x + 8 if toward_middle_right else x - 8 - box_width
        box_x = max(box_x, 2.0)
        box_y = frame.y1 + 4
        dots = "".join(
            f'<circle cx="{_n(x_of(point[0]))}" cy="{_n(y_scale(point[1]))}" r="4" fill="{esc(item.color)}" '
            'stroke="#fff" stroke-width="1.5"/>'
            for item, point in found
        )
        texts = "".join(
            _text(box_x + 8, box_y + 18 + 16 * number, line, fill="#222" if number == 0 else found[number - 1][0].color,
                  weight="bold" if number == 0 else None)
            for number, line in enumerate(lines)
        )  # fmt: skip
        strips.append(
            f'<g class="hit" tabindex="0" role="img" aria-label="{esc(spoken)}"><title>{esc(spoken)}</title>'
            f'<rect class="hit-area" x="{_n(left)}" y="{_n(frame.y1)}" width="{_n(max(right - left, 1))}" '
            f'height="{_n(frame.y0 - frame.y1)}" fill="transparent"/>'
            f'<g class="readout"><line x1="{_n(x)}" y1="{_n(frame.y1)}" x2="{_n(x)}" y2="{_n(frame.y0)}" '
            f'stroke="#555" stroke-width="1"/>{dots}'
            f'<rect x="{_n(box_x)}" y="{_n(box_y)}" width="{_n(box_width)}" height="{_n(box_height)}" rx="3" '
            f'fill="#fff" fill-opacity="0.95" stroke="#999"/>{texts}</g></g>'
        )
    return f'<g class="readouts">{"".join(strips)}</g>'


# ---------------------------------------------------------------------------------------------
# scatter chart


@dataclass(frozen=True)
class ScatterPoint:
    x: float
    y: float
    label: str
    color: str
    tip: str | None = None


def _overlap_area(box: tuple[float, float, float, float], boxes: Sequence[tuple[float, float, float, float]]) -> float:
    x0, y0, x1, y1 = box
    return sum(max(0.0, min(x1, b[2]) - max(x0, b[0])) * max(0.0, min(y1, b[3]) - max(y0, b[1])) for b in boxes)


Box = tuple[float, float, float, float]  # x0, y0, x1, y1


class _BoxIndex:
    """Boxes on a grid of ``cell``-pixel squares, to find the few a box may overlap.

    :meth:`near` returns, in the order they were added, every box sharing a grid cell with the
    query box: a superset of those it overlaps with positive area. Summing overlap areas over
    it therefore gives exactly the sum over all boxes (the others add 0.0), at a cost that
    grows with the local density, not with the number of boxes.
    """

    def __init__(self, boxes: Sequence[Box] = (), *, cell: float = 16.0) -> None:
        self.cell = cell
        self.boxes: list[Box] = []
        self.cells: dict[tuple[int, int], list[int]] = {}
        self.unplaceable: list[int] = []  # non-finite boxes: returned for every query
        for box in boxes:
            self.add(box)

    def _keys(self, box: Box) -> list[tuple[int, int]] | None:
        if not all(math.isfinite(value) for value in box):
            return None
        x0, y0, x1, y1 = (math.floor(value / self.cell) for value in box)
        return [(column, row) for column in range(x0, x1 + 1) for row in range(y0, y1 + 1)]

    def add(self, box: Box) -> None:
        index = len(self.boxes)
        self.boxes.append(box)
        keys = self._keys(box)
        if keys is None:
            self.unplaceable.append(index)
            return
        for key in keys:
            self.cells.setdefault(key, []).append(index)

    def near(self, box: Box, *, skip: int | None = None) -> list[Box]:
        keys = self._keys(box)
        if keys is None:
            found: set[int] = set(range(len(self.boxes)))
        else:
            found = {index for key in keys for index in self.cells.get(key, ())}
            found.update(self.unplaceable)
        if skip is not None:
            found.discard(skip)
        return [self.boxes[index] for index in sorted(found)]


def _label_box(x: float, y: float, anchor: str, width: float, size: float) -> tuple[float, float, float, float]:
    left = x if anchor == "start" else x - width if anchor == "end" else x - width / 2
    return left, y - size + 1, left + width, y + 2


def _label_cost(
    box: tuple[float, float, float, float],
    frame: Frame,
    *,
    placed: Sequence[tuple[float, float, float, float]],
    points: Sequence[tuple[float, float, float, float]],
) -> float:
    """How bad a label position is: outside the plot, then overlap with labels, then with points."""
    outside = not (frame.x0 <= box[0] and box[2] <= frame.x1 and frame.y1 <= box[1] and box[3] <= frame.y0)
    return 1e6 * outside + 4 * _overlap_area(box, placed) + _overlap_area(box, points)


# Labels a scatter places at most (the points farthest from the diagonal); the rest keep their tooltips.
SCATTER_MAX_LABELS = 80


def scatter_chart(
    points: Sequence[ScatterPoint],
    *,
    title: str,
    x_label: str,
    y_label: str,
    legend_items: Sequence[LegendItem] = (),
    height: float = 560,
    diagonal_label: str | None = None,
    below_diagonal_label: str | None = None,
    above_diagonal_label: str | None = None,
    axis_format: Formatter = lambda value: fmt_number(value, decimals=1),
    max_labels: int = SCATTER_MAX_LABELS,
) -> str:
    """A labelled scatter on a square plot with equal x and y scales, so ``y = x`` is the
    45-degree diagonal (drawn dashed when ``diagonal_label`` is given; the two half-planes can be
    labelled in their corners). Each label goes where it overlaps other labels and points least.
    With more than ``max_labels`` points only the ``max_labels`` farthest from the diagonal are
    labelled (every point keeps its tooltip): thousands of labels are unreadable, and placing them
    would cost more than the rest of the report."""
    if not points:
        raise ValueError(f"scatter_chart({title!r}) needs at least one point.")
    left, right, bottom = 70.0, 18.0, 46.0
    side_guess = height - 90 - bottom
    legend_markup, legend_height = legend(legend_items, x=left, y=12 + FONT_SIZE, max_width=side_guess)
    top = 12 + legend_height + 8
    side = height - top - bottom
    width = left + side + right
    frame = Frame(width=width, height=height, left=left, right=right, top=top, bottom=bottom)
    extreme = max(max(abs(point.x), abs(point.y)) for point in points) * 1.1
    (low, high), ticks = nice_axis(-extreme, extreme, 6)
    x_scale = LinearScale((low, high), (frame.x0, frame.x1))
    y_scale = LinearScale((low, high), (frame.y0, frame.y1))
    parts = [_y_axis(frame, y_scale, ticks, axis_format, y_label)]
    axis = [_x_axis_line(frame)]
    for tick in ticks:
        x = x_scale(tick)
        stroke = AXIS if tick == 0 else GRID
        axis.append(f'<line x1="{_n(x)}" y1="{_n(frame.y0)}" x2="{_n(x)}" y2="{_n(frame.y1)}" stroke="{stroke}"/>')
        axis.append(_text(x, frame.y0 + 17, axis_format(tick), anchor="middle", size=11, fill=MUTED))
    axis.append(_x_label(frame, x_label))
    parts.append(f'<g class="axis x-axis">{"".join(axis)}</g>')
    if diagonal_label:
        x_start, y_start = x_scale(low) + 16, y_scale(low) - 22
        parts.append(
            f'<g class="diagonal"><line x1="{_n(x_scale(low))}" y1="{_n(y_scale(low))}" x2="{_n(x_scale(high))}" '
            f'y2="{_n(y_scale(high))}" stroke="#555" stroke-dasharray="6 4"/>'
            + _text(
                x_start,
                y_start,
                diagonal_label,
                size=11,
                fill="#555",
                extra=f'{HALO} transform="rotate(-45 {_n(x_start)} {_n(y_start)})"',
            )
            + "</g>"
        )
    if below_diagonal_label:
        parts.append(_text(frame.x1 - 8, frame.y0 - 10, below_diagonal_label, anchor="end", size=11, fill="#8a3b12"))
    if above_diagonal_label:
        parts.append(_text(frame.x0 + 8, frame.y1 + 16, above_diagonal_label, size=11, fill="#1d5a3a"))
    dots, labels = [], []
    boxes = _BoxIndex(
        [(x_scale(p.x) - 5.5, y_scale(p.y) - 5.5, x_scale(p.x) + 5.5, y_scale(p.y) + 5.5) for p in points]
    )
    placed = _BoxIndex()
    size = 11.0
    labelled = set(range(len(points)))
    if len(points) > max_labels:
        by_distance = sorted(range(len(points)), key=lambda i: (-abs(points[i].x - points[i].y), i))
        labelled = set(by_distance[:max_labels])
    for number, point in enumerate(points):
        cx, cy = x_scale(point.x), y_scale(point.y)
        dots.append(
            f'<circle class="mark point" cx="{_n(cx)}" cy="{_n(cy)}" r="5" fill="{esc(point.color)}" '
            f'fill-opacity="0.85" stroke="#fff" stroke-width="1">{_tip(point.tip or point.label)}</circle>'
        )
        if number not in labelled:
            continue
        label_width = text_width(point.label, size)
        candidates = [
            (cx + 8, cy + 4, "start"),
            (cx - 8, cy + 4, "end"),
            (cx, cy - 9, "middle"),
            (cx, cy + 17, "middle"),
            (cx + 7, cy - 7, "start"),
            (cx + 7, cy + 14, "start"),
            (cx - 7, cy - 7, "end"),
            (cx - 7, cy + 14, "end"),
            (cx + 14, cy - 14, "start"),
            (cx - 14, cy - 14, "end"),
            (cx + 14, cy + 22, "start"),
            (cx - 14, cy + 22, "end"),
        ]

        candidate_boxes = [_label_box(x, y, anchor, label_width, size) for x, y, anchor in candidates]
        costs = [
            _label_cost(box, frame, placed=placed.near(box), points=boxes.near(box, skip=number))
            for box in candidate_boxes
        ]
        best = costs.index(min(costs))  # the first of the cheapest: the nearest position
        x, y, anchor = candidates[best]
        placed.add(candidate_boxes[best])
        if abs(x - cx) > 10 or abs(y - cy) > 20:
            labels.append(
                f'<line x1="{_n(cx)}" y1="{_n(cy)}" x2="{_n(x)}" y2="{_n(y - 4)}" stroke="#aaa" stroke-width="0.8"/>'
            )
        labels.append(
            _text(x, y, point.label, anchor=anchor, size=size, fill="#222", css_class="point-label", extra=HALO)
        )
    parts.append(f'<g class="points">{"".join(dots)}</g><g class="labels">{"".join(labels)}</g>')
    parts.append(legend_markup)
    return _svg(width, height, title, parts, css_class="chart scatter-chart")


# ---------------------------------------------------------------------------------------------
# grouped bar chart


@dataclass(frozen=True)
class BarGroup:
    """One group's bars, one value per category (``None``: no bar, marked n/a)."""

    name: str
    color: str
    values: Sequence[float | None]
    labels: Sequence[str | None] = field(default_factory=tuple)  # printed beyond the bar's end
    tips: Sequence[str | None] = field(default_factory=tuple)


def grouped_bar_chart(
    categories: Sequence[Sequence[str]],
    groups: Sequence[BarGroup],
    *,
    title: str,
    x_label: str,
    y_label: str,
    y_format: Formatter,
    width: float = 880,
    height: float = 400,
    category_tips: Sequence[str | None] = (),
) -> str:
    """Vertical bars from zero, one cluster per category (its label may span several lines),
    one bar per group, with a legend and an optional label beyond each bar's end."""
    if not categories or not groups:
        raise ValueError(f"grouped_bar_chart({title!r}) needs categories and groups.")
    values = [value for group in groups for value in group.values if value is not None]
    legend_markup, legend_height = legend(
        [LegendItem(group.name, group.color, "bar") for group in groups], x=64, y=12 + FONT_SIZE, max_width=width - 80
    )
    label_lines = max(len(lines) for lines in categories)
    frame = Frame(
        width=width, height=height, left=70, right=18, top=12 + legend_height + 16, bottom=34 + 14 * label_lines
    )
    (low, high), ticks = nice_axis(min([0.0, *values]), max([0.0, *values]), 5)
    y_scale = LinearScale((low, high), (frame.y0, frame.y1))
    parts = [_y_axis(frame, y_scale, ticks, y_format, y_label)]
    slot = (frame.x1 - frame.x0) / len(categories)
    bar_width = min(34.0, slot * 0.8 / len(groups))
    zero = y_scale(0.0)
    bars, texts = [], []
    for index, lines in enumerate(categories):
        center = frame.x0 + slot * (index + 0.5)
        tip = category_tips[index] if index < len(category_tips) else None
        for line_number, line in enumerate(lines):
            texts.append(
                f'<text x="{_n(center)}" y="{_n(frame.y0 + 16 + 14 * line_number)}" font-size="11" '
                f'fill="{"#222" if line_number == 0 else MUTED}" text-anchor="middle" class="category-label">'
                f"{_tip(tip)}{esc(line)}</text>"
            )
        cluster_left = center - bar_width * len(groups) / 2
        for group_number, group in enumerate(groups):
            value = group.values[index] if index < len(group.values) else None
            x = cluster_left + bar_width * group_number
            label = group.labels[index] if index < len(group.labels) else None
            bar_tip = group.tips[index] if index < len(group.tips) else None
            if value is None:
                texts.append(_text(x + bar_width / 2, zero - 4, "n/a", anchor="middle", size=10, fill=MUTED))
                continue
            top = min(zero, y_scale(value))
            bar_height = max(abs(zero - y_scale(value)), 1.0)
            bars.append(
                f'<rect class="mark bar" x="{_n(x + 1)}" y="{_n(top)}" width="{_n(bar_width - 2)}" '
                f'height="{_n(bar_height)}" fill="{esc(group.color)}">{_tip(bar_tip)}</rect>'
            )
            if label:
                label_y = y_scale(value) - 4 if value >= 0 else y_scale(value) + 12
                texts.append(_text(x + bar_width / 2, label_y, label, anchor="middle", size=10, fill="#333"))
    parts.append(f'<line x1="{_n(frame.x0)}" y1="{_n(zero)}" x2="{_n(frame.x1)}" y2="{_n(zero)}" stroke="{AXIS}"/>')
    parts.append(f'<g class="bars">{"".join(bars)}</g><g class="bar-labels">{"".join(texts)}</g>')
    parts.append(_x_label(frame, x_label))
    parts.append(legend_markup)
    return _svg(width, height, title, parts, css_class="chart bar-chart")
