"""Response-time statistics for supervisors, read from rollups and the open reports only.

Definitions (DESIGN.md, "Lifecycle and response times"):

- *Time to first response* = ``first_response_at - submitted_at``; officers' actions set
  ``first_response_at``, a mere view never does.
- *Time to resolution* = ``closed_at - submitted_at`` (entering ``referred`` or ``closed``).
- A period is a run of whole local (Africa/Casablanca) days and selects the reports
  **submitted** in it. Their outcomes are those known now: a report without a first response is
  counted as *awaiting*, never as a duration, and an unresolved report is counted as
  *unresolved*, never silently in resolution times.
- *Backlog* = the reports open now (whenever they were submitted), with their exact ages.
- *SLA*: a report is due once it was answered or its target (per priority) has passed without an
  answer; the share shown is ``met / due``. Reports still inside their target are not judged.
- *Waiting now* = open reports with no first response yet, whenever submitted; *overdue now* =
  those of them past their first-response target; *oldest waiting* = the age of the oldest.
- *Time to first response so far*: the period's answered reports at their time to first
  response, and its reports still waiting at their age so far. Its percentiles are lower bounds
  of what the final ones will be, and they cannot make a unit that leaves reports unanswered look
  fast: the map is shaded by its median.

Where the figures come from: counts and duration distributions of the period's reports from
``stats_rollups`` (:mod:`portal.services.rollups`, a few dozen blocks of days whatever the
period; a period ending today may read blocks that run past it, over days where nothing is
stored yet), and everything about open reports from the open reports themselves (a partial index
holds only those; the waiting ones are read one row each, since their ages enter the
percentiles "so far"). No figure reads the closed reports, so the cost depends on days, units and
open reports, never on how many reports were ever made.

Percentiles: **linear interpolation between closest ranks** (PostgreSQL's ``percentile_cont``),
exact while a group holds at most 64 durations, otherwise from fixed buckets with less than 1 %
relative error (:mod:`portal.services.distribution` states and proves the bound). Shares within
whole-hour targets are exact.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, DateTime, Select, case, func, literal, select, type_coerce
from sqlalchemy.orm import Session

from portal.db import alongside, fetch_all
from portal.models import (
    OPEN_STATUSES,
    Region,
    Report,
    StatsRollup,
    Unit,
    as_stored,
    from_stored,
    utcnow,
)
from portal.services import rollups
from portal.services.distribution import (
    Distribution,
    Summary,
    exact_blob,
    is_edge,
    percentile_cont,
    summarize_blobs,
)
from portal.services.rollups import LOCAL_TZ

NATIONAL = "national"
ABROAD = "abroad"  # the row of reports made from outside Morocco (no region)
TOTAL = "all"
FRACTIONS = (0.5, 0.9)
# Standard rolling periods: this many local days, today included.
PERIODS: dict[str, int] = {"7d": 7, "30d": 30, "90d": 90, "365d": 365}
DEFAULT_PERIOD = "90d"
# The trend goes week by week up to this many weeks, then four weeks at a time.
TREND_WEEKS_UP_TO = 26
WEEK_DAYS = 7
FOUR_WEEKS_DAYS = 28  # a stored block of rollups.LEVELS
PRIORITY_ORDER = ("urgent", "high", "normal")
# Backlog age buckets: upper bounds in days (the last bucket is open-ended).
BACKLOG_BUCKETS: tuple[tuple[str, float | None], ...] = (
    ("lt1d", 1),
    ("1to3d", 3),
    ("3to7d", 7),
    ("7to30d", 30),
    ("gt30d", None),
)
# The bounded buckets' upper bounds, in days.
_BOUNDS = tuple(days for _name, days in BACKLOG_BUCKETS if days is not None)


_SECOND = timedelta(seconds=1)

__all__ = ["percentile_cont"]


# --- inputs ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """Reports submitted in ``[start, end)`` (aware UTC). ``key`` names a standard period."""

    start: datetime
    end: datetime
    key: str | None = None

    @classmethod
    def rolling(cls, key: str, now: datetime) -> Period:
        """The last ``PERIODS[key]`` local days, today included."""
        today = now.astimezone(LOCAL_TZ).date()
        whole = cls.between(today - timedelta(days=PERIODS[key] - 1), today)
        return cls(start=whole.start, end=whole.end, key=key)

    @classmethod
    def between(cls, first_day: date, last_day: date) -> Period:
        """Whole local (Africa/Casablanca) days, ``last_day`` included."""
        if last_day < first_day:
            raise ValueError("the period ends before it starts")
        start = datetime.combine(first_day, time(0), LOCAL_TZ).astimezone(UTC)
        end = datetime.combine(last_day + timedelta(days=1), time(0), LOCAL_TZ).astimezone(UTC)
        return cls(start=start, end=end)

    def days(self) -> tuple[int, int]:
        """The local days it covers, ``[first, end)``, as rollup day numbers."""
        return (
            rollups.day_number(self.start),
            rollups.day_number(self.end - timedelta(microseconds=1)) + 1,
        )

    def whole_days(self) -> Period:
        first, end = self.days()
        return Period(
            start=rollups.day_start(first).astimezone(UTC),
            end=rollups.day_start(end).astimezone(UTC),
            key=self.key,
        )


@dataclass(frozen=True)
class SLA:
    first_response_hours: Mapping[str, float]
    resolution_days: Mapping[str, float]

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> SLA:
        return cls(
            first_response_hours=dict(config["SLA_FIRST_RESPONSE_HOURS"]),
            resolution_days=dict(config["SLA_RESOLUTION_DAYS"]),
        )

    def first_response_seconds(self, priority: str) -> float:
        return float(self.first_response_hours[priority]) * 3600

    def resolution_seconds(self, priority: str) -> float:
        return float(self.resolution_days[priority]) * 86400

    def estimated_targets(self) -> list[str]:
        """The targets whose shares are estimated rather than exact: those that are not a
        duration bucket edge (whole hours up to 50, whole days up to 100 are edges)."""
        found = []
        for name, unit, targets, seconds_of in (
            (
                "SLA_FIRST_RESPONSE_HOURS",
                "h",
                self.first_response_hours,
                self.first_response_seconds,
            ),
            ("SLA_RESOLUTION_DAYS", "d", self.resolution_days, self.resolution_seconds),
        ):
            for priority, value in sorted(targets.items()):
                target = seconds_of(priority)
                if target % 1 or not is_edge(int(target)):
                    found.append(f"{name}[{priority}] = {value} {unit}")
        return found


def target_warnings(config: Mapping[str, Any]) -> list[str]:
    """What to warn an operator of at start: targets whose shares within target the dashboards
    can only estimate (counted to the end of the duration bucket holding the target)."""
    estimated = SLA.from_config(config).estimated_targets()
    if not estimated:
        return []
    return [
        "Shares within these targets are estimated, not exact (choose whole hours up to 50 or"
        " whole days up to 100): " + ", ".join(estimated)
    ]


# --- results ---------------------------------------------------------------------------------


@dataclass
class Percentiles:
    n: int = 0
    p50: float | None = None  # seconds
    p90: float | None = None


@dataclass
class Waiting:
    """Open reports with no first response yet, at this moment (whenever they were submitted)."""

    count: int = 0
    overdue: int = 0  # past their first-response target
    oldest: datetime | None = None  # submission of the oldest
    oldest_seconds: float | None = None


@dataclass
class GroupStats:
    """One row of the dashboard: a region, a unit, a category, a priority, or the total."""

    key: str
    received: int = 0
    awaiting_first_response: int = 0
    unresolved: int = 0
    first_response: Percentiles = field(default_factory=Percentiles)
    resolution: Percentiles = field(default_factory=Percentiles)
    first_sla_met: int = 0
    first_sla_due: int = 0
    resolution_sla_met: int = 0
    resolution_sla_due: int = 0
    open_backlog: int = 0
    oldest_open_seconds: float | None = None
    # Now, whatever the period: waiting for a first response, overdue, the oldest's age.
    waiting: Waiting = field(default_factory=Waiting)
    # The period's reports still waiting, and the age of the oldest of them.
    waiting_in_period: Waiting = field(default_factory=Waiting)
    # Time to first response with the period's waiting reports at their age so far.
    first_response_so_far: Percentiles = field(default_factory=Percentiles)

    @property
    def first_sla_share(self) -> float | None:
        return self.first_sla_met / self.first_sla_due if self.first_sla_due else None

    @property
    def resolution_sla_share(self) -> float | None:
        return (
            self.resolution_sla_met / self.resolution_sla_due if self.resolution_sla_due else None
        )


@dataclass
class Dashboard:
    scope: str  # NATIONAL or a region code
    period_start: datetime
    period_end: datetime
    period_key: str | None
    computed_at: datetime
    total: GroupStats
    regions: list[GroupStats]
    units: list[GroupStats]  # worst first
    categories: list[GroupStats]
    priorities: list[GroupStats]
    backlog_buckets: list[tuple[str, int]]
    steps: list[date]  # the local Monday starting each step of the trend
    step_days: int  # WEEK_DAYS, or FOUR_WEEKS_DAYS for periods over TREND_WEEKS_UP_TO weeks
    # Median time to first response per step: region code (or TOTAL) -> one value per step.
    trend: dict[str, list[float | None]]
    # Whether every target is a bucket edge, so that shares within target are exact.
    targets_exact: bool = True

    @property
    def weekly_trend(self) -> bool:
        """Whether the trend goes week by week (else four weeks at a time)."""
        return self.step_days == WEEK_DAYS

    def age(self, now: datetime) -> timedelta:
        return now - self.computed_at


# --- computation -----------------------------------------------------------------------------


class _Group:
    """One row of the dashboard: how many reports, and its place among the summaries."""

    __slots__ = ("index", "received")

    def __init__(self, index: int) -> None:
        self.index = index
        self.received = 0


def _earliest(values: Iterable[datetime | None]) -> datetime | None:
    return min((value for value in values if value is not None), default=None)


@dataclass
class _Open:
    """Open reports of a group: how many, the oldest, those in the period past a target, and
    those still waiting for a first response (now, and among the period's)."""

    count: int = 0
    oldest: datetime | None = None
    first_overdue: int = 0
    resolution_overdue: int = 0
    waiting: Waiting = field(default_factory=Waiting)
    waiting_in_period: Waiting = field(default_factory=Waiting)

    @classmethod
    def of(cls, rows: list[_OpenRow]) -> _Open:
        """The sum of the database's rows that count in one dashboard row."""
        column = dict(zip(_OpenRow._fields, zip(*rows, strict=True), strict=True))
        first_overdue = sum(column["first_overdue"])
        return cls(
            count=sum(column["count"]),
            oldest=_aware(_earliest(column["oldest"])),
            first_overdue=first_overdue,
            resolution_overdue=sum(column["resolution_overdue"]),
            waiting=Waiting(
                sum(column["waiting"]),
                sum(column["waiting_overdue"]),
                _aware(_earliest(column["waiting_oldest"])),
            ),
            # The period's waiting reports past their target are its first-response overdue.
            waiting_in_period=Waiting(
                sum(column["waiting_in_period"]),
                first_overdue,
                _aware(_earliest(column["waiting_in_period_oldest"])),
            ),
        )


class _OpenRow(NamedTuple):
    """The open reports of one region, unit, category and priority, as the database counts
    them; ``younger`` counts those younger than each bounded backlog bucket."""

    region_id: int | None
    unit_id: int | None
    category: str
    priority: str | None
    count: int
    oldest: datetime
    first_overdue: int  # waiting, in the period and past the first-response target
    resolution_overdue: int
    waiting: int
    waiting_overdue: int
    waiting_oldest: datetime | None
    waiting_in_period: int
    waiting_in_period_oldest: datetime | None
    younger: tuple[int, ...]


_Summaries = tuple[tuple[Summary, int], tuple[Summary, int]]


def _stats(
    group: _Group | None,
    open_: _Open | None,
    sla: SLA,
    now: datetime,
    summaries: _Summaries | None = None,
) -> GroupStats:
    stats = GroupStats(key="")
    if group is not None and summaries is not None:
        stats.received = group.received
        for attribute, (summary, within) in zip(
            ("first_response", "resolution"), summaries, strict=True
        ):
            target: Percentiles = getattr(stats, attribute)
            target.n = summary.n
            target.p50, target.p90 = summary.percentiles
            if attribute == "first_response":
                stats.first_sla_met = within
            else:
                stats.resolution_sla_met = within
        stats.awaiting_first_response = stats.received - stats.first_response.n
        stats.unresolved = stats.received - stats.resolution.n
    stats.first_sla_due = stats.first_response.n
    stats.resolution_sla_due = stats.resolution.n
    if open_ is not None:
        stats.first_sla_due += open_.first_overdue
        stats.resolution_sla_due += open_.resolution_overdue
        stats.open_backlog = open_.count
        if open_.oldest is not None:
            stats.oldest_open_seconds = (now - open_.oldest).total_seconds()
    return stats


# The statistics read open and waiting reports through the driver's binary cursor
# (``portal.db.fetch_all``), which skips SQLAlchemy's types: instants go in and come out as they
# are stored, naive UTC, on either database.
def _as_stored(column: ColumnElement[datetime]) -> ColumnElement[datetime]:
    """A ``UTCDateTime`` column read as stored (naive UTC)."""
    return type_coerce(column, DateTime())


def _utc(value: datetime) -> ColumnElement[datetime]:
    """An instant as stored (naive UTC), to compare with a column ``_as_stored`` or a
    ``UTCDateTime`` one."""
    return literal(as_stored(value), DateTime())


def _aware(value: datetime | None) -> datetime | None:
    return None if value is None else from_stored(value)


def _by_priority(values: Mapping[str, Any], default: ColumnElement[Any]) -> ColumnElement[Any]:
    if not values:
        return default
    return case(
        *((Report.priority == priority, value) for priority, value in values.items()),
        else_=default,
    )


def deadline_cutoff(
    targets: Mapping[str, timedelta], now: datetime, default: timedelta | None
) -> ColumnElement[Any]:
    """A CASE on the report's priority: the submission time before which a report of that
    priority is past its target at ``now``. A priority ``targets`` does not name has the
    ``default`` target, or none when ``default`` is None (NULL: never past any deadline)."""
    return _by_priority(
        {priority: _utc(now - target) for priority, target in targets.items()},
        literal(None, DateTime()) if default is None else _utc(now - default),
    )


def _open_query(region_id: int | None, period: Period, sla: SLA, now: datetime) -> Select[Any]:
    """One grouped pass over the open reports: per region, unit, category and priority the
    count, the oldest, those in the period past their first-response and resolution targets,
    the waiting ones (now and the period's) and those younger than each backlog bucket's bound
    (:class:`_OpenRow`). Open reports are few and a partial index holds only them."""

    def cutoff(seconds_of: Any, priorities: Iterable[str]) -> ColumnElement[Any]:
        return deadline_cutoff(
            {p: timedelta(seconds=seconds_of(p)) for p in priorities},
            now,
            timedelta(seconds=seconds_of("normal")),
        )

    submitted = _as_stored(Report.submitted_at)
    in_period = (submitted >= _utc(period.start)) & (submitted < _utc(period.end))
    waiting = Report.first_response_at.is_(None)
    past_first_target = submitted < cutoff(sla.first_response_seconds, sla.first_response_hours)
    res_overdue = in_period & (submitted < cutoff(sla.resolution_seconds, sla.resolution_days))
    # The reports younger than each bucket's bound, counted per row (a CASE grouped by bucket
    # would multiply the rows read back by the number of buckets).
    younger = [
        func.count().filter(submitted > _utc(now - timedelta(days=days))) for days in _BOUNDS
    ]
    columns = (Report.region_id, Report.unit_id, Report.category, Report.priority)
    stmt = select(
        *columns,
        func.count(),
        func.min(submitted),
        func.count().filter(in_period & waiting & past_first_target),
        func.count().filter(res_overdue),
        func.count().filter(waiting),
        func.count().filter(waiting & past_first_target),
        func.min(submitted).filter(waiting),
        func.count().filter(waiting & in_period),
        func.min(submitted).filter(waiting & in_period),
        *younger,
    ).where(Report.status.in_(OPEN_STATUSES))
    if region_id is not None:
        stmt = stmt.where(Report.region_id == region_id)
    return stmt.group_by(*columns)


def _count_open(
    rows: Iterable[Sequence[Any]],
) -> tuple[dict[tuple[str, str], _Open], list[tuple[str, int]]]:
    """The open reports of each dashboard row (the total, each region, unit, category and
    priority) and the backlog's age buckets, from the rows of :func:`_open_query`."""
    # Each row read counts in five dashboard rows: gather them, then sum each gathering.
    gathered: dict[tuple[str, str], list[_OpenRow]] = defaultdict(list)
    total = 0
    younger_than = [0] * len(_BOUNDS)
    counted = len(_OpenRow._fields) - 1  # the columns before the "younger" ones
    for values in rows:
        row = _OpenRow(*values[:counted], younger=tuple(values[counted:]))
        total += row.count
        for index, number in enumerate(row.younger):
            younger_than[index] += number
        for key in _row_keys(row.region_id, row.unit_id, row.category, row.priority):
            gathered[key].append(row)
    groups = {key: _Open.of(rows) for key, rows in gathered.items()}
    bounds = [*younger_than, total]
    buckets = [
        (name, bounds[i] - (bounds[i - 1] if i else 0))
        for i, (name, _days) in enumerate(BACKLOG_BUCKETS)
    ]
    return groups, buckets


def _row_keys(
    region_id: int | None, unit_id: int | None, category: str, priority: str | None
) -> tuple[tuple[str, str], ...]:
    """The dashboard rows a report counts in: the total, its region, unit, category, priority."""
    region_key = rollups.ABROAD_KEY if region_id is None else str(region_id)
    return (
        ("t", ""),
        ("r", region_key),
        ("u", str(unit_id)),
        ("c", category),
        ("p", priority or "normal"),
    )


def waiting_reports_query(region_id: int | None, period: Period) -> Select[Any]:
    """(region id, unit id, category, priority, submitted at as stored) of every open report
    submitted in the period with no first response yet, in a region or nationally. Read through
    the partial index of waiting reports: the cost follows them, never every report ever made."""
    submitted = _as_stored(Report.submitted_at)
    stmt = select(
        Report.region_id, Report.unit_id, Report.category, Report.priority, submitted
    ).where(
        Report.status.in_(OPEN_STATUSES),
        Report.first_response_at.is_(None),
        submitted >= _utc(period.start),
        submitted < _utc(period.end),
    )
    if region_id is not None:
        stmt = stmt.where(Report.region_id == region_id)
    return stmt


def _waiting_ages(
    session: Session, region_id: int | None, period: Period, now: datetime
) -> dict[tuple[str, str], list[int]]:
    """The ages (whole seconds) of the period's waiting reports, per dashboard row they count
    in."""
    # Each report counts in five rows: gather the reports of the same region, unit, category
    # and priority first, then add each gathering to its five rows.
    stored_now = as_stored(now)
    gathered: dict[tuple[Any, ...], list[int]] = defaultdict(list)
    for region_id_, unit_id, category, priority, submitted in fetch_all(
        session.connection(), waiting_reports_query(region_id, period)
    ):
        age = (stored_now - submitted) // _SECOND
        gathered[(region_id_, unit_id, category, priority)].append(max(0, age))
    ages: dict[tuple[str, str], list[int]] = defaultdict(list)
    for row, row_ages in gathered.items():
        for key in _row_keys(*row):
            ages[key] += row_ages
    return ages


def _attach_waiting(
    stats: GroupStats, open_: _Open | None, so_far: Summary | None, now: datetime
) -> None:
    if open_ is not None:
        for target, found in (
            (stats.waiting, open_.waiting),
            (stats.waiting_in_period, open_.waiting_in_period),
        ):
            target.count, target.overdue, target.oldest = found.count, found.overdue, found.oldest
            if found.oldest is not None:
                target.oldest_seconds = (now - found.oldest).total_seconds()
    summary = so_far if so_far is not None else Distribution().summary(FRACTIONS)
    stats.first_response_so_far = Percentiles(summary.n, *summary.percentiles)


def trend_steps(period: Period) -> tuple[list[date], int]:
    """The steps of the trend: the local Monday starting each, and their length in
    days. A period of up to :data:`TREND_WEEKS_UP_TO` weeks goes week by week; a longer one
    four weeks at a time, each step one stored block (the blocks of 28 days counted from
    :data:`rollups.EPOCH`), so that a two-year trend has 27 points, not 105, and reads a
    quarter of the pieces. The first step and the last may be partial."""
    first_day, end_day = period.days()
    size = WEEK_DAYS if end_day - first_day <= TREND_WEEKS_UP_TO * WEEK_DAYS else FOUR_WEEKS_DAYS
    return [
        rollups.EPOCH + timedelta(days=day)
        for day in range(first_day - first_day % size, end_day, size)
    ], size


def _worst_first(row: GroupStats) -> tuple[int, int, float, float, int, str]:
    """What needs action first: most reports overdue now, then most waiting, then the lowest
    share within target, then the slowest median so far, then the biggest backlog; ties by
    name, so that the order does not depend on how the figures were read."""
    share = row.first_sla_share
    return (
        -row.waiting.overdue,
        -row.waiting.count,
        share if share is not None else 2.0,
        -(row.first_response_so_far.p50 or 0.0),
        -row.open_backlog,
        row.key,
    )


@dataclass
class _Merged:
    """The period's stored rollups merged: each row's count and summaries, the rows' first
    responses "so far" (with the period's waiting reports at their age), the trend's medians."""

    groups: dict[tuple[str, str], _Group]
    summaries: dict[tuple[str, str], _Summaries]
    so_far: dict[tuple[str, str], Summary]
    step_summary: dict[tuple[str, int], Summary]


def _merge_period(
    session: Session,
    scope: int,
    region_id: int | None,
    period: Period,
    sla: SLA,
    now: datetime,
    steps: list[date],
    step_days: int,
) -> _Merged:
    """The period's stored rollups (and those of the trend's ``steps``, none for the CSV) read
    and merged, with the period's waiting reports at their age for the "so far" figures."""
    # Which stored blocks make the period, and each step of the trend.
    first_day, end_day = period.days()
    # Past the last day anything is stored, a block may run beyond the period.
    empty_from = rollups.first_empty_day(session, StatsRollup.__table__, scope)
    period_pairs = set(rollups.blocks(first_day, end_day, empty_from=empty_from))
    step_of: dict[tuple[int, int], int] = {}
    for index, monday in enumerate(steps):
        start = max((monday - rollups.EPOCH).days, first_day)
        end = min((monday - rollups.EPOCH).days + step_days, end_day)
        for pair in rollups.blocks(start, end, empty_from=empty_from):
            step_of[pair] = index
    trend_dims = ("t", "r") if region_id is None else ("t",)
    dims = ("t", "r", "u", "c") if region_id is None else ("t", "u", "c")

    groups: dict[tuple[str, str], _Group] = {}
    per_step: dict[tuple[str, int], int] = {}
    # Every stored piece read, with the row it counts in (two per group: first response and
    # resolution, each with the target of the piece's priority), then the trend's pieces.
    blobs: list[bytes | None] = []
    owners: list[int] = []
    targets: list[int] = []
    trend_blobs: list[bytes | None] = []
    trend_owners: list[int] = []
    target_pairs: dict[str, tuple[int, int]] = {}

    def group_of(key: tuple[str, str]) -> _Group:
        group = groups.get(key)
        if group is None:
            group = groups[key] = _Group(len(groups))
        return group

    def add_to_trend(dim: str, key: str, step: int, first_response: bytes | None) -> None:
        trend_blobs.append(first_response)
        trend_owners.append(per_step.setdefault((dim + key, step), len(per_step)))

    # The period's blocks for every grouping (a dashboard at 1M reads some 1,600 rows: this
    # loop is kept to plain tuples and appends).
    for level, block, dim, key, priority, received, first, resolution in rollups.read(
        session, scope, dims, period_pairs
    ):
        pair_targets = target_pairs.get(priority)
        if pair_targets is None:
            pair_targets = target_pairs[priority] = (
                int(sla.first_response_seconds(priority)),
                int(sla.resolution_seconds(priority)),
            )
        for group in (
            (group_of((dim, key)), group_of(("p", priority)))
            if dim == "t"
            else (group_of((dim, key)),)
        ):
            group.received += received
            blobs += (first, resolution)
            owners += (2 * group.index, 2 * group.index + 1)
            targets += pair_targets
        step = step_of.get((level, block))
        if step is not None and dim in trend_dims:
            add_to_trend(dim, key, step, first)
    # The steps' blocks outside the period, only for the trend's groupings.
    for level, block, dim, key, _priority, _received, first, _resolution in rollups.read(
        session, scope, trend_dims, set(step_of) - period_pairs, resolution=False
    ):
        add_to_trend(dim, key, step_of[(level, block)], first)

    waiting_ages = _waiting_ages(session, region_id, period, now)

    # "So far": each row's first responses with its waiting reports counted at their age.
    so_far_index: dict[tuple[str, str], int] = {}
    for key in (*groups, *waiting_ages):
        so_far_index.setdefault(key, len(so_far_index))
    so_far_blobs = [exact_blob(ages) for ages in waiting_ages.values()]
    so_far_owners = [so_far_index[key] for key in waiting_ages]

    # Every row's percentiles and shares, the trend's medians and the rows' "so far",
    # in one pass.
    first_trend = 2 * len(groups)
    first_so_far = first_trend + len(per_step)
    computed = summarize_blobs(
        blobs + trend_blobs + so_far_blobs,
        owners
        + [first_trend + owner for owner in trend_owners]
        + [first_so_far + owner for owner in so_far_owners],
        targets + [-1] * (len(trend_blobs) + len(so_far_blobs)),
        first_so_far + len(so_far_index),
        FRACTIONS,
        # A row's "so far" holds its first responses without decoding them a second time.
        bases={first_so_far + so_far_index[key]: 2 * group.index for key, group in groups.items()},
    )
    so_far_of = {key: computed[first_so_far + index][0] for key, index in so_far_index.items()}
    summaries_of = {
        key: (computed[2 * group.index], computed[2 * group.index + 1])
        for key, group in groups.items()
    }
    step_summary = {key: computed[first_trend + index][0] for key, index in per_step.items()}

    return _Merged(groups, summaries_of, so_far_of, step_summary)


def compute_dashboard(
    session: Session,
    *,
    period: Period,
    sla: SLA,
    region_code: str | None = None,
    now: datetime | None = None,
    with_trend: bool = True,
) -> Dashboard:
    """Every figure of the supervisor dashboard for a scope (a region or national); the trend
    only ``with_trend`` (the CSV has none)."""
    now = now or utcnow()
    period = period.whole_days()
    regions = {r.id: r.code for r in session.scalars(select(Region))}
    units = {u.id: u.code for u in session.scalars(select(Unit))}
    region_id = None
    if region_code is not None:
        matches = [rid for rid, code in regions.items() if code == region_code]
        if not matches:
            raise ValueError(f"unknown region {region_code!r}")
        region_id = matches[0]
    scope = rollups.NATIONAL_SCOPE if region_id is None else region_id

    def region_name(key: str) -> str:
        return ABROAD if key == rollups.ABROAD_KEY else regions.get(int(key), key)

    steps, step_days = trend_steps(period)
    # The open reports are counted on a connection of their own while the rollups are merged.
    with alongside(session, _open_query(region_id, period, sla, now)) as open_rows:
        merged = _merge_period(
            session, scope, region_id, period, sla, now, steps if with_trend else [], step_days
        )
        open_groups, backlog_buckets = _count_open(open_rows())
    groups, summaries_of, so_far_of = merged.groups, merged.summaries, merged.so_far

    def stats_of(key: tuple[str, str], source: Mapping[tuple[str, str], _Group]) -> GroupStats:
        return _stats(source.get(key), open_groups.get(key), sla, now, summaries_of.get(key))

    def rows(
        dim: str, name_of: Any, known: Iterable[str] = (), source: Any = None
    ) -> list[GroupStats]:
        source = groups if source is None else source
        keys = [*known]
        keys += [k for (d, k) in source if d == dim]
        keys += [k for (d, k) in open_groups if d == dim]
        result = []
        for key in dict.fromkeys(keys):
            row = stats_of((dim, key), source)
            _attach_waiting(row, open_groups.get((dim, key)), so_far_of.get((dim, key)), now)
            row.key = name_of(key)
            result.append(row)
        return result

    total = stats_of(("t", ""), groups)
    _attach_waiting(total, open_groups.get(("t", "")), so_far_of.get(("t", "")), now)
    total.key = TOTAL
    if region_id is None:
        known = [str(rid) for rid in sorted(regions, key=lambda rid: regions[rid])]
        region_rows = rows("r", region_name, known)
    else:
        region_row = stats_of(("t", ""), groups)
        _attach_waiting(region_row, open_groups.get(("t", "")), so_far_of.get(("t", "")), now)
        region_row.key = regions[region_id]
        region_rows = [region_row]
    region_rows.sort(key=lambda r: (r.key == ABROAD, r.key))
    unit_rows = rows("u", lambda k: units.get(int(k), k))
    unit_rows.sort(key=_worst_first)
    priority_rows = rows("p", str, PRIORITY_ORDER)
    priority_rows.sort(key=lambda r: PRIORITY_ORDER.index(r.key) if r.key in PRIORITY_ORDER else 99)

    trend: dict[str, list[float | None]] = {}
    for (dim_key, step), summary in merged.step_summary.items():
        dim, key = dim_key[0], dim_key[1:]
        if not summary.n:
            continue
        names = [TOTAL] if dim == "t" else [region_name(key)]
        if region_id is not None:
            names = [regions[region_id], TOTAL]
        for name in names:
            trend.setdefault(name, [None] * len(steps))[step] = summary.percentiles[0]
    return Dashboard(
        scope=region_code or NATIONAL,
        period_start=period.start,
        period_end=period.end,
        period_key=period.key,
        computed_at=now,
        total=total,
        regions=region_rows,
        units=unit_rows,
        categories=sorted(rows("c", str), key=lambda r: (-r.received, r.key)),
        priorities=priority_rows,
        backlog_buckets=backlog_buckets,
        steps=steps,
        step_days=step_days,
        trend=trend,
        targets_exact=not sla.estimated_targets(),
    )
