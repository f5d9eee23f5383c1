"""The public transparency figures: per month, volumes and times, with small cells suppressed.

Everything comes from the rollups kept by the write path (reports: ``stats_rollups``;
requests to platforms: ``takedown_rollups``), so the cost depends on months and categories,
never on the number of reports. Definitions are the dashboard's (``portal.services.stats``):
a month is a calendar month of local (Africa/Casablanca) days and selects the reports
*submitted* in it; times are from submission to the first response and to resolution (referral
to the prosecutor or closure); a time to removal runs from sending a request to the removal.
Percentiles interpolate between closest ranks, exact up to 64 values and within 1 % above.
Disclosure control: ``portal.domain.disclosure``, threshold ``TRANSPARENCY_MIN_CELL``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.domain.disclosure import Cell, published_share, suppress_margin
from portal.models import Region
from portal.services import rollups, takedown_rollups
from portal.services.distribution import Distribution
from portal.services.rollups import ABROAD_KEY, LOCAL_TZ, NATIONAL_SCOPE

FRACTIONS = (0.5, 0.9)
TOTAL = "all"


@dataclass(frozen=True)
class Times:
    """Median and 90th percentile in seconds, published only over enough values."""

    n: int
    p50: float | None
    p90: float | None


@dataclass
class Group:
    received: Cell
    first_response: Times
    resolution: Times


@dataclass
class PlatformFigures:
    requested: Cell
    removed_share: float | None
    removal: Times


@dataclass
class Month:
    start: date
    complete: bool
    total: Group
    by_category: dict[str, Group] = field(default_factory=dict)
    by_region: dict[str, Group] = field(default_factory=dict)
    by_platform: dict[str, PlatformFigures] = field(default_factory=dict)
    takedowns_total: Cell = field(default_factory=lambda: Cell(0))

    @property
    def key(self) -> str:
        return self.start.strftime("%Y-%m")


def month_starts(now: datetime, count: int) -> list[date]:
    """The first days of the last ``count`` complete months, oldest first.

    The current month is never published: figures that grow day by day could be compared from
    one day to the next to single out the reports of a day.
    """
    today = now.astimezone(LOCAL_TZ).date()
    year, month = today.year, today.month
    starts = []
    for _ in range(count):
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
        starts.append(date(year, month, 1))
    return starts[::-1]


def _next_month(start: date) -> date:
    return date(start.year + start.month // 12, start.month % 12 + 1, 1)


def _pairs(start: date) -> list[tuple[int, int]]:
    first = (start - rollups.EPOCH).days
    end = (_next_month(start) - rollups.EPOCH).days
    return rollups.blocks(first, end)


def _times(dist: Distribution, published: bool, threshold: int) -> Times:
    summary = dist.summary(FRACTIONS)
    if not published or summary.n < threshold:
        return Times(summary.n, None, None)
    p50, p90 = summary.percentiles
    return Times(summary.n, p50, p90)


@dataclass
class _Acc:
    received: int = 0
    first_response: Distribution = field(default_factory=Distribution)
    resolution: Distribution = field(default_factory=Distribution)


def _groups(
    totals: Mapping[str, _Acc], total: _Acc, threshold: int
) -> tuple[Group, dict[str, Group]]:
    total_cell, cells = suppress_margin(
        total.received, {key: acc.received for key, acc in totals.items()}, threshold
    )
    group = Group(
        total_cell,
        _times(total.first_response, not total_cell.suppressed, threshold),
        _times(total.resolution, not total_cell.suppressed, threshold),
    )
    return group, {
        key: Group(
            cells[key],
            _times(acc.first_response, not cells[key].suppressed, threshold),
            _times(acc.resolution, not cells[key].suppressed, threshold),
        )
        for key, acc in totals.items()
    }


def _month(
    session: Session,
    start: date,
    *,
    complete: bool,
    regions: Mapping[int, str],
    categories: Iterable[str],
    platforms: Iterable[str],
    threshold: int,
) -> Month:
    pairs = _pairs(start)
    total = _Acc()
    by: dict[str, dict[str, _Acc]] = {"c": defaultdict(_Acc), "r": defaultdict(_Acc)}
    for category in categories:
        by["c"][category] = _Acc()
    for row in rollups.read(session, NATIONAL_SCOPE, ("t", "c", "r"), pairs):
        if row.dim == "t":
            acc = total
        elif row.dim == "r":
            acc = by["r"][
                ABROAD_KEY if row.key == ABROAD_KEY else regions.get(int(row.key), row.key)
            ]
        else:
            acc = by["c"][row.key]
        acc.received += row.received
        acc.first_response.add_blob(row.first_response)
        acc.resolution.add_blob(row.resolution)
    total_group, by_category = _groups(by["c"], total, threshold)
    _same, by_region = _groups(by["r"], total, threshold)

    requested: dict[str, int] = {platform: 0 for platform in platforms}
    removed: dict[str, int] = defaultdict(int)
    removal: dict[str, Distribution] = defaultdict(Distribution)
    for row in takedown_rollups.read(session, NATIONAL_SCOPE, pairs):
        requested[row.platform] = requested.get(row.platform, 0) + row.requested
        removed[row.platform] += row.removed
        removal[row.platform].add_blob(row.removal)
    takedowns_total, request_cells = suppress_margin(sum(requested.values()), requested, threshold)
    by_platform = {
        platform: PlatformFigures(
            request_cells[platform],
            published_share(removed[platform], count, request_cells[platform], threshold),
            _times(removal[platform], not request_cells[platform].suppressed, threshold),
        )
        for platform, count in requested.items()
    }
    return Month(
        start=start,
        complete=complete,
        total=total_group,
        by_category=by_category,
        by_region=by_region,
        by_platform=by_platform,
        takedowns_total=takedowns_total,
    )


def compute(
    session: Session,
    *,
    now: datetime,
    months: int,
    categories: Iterable[str],
    platforms: Iterable[str],
    threshold: int,
) -> list[Month]:
    """The last ``months`` complete months, oldest first."""
    regions = {region.id: region.code for region in session.scalars(select(Region))}
    starts = month_starts(now, months)
    categories, platforms = list(categories), list(platforms)
    return [
        _month(
            session,
            start,
            complete=True,
            regions=regions,
            categories=categories,
            platforms=platforms,
            threshold=threshold,
        )
        for start in starts
    ]


def _hours(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds / 3600, 1)


def _record(month: Month, dimension: str, key: str, measure: str, value: Any) -> dict[str, Any]:
    return {
        "month": month.key,
        "dimension": dimension,
        "key": key,
        "measure": measure,
        "value": value,
        "suppressed": value is None,
    }


def _time_records(
    month: Month, dimension: str, key: str, name: str, times: Times
) -> list[dict[str, Any]]:
    return [
        _record(month, dimension, key, f"{name}_median_hours", _hours(times.p50)),
        _record(month, dimension, key, f"{name}_p90_hours", _hours(times.p90)),
    ]


def records(months: Iterable[Month]) -> list[dict[str, Any]]:
    """The published figures as flat records (the CSV and JSON downloads): one per month,
    dimension, key and measure; a suppressed figure has ``value`` None and ``suppressed``."""
    out: list[dict[str, Any]] = []
    for month in months:
        groups = [("total", TOTAL, month.total)]
        groups += [("category", key, group) for key, group in month.by_category.items()]
        groups += [("region", key, group) for key, group in month.by_region.items()]
        for dimension, key, group in groups:
            out.append(_record(month, dimension, key, "reports_received", group.received.value))
            out += _time_records(month, dimension, key, "first_response", group.first_response)
            out += _time_records(month, dimension, key, "resolution", group.resolution)
        for platform, figures in month.by_platform.items():
            share = None if figures.removed_share is None else round(figures.removed_share, 3)
            out.append(
                _record(month, "platform", platform, "urls_requested", figures.requested.value)
            )
            out.append(_record(month, "platform", platform, "removed_share", share))
            out += _time_records(month, "platform", platform, "removal", figures.removal)
    return out


def period_end(start: date) -> date:
    return _next_month(start) - timedelta(days=1)
