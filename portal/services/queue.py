"""The officer queue: filters, keyset pagination and each row's age against its SLA.

Order: open reports first, then resolved ones; within each, most urgent (``priority_rank``),
then oldest, then id. Each part of that order is one index range scan (see migration
0002_officer), and pages continue from a cursor (keyset), so page 200 costs what page 1 costs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Select, bindparam, func, select, tuple_
from sqlalchemy.orm import Session, aliased, selectinload

from portal.domain.receipts import normalize_reference
from portal.models import OPEN_STATUSES, RESOLVED_STATUSES, Officer, Report, ReportURL, utcnow
from portal.services.scope import reports_in_scope

PAGE_SIZE = 50


@dataclass(frozen=True)
class QueueFilters:
    status: str = "open"  # "open", "resolved", "all" or one status
    category: str | None = None
    priority: str | None = None
    platform: str | None = None
    assigned: str = "all"  # "me", "unassigned" or "all"
    date_from: date | None = None
    date_to: date | None = None
    reference: str | None = None

    def segments(self) -> list[tuple[str, ...]]:
        if self.status == "open":
            return [OPEN_STATUSES]
        if self.status == "resolved":
            return [RESOLVED_STATUSES]
        if self.status == "all":
            return [OPEN_STATUSES, RESOLVED_STATUSES]
        return [(self.status,)]


@dataclass(frozen=True)
class Cursor:
    segment: int
    priority_rank: int
    submitted_at: datetime
    report_id: int

    def encode(self) -> str:
        micros = int(self.submitted_at.timestamp() * 1_000_000)
        return f"{self.segment}.{self.priority_rank}.{micros}.{self.report_id}"

    @classmethod
    def decode(cls, text: str | None) -> Cursor | None:
        if not text:
            return None
        try:
            segment, rank, micros, report_id = (int(part) for part in text.split("."))
        except ValueError:
            return None
        at = datetime.fromtimestamp(micros / 1_000_000, tz=UTC)
        return cls(segment, rank, at, report_id)


@dataclass(frozen=True)
class SlaState:
    state: str  # "ok", "due_soon", "overdue", "met", "missed"
    stage: str  # "first_response", "resolution" or "resolved"
    delta: timedelta  # time left (negative: overdue) or, once resolved, time taken
    deadline: datetime | None


@dataclass(frozen=True)
class QueueRow:
    report: Report
    sla: SlaState
    cluster_size: int


@dataclass
class QueuePage:
    rows: list[QueueRow] = field(default_factory=list)
    next_cursor: str | None = None


def sla_state(
    report: Report,
    first_response_hours: dict[str, int],
    resolution_days: dict[str, int],
    *,
    now: datetime | None = None,
) -> SlaState:
    """Where a report stands against its targets: first response, then resolution."""
    now = now or utcnow()
    resolution_target = timedelta(days=resolution_days.get(report.priority, 60))
    if report.closed_at is not None:
        taken = report.closed_at - report.submitted_at
        return SlaState("met" if taken <= resolution_target else "missed", "resolved", taken, None)
    if report.first_response_at is None:
        target = timedelta(hours=first_response_hours.get(report.priority, 72))
        stage = "first_response"
    else:
        target = resolution_target
        stage = "resolution"
    deadline = report.submitted_at + target
    left = deadline - now
    if left < timedelta(0):
        state = "overdue"
    elif left < target / 4:
        state = "due_soon"
    else:
        state = "ok"
    return SlaState(state, stage, left, deadline)


def _local_midnight_utc(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time.min, tzinfo=zone).astimezone(UTC)


def _filtered(
    query: Select[tuple[Report]], officer: Officer, filters: QueueFilters, zone: ZoneInfo
) -> Select[tuple[Report]]:
    if filters.category:
        query = query.where(Report.category == filters.category)
    if filters.priority:
        query = query.where(Report.priority == filters.priority)
    if filters.platform:
        query = query.where(Report.platform == filters.platform)
    if filters.assigned == "me":
        query = query.where(Report.assigned_officer_id == officer.id)
    elif filters.assigned == "unassigned":
        query = query.where(Report.assigned_officer_id.is_(None))
    if filters.date_from:
        query = query.where(Report.submitted_at >= _local_midnight_utc(filters.date_from, zone))
    if filters.date_to:
        end = _local_midnight_utc(filters.date_to + timedelta(days=1), zone)
        query = query.where(Report.submitted_at < end)
    if filters.reference:
        # An unreadable reference matches nothing rather than everything.
        query = query.where(Report.reference == (normalize_reference(filters.reference) or ""))
    return query


def cluster_sizes(session: Session, report_ids: list[int]) -> dict[int, int]:
    """For each report, how many *other* reports share at least one of its URLs (by blind index)."""
    if not report_ids:
        return {}
    other = aliased(ReportURL)
    rows = session.execute(
        select(ReportURL.report_id, func.count(func.distinct(other.report_id)))
        .join(other, other.url_index == ReportURL.url_index)
        .where(ReportURL.report_id.in_(report_ids), other.report_id != ReportURL.report_id)
        .group_by(ReportURL.report_id)
    ).all()
    return {report_id: int(count) for report_id, count in rows}


def load_queue(
    session: Session,
    officer: Officer,
    filters: QueueFilters,
    *,
    after: Cursor | None,
    first_response_hours: dict[str, int],
    resolution_days: dict[str, int],
    timezone: str,
    page_size: int = PAGE_SIZE,
    now: datetime | None = None,
) -> QueuePage:
    zone = ZoneInfo(timezone)
    found: list[tuple[int, Report]] = []
    segments = filters.segments()
    start = after.segment if after else 0
    for index in range(start, len(segments)):
        wanted = page_size + 1 - len(found)
        if wanted <= 0:
            break
        # Literal values, so that SQLite and PostgreSQL both match the partial index predicate.
        statuses = bindparam(f"statuses_{index}", list(segments[index]), literal_execute=True)
        query = _filtered(
            reports_in_scope(officer).where(Report.status.in_(statuses)), officer, filters, zone
        )
        if after is not None and index == after.segment:
            query = query.where(
                tuple_(Report.priority_rank, Report.submitted_at, Report.id)
                > tuple_(
                    bindparam("after_rank", after.priority_rank),
                    bindparam("after_at", after.submitted_at, type_=Report.submitted_at.type),
                    bindparam("after_id", after.report_id),
                )
            )
        query = (
            query.options(selectinload(Report.assigned_officer))
            .order_by(Report.priority_rank, Report.submitted_at, Report.id)
            .limit(wanted)
        )
        found.extend((index, report) for report in session.scalars(query))
    next_cursor = None
    if len(found) > page_size:
        found = found[:page_size]
        segment, last = found[-1]
        next_cursor = Cursor(segment, last.priority_rank, last.submitted_at, last.id).encode()
    sizes = cluster_sizes(session, [report.id for _, report in found])
    rows = [
        QueueRow(
            report=report,
            sla=sla_state(report, first_response_hours, resolution_days, now=now),
            cluster_size=sizes.get(report.id, 0),
        )
        for _, report in found
    ]
    return QueuePage(rows, next_cursor)
