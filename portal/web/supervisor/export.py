"""The dashboard as CSV rows (the page's download and ``portal stats``), headers translated.

Spreadsheets read CSV in the convention of the computer's locale, so the download follows the
reader's language:

- French and Spanish (``fr``, ``es``): ``;`` between fields and ``,`` before decimals, as Excel
  and LibreOffice expect under French, Moroccan-French and Spanish settings;
- Arabic and English (``ar``, ``en``): ``,`` between fields and ``.`` before decimals (Arabic
  locales of Excel, ar-MA included, use the comma as list separator and the point as decimal
  separator);
- ``?dialect=semicolon`` or ``?dialect=comma`` chooses the other convention whatever the language.

The file starts with a UTF-8 byte-order mark so that spreadsheets read Arabic names correctly.
Times are in Morocco's time, with their offset from UTC.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from flask_babel import gettext as _

from portal.domain.localtime import to_local
from portal.services.stats import Dashboard, GroupStats
from portal.web.supervisor.formatting import Names


@dataclass(frozen=True)
class Dialect:
    name: str
    delimiter: str
    decimal: str


COMMA = Dialect("comma", ",", ".")
SEMICOLON = Dialect("semicolon", ";", ",")
DIALECTS = {d.name: d for d in (COMMA, SEMICOLON)}
# Languages whose spreadsheets expect ";" and decimal commas; the others get COMMA.
SEMICOLON_LANGUAGES = frozenset({"fr", "es"})


def dialect_for(language: str, asked: str | None = None) -> Dialect:
    """The reader's convention, unless ``asked`` names one of :data:`DIALECTS`."""
    if asked in DIALECTS:
        return DIALECTS[asked]
    return SEMICOLON if language in SEMICOLON_LANGUAGES else COMMA


def other_dialect(language: str) -> str:
    return COMMA.name if dialect_for(language) is SEMICOLON else SEMICOLON.name


def _number(value: float, digits: int, dialect: Dialect) -> str:
    return f"{value:.{digits}f}".replace(".", dialect.decimal)


def _hours(seconds: float | None, dialect: Dialect = COMMA) -> str:
    return "" if seconds is None else _number(seconds / 3600, 2, dialect)


def _percent(value: float | None, dialect: Dialect = COMMA) -> str:
    return "" if value is None else _number(value * 100, 1, dialect)


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
        # Added last, so that the columns before keep their places for existing readers.
        _("Waiting for a first response now"),
        _("Of which past target now"),
        _("Oldest waiting now (hours)"),
        _("Median time to first response so far, waiting reports at their age (hours)"),
    ]


def rows(dashboard: Dashboard, names: Names, dialect: Dialect = COMMA) -> Iterable[list[str]]:
    start = to_local(dashboard.period_start).isoformat()
    end = to_local(dashboard.period_end).isoformat()
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
                _hours(row.first_response.p50, dialect),
                _hours(row.first_response.p90, dialect),
                _percent(row.first_sla_share, dialect),
                str(row.resolution.n),
                _hours(row.resolution.p50, dialect),
                _hours(row.resolution.p90, dialect),
                _percent(row.resolution_sla_share, dialect),
                str(row.waiting.count),
                str(row.waiting.overdue),
                _hours(row.waiting.oldest_seconds, dialect),
                _hours(row.first_response_so_far.p50, dialect),
            ]


def to_csv(dashboard: Dashboard, names: Names, dialect: Dialect = COMMA) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=dialect.delimiter, lineterminator="\r\n")
    writer.writerow(header())
    writer.writerows(rows(dashboard, names, dialect))
    return buffer.getvalue()
