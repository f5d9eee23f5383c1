"""Counters of URL clusters, kept by the write path: how many reports of a unit name a URL.

Reports naming the same URL (equal :func:`shared_trace_key`, the blind index of the normalised
URL) form a cluster. ``trace_counts`` holds, per (URL key, unit), the number of reports of that
unit naming it, a report counting once per distinct key, so that the case page and the queue
read the size of a cluster per unit from a few index entries, whatever its size.

The counters move in the same transaction as the change that moves them, through the hooks of
the statistics rollups (:mod:`portal.services.rollups`):

- ORM changes (a submission, a partner's filing, URLs added to a report, a report deleted by the
  retention purge, a unit set on the object) are read by the rollups' ``before_flush`` listener:
  :func:`pending` reads the stored state of the reports concerned (locking their rows) before
  the rollups move, and :func:`apply` writes the difference after them;
- the officers' conditional UPDATEs (a transfer, alone or in bulk) hand what
  ``rollups.capture`` read before and after to :func:`moved`.

Every writer thus locks report rows, then rollups, then counters. Counter rows are created by
INSERT ... ON CONFLICT DO NOTHING and incremented in key order (``reports = reports + n``), so
concurrent writers neither deadlock nor lose a count. A counter that falls to zero stays:
deleting it could race with a writer about to increment it; readers skip it and
:func:`rebuild` (``portal stats rebuild``) drops it.

Reading (:func:`combine`): with one shared key the per-unit counts are exact. A report naming
several shared keys would be counted once per key, so when the counters' total is at most
:data:`EXACT_BOUND` the caller counts the rows themselves (a bounded cost), and beyond it the
per-unit maximum over the keys is shown as "at least".
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from sqlalchemy import (
    ColumnElement,
    bindparam,
    delete,
    func,
    insert,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from portal.db import insert_missing
from portal.models import Report, ReportURL, TraceCount

# Above this many (report, key) pairs in a report's cluster, several keys are shown as a lower
# bound rather than counted row by row: the exact count then costs at most this many rows.
EXACT_BOUND = 2_000

_TABLE = TraceCount.__table__
Deltas = dict[tuple[str, int], int]
G = TypeVar("G", bound=Hashable)


def shared_trace_key() -> ColumnElement[str]:
    """The column that says two report URLs are the same: the only place naming it."""
    return ReportURL.url_index


# --- writing ---------------------------------------------------------------------------------


def apply(session: Session, deltas: Mapping[tuple[str, int], int]) -> None:
    """Add ``deltas`` ((key, unit) -> change) to the counters, in key order."""
    changes = sorted((pair, n) for pair, n in deltas.items() if n)
    if not changes:
        return
    connection = session.connection()
    insert_missing(
        connection,
        _TABLE,
        [{"url_index": key, "unit_id": unit, "reports": 0} for (key, unit), _ in changes],
    )
    connection.execute(
        update(_TABLE)
        .where(_TABLE.c.url_index == bindparam("k_key"), _TABLE.c.unit_id == bindparam("k_unit"))
        .values(reports=_TABLE.c.reports + bindparam("delta")),
        [{"k_key": key, "k_unit": unit, "delta": n} for (key, unit), n in changes],
    )


class _Placed(Protocol):
    @property
    def unit_id(self) -> int: ...


def moved(session: Session, report_id: int, before: _Placed | None, after: _Placed | None) -> None:
    """A conditional UPDATE changed the report's row: its URLs follow it to its new unit."""
    old = before.unit_id if before is not None else None
    new = after.unit_id if after is not None else None
    if old == new:
        return
    keys = set(session.scalars(select(shared_trace_key()).where(ReportURL.report_id == report_id)))
    deltas: Deltas = defaultdict(int)
    for key in keys:
        if old is not None:
            deltas[(key, old)] -= 1
        if new is not None:
            deltas[(key, new)] += 1
    apply(session, deltas)


def _unit_changes(report: Report) -> bool:
    attrs = inspect(report).attrs
    return attrs.unit_id.history.has_changes() or attrs.unit.history.has_changes()


def _unit_of(report: Report) -> int | None:
    """The unit the report will have once flushed (a unit object set wins over the id)."""
    if report.unit_id is None or inspect(report).attrs.unit.history.has_changes():
        unit = report.unit
        return None if unit is None else unit.id
    return report.unit_id


def _owner(url: ReportURL) -> Report | int | None:
    """The report a URL row will belong to once flushed: the object it was attached to (None
    when it was taken out of its report's list, and so will be deleted), else its id."""
    attrs = inspect(url).attrs
    if attrs.report.history.has_changes():
        report = attrs.report.value
        return report if isinstance(report, Report) else None
    if not attrs.report_id.history.has_changes():
        report = attrs.report.loaded_value
        if isinstance(report, Report):
            return report
    return url.report_id


def pending(session: Session) -> Deltas:
    """How the flush about to run moves the counters, read before it runs.

    Every report whose URLs or unit change counts out with its stored unit and keys and back in
    with those it will have; the stored rows of existing ones are locked first (FOR UPDATE), so
    that a concurrent officer action or purge of the same report waits for this one."""
    new_reports: list[Report] = []
    arriving: list[ReportURL] = []  # URL rows that will name a report: new ones, moved ones
    gone_reports: set[int] = set()
    leaving: set[int] = set()  # stored URL rows leaving their report: deleted, changed, moved
    touched: set[int] = set()  # stored reports whose URLs or unit change
    for obj in session.new:
        if isinstance(obj, Report):
            new_reports.append(obj)
        elif isinstance(obj, ReportURL):
            arriving.append(obj)
    for obj in session.deleted:
        if isinstance(obj, Report) and obj.id is not None:
            gone_reports.add(obj.id)
        elif isinstance(obj, ReportURL) and obj.id is not None:
            leaving.add(obj.id)
    for obj in session.dirty:
        if isinstance(obj, Report) and obj.id is not None:
            if _unit_changes(obj):
                touched.add(obj.id)
        elif isinstance(obj, ReportURL) and obj.id is not None:
            attrs = inspect(obj).attrs
            if any(
                attrs[name].history.has_changes() for name in ("url_index", "report_id", "report")
            ):
                # Out of its stored report with its stored key, into its new one with its key.
                leaving.add(obj.id)
                arriving.append(obj)
    if not (new_reports or arriving or gone_reports or leaving or touched):
        return {}

    # Arriving URLs belong to a report being created (the object) or to a stored one (its id).
    added: dict[Report | int, set[str]] = defaultdict(set)
    for url in arriving:
        owner = _owner(url)
        if isinstance(owner, Report) and (owner.id is None or owner in session.new):
            added[owner].add(url.url_index)
            continue
        report_id = owner.id if isinstance(owner, Report) else owner
        if report_id is not None:
            added[report_id].add(url.url_index)
            touched.add(report_id)
    touched |= gone_reports

    deltas: Deltas = defaultdict(int)
    for report in new_reports:
        unit = _unit_of(report)
        if unit is not None:
            for key in added.get(report, ()):
                deltas[(key, unit)] += 1

    connection = session.connection()
    urls = ReportURL.__table__.c
    if leaving:
        touched |= set(connection.scalars(select(urls.report_id).where(urls.id.in_(leaving))))
    if not touched:
        return deltas
    reports = Report.__table__.c
    locked = select(reports.id, reports.unit_id).where(reports.id.in_(sorted(touched)))
    if connection.dialect.name == "postgresql":
        locked = locked.order_by(reports.id).with_for_update()
    stored_unit = {report_id: unit for report_id, unit in connection.execute(locked)}
    before: dict[int, set[str]] = defaultdict(set)
    after: dict[int, set[str]] = defaultdict(set)
    for url_id, report_id, key in connection.execute(
        select(urls.id, urls.report_id, urls.url_index).where(urls.report_id.in_(sorted(touched)))
    ):
        before[report_id].add(key)
        if url_id not in leaving:
            after[report_id].add(key)
    for report_id in touched:
        old_unit = stored_unit.get(report_id)
        if old_unit is None:
            continue
        for key in before[report_id]:
            deltas[(key, old_unit)] -= 1
        if report_id in gone_reports:
            continue
        # The stored unit, unless this flush changes it (an object read earlier may be stale).
        loaded = session.identity_map.get(identity_key(Report, report_id))
        unit = old_unit
        if isinstance(loaded, Report) and _unit_changes(loaded):
            unit = _unit_of(loaded) or old_unit
        for key in after[report_id] | added.get(report_id, set()):
            deltas[(key, unit)] += 1
    return deltas


def rebuild(session: Session) -> int:
    """Recompute every counter from the reports; the caller commits. Returns the rows."""
    if session.get_bind().dialect.name == "postgresql":
        # Writers wait for the rebuild, then add their change to the rebuilt counters.
        session.execute(text("LOCK TABLE trace_counts IN EXCLUSIVE MODE"))
    session.execute(delete(TraceCount))
    key = shared_trace_key()
    counted = (
        select(key, Report.unit_id, func.count(func.distinct(Report.id)))
        .join(Report, Report.id == ReportURL.report_id)
        .group_by(key, Report.unit_id)
    )
    result = session.execute(
        insert(TraceCount).from_select(["url_index", "unit_id", "reports"], counted)
    )
    return int(getattr(result, "rowcount", 0) or 0)


# --- reading ---------------------------------------------------------------------------------


def per_unit(session: Session, keys: Collection[str]) -> dict[str, dict[int, int]]:
    """key -> unit -> reports naming it, from the counters (units with none left out)."""
    found: dict[str, dict[int, int]] = defaultdict(dict)
    if keys:
        t = _TABLE.c
        for key, unit, reports in session.execute(
            select(t.url_index, t.unit_id, t.reports).where(
                t.url_index.in_(sorted(keys)), t.reports > 0
            )
        ):
            found[key][unit] = reports
    return dict(found)


def totals_of_reports(session: Session, report_ids: Iterable[int]) -> dict[int, dict[str, int]]:
    """For each report, its keys and how many reports (itself included) name each: one query
    over the reports' own URLs, each key's counters summed by a lookup of their index."""
    ids = sorted(set(report_ids))
    if not ids:
        return {}
    key = shared_trace_key()
    own = (
        select(ReportURL.report_id, key.label("url_index"))
        .where(ReportURL.report_id.in_(ids))
        .distinct()
        .subquery()
    )
    t = _TABLE.c
    # A correlated subquery, run once per (report, key): never a join that the planner could
    # turn into a pass over every counter.
    total = (
        select(func.coalesce(func.sum(t.reports), 0))
        .where(t.url_index == own.c.url_index)
        .scalar_subquery()
    )
    found: dict[int, dict[str, int]] = defaultdict(dict)
    for report_id, url_key, reports in session.execute(
        select(own.c.report_id, own.c.url_index, total)
    ):
        found[report_id][url_key] = int(reports)
    return dict(found)


@dataclass(frozen=True)
class Reading:
    """Reports sharing a key, per group (a unit, or one group for a plain total)."""

    counts: dict[Any, int]
    at_least: bool = False  # a lower bound: reports naming several keys may be missing


def combine(by_key: Mapping[str, Mapping[G, int]]) -> Reading | None:
    """The counts of the reports naming any of the keys, from each key's counts (the report
    under study already taken out); None when the caller must count the rows: several keys
    shared, at most :data:`EXACT_BOUND` in all."""
    shared = {
        key: {group: n for group, n in counts.items() if n > 0} for key, counts in by_key.items()
    }
    shared = {key: counts for key, counts in shared.items() if counts}
    if len(shared) <= 1:
        # One key: each report of the cluster names it once, so the counters are exact.
        return Reading(dict(next(iter(shared.values()), {})))
    if sum(n for counts in shared.values() for n in counts.values()) <= EXACT_BOUND:
        return None
    best: dict[Any, int] = {}
    for counts in shared.values():
        for group, n in counts.items():
            best[group] = max(best.get(group, 0), n)
    return Reading(best, at_least=True)
