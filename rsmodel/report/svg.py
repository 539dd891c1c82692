"""Chart geometry for the HTML reports: scales, ticks, Gantt rows, line paths, heatmap cells.

Everything is computed here in Python (pixels, rounded to 0.1 px) so the templates only emit
SVG elements; the output is deterministic for a given input.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from rsmodel.timeutil import as_utc, parse_time

CHART_WIDTH_PX = 1000.0
LABEL_WIDTH_PX = 120.0
LABEL_MAX_WIDTH_PX = 250.0
LABEL_CHAR_PX = 6.6  # generous advance of one 11 px system-ui character
AXIS_HEIGHT_PX = 22.0

_TIME_STEPS_S = (60, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800)


def px(value: float) -> str:
    """Format a pixel coordinate with at most one decimal (compact, deterministic)."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def to_datetime(value: str | datetime) -> datetime:
    """Parse an ISO 8601 UTC string (``...Z``) into an aware datetime."""
    if isinstance(value, datetime):
        return as_utc(value)
    return _parse_iso(value)


@lru_cache(maxsize=65536)
def _parse_iso(text: str) -> datetime:
    return parse_time(text)  # cached: plans repeat the same time strings many times


@dataclass(frozen=True)
class Tick:
    """An axis tick at pixel ``pos`` with its label."""

    pos: str
    label: str


@dataclass(frozen=True)
class TimeScale:
    """Maps UTC datetimes on [start, end] to pixels on [x0, x1]."""

    start: datetime
    end: datetime
    x0: float = LABEL_WIDTH_PX
    x1: float = CHART_WIDTH_PX - 24.0

    @property
    def span_s(self) -> float:
        return max((self.end - self.start).total_seconds(), 1.0)

    def x(self, t: datetime) -> float:
        """Pixel of time ``t`` (clamped to the axis)."""
        frac = (t - self.start).total_seconds() / self.span_s
        return self.x0 + min(max(frac, 0.0), 1.0) * (self.x1 - self.x0)

    def ticks(self, max_ticks: int = 12) -> list[Tick]:
        """UTC ticks on round multiples (minutes, hours, days); labels HH:MM, date at midnight."""
        step_s = next((s for s in _TIME_STEPS_S if self.span_s / s <= max_ticks), _TIME_STEPS_S[-1])
        epoch = datetime(1970, 1, 1, tzinfo=UTC)
        first = math.ceil((self.start - epoch).total_seconds() / step_s) * step_s
        ticks = []
        t = epoch + timedelta(seconds=first)
        while t <= self.end:
            label = t.strftime("%m-%d") if (t.hour, t.minute) == (0, 0) else t.strftime("%H:%M")
            ticks.append(Tick(px(self.x(t)), label))
            t += timedelta(seconds=step_s)
        return ticks


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values (1, 2, 5 x 10^k steps) covering [lo, hi]."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return []
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / max(count, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    n = int(math.floor((hi - first) / step + 1e-9)) + 1
    return [round(first + i * step, 12) for i in range(n)]


def fmt_number(value: float) -> str:
    """Short human label for an axis value (3 significant digits, k/M suffixes)."""
    if value == 0:
        return "0"
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= div:
            return f"{value / div:.3g}{suffix}"
    return f"{value:.3g}"


@dataclass(frozen=True)
class LinearScale:
    """Maps [lo, hi] linearly onto pixels [p0, p1] (p1 < p0 for a y axis)."""

    lo: float
    hi: float
    p0: float
    p1: float

    def __call__(self, value: float) -> float:
        span = self.hi - self.lo or 1.0
        return self.p0 + (value - self.lo) / span * (self.p1 - self.p0)


# --------------------------------------------------------------------------- Gantt


@dataclass(frozen=True)
class Bar:
    """One interval on a Gantt row: ``cls`` picks the colour, ``title`` is the tooltip."""

    start: datetime
    end: datetime
    cls: str
    title: str = ""
    band: bool = False  # full-height background band (eclipse) drawn under the bars


@dataclass
class GanttRow:
    label: str
    bars: list[Bar] = field(default_factory=list)


@dataclass(frozen=True)
class Rect:
    """A rectangle; in a Gantt row ``y`` is relative to the row's top."""

    x: str
    y: str
    w: str
    h: str
    cls: str
    title: str


@dataclass(frozen=True)
class RowGeom:
    """One laid-out Gantt row: label baseline, separator line and its bars (row-relative y)."""

    label: str
    top: str
    text_y: str
    line_y: str
    bands: list[Rect]
    rects: list[Rect]
    paths: list[tuple[str, str, int]]  # compacted bars: (cls, path data, bar count)


@dataclass(frozen=True)
class Gantt:
    """Pixel geometry of a Gantt chart, ready for the template."""

    width: str
    height: str
    label_x: str
    plot_x0: str
    plot_x1: str
    rows: list[RowGeom]
    ticks: list[Tick]
    axis_y: str
    legend: list[tuple[str, str]]


def fit_labels(labels: Sequence[str]) -> tuple[float, list[str]]:
    """Label column width (px) wide enough for ``labels``, and the labels cut with "…" to fit it.

    The column grows from LABEL_WIDTH_PX up to LABEL_MAX_WIDTH_PX so that long satellite names
    (``TECHSAT 1B (GO-32)``) are not clipped at the chart's left edge.
    """
    max_chars = int((LABEL_MAX_WIDTH_PX - 12.0) / LABEL_CHAR_PX)
    cut = [t if len(t) <= max_chars else t[: max_chars - 1] + "…" for t in labels]
    longest = max((len(t) for t in cut), default=0)
    width = min(max(LABEL_WIDTH_PX, longest * LABEL_CHAR_PX + 12.0), LABEL_MAX_WIDTH_PX)
    return width, cut


def build_gantt(
    rows: Sequence[GanttRow],
    start: datetime,
    end: datetime,
    legend: Sequence[tuple[str, str]],
    row_height_px: float = 16.0,
    compact: frozenset[str] = frozenset(),
) -> Gantt:
    """Lay out Gantt rows on a UTC time axis; bars are at least 1 px wide (bands 0.5 px).

    Bars whose class is in ``compact`` are drawn as one ``<path>`` per row and class, without
    tooltips (for large plans: ~20 bytes per bar instead of ~110).
    """
    label_w, labels = fit_labels([row.label for row in rows])
    scale = TimeScale(start, end, x0=label_w)
    bar_h, bar_y = row_height_px * 0.7, row_height_px * 0.15
    geoms = []
    for i, (row, label) in enumerate(zip(rows, labels, strict=True)):
        bands, rects = [], []
        paths: dict[str, list[str]] = defaultdict(list)
        for bar in row.bars:
            x0, x1 = scale.x(bar.start), scale.x(bar.end)
            width = max(x1 - x0, 0.5 if bar.band else 1.0)
            y, h = (0.0, row_height_px) if bar.band else (bar_y, bar_h)
            if bar.cls in compact:
                paths[bar.cls].append(f"M{px(x0)} {px(y)}h{px(width)}v{px(h)}h-{px(width)}z")
            elif bar.band:
                bands.append(Rect(px(x0), px(y), px(width), px(h), bar.cls, bar.title))
            else:
                rects.append(Rect(px(x0), px(y), px(width), px(h), bar.cls, bar.title))
        top = AXIS_HEIGHT_PX + i * row_height_px
        compacted = [(cls, "".join(d), len(d)) for cls, d in paths.items()]
        geoms.append(
            RowGeom(
                label,
                px(top),
                px(row_height_px * 0.72),
                px(row_height_px),
                bands,
                rects,
                compacted,
            )
        )
    height = AXIS_HEIGHT_PX + len(rows) * row_height_px + 4
    return Gantt(
        width=px(CHART_WIDTH_PX),
        height=px(height),
        label_x=px(label_w - 6),
        plot_x0=px(scale.x0),
        plot_x1=px(scale.x1),
        rows=geoms,
        ticks=scale.ticks(),
        axis_y=px(AXIS_HEIGHT_PX - 6),
        legend=list(legend),
    )


# --------------------------------------------------------------------------- line charts


@dataclass(frozen=True)
class Series:
    """A line: ``xs`` are datetimes or numbers, ``ys`` numbers (NaN breaks the line)."""

    label: str
    xs: Sequence[datetime | float]
    ys: Sequence[float]
    cls: str = "s0"
    markers: bool = False


@dataclass(frozen=True)
class LineChart:
    width: str
    height: str
    plot: tuple[str, str, str, str]  # x0, y0 (top), x1, y1 (bottom)
    plot_h: str
    paths: list[tuple[str, str, int, str]]  # (cls, d, point count, label)
    markers: list[tuple[str, str, str, str]]  # (cls, cx, cy, title)
    hlines: list[tuple[str, str, str, str, str]]  # (cls, y, x0, x1, label)
    bands: list[tuple[str, str, str]]  # vertical bands (x, width, title), e.g. eclipses
    xticks: list[Tick]
    yticks: list[Tick]
    y_label: str
    x_label: str


def _numeric_x(xs: Sequence[datetime | float], origin: datetime | None) -> list[float]:
    if origin is None:
        return [float(x) for x in xs]  # type: ignore[arg-type]
    return [(to_datetime(x) - origin).total_seconds() for x in xs]  # type: ignore[arg-type]


def build_line_chart(
    series: Sequence[Series],
    *,
    y_label: str,
    x_label: str = "UTC",
    hlines: Iterable[tuple[float, str, str]] = (),
    y_range: tuple[float, float] | None = None,
    x_range: tuple[datetime, datetime] | None = None,
    x_categories: Sequence[str] | None = None,
    x_bands: Sequence[tuple[datetime, datetime, str]] = (),
    width_px: float = 640.0,
    height_px: float = 220.0,
) -> LineChart:
    """Lay out line series; the x axis is UTC time, numeric, or categorical (``x_categories``).

    ``x_bands`` (time axis only) are shaded intervals (start, end, title) behind the lines.
    """
    left, right, top, bottom = 56.0, 22.0, 10.0, 28.0
    x0, x1, y0, y1 = left, width_px - right, top, height_px - bottom
    is_time = bool(series) and isinstance(series[0].xs[0] if series[0].xs else None, datetime | str)
    is_time = is_time and x_categories is None
    origin = None
    if is_time:
        origin = x_range[0] if x_range else min(to_datetime(s.xs[0]) for s in series if s.xs)
    all_x = [v for s in series for v in _numeric_x(s.xs, origin)]
    all_y = [float(v) for s in series for v in s.ys if v is not None and math.isfinite(float(v))]
    hl = list(hlines)
    all_y += [h[0] for h in hl]
    if is_time and x_range:
        x_lo, x_hi = 0.0, (x_range[1] - x_range[0]).total_seconds()
    else:
        x_lo, x_hi = (min(all_x), max(all_x)) if all_x else (0.0, 1.0)
    if x_categories is not None:
        x_lo, x_hi = -0.5, len(x_categories) - 0.5
    y_lo, y_hi = y_range if y_range else ((min(all_y), max(all_y)) if all_y else (0.0, 1.0))
    if y_hi == y_lo:
        y_lo, y_hi = y_lo - 1.0, y_hi + 1.0
    sx = LinearScale(x_lo, x_hi if x_hi > x_lo else x_lo + 1.0, x0, x1)
    sy = LinearScale(y_lo, y_hi, y1, y0)
    paths, markers = [], []
    for s in series:
        xs = _numeric_x(s.xs, origin)
        d, count = [], 0
        pen_up = True
        for x, y in zip(xs, s.ys, strict=True):
            if y is None or not math.isfinite(float(y)):
                pen_up = True
                continue
            d.append(f"{'M' if pen_up else 'L'}{px(sx(x))},{px(sy(float(y)))}")
            pen_up = False
            count += 1
            if s.markers:
                markers.append((s.cls, px(sx(x)), px(sy(float(y))), f"{s.label}: {y:.4g}"))
        paths.append((s.cls, "".join(d), count, s.label))
    if is_time and origin is not None:
        xticks = TimeScale(origin, origin + timedelta(seconds=x_hi), x0, x1).ticks(8)
    elif x_categories is not None:
        xticks = [Tick(px(sx(i)), str(c)) for i, c in enumerate(x_categories)]
    else:
        xticks = [Tick(px(sx(v)), fmt_number(v)) for v in nice_ticks(x_lo, x_hi, 6)]
    yticks = [Tick(px(sy(v)), fmt_number(v)) for v in nice_ticks(y_lo, y_hi, 4)]
    lines = [(cls, px(sy(v)), px(x0), px(x1), label) for v, cls, label in hl]
    bands = []
    if origin is not None:
        for b0, b1, title in x_bands:
            bx0 = sx(min(max((b0 - origin).total_seconds(), x_lo), x_hi))
            bx1 = sx(min(max((b1 - origin).total_seconds(), x_lo), x_hi))
            bands.append((px(bx0), px(max(bx1 - bx0, 0.5)), title))
    return LineChart(
        width=px(width_px),
        height=px(height_px),
        plot=(px(x0), px(y0), px(x1), px(y1)),
        plot_h=px(y1 - y0),
        paths=paths,
        markers=markers,
        hlines=lines,
        bands=bands,
        xticks=xticks,
        yticks=yticks,
        y_label=y_label,
        x_label=x_label,
    )


# --------------------------------------------------------------------------- heatmaps


@dataclass(frozen=True)
class Heatmap:
    width: str
    height: str
    cells: list[tuple[str, str, str, str, str, str, str, str, str]]
    # (x, y, w, h, fill, title, label, label x, label y); label "" when the cell is too small
    xticks: list[Tick]
    yticks: list[Tick]
    x_label: str
    y_label: str
    value_label: str
    legend: list[tuple[str, str]]  # (fill, label)
    x_axis_y: str
    y_axis_x: str


# perceptually ordered ramp (viridis samples), from low to high
_RAMP = ((68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37))


def ramp_colour(frac: float) -> str:
    """Colour of ``frac`` in [0, 1] on a viridis-like ramp, as ``#rrggbb``."""
    frac = min(max(frac, 0.0), 1.0) * (len(_RAMP) - 1)
    i = min(int(frac), len(_RAMP) - 2)
    t = frac - i
    rgb = (round(a + (b - a) * t) for a, b in zip(_RAMP[i], _RAMP[i + 1], strict=True))
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def build_heatmap(
    values: Sequence[Sequence[float]],
    x_categories: Sequence[str],
    y_categories: Sequence[str],
    *,
    x_label: str,
    y_label: str,
    value_label: str,
) -> Heatmap:
    """Cells of a 2-D grid ``values[iy][ix]`` coloured on a shared ramp with value labels."""
    left, top, bottom = 90.0, 10.0, 34.0
    cell_w = max(min(560.0 / max(len(x_categories), 1), 90.0), 14.0)
    cell_h = max(min(300.0 / max(len(y_categories), 1), 36.0), 12.0)
    finite = [float(v) for row in values for v in row if v is not None and math.isfinite(float(v))]
    lo, hi = (min(finite), max(finite)) if finite else (0.0, 1.0)
    cells = []
    for iy, row in enumerate(values):
        for ix, v in enumerate(row):
            ok = v is not None and math.isfinite(float(v))
            fill = ramp_colour((float(v) - lo) / (hi - lo) if hi > lo else 0.5) if ok else "#ddd"
            label = fmt_number(float(v)) if ok else "–"
            title = f"{x_label}={x_categories[ix]}, {y_label}={y_categories[iy]}: {label}"
            x, y = left + ix * cell_w, top + iy * cell_h
            shown = label if cell_w >= 30 and cell_h >= 14 else ""
            cells.append(
                (
                    px(x),
                    px(y),
                    px(cell_w),
                    px(cell_h),
                    fill,
                    title,
                    shown,
                    px(x + cell_w / 2),
                    px(y + cell_h / 2),
                )
            )
    xticks = [Tick(px(left + (i + 0.5) * cell_w), str(c)) for i, c in enumerate(x_categories)]
    yticks = [Tick(px(top + (i + 0.5) * cell_h), str(c)) for i, c in enumerate(y_categories)]
    fracs = (0.0, 0.25, 0.5, 0.75, 1.0) if hi > lo else (0.5,)
    legend = [(ramp_colour(f), fmt_number(lo + f * (hi - lo))) for f in fracs]
    return Heatmap(
        width=px(left + len(x_categories) * cell_w + 10),
        height=px(top + len(y_categories) * cell_h + bottom),
        cells=cells,
        xticks=xticks,
        yticks=yticks,
        x_label=x_label,
        y_label=y_label,
        value_label=value_label,
        legend=legend,
        x_axis_y=px(top + len(y_categories) * cell_h + 14),
        y_axis_x=px(left - 4),
    )


# --------------------------------------------------------------------------- sky plots


@dataclass(frozen=True)
class SkyPlot:
    """A polar az/el plot seen from the station: north up, east right, zenith in the middle."""

    size: str
    centre: str
    horizon: str  # radius of the 0 deg circle
    rings: list[tuple[str, str, str]]  # (radius, label y, label)
    labels: list[tuple[str, str, str]]  # (x, y, N|E|S|W)
    mask: str  # path: the sky below the effective mask (even-odd fill), "" without one
    track: str  # path of the pass
    ends: list[tuple[str, str, str]]  # (cx, cy, title): AOS and LOS


def build_sky_plot(
    track_az_el: Sequence[tuple[float, float]],
    mask_az_el: Sequence[tuple[float, float]],
    *,
    size_px: float = 170.0,
) -> SkyPlot:
    """Lay out a pass track and a station's effective mask (both (azimuth, elevation) deg;
    the mask sampled around the horizon) on a polar plot: radius = 90 deg - elevation."""
    c = size_px / 2.0
    r_max = c - 14.0

    def xy(az: float, el: float) -> tuple[str, str]:
        r = r_max * (90.0 - min(max(el, 0.0), 90.0)) / 90.0
        return px(c + r * math.sin(math.radians(az))), px(c - r * math.cos(math.radians(az)))

    def path(points: Sequence[tuple[float, float]], close: bool) -> str:
        d = "".join(
            f"{'L' if i else 'M'}{x},{y}" for i, (x, y) in enumerate(xy(*p) for p in points)
        )
        return d + ("Z" if close and d else "")

    horizon = [(float(az), 0.0) for az in range(0, 360, 5)]
    mask = path(horizon, True) + path(mask_az_el, True) if mask_az_el else ""
    rings = [
        (px(r_max * (90 - el) / 90), px(c - r_max * (90 - el) / 90 + 9), f"{el}°")
        for el in (30, 60)
    ]
    labels = [
        (px(c + (r_max + 8) * dx), px(c - (r_max + 8) * dy + 3), name)
        for dx, dy, name in ((0, 1, "N"), (1, 0, "E"), (0, -1, "S"), (-1, 0, "W"))
    ]
    ends = []
    if track_az_el:
        for (az, el), name in ((track_az_el[0], "AOS"), (track_az_el[-1], "LOS")):
            ends.append((*xy(az, el), f"{name}: az {az:.0f}°, el {el:.1f}°"))
    return SkyPlot(
        size=px(size_px),
        centre=px(c),
        horizon=px(r_max),
        rings=rings,
        labels=labels,
        mask=mask,
        track=path(track_az_el, False),
        ends=ends,
    )
