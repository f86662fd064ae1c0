"""Server-rendered SVG plots for the vehicle page: line charts, bar charts and track plots.

Pure functions from numbers to SVG text, so pages need no JavaScript and no CDN. Drive tracks
are drawn on a plain background (no map tiles), in an equirectangular projection scaled by the
cosine of the latitude so that shapes keep their proportions.
"""

from __future__ import annotations

import html
import math
import time
from collections.abc import Sequence
from typing import Final

WIDTH: Final = 640
HEIGHT: Final = 240
MARGIN: Final = (40, 16, 28, 52)
"""Top, right, bottom, left padding around the plot area, px."""
COLOURS: Final = ("#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#4b5563")


def _fmt(value: float) -> str:
    if value != 0 and (abs(value) >= 1000 or abs(value) < 0.01):
        return f"{value:.3g}"
    return f"{value:.2f}".rstrip("0").rstrip(".")


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering [low, high] (about `count` of them)."""
    if not math.isfinite(low) or not math.isfinite(high):
        return []
    if high <= low:
        high = low + 1.0
    raw = (high - low) / max(1, count)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.floor(low / step) * step
    last = math.ceil(high / step) * step
    ticks = []
    value = first
    while value <= last + step * 1e-9:
        ticks.append(round(value, 10))
        value += step
    return ticks


def _frame(title: str, body: str, label: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="{html.escape(label)}">'
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>'
        f'<text x="{MARGIN[3]}" y="20" font-size="14" font-family="sans-serif" '
        f'font-weight="bold">{html.escape(title)}</text>{body}</svg>'
    )


def _empty(title: str) -> str:
    body = (
        f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle" font-size="13" '
        'font-family="sans-serif" fill="#6b7280">no data yet</text>'
    )
    return _frame(title, body, f"{title}: no data yet")


def _axes(y_ticks: list[float], y_of: dict[float, float], unit: str) -> list[str]:
    top, right, bottom, left = MARGIN
    parts = [
        f'<line x1="{left}" y1="{HEIGHT - bottom}" x2="{WIDTH - right}" y2="{HEIGHT - bottom}" '
        'stroke="#9ca3af"/>'
    ]
    for tick in y_ticks:
        y = y_of[tick]
        parts.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{WIDTH - right}" y2="{y:.1f}" stroke="#e5e7eb"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" '
            f'font-family="sans-serif" fill="#374151">{_fmt(tick)}</text>'
        )
    parts.append(
        f'<text x="{left - 6}" y="{top - 6}" text-anchor="end" font-size="11" '
        f'font-family="sans-serif" fill="#374151">{html.escape(unit)}</text>'
    )
    return parts


def _time_label(ts: float) -> str:
    return time.strftime("%d %b %H:%M", time.gmtime(ts))


def line_chart(title: str, points: Sequence[tuple[float, float]], unit: str) -> str:
    """(unix time, value) points as a line over time."""
    points = [(x, y) for x, y in points if math.isfinite(x) and math.isfinite(y)]
    if not points:
        return _empty(title)
    top, right, bottom, left = MARGIN
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    ticks = nice_ticks(min(ys), max(ys))
    y_low, y_high = ticks[0], ticks[-1] if ticks[-1] > ticks[0] else ticks[0] + 1
    x_low, x_high = min(xs), max(xs) if max(xs) > min(xs) else min(xs) + 1

    def sx(x: float) -> float:
        return left + (x - x_low) / (x_high - x_low) * (WIDTH - left - right)

    def sy(y: float) -> float:
        return HEIGHT - bottom - (y - y_low) / (y_high - y_low) * (HEIGHT - top - bottom)

    parts = _axes(ticks, {t: sy(t) for t in ticks}, unit)
    coords = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in points)
    parts.append(
        f'<polyline fill="none" stroke="{COLOURS[0]}" stroke-width="2" points="{coords}"/>'
    )
    for x, anchor in ((x_low, "start"), (x_high, "end")):
        parts.append(
            f'<text x="{sx(x):.1f}" y="{HEIGHT - 8}" text-anchor="{anchor}" font-size="11" '
            f'font-family="sans-serif" fill="#374151">{_time_label(x)} UTC</text>'
        )
    return _frame(title, "".join(parts), f"{title}: line chart of {len(points)} points")


def bar_chart(title: str, bars: Sequence[tuple[str, float]], unit: str) -> str:
    """Labelled bars (label, value), left to right."""
    bars = [(label, value) for label, value in bars if math.isfinite(value)]
    if not bars:
        return _empty(title)
    top, right, bottom, left = MARGIN
    ticks = nice_ticks(min(0.0, *(v for _, v in bars)), max(0.0, *(v for _, v in bars)))
    y_low, y_high = ticks[0], ticks[-1] if ticks[-1] > ticks[0] else ticks[0] + 1

    def sy(y: float) -> float:
        return HEIGHT - bottom - (y - y_low) / (y_high - y_low) * (HEIGHT - top - bottom)

    parts = _axes(ticks, {t: sy(t) for t in ticks}, unit)
    slot = (WIDTH - left - right) / len(bars)
    for i, (label, value) in enumerate(bars):
        x = left + i * slot + slot * 0.15
        y0, y1 = sy(0.0), sy(value)
        parts.append(
            f'<rect x="{x:.1f}" y="{min(y0, y1):.1f}" width="{slot * 0.7:.1f}" '
            f'height="{abs(y0 - y1):.1f}" fill="{COLOURS[i % len(COLOURS)]}">'
            f"<title>{html.escape(label)}: {_fmt(value)} {html.escape(unit)}</title></rect>"
        )
        if len(bars) <= 12:
            parts.append(
                f'<text x="{x + slot * 0.35:.1f}" y="{HEIGHT - 8}" text-anchor="middle" '
                'font-size="10" font-family="sans-serif" fill="#374151">'
                f"{html.escape(label)}</text>"
            )
    return _frame(title, "".join(parts), f"{title}: bar chart of {len(bars)} bars")


def track_plot(title: str, tracks: Sequence[Sequence[Sequence[float]]]) -> str:
    """Drive tracks ([[lat, lon], ...] each) as polylines on a plain background, with a scale."""
    tracks = [
        [(p[0], p[1]) for p in t if len(p) >= 2 and math.isfinite(p[0]) and math.isfinite(p[1])]
        for t in tracks
    ]
    tracks = [t for t in tracks if len(t) >= 2]
    if not tracks:
        return _empty(title)
    top, right, bottom, left = 30, 16, 28, 16
    lats = [p[0] for t in tracks for p in t]
    lons = [p[1] for t in tracks for p in t]
    mid = math.radians((min(lats) + max(lats)) / 2)
    km_x = 111.32 * math.cos(mid)
    km_y = 110.57
    span_x = max((max(lons) - min(lons)) * km_x, 1e-3)
    span_y = max((max(lats) - min(lats)) * km_y, 1e-3)
    scale = min((WIDTH - left - right) / span_x, (HEIGHT - top - bottom) / span_y)

    def xy(lat: float, lon: float) -> str:
        x = left + (lon - min(lons)) * km_x * scale
        y = HEIGHT - bottom - (lat - min(lats)) * km_y * scale
        return f"{x:.1f},{y:.1f}"

    parts = [
        f'<rect x="0" y="{top - 4}" width="{WIDTH}" height="{HEIGHT - top + 4}" fill="#f3f4f6"/>'
    ]
    for i, track in enumerate(tracks):
        coords = " ".join(xy(lat, lon) for lat, lon in track)
        colour = COLOURS[i % len(COLOURS)]
        parts.append(
            f'<polyline fill="none" stroke="{colour}" stroke-width="2.5" '
            f'stroke-linejoin="round" points="{coords}"/>'
            f'<circle cx="{xy(*track[0]).split(",")[0]}" cy="{xy(*track[0]).split(",")[1]}" '
            f'r="3.5" fill="{colour}"/>'
        )
    bar_km = nice_ticks(0, max(span_x, span_y) / 4, 1)[-1] or 0.1
    bar_px = bar_km * scale
    parts.append(
        f'<line x1="{WIDTH - right - bar_px:.1f}" y1="{HEIGHT - 10}" x2="{WIDTH - right}" '
        f'y2="{HEIGHT - 10}" stroke="#111827" stroke-width="2"/>'
        f'<text x="{WIDTH - right - bar_px - 6:.1f}" y="{HEIGHT - 6}" text-anchor="end" '
        f'font-size="11" font-family="sans-serif">{_fmt(bar_km)} km</text>'
        f'<text x="{left}" y="{HEIGHT - 6}" font-size="11" font-family="sans-serif" '
        'fill="#6b7280">track plot, no map: dots mark where each drive began</text>'
    )
    return _frame(title, "".join(parts), f"{title}: track plot of {len(tracks)} drives")
