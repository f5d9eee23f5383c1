"""Response-time statistics for supervisors: one definition, computed in the database.

Definitions (DESIGN.md, "Lifecycle and response times"):

- *Time to first response* = ``first_response_at - submitted_at``; officers' actions set
  ``first_response_at``, a mere view never does.
- *Time to resolution* = ``closed_at - submitted_at`` (entering ``referred`` or ``closed``).
- A period selects the reports **submitted** in ``[start, end)``. Their outcomes are those known
  at ``now``: a report without a first response is counted as *awaiting*, never as a duration,
  and an unresolved report is counted as *unresolved*, never silently in resolution times.
- *Backlog* = reports still open at the end of the period (whenever they were submitted), with
  their age at that moment.
- *SLA*: a report is due once it was answered or its target (per priority) has passed without an
  answer; the share shown is ``met / due``. Reports still inside their target are not judged.

Percentiles: **linear interpolation between closest ranks**, exactly PostgreSQL's
``percentile_cont``. For the n sorted durations ``v[0] <= ... <= v[n-1]`` and a fraction ``p``,
the position is ``p * (n - 1)``; the result is ``v[lo] + (v[hi] - v[lo]) * (position - lo)``
with ``lo``/``hi`` the ranks either side. PostgreSQL computes it with ``percentile_cont(p)
WITHIN GROUP (ORDER BY duration)``; elsewhere (SQLite) the database returns the durations sorted
per group and :func:`percentile_cont` interpolates them. Tests check both against hand-computed
values.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, case, extract, func, literal, select
from sqlalchemy.orm import Session

from portal.models import Region, Report, StatsSnapshot, Unit, UTCDateTime, utcnow

LOCAL_TZ = ZoneInfo("Africa/Casablanca")
NATIONAL = "national"
ABROAD = "abroad"  # the row of reports made from outside Morocco (no region)
TOTAL = "all"
FRACTIONS = (0.5, 0.9)
# Standard rolling periods, in days; ``portal stats refresh`` precomputes each of them.
PERIODS: dict[str, int] = {"7d": 7, "30d": 30, "90d": 90, "365d": 365}
DEFAULT_PERIOD = "90d"
PRIORITY_ORDER = ("urgent", "high", "normal")
# Backlog age buckets: upper bounds in days (the last bucket is open-ended).
BACKLOG_BUCKETS: tuple[tuple[str, float | None], ...] = (
    ("lt1d", 1),
    ("1to3d", 3),
    ("3to7d", 7),
    ("7to30d", 30),
    ("gt30d", None),
)


def percentile_cont(sorted_values: Sequence[float], fraction: float) -> float | None:
    """The ``fraction`` percentile of already sorted values (see the module docstring)."""
    if not sorted_values:
        return None
    if not 0 <= fraction <= 1:
        raise ValueError("fraction must be between 0 and 1")
    position = fraction * (len(sorted_values) - 1)
    lower = math.floor(position)
    upper = math.ceil(position)
    low_value = float(sorted_values[lower])
    return low_value + (float(sorted_values[upper]) - low_value) * (position - lower)


# --- inputs ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """Reports submitted in ``[start, end)`` (aware UTC). ``key`` names a standard period."""

    start: datetime
    end: datetime
    key: str | None = None

    @classmethod
    def rolling(cls, key: str, now: datetime) -> Period:
        return cls(start=now - timedelta(days=PERIODS[key]), end=now, key=key)

    @classmethod
    def between(cls, first_day: date, last_day: date) -> Period:
        """Whole local (Africa/Casablanca) days, ``last_day`` included."""
        if last_day < first_day:
            raise ValueError("the period ends before it starts")
        start = datetime.combine(first_day, time(0), LOCAL_TZ).astimezone(UTC)
        end = datetime.combine(last_day + timedelta(days=1), time(0), LOCAL_TZ).astimezone(UTC)
        return cls(start=start, end=end)


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


# --- results ---------------------------------------------------------------------------------


@dataclass
class Percentiles:
    n: int = 0
    p50: float | None = None  # seconds
    p90: float | None = None


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
    weeks: list[date]  # local Mondays
    # Median time to first response per week: region code (or TOTAL) -> one value per week.
    trend: dict[str, list[float | None]]
    from_snapshot: bool = False

    def age(self, now: datetime) -> timedelta:
        return now - self.computed_at

    def to_json(self) -> str:
        data = asdict(self)
        for name in ("period_start", "period_end", "computed_at"):
            data[name] = getattr(self, name).isoformat()
        data["weeks"] = [week.isoformat() for week in self.weeks]
        data.pop("from_snapshot")
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def from_json(cls, payload: str) -> Dashboard:
        data = json.loads(payload)

        def group(row: dict[str, Any]) -> GroupStats:
            row = dict(row)
            row["first_response"] = Percentiles(**row["first_response"])
            row["resolution"] = Percentiles(**row["resolution"])
            return GroupStats(**row)

        return cls(
            scope=data["scope"],
            period_start=datetime.fromisoformat(data["period_start"]),
            period_end=datetime.fromisoformat(data["period_end"]),
            period_key=data["period_key"],
            computed_at=datetime.fromisoformat(data["computed_at"]),
            total=group(data["total"]),
            regions=[group(r) for r in data["regions"]],
            units=[group(r) for r in data["units"]],
            categories=[group(r) for r in data["categories"]],
            priorities=[group(r) for r in data["priorities"]],
            backlog_buckets=[(k, v) for k, v in data["backlog_buckets"]],
            weeks=[date.fromisoformat(w) for w in data["weeks"]],
            trend=data["trend"],
            from_snapshot=True,
        )


# --- computation -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Context:
    session: Session
    dialect: str
    period: Period
    now: datetime
    as_of: datetime
    sla: SLA
    region_id: int | None  # None: national
    region_codes: dict[int, str]
    unit_codes: dict[int, str]

    def scope_filters(self) -> list[ColumnElement[bool]]:
        if self.region_id is None:
            return []
        return [Report.region_id == self.region_id]

    def period_filters(self) -> list[ColumnElement[bool]]:
        return [
            Report.submitted_at >= self.period.start,
            Report.submitted_at < self.period.end,
            *self.scope_filters(),
        ]


def _utc(value: datetime) -> ColumnElement[datetime]:
    return literal(value, UTCDateTime())


def _seconds_between(dialect: str, later: Any, earlier: Any) -> ColumnElement[float]:
    if dialect == "postgresql":
        return extract("epoch", later - earlier)
    # SQLite keeps datetimes as text; julianday is exact to the millisecond, rounded to seconds.
    return func.round((func.julianday(later) - func.julianday(earlier)) * 86400.0)


def _by_priority(values: Mapping[str, Any], default: Any) -> ColumnElement[Any]:
    return case(
        *((Report.priority == priority, value) for priority, value in values.items()),
        else_=default,
    )


def _measures(ctx: _Context) -> list[ColumnElement[Any]]:
    """Per-report columns: durations (NULL when not yet happened) and SLA flags (0/1)."""
    priorities = list(ctx.sla.first_response_hours)
    fr = _seconds_between(ctx.dialect, Report.first_response_at, Report.submitted_at)
    res = _seconds_between(ctx.dialect, Report.closed_at, Report.submitted_at)
    fr_target = _by_priority(
        {p: ctx.sla.first_response_seconds(p) for p in priorities},
        ctx.sla.first_response_seconds("normal"),
    )
    res_target = _by_priority(
        {p: ctx.sla.resolution_seconds(p) for p in ctx.sla.resolution_days},
        ctx.sla.resolution_seconds("normal"),
    )
    # A report is judged once its target moment has passed: submitted before now - target.
    fr_deadline_passed = Report.submitted_at < _by_priority(
        {
            p: _utc(ctx.now - timedelta(seconds=ctx.sla.first_response_seconds(p)))
            for p in priorities
        },
        _utc(ctx.now - timedelta(seconds=ctx.sla.first_response_seconds("normal"))),
    )
    res_deadline_passed = Report.submitted_at < _by_priority(
        {
            p: _utc(ctx.now - timedelta(seconds=ctx.sla.resolution_seconds(p)))
            for p in ctx.sla.resolution_days
        },
        _utc(ctx.now - timedelta(seconds=ctx.sla.resolution_seconds("normal"))),
    )
    answered = Report.first_response_at.is_not(None)
    resolved = Report.closed_at.is_not(None)
    return [
        fr.label("fr"),
        res.label("res"),
        case((answered & (fr <= fr_target), 1), else_=0).label("fr_met"),
        case((answered | fr_deadline_passed, 1), else_=0).label("fr_due"),
        case((resolved & (res <= res_target), 1), else_=0).label("res_met"),
        case((resolved | res_deadline_passed, 1), else_=0).label("res_due"),
    ]


def _grouped(
    ctx: _Context, keys: Sequence[ColumnElement[Any]], measures: list[ColumnElement[Any]]
) -> Any:
    """Keys are labelled in a subquery so that the outer GROUP BY names plain columns (the
    same bound parameters twice would be two different expressions to PostgreSQL)."""
    labelled = [key.label(f"k{index}") for index, key in enumerate(keys)]
    return select(*labelled, *measures).where(*ctx.period_filters()).subquery()


def _group_stats(
    ctx: _Context, keys: Sequence[ColumnElement[Any]]
) -> dict[tuple[Any, ...], GroupStats]:
    sub = _grouped(ctx, keys, _measures(ctx))
    key_cols = [sub.c[f"k{i}"] for i in range(len(keys))]
    aggregates: list[Any] = [
        func.count(),
        func.count(sub.c.fr),
        func.count(sub.c.res),
        func.coalesce(func.sum(sub.c.fr_met), 0),
        func.coalesce(func.sum(sub.c.fr_due), 0),
        func.coalesce(func.sum(sub.c.res_met), 0),
        func.coalesce(func.sum(sub.c.res_due), 0),
    ]
    in_database = ctx.dialect == "postgresql"
    if in_database:
        aggregates += [
            func.percentile_cont(fraction).within_group(column)
            for column in (sub.c.fr, sub.c.res)
            for fraction in FRACTIONS
        ]
    stmt = select(*key_cols, *aggregates)
    if key_cols:
        stmt = stmt.group_by(*key_cols)
    results: dict[tuple[Any, ...], GroupStats] = {}
    width = len(key_cols)
    for row in ctx.session.execute(stmt):
        key = tuple(row[:width])
        received, answered, resolved, fr_met, fr_due, res_met, res_due = row[width : width + 7]
        if not received:
            continue
        stats = GroupStats(
            key="",
            received=received,
            awaiting_first_response=received - answered,
            unresolved=received - resolved,
            first_sla_met=int(fr_met),
            first_sla_due=int(fr_due),
            resolution_sla_met=int(res_met),
            resolution_sla_due=int(res_due),
        )
        stats.first_response.n = answered
        stats.resolution.n = resolved
        if in_database:
            values = [None if v is None else float(v) for v in row[width + 7 :]]
            stats.first_response.p50, stats.first_response.p90 = values[0], values[1]
            stats.resolution.p50, stats.resolution.p90 = values[2], values[3]
        results[key] = stats
    if not in_database:
        for column, attribute in ((sub.c.fr, "first_response"), (sub.c.res, "resolution")):
            for key, values in _sorted_durations(ctx, key_cols, column):
                target: Percentiles = getattr(results[key], attribute)
                target.p50, target.p90 = (percentile_cont(values, f) for f in FRACTIONS)
    return results


def _sorted_durations(
    ctx: _Context, key_cols: list[Any], column: Any
) -> Iterable[tuple[tuple[Any, ...], list[float]]]:
    """The portable path: durations per group, sorted by the database."""
    width = len(key_cols)
    stmt = select(*key_cols, column).where(column.is_not(None)).order_by(*key_cols, column)
    rows = ctx.session.execute(stmt)
    for key, group in itertools.groupby(rows, key=lambda row: tuple(row[:width])):
        yield key, [float(row[width]) for row in group]


def _open_at(ctx: _Context) -> list[ColumnElement[bool]]:
    return [
        Report.submitted_at < ctx.as_of,
        Report.closed_at.is_(None) | (Report.closed_at > ctx.as_of),
        *ctx.scope_filters(),
    ]


def _backlog(
    ctx: _Context, key: ColumnElement[Any] | None
) -> dict[Any, tuple[int, datetime | None]]:
    columns: list[Any] = [func.count(), func.min(Report.submitted_at)]
    if key is None:
        stmt = select(*columns).where(*_open_at(ctx))
        count, oldest = ctx.session.execute(stmt).one()
        return {None: (count, oldest)}
    sub = select(key.label("k"), Report.submitted_at).where(*_open_at(ctx)).subquery()
    stmt = select(sub.c.k, func.count(), func.min(sub.c.submitted_at)).group_by(sub.c.k)
    return {value: (count, oldest) for value, count, oldest in ctx.session.execute(stmt)}


def _backlog_buckets(ctx: _Context) -> list[tuple[str, int]]:
    whens = []
    for index, (_name, days) in enumerate(BACKLOG_BUCKETS):
        if days is not None:
            whens.append((Report.submitted_at > _utc(ctx.as_of - timedelta(days=days)), index))
    bucket = case(*whens, else_=len(BACKLOG_BUCKETS) - 1)
    sub = select(bucket.label("b")).where(*_open_at(ctx)).subquery()
    counts = dict(ctx.session.execute(select(sub.c.b, func.count()).group_by(sub.c.b)).all())
    return [(name, int(counts.get(i, 0))) for i, (name, _days) in enumerate(BACKLOG_BUCKETS)]


def week_starts(period: Period) -> list[date]:
    """Local Mondays of the weeks the period touches (the first may be partial)."""
    first = period.start.astimezone(LOCAL_TZ).date()
    last = (period.end - timedelta(microseconds=1)).astimezone(LOCAL_TZ).date()
    monday = first - timedelta(days=first.weekday())
    weeks = []
    while monday <= last:
        weeks.append(monday)
        monday += timedelta(days=7)
    return weeks


def _trend(ctx: _Context, weeks: list[date]) -> dict[str, list[float | None]]:
    boundaries = [
        datetime.combine(monday + timedelta(days=7), time(0), LOCAL_TZ).astimezone(UTC)
        for monday in weeks[:-1]
    ]
    week_index: ColumnElement[Any] = literal(0)
    if boundaries:
        week_index = case(
            *((Report.submitted_at < _utc(b), i) for i, b in enumerate(boundaries)),
            else_=len(weeks) - 1,
        )
    trend: dict[str, list[float | None]] = {}
    for keys, name_of in (
        ([week_index, Report.region_id], lambda k: _region_key(ctx, k[1])),
        ([week_index], lambda k: TOTAL),
    ):
        for key, stats in _group_stats(ctx, keys).items():
            series = trend.setdefault(name_of(key), [None] * len(weeks))
            series[int(key[0])] = stats.first_response.p50
    return trend


def _region_key(ctx: _Context, region_id: int | None) -> str:
    return ABROAD if region_id is None else ctx.region_codes[region_id]


def _worst_first(row: GroupStats) -> tuple[float, float, int]:
    """Lowest share within target first, then slowest median, then biggest backlog."""
    share = row.first_sla_share
    return (
        share if share is not None else 2.0,
        -(row.first_response.p50 or 0.0),
        -row.open_backlog,
    )


def compute_dashboard(
    session: Session,
    *,
    period: Period,
    sla: SLA,
    region_code: str | None = None,
    now: datetime | None = None,
) -> Dashboard:
    """Every figure of the supervisor dashboard for a scope (a region or national)."""
    now = now or utcnow()
    regions = {r.id: r.code for r in session.scalars(select(Region))}
    region_id = None
    if region_code is not None:
        matches = [rid for rid, code in regions.items() if code == region_code]
        if not matches:
            raise ValueError(f"unknown region {region_code!r}")
        region_id = matches[0]
    ctx = _Context(
        session=session,
        dialect=session.get_bind().dialect.name,
        period=period,
        now=now,
        as_of=min(period.end, now),
        sla=sla,
        region_id=region_id,
        region_codes=regions,
        unit_codes={u.id: u.code for u in session.scalars(select(Unit))},
    )

    def rows(column: Any, name_of: Any, known: Iterable[Any] = ()) -> list[GroupStats]:
        stats = {key[0]: value for key, value in _group_stats(ctx, [column]).items()}
        backlog = _backlog(ctx, column)
        result = []
        for value in dict.fromkeys([*known, *stats, *backlog]):
            row = stats.get(value) or GroupStats(key="")
            row.key = name_of(value)
            row.open_backlog, oldest = backlog.get(value, (0, None))
            row.oldest_open_seconds = _age_seconds(ctx.as_of, oldest)
            result.append(row)
        return result

    total = _group_stats(ctx, []).get((), GroupStats(key=TOTAL))
    total.key = TOTAL
    total_open, total_oldest = _backlog(ctx, None)[None]
    total.open_backlog = total_open
    total.oldest_open_seconds = _age_seconds(ctx.as_of, total_oldest)

    known_regions = sorted(regions, key=lambda rid: regions[rid])
    if region_id is not None:
        known_regions = [region_id]
    region_rows = rows(Report.region_id, lambda v: _region_key(ctx, v), known_regions)
    region_rows.sort(key=lambda r: (r.key == ABROAD, r.key))
    unit_rows = rows(Report.unit_id, lambda v: ctx.unit_codes[v])
    unit_rows.sort(key=_worst_first)
    weeks = week_starts(period)
    return Dashboard(
        scope=region_code or NATIONAL,
        period_start=period.start,
        period_end=period.end,
        period_key=period.key,
        computed_at=now,
        total=total,
        regions=region_rows,
        units=unit_rows,
        categories=sorted(rows(Report.category, str), key=lambda r: -r.received),
        priorities=sorted(
            rows(Report.priority, str, PRIORITY_ORDER),
            key=lambda r: PRIORITY_ORDER.index(r.key) if r.key in PRIORITY_ORDER else 99,
        ),
        backlog_buckets=_backlog_buckets(ctx),
        weeks=weeks,
        trend=_trend(ctx, weeks),
    )


def _age_seconds(as_of: datetime, oldest: datetime | None) -> float | None:
    return None if oldest is None else (as_of - oldest).total_seconds()


# --- precomputed dashboards ------------------------------------------------------------------


def snapshot_scopes(session: Session) -> list[str | None]:
    """National (None) and every region: the scopes a supervisor can have."""
    return [None, *session.scalars(select(Region.code).order_by(Region.code))]


def refresh_snapshots(
    session: Session,
    *,
    sla: SLA,
    now: datetime | None = None,
    periods: Iterable[str] = PERIODS,
    scopes: Iterable[str | None] | None = None,
) -> list[tuple[str, str]]:
    """Recompute and store the standard dashboards; the caller commits."""
    now = now or utcnow()
    done = []
    for region_code in snapshot_scopes(session) if scopes is None else scopes:
        for key in periods:
            dashboard = compute_dashboard(
                session, period=Period.rolling(key, now), sla=sla, region_code=region_code, now=now
            )
            scope = region_code or NATIONAL
            row = session.get(StatsSnapshot, (scope, key))
            if row is None:
                row = StatsSnapshot(scope=scope, period=key)
                session.add(row)
            row.computed_at = now
            row.payload = dashboard.to_json()
            done.append((scope, key))
    session.flush()
    return done


def load_dashboard(
    session: Session,
    *,
    period: Period,
    sla: SLA,
    region_code: str | None = None,
    now: datetime | None = None,
    max_snapshot_age: timedelta | None = None,
) -> Dashboard:
    """A standard period comes from its snapshot while younger than ``max_snapshot_age``
    (the page shows its age); anything else is computed live."""
    now = now or utcnow()
    if period.key is not None and max_snapshot_age is not None:
        row = session.get(StatsSnapshot, (region_code or NATIONAL, period.key))
        if row is not None and now - row.computed_at <= max_snapshot_age:
            return Dashboard.from_json(row.payload)
    return compute_dashboard(session, period=period, sla=sla, region_code=region_code, now=now)
