"""Server-side SVG charts: no script, no third party, readable without colour.

Every chart takes figures already formatted for display, prints its numbers on the picture
(the same numbers are in a table next to it), and pairs each colour with a hatch pattern so
that greyscale printouts and colour-blind readers lose nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

# Light to dark, with a pattern each: (fill, pattern id suffix or None).
SHADES: tuple[tuple[str, str | None], ...] = (
    ("#fff7bc", None),
    ("#fec44f", "dots"),
    ("#fe9929", "lines"),
    ("#d95f0e", "dense"),
    ("#8c2d04", "cross"),
)
NO_DATA_FILL = "#ffffff"

# Schematic tile map of the 12 regions (column, row), north at the top, the Atlantic on the left.
REGION_TILES: dict[str, tuple[int, int]] = {
    "MA-01": (2, 0),  # Tanger-Tétouan-Al Hoceïma
    "MA-04": (1, 1),  # Rabat-Salé-Kénitra
    "MA-03": (2, 1),  # Fès-Meknès
    "MA-02": (3, 1),  # Oriental
    "MA-06": (1, 2),  # Casablanca-Settat
    "MA-05": (2, 2),  # Béni Mellal-Khénifra
    "MA-07": (1, 3),  # Marrakech-Safi
    "MA-08": (2, 3),  # Drâa-Tafilalet
    "MA-09": (1, 4),  # Souss-Massa
    "MA-10": (0, 4),  # Guelmim-Oued Noun
    "MA-11": (0, 5),  # Laâyoune-Sakia El Hamra
    "MA-12": (0, 6),  # Dakhla-Oued Ed-Dahab
}


def _svg(parts: Sequence[str]) -> Markup:
    # Safe: every value that does not come from this module went through escape() above.
    return Markup("".join(parts))  # noqa: S704


def _attrs(**values: object) -> str:
    return " ".join(
        f'{name.rstrip("_").replace("_", "-")}="{escape(value)}"' for name, value in values.items()
    )


def _patterns(prefix: str) -> str:
    ink = 'stroke="#000" stroke-opacity=".45"'
    return (
        "<defs>"
        f'<pattern id="{prefix}-dots" width="8" height="8" patternUnits="userSpaceOnUse">'
        '<circle cx="4" cy="4" r="1.3" fill="#000" fill-opacity=".45"/></pattern>'
        f'<pattern id="{prefix}-lines" width="10" height="10" patternUnits="userSpaceOnUse" '
        f'patternTransform="rotate(45)"><line x1="0" y1="0" x2="0" y2="10" {ink} '
        'stroke-width="1.5"/></pattern>'
        f'<pattern id="{prefix}-dense" width="5" height="5" patternUnits="userSpaceOnUse" '
        f'patternTransform="rotate(45)"><line x1="0" y1="0" x2="0" y2="5" {ink} '
        'stroke-width="1.5"/></pattern>'
        f'<pattern id="{prefix}-cross" width="6" height="6" patternUnits="userSpaceOnUse">'
        f'<path d="M0 0L6 6M6 0L0 6" {ink} stroke-width="1.4"/></pattern>'
        "</defs>"
    )


@dataclass(frozen=True)
class Tile:
    code: str
    name: str  # short name printed on the tile
    title: str  # full name, for the tooltip and screen readers
    value: str  # the formatted figure
    shade: int | None  # index into SHADES; None: no data
    href: str | None = None
    note: str = ""  # a third, smaller line (how many reports still wait)


def shade_index(seconds: float | None, thresholds: Sequence[float]) -> int | None:
    """Which of the len(thresholds) + 1 classes a value falls in (upper bounds, exclusive)."""
    if seconds is None:
        return None
    for index, bound in enumerate(thresholds):
        if seconds < bound:
            return index
    return len(thresholds)


def region_map(tiles: Sequence[Tile], *, label: str, prefix: str = "map") -> Markup:
    """Tiles with their figures printed on them. A map whose tiles link to the regions' own
    pages is a group of links (each named by its region and figure), never an image: an image's
    content is presentational, and links inside it would be hidden from assistive technology."""
    pitch, size = 92, 86
    columns = 1 + max(c for c, _ in REGION_TILES.values())
    rows = 1 + max(r for _, r in REGION_TILES.values())
    role = "group" if any(tile.href for tile in tiles) else "img"
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart region-map" role="{role}" '
        f'viewBox="0 0 {columns * pitch} {rows * pitch}" {_attrs(aria_label=label)}>',
        f"<title>{escape(label)}</title>",
        _patterns(prefix),
    ]
    for tile in tiles:
        if tile.code not in REGION_TILES:
            continue
        column, row = REGION_TILES[tile.code]
        x, y = column * pitch + 3, row * pitch + 3
        fill, pattern = (NO_DATA_FILL, None) if tile.shade is None else SHADES[tile.shade]
        spoken = f"{tile.title}: {tile.value}" + (f", {tile.note}" if tile.note else "")
        # The tooltip, with the full name; outside the link (a title inside would name it).
        tooltip = f"<title>{escape(spoken)}</title>"
        group: list[str] = []
        border = 'stroke="#555" stroke-dasharray="4 3"' if tile.shade is None else 'stroke="#333"'
        group.append(
            f'<rect x="{x}" y="{y}" width="{size}" height="{size}" rx="8" fill="{fill}" '
            f'{border} stroke-width="1.5"/>'
        )
        if pattern:
            group.append(
                f'<rect x="{x}" y="{y}" width="{size}" height="{size}" rx="8" '
                f'fill="url(#{prefix}-{pattern})"/>'
            )
        box = 56 if tile.note else 38
        group.append(
            f'<rect x="{x + 4}" y="{y + size - box - 5}" width="{size - 8}" height="{box}" rx="5" '
            'fill="#fff" fill-opacity=".94"/>'
        )
        center = x + size / 2
        top = y + size - box - 5
        group.append(
            f'<text x="{center}" y="{top + 14}" text-anchor="middle" font-size="11" '
            f'fill="#1b1f24">{escape(tile.name)}</text>'
        )
        group.append(
            f'<text x="{center}" y="{top + 31}" text-anchor="middle" font-size="14" '
            f'font-weight="700" fill="#1b1f24">{escape(tile.value)}</text>'
        )
        if tile.note:
            group.append(
                f'<text x="{center}" y="{top + 48}" text-anchor="middle" font-size="11" '
                f'fill="#8c2d04" font-weight="700">{escape(tile.note)}</text>'
            )
        body = "".join(group)
        if tile.href:
            # Named by what it shows (the short name, the figure, how many wait), as people
            # see it; the table under the map names each region in full.
            body = f'<a href="{escape(tile.href)}">{body}</a>'
        shade = "none" if tile.shade is None else tile.shade
        parts.append(f"<g {_attrs(data_region=tile.code, data_shade=shade)}>{tooltip}{body}</g>")
    parts.append("</svg>")
    return _svg(parts)


def legend_swatch(shade: int | None) -> Markup:
    """A small square in a class's colour and pattern, for the legend."""
    prefix = f"legend{shade}"
    fill, pattern = (NO_DATA_FILL, None) if shade is None else SHADES[shade]
    border = 'stroke="#555" stroke-dasharray="3 2"' if shade is None else 'stroke="#333"'
    overlay = f'<rect width="22" height="22" fill="url(#{prefix}-{pattern})"/>' if pattern else ""
    return _svg(
        [
            '<svg xmlns="http://www.w3.org/2000/svg" class="swatch" width="24" height="24" '
            f'viewBox="-1 -1 24 24" aria-hidden="true">{_patterns(prefix) if pattern else ""}',
            f'<rect width="22" height="22" fill="{fill}" {border}/>{overlay}</svg>',
        ]
    )


def horizontal_bars(bars: Sequence[tuple[str, int]], *, label: str) -> Markup:
    """One bar per (label, count); the count is printed at the end of each bar."""
    row_height, label_width, bar_space, width = 34, 150, 240, 440
    top = max((count for _, count in bars), default=0) or 1
    height = row_height * len(bars) + 6
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart bars" role="img" '
        f'viewBox="0 0 {width} {height}" {_attrs(aria_label=label)}>',
        f"<title>{escape(label)}</title>",
        _patterns("bars"),
    ]
    for index, (name, count) in enumerate(bars):
        y = index * row_height + 4
        length = max(2.0, bar_space * count / top) if count else 0
        # Older backlog, darker bar: the age order is also the shade order.
        fill, pattern = SHADES[min(index, len(SHADES) - 1)]
        parts.append(
            f'<text x="{label_width - 8}" y="{y + 19}" text-anchor="end" font-size="13" '
            f'fill="#1b1f24">{escape(name)}</text>'
        )
        if length:
            parts.append(
                f'<rect x="{label_width}" y="{y}" width="{length:.1f}" height="26" '
                f'fill="{fill}" stroke="#333"/>'
            )
            if pattern:
                parts.append(
                    f'<rect x="{label_width}" y="{y}" width="{length:.1f}" height="26" '
                    f'fill="url(#bars-{pattern})"/>'
                )
        parts.append(
            f'<text x="{label_width + length + 6:.1f}" y="{y + 19}" font-size="13" '
            f'font-weight="700" fill="#1b1f24">{count}</text>'
        )
    parts.append("</svg>")
    return _svg(parts)


def sparkline(
    values: Sequence[float | None],
    *,
    label: str,
    top: float | None = None,
    top_label: str = "",
    first_label: str = "",
    last_label: str = "",
    reference: Sequence[float | None] | None = None,
) -> Markup:
    """A small weekly line on its own vertical scale (0 to ``top``, the highest value of this
    chart unless given), with its axes labelled: ``top_label`` at the top of the vertical axis,
    0 at its foot, the first and last weeks under the horizontal one. Gaps where a week had no
    answer. ``reference`` (the national median) is drawn dashed behind the line.
    """
    width, height = 240, 104
    left, right, upper, lower = 44, 8, 8, 22
    count = len(values)
    if top is None:
        present = [v for v in (*values, *(reference or ())) if v is not None]
        top = max(present, default=0.0)
    top = top or 1.0

    def point(index: int, value: float) -> tuple[float, float]:
        x = left + (width - left - right) * (index / (count - 1) if count > 1 else 0.5)
        y = height - lower - (height - upper - lower) * min(value, top) / top
        return x, y

    def path(series: Sequence[float | None]) -> str:
        commands, pen_down = [], False
        for index, value in enumerate(series):
            if value is None:
                pen_down = False
                continue
            x, y = point(index, value)
            commands.append(f"{'L' if pen_down else 'M'}{x:.1f} {y:.1f}")
            pen_down = True
        return " ".join(commands)

    base = height - lower
    text = 'font-size="10" fill="#444"'
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart sparkline" role="img" '
        f'viewBox="0 0 {width} {height}" {_attrs(aria_label=label)}>',
        f"<title>{escape(label)}</title>",
        f'<line x1="{left}" y1="{upper}" x2="{width - right}" y2="{upper}" stroke="#ddd"/>',
        f'<line x1="{left}" y1="{upper}" x2="{left}" y2="{base}" stroke="#999"/>',
        f'<line x1="{left}" y1="{base}" x2="{width - right}" y2="{base}" stroke="#999"/>',
        f'<text x="{left - 4}" y="{upper + 4}" text-anchor="end" {text}>{escape(top_label)}</text>',
        f'<text x="{left - 4}" y="{base}" text-anchor="end" {text}>0</text>',
        f'<text x="{left}" y="{height - 6}" text-anchor="start" {text}>'
        f"{escape(first_label)}</text>",
        f'<text x="{width - right}" y="{height - 6}" text-anchor="end" {text}>'
        f"{escape(last_label)}</text>",
    ]
    if reference is not None:
        parts.append(
            f'<path d="{path(reference)}" fill="none" stroke="#777" stroke-width="1.5" '
            'stroke-dasharray="4 3"/>'
        )
    parts.append(f'<path d="{path(values)}" fill="none" stroke="#0b5d3b" stroke-width="2.5"/>')
    for index, value in enumerate(values):
        if value is not None:
            x, y = point(index, value)
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.6" fill="#0b5d3b"/>')
    parts.append("</svg>")
    return _svg(parts)
