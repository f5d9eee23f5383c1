"""The officer queue: search, filters, sorts, a bounded count and keyset pagination.

Sorts (``SORTS``): by urgency (most urgent, then oldest), by age (oldest first) or by last
activity (most recent first). Open reports come first, then resolved ones; within each, the
sort's columns then the id give a total order. Each part of that order is one range scan of an
index that starts with the unit (migrations 0002_officer, 0004_queue_category and
0013_queue_sorts), and pages continue from a cursor (keyset), so page 200 costs what page 1
costs.

Search (``search_keys``): one box takes a reference, a URL, a host, or an identifier an
offender left (phone, e-mail, handle, IBAN/RIB, wallet, transfer code). URLs, hosts and
identifiers are stored encrypted; the text is normalised the way reports are
(``portal.domain.urlnorm``, ``portal.domain.identifiers``) and looked up by its blind indexes,
so a search costs what its matches cost, never a pass over the reports.

The count shown above the queue is bounded (``COUNT_CAP``): past it the page says "more than".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Select, bindparam, false, func, select, tuple_, union
from sqlalchemy.orm import Session, aliased, selectinload

from portal.crypto.blind_index import BlindIndexer
from portal.domain.identifiers import (
    HANDLE_RULES,
    Identifier,
    InvalidIdentifier,
    normalize_email,
    normalize_handle,
    normalize_phone,
    parse_account,
    parse_payee,
)
from portal.domain.localtime import zone_named
from portal.domain.receipts import normalize_reference
from portal.domain.urlnorm import InvalidURL, normalize_url
from portal.models import (
    OPEN_STATUSES,
    RESOLVED_STATUSES,
    Officer,
    Report,
    ReportURL,
    Trace,
    utcnow,
)
from portal.services import trace_counts
from portal.services.reports import host_index, url_index
from portal.services.scope import reports_in_scope

PAGE_SIZE = 50
COUNT_CAP = 1000
MAX_SEARCH = 300
SORTS = ("urgency", "age", "activity")


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
    search: str | None = None  # a reference, URL, host or identifier (``search_keys``)
    sort: str = "urgency"  # one of SORTS

    def segments(self) -> list[tuple[str, ...]]:
        if self.status == "open":
            return [OPEN_STATUSES]
        if self.status == "resolved":
            return [RESOLVED_STATUSES]
        if self.status == "all":
            return [OPEN_STATUSES, RESOLVED_STATUSES]
        return [(self.status,)]


# --- search ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SearchKeys:
    """What a search text can mean, as values the database holds: a reference and blind
    indexes of URLs, hosts and identifiers (``Trace`` kind and key)."""

    reference: str | None = None
    url_keys: tuple[str, ...] = ()
    host_keys: tuple[str, ...] = ()
    traces: tuple[tuple[str, str], ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.reference or self.url_keys or self.host_keys or self.traces)


def _identifiers(text: str) -> list[Identifier]:
    """Every identifier ``text`` can be read as; a handle without a platform is tried on each."""
    found: list[Identifier] = []
    readers: list[Any] = [
        lambda: parse_account(text, None),
        lambda: normalize_phone(text),
        lambda: normalize_email(text),
        lambda: parse_payee(text),
    ]
    if "/" not in text and "@" not in text.lstrip("@"):
        readers += [partial(normalize_handle, text, platform) for platform in HANDLE_RULES]
    for read in readers:
        try:
            identifier = read()
        except (InvalidIdentifier, ValueError):
            continue
        if identifier not in found:
            found.append(identifier)
    return found


def search_keys(text: str, indexer: BlindIndexer | None) -> SearchKeys:
    """Read a search box: a reference, a URL (its page, or the whole site when only a host or
    a site's root is given) and the identifiers it could be, each as its blind index."""
    text = text.strip()[:MAX_SEARCH]
    if not text:
        return SearchKeys()
    reference = normalize_reference(text)
    if indexer is None:
        return SearchKeys(reference=reference)
    url_keys: list[str] = []
    host_keys: list[str] = []
    try:
        url = normalize_url(text)
    except InvalidURL:
        url = None
    if url is not None and "." in url.host:
        rest = url.normalized.split("://", 1)[1]
        whole_site = rest.rstrip("/") == url.host
        if whole_site:
            host_keys.append(host_index(indexer, url.host))
        else:
            url_keys.append(url_index(indexer, url.normalized))
    traces = tuple(
        (identifier.index_kind, indexer.index(identifier.index_kind, identifier.value))
        for identifier in _identifiers(text)
    )
    return SearchKeys(reference, tuple(url_keys), tuple(host_keys), traces)


def _matching_ids(keys: SearchKeys) -> Any:
    """The ids of reports matching ``keys``, as one UNION read from the blind-index indexes."""
    parts: list[Select[Any]] = []
    if keys.reference:
        parts.append(select(Report.id).where(Report.reference == keys.reference))
    if keys.url_keys:
        parts.append(select(ReportURL.report_id).where(ReportURL.url_index.in_(keys.url_keys)))
    if keys.host_keys:
        parts.append(select(ReportURL.report_id).where(ReportURL.host_index.in_(keys.host_keys)))
    if keys.traces:
        parts.append(
            select(Trace.report_id).where(
                Trace.kind.in_(sorted({kind for kind, _ in keys.traces})),
                Trace.key.in_(sorted({key for _, key in keys.traces})),
            )
        )
    return parts[0] if len(parts) == 1 else union(*parts)


# --- order and cursors -----------------------------------------------------------------------


def _sort_columns(sort: str) -> tuple[list[Any], bool]:
    """The columns of a sort, id last, and whether they run in descending order."""
    if sort == "age":
        return [Report.submitted_at, Report.id], False
    if sort == "activity":
        return [Report.updated_at, Report.id], True
    return [Report.priority_rank, Report.submitted_at, Report.id], False


def _micros(moment: datetime) -> int:
    delta = moment.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _moment(micros: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=micros)


@dataclass(frozen=True)
class Cursor:
    """Where a page ends: the segment (open, then resolved) and the last row's sort values."""

    segment: int
    values: tuple[int | datetime, ...]
    report_id: int
    sort: str = "urgency"

    @classmethod
    def after(cls, sort: str, segment: int, report: Report) -> Cursor:
        columns, _ = _sort_columns(sort)
        values = tuple(getattr(report, column.key) for column in columns[:-1])
        return cls(segment, values, report.id, sort)

    def encode(self) -> str:
        parts = [
            _micros(value) if isinstance(value, datetime) else int(value) for value in self.values
        ]
        return ".".join([self.sort, str(self.segment), *map(str, parts), str(self.report_id)])

    @classmethod
    def decode(cls, text: str | None, sort: str = "urgency") -> Cursor | None:
        """The cursor in ``text`` if it belongs to ``sort``; None when absent or unreadable."""
        if not text:
            return None
        name, _, rest = text.partition(".")
        if name not in SORTS:  # cursors of the first version: "segment.rank.micros.id"
            name, rest = "urgency", text
        if name != sort:
            return None
        try:
            numbers = [int(part) for part in rest.split(".")]
        except ValueError:
            return None
        columns, _ = _sort_columns(sort)
        if len(numbers) != len(columns) + 1:
            return None
        segment, *raw, report_id = numbers
        values = tuple(
            _moment(number) if column.key.endswith("_at") else number
            for column, number in zip(columns[:-1], raw, strict=True)
        )
        return cls(segment, values, report_id, sort)


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
    cluster_at_least: bool = False  # ``cluster_size`` is a lower bound


@dataclass
class QueuePage:
    rows: list[QueueRow] = field(default_factory=list)
    next_cursor: str | None = None
    total: int | None = None  # the bounded count, when asked for
    more: bool = False  # True when more than ``total`` match


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
    query: Select[Any],
    officer: Officer,
    filters: QueueFilters,
    zone: ZoneInfo,
    keys: SearchKeys | None = None,
) -> Select[Any]:
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
    if filters.search and keys is not None:
        # A search that reads as nothing matches nothing rather than everything.
        query = query.where(false() if keys.empty else Report.id.in_(_matching_ids(keys)))
    return query


def _in_statuses(statuses: tuple[str, ...], name: str) -> ColumnElement[bool]:
    # Literal values, so that SQLite and PostgreSQL both match the partial index predicate.
    return Report.status.in_(bindparam(name, list(statuses), literal_execute=True))


@dataclass(frozen=True)
class SameURL:
    """How many other reports share a URL with a queue row's report (``at_least``: a lower
    bound, see :func:`cluster_sizes`)."""

    count: int = 0
    at_least: bool = False


def cluster_sizes(session: Session, report_ids: list[int]) -> dict[int, SameURL]:
    """For each report, how many *other* reports share at least one of its URLs (by blind index).

    One query reads every row's keys with their counters (``portal.services.trace_counts``),
    so the cost does not grow with the clusters: with one shared key a report's figure is that
    key's total less itself. A report naming several shared keys is counted from the rows when
    their totals are small (``trace_counts.EXACT_BOUND``), and otherwise shows the largest total
    as "at least"."""
    if not report_ids:
        return {}
    sizes: dict[int, SameURL] = {}
    exact: list[int] = []
    for report_id, totals in trace_counts.totals_of_reports(session, report_ids).items():
        reading = trace_counts.combine({key: {None: total - 1} for key, total in totals.items()})
        if reading is None:
            exact.append(report_id)
        elif reading.counts:
            sizes[report_id] = SameURL(sum(reading.counts.values()), reading.at_least)
    if exact:
        other = aliased(ReportURL)
        rows = session.execute(
            select(ReportURL.report_id, func.count(func.distinct(other.report_id)))
            .join(other, other.url_index == ReportURL.url_index)
            .where(ReportURL.report_id.in_(exact), other.report_id != ReportURL.report_id)
            .group_by(ReportURL.report_id)
        ).all()
        sizes.update({report_id: SameURL(int(count)) for report_id, count in rows})
    return sizes


def count_matching(
    session: Session,
    officer: Officer,
    filters: QueueFilters,
    *,
    timezone: str,
    indexer: BlindIndexer | None = None,
    cap: int = COUNT_CAP,
) -> tuple[int, bool]:
    """How many reports match, counted up to ``cap``: (count, True when there are more)."""
    keys = search_keys(filters.search, indexer) if filters.search else None
    query = reports_in_scope(officer).with_only_columns(Report.id)
    if filters.status != "all":
        statuses = tuple(status for segment in filters.segments() for status in segment)
        query = query.where(_in_statuses(statuses, "count_statuses"))
    query = _filtered(query, officer, filters, zone_named(timezone), keys).limit(cap + 1)
    found = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    return min(found, cap), found > cap


def load_queue(
    session: Session,
    officer: Officer,
    filters: QueueFilters,
    *,
    after: Cursor | None,
    first_response_hours: dict[str, int],
    resolution_days: dict[str, int],
    timezone: str,
    indexer: BlindIndexer | None = None,
    page_size: int = PAGE_SIZE,
    now: datetime | None = None,
    count: bool = False,
) -> QueuePage:
    zone = zone_named(timezone)
    sort = filters.sort if filters.sort in SORTS else "urgency"
    columns, descending = _sort_columns(sort)
    keys = search_keys(filters.search, indexer) if filters.search else None
    if after is not None and after.sort != sort:
        after = None
    found: list[tuple[int, Report]] = []
    segments = filters.segments()
    start = after.segment if after else 0
    for index in range(start, len(segments)):
        wanted = page_size + 1 - len(found)
        if wanted <= 0:
            break
        query = _filtered(
            reports_in_scope(officer).where(_in_statuses(segments[index], f"statuses_{index}")),
            officer,
            filters,
            zone,
            keys,
        )
        if after is not None and index == after.segment:
            bound = tuple_(
                *(
                    bindparam(f"after_{n}", value, type_=column.type)
                    for n, (column, value) in enumerate(
                        zip(columns, (*after.values, after.report_id), strict=True)
                    )
                )
            )
            position = tuple_(*columns)
            query = query.where(position < bound if descending else position > bound)
        query = (
            query.options(selectinload(Report.assigned_officer))
            .order_by(*(column.desc() if descending else column for column in columns))
            .limit(wanted)
        )
        found.extend((index, report) for report in session.scalars(query))
    next_cursor = None
    if len(found) > page_size:
        found = found[:page_size]
        segment, last = found[-1]
        next_cursor = Cursor.after(sort, segment, last).encode()
    sizes = cluster_sizes(session, [report.id for _, report in found])
    rows = [
        QueueRow(
            report=report,
            sla=sla_state(report, first_response_hours, resolution_days, now=now),
            cluster_size=sizes.get(report.id, SameURL()).count,
            cluster_at_least=sizes.get(report.id, SameURL()).at_least,
        )
        for _, report in found
    ]
    page = QueuePage(rows, next_cursor)
    if count:
        page.total, page.more = count_matching(
            session, officer, filters, timezone=timezone, indexer=indexer
        )
    return page
