"""The dashboard as CSV rows (the page's download and ``portal stats``), headers translated."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable

from flask_babel import gettext as _

from portal.services.stats import Dashboard, GroupStats
from portal.web.supervisor.formatting import Names


def _hours(seconds: float | None) -> str:
    return "" if seconds is None else f"{seconds / 3600:.2f}"


def _percent(value: float | None) -> str:
    return "" if value is None else f"{value * 100:.1f}"


def _cell(text: str) -> str:
    # A spreadsheet would run a cell starting with these as a formula.
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def header() -> list[str]:
    return [
        _("Grouping"),
        _("Code"),
        _("Name"),
        _("Period start"),
        _("Period end"),
        _("Reports received"),
        _("Open backlog"),
        _("Awaiting first response"),
        _("First responses"),
        _("Median time to first response (hours)"),
        _("90th percentile time to first response (hours)"),
        _("First response within target (%)"),
        _("Resolved"),
        _("Median time to resolution (hours)"),
        _("90th percentile time to resolution (hours)"),
        _("Resolution within target (%)"),
    ]


def rows(dashboard: Dashboard, names: Names) -> Iterable[list[str]]:
    start = dashboard.period_start.isoformat()
    end = dashboard.period_end.isoformat()
    groups: list[tuple[str, list[GroupStats], Callable[[str], str]]] = [
        (_("Total"), [dashboard.total], names.region),
        (_("Region"), dashboard.regions, names.region),
        (_("Unit"), dashboard.units, names.unit),
        (_("Category"), dashboard.categories, names.category),
        (_("Priority"), dashboard.priorities, names.priority),
    ]
    for grouping, stats_rows, name_of in groups:
        for row in stats_rows:
            yield [
                grouping,
                row.key,
                _cell(name_of(row.key)),
                start,
                end,
                str(row.received),
                str(row.open_backlog),
                str(row.awaiting_first_response),
                str(row.first_response.n),
                _hours(row.first_response.p50),
                _hours(row.first_response.p90),
                _percent(row.first_sla_share),
                str(row.resolution.n),
                _hours(row.resolution.p50),
                _hours(row.resolution.p90),
                _percent(row.resolution_sla_share),
            ]


def to_csv(dashboard: Dashboard, names: Names) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header())
    writer.writerows(rows(dashboard, names))
    return buffer.getvalue()
