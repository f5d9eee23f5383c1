"""Rollups of reports for the statistics, kept by the write path.

Every report contributes to rows of ``stats_rollups`` (see the model): its local day of
submission, its region, unit, category and priority, and its two durations once they exist
(first response, resolution; :mod:`portal.services.distribution`). A report's contribution is
added when it is created and moved when it changes (first response, closure, reopening, a new
priority, a transfer): the old contribution is taken away and the new one added, in the same
transaction as the change.

- ORM changes to a ``Report`` (submission, demo data, any future code) are caught by a
  ``before_flush`` listener;
- the officers' conditional UPDATEs (``portal.services.cases``) call :func:`capture` before and
  after and :func:`apply` the difference.

Rows are written at five block sizes (1, 7, 28, 112 and 448 local days counted from a Monday), so
that any run of whole days is covered by a few dozen blocks whatever its length, and a week is
one block. Rows are locked in primary-key order, so concurrent writers never deadlock.

Deleting a report (retention) leaves its rollups: past figures do not change when data is
purged. ``portal stats rebuild`` recomputes every row from the reports, and the URL cluster
counters (:mod:`portal.services.trace_counts`), which move through the same two hooks.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, NamedTuple

import numpy as np
from sqlalchemy import (
    Table,
    and_,
    bindparam,
    delete,
    event,
    func,
    insert,
    inspect,
    null,
    or_,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.orm import Session

from portal.db import fetch_all, insert_missing
from portal.domain.localtime import LOCAL_TZ
from portal.models import Report, StatsRollup, utcnow
from portal.services import distribution, trace_counts
from portal.services.distribution import EXACT_LIMIT, Piece

EPOCH = date(1970, 1, 5)  # a Monday: blocks of 7 days and more are whole weeks
LEVELS = (1, 7, 28, 112, 448)  # block sizes in days, by level 0..4
ABROAD_KEY = "abroad"
NATIONAL_SCOPE = 0
_TABLE = StatsRollup.__table__
_PK = ("scope", "level", "block", "dim", "key", "priority")
_TRACKED = (
    "submitted_at",
    "region_id",
    "unit_id",
    "category",
    "priority",
    "first_response_at",
    "closed_at",
)


def day_number(moment: datetime) -> int:
    """The local (Africa/Casablanca) day of an instant, counted from :data:`EPOCH`."""
    return (moment.astimezone(LOCAL_TZ).date() - EPOCH).days


def day_start(number: int) -> datetime:
    """The instant the local day ``number`` begins (aware, Africa/Casablanca)."""
    return datetime.combine(EPOCH + timedelta(days=number), time(0), LOCAL_TZ)


def blocks(first_day: int, end_day: int, *, empty_from: int | None = None) -> list[tuple[int, int]]:
    """(level, block) pairs that cover the days ``[first_day, end_day)`` exactly, largest
    aligned block first at every step.

    ``empty_from``: a day from which every day is empty (:func:`first_empty_day`). A period that
    reaches it may be covered by blocks running past its end, since the days they add hold
    nothing: a period ending today reads the block of the current week, four weeks or more as
    one piece, instead of its days one by one."""
    open_ended = empty_from is not None and end_day >= empty_from
    pairs = []
    day = first_day
    while day < end_day:
        for level in range(len(LEVELS) - 1, -1, -1):
            size = LEVELS[level]
            if day % size == 0 and (day + size <= end_day or open_ended):
                pairs.append((level, day // size))
                day += size
                break
    return pairs


def first_empty_day(session: Session, table: Table, scope: int) -> int | None:
    """The day after the last one that any stored row of ``scope`` in ``table`` (these rollups,
    or the takedown ones, laid out alike) holds: from it on, every day is empty, as the data
    says rather than a clock (a server's clock may lag, and figures may be read as of a past
    moment). None when nothing is stored. One step back along the primary key."""
    last = session.scalar(
        select(func.max(table.c.block)).where(table.c.scope == scope, table.c.level == 0)
    )
    return None if last is None else int(last) + 1


class Contribution(NamedTuple):
    day: int
    region_id: int | None
    unit_id: int
    category: str
    priority: str
    first_response: int | None  # seconds
    resolution: int | None


def contribution(
    submitted_at: datetime,
    region_id: int | None,
    unit_id: int,
    category: str,
    priority: str | None,
    first_response_at: datetime | None,
    closed_at: datetime | None,
) -> Contribution:
    return Contribution(
        day=day_number(submitted_at),
        region_id=region_id,
        unit_id=unit_id,
        category=category,
        priority=priority or "normal",
        first_response=None
        if first_response_at is None
        else distribution.seconds(first_response_at - submitted_at),
        resolution=None if closed_at is None else distribution.seconds(closed_at - submitted_at),
    )


def _keys(c: Contribution) -> list[tuple[int, str, str]]:
    """(scope, dim, key) rows a report counts in: national ones, then its region's own."""
    region = ABROAD_KEY if c.region_id is None else str(c.region_id)
    keys = [
        (NATIONAL_SCOPE, "t", ""),
        (NATIONAL_SCOPE, "r", region),
        (NATIONAL_SCOPE, "u", str(c.unit_id)),
        (NATIONAL_SCOPE, "c", c.category),
    ]
    if c.region_id is not None:
        keys += [
            (c.region_id, "t", ""),
            (c.region_id, "u", str(c.unit_id)),
            (c.region_id, "c", c.category),
        ]
    return keys


@dataclass
class _Change:
    received: int = 0
    first_response: list[tuple[int, int]] = field(default_factory=list)  # (sign, seconds)
    resolution: list[tuple[int, int]] = field(default_factory=list)

    def empty(self) -> bool:
        return not self.received and not self.first_response and not self.resolution


def _net(items: list[tuple[int, int]]) -> list[tuple[int, int]]:
    totals: dict[int, int] = defaultdict(int)
    for sign, value in items:
        totals[value] += sign
    return [(1 if n > 0 else -1, v) for v, n in totals.items() for _ in range(abs(n))]


def _changes(
    pairs: Iterable[tuple[Contribution | None, Contribution | None]],
) -> dict[tuple[Any, ...], _Change]:
    changes: dict[tuple[Any, ...], _Change] = defaultdict(_Change)
    for old, new in pairs:
        if old == new:
            continue
        for sign, c in ((-1, old), (1, new)):
            if c is None:
                continue
            for level, size in enumerate(LEVELS):
                block = c.day // size
                for scope, dim, key in _keys(c):
                    change = changes[(scope, level, block, dim, key, c.priority)]
                    change.received += sign
                    if c.first_response is not None:
                        change.first_response.append((sign, c.first_response))
                    if c.resolution is not None:
                        change.resolution.append((sign, c.resolution))
    for change in changes.values():
        change.first_response = _net(change.first_response)
        change.resolution = _net(change.resolution)
    return {k: v for k, v in changes.items() if not v.empty()}


def apply(
    session: Session, pairs: Iterable[tuple[Contribution | None, Contribution | None]]
) -> None:
    """Replace each old contribution by its new one (None: nothing before, or after)."""
    changes = _changes(pairs)
    if not changes:
        return
    connection = session.connection()
    keys = sorted(changes)
    blank = {"received": 0, "answered": 0, "resolved": 0}
    insert_missing(connection, _TABLE, [dict(zip(_PK, k, strict=True), **blank) for k in keys])
    pk = tuple_(*(_TABLE.c[name] for name in _PK))
    current = {
        tuple(row[:6]): row[6:]
        for row in connection.execute(
            select(
                *(_TABLE.c[name] for name in _PK),
                _TABLE.c.received,
                _TABLE.c.answered,
                _TABLE.c.resolved,
                _TABLE.c.first_response,
                _TABLE.c.resolution,
            )
            .where(pk.in_(keys))
            .order_by(*(_TABLE.c[name] for name in _PK))
            .with_for_update()
        )
    }
    updates = []
    for k in keys:
        change = changes[k]
        received, answered, resolved, fr_blob, res_blob = current[k]
        values = {"received": received + change.received}
        for name, count_name, count, blob, items in (
            ("first_response", "answered", answered, fr_blob, change.first_response),
            ("resolution", "resolved", resolved, res_blob, change.resolution),
        ):
            piece = Piece(blob)
            for sign, value in items:
                (piece.add if sign > 0 else piece.remove)(value)
                count += sign
            values[count_name] = count
            values[name] = piece.to_blob()
        updates.append({**{f"k_{n}": v for n, v in zip(_PK, k, strict=True)}, **values})
    connection.execute(
        update(_TABLE).where(*(_TABLE.c[n] == bindparam(f"k_{n}") for n in _PK)),
        updates,
    )


def _of(report: Report) -> Contribution | None:
    unit_id = report.unit_id if report.unit_id is not None else getattr(report.unit, "id", None)
    if unit_id is None:
        return None
    region_id = report.region_id
    if region_id is None and report.region is not None:
        region_id = report.region.id
    return contribution(
        report.submitted_at or utcnow(),
        region_id,
        unit_id,
        report.category,
        report.priority,
        report.first_response_at,
        report.closed_at,
    )


def capture(session: Session, report_id: int, *, lock: bool = False) -> Contribution | None:
    """The contribution of the report as the database has it (locked for an update)."""
    stmt = select(*(getattr(Report, name) for name in _TRACKED)).where(Report.id == report_id)
    if lock:
        stmt = stmt.with_for_update()
    row = session.execute(stmt).first()
    return None if row is None else contribution(*row)


@event.listens_for(Session, "before_flush")
def _before_flush(session: Session, _context: Any, _instances: Any) -> None:
    # The URL cluster counters move with the same flush. Their reading locks the stored rows of
    # the reports concerned, so it comes first: report rows, then rollups, then counters.
    counted = trace_counts.pending(session)
    pairs: list[tuple[Contribution | None, Contribution | None]] = []
    for obj in session.new:
        if isinstance(obj, Report):
            pairs.append((None, _of(obj)))
    for obj in session.dirty:
        if not isinstance(obj, Report) or obj.id is None:
            continue
        state = inspect(obj)
        if any(state.attrs[name].history.has_changes() for name in _TRACKED):
            pairs.append((_stored(session, obj.id), _of(obj)))
    if pairs:
        apply(session, pairs)
    trace_counts.apply(session, counted)


def _stored(session: Session, report_id: int) -> Contribution | None:
    row = (
        session.connection()
        .execute(
            select(*(Report.__table__.c[name] for name in _TRACKED)).where(
                Report.__table__.c.id == report_id
            )
        )
        .first()
    )
    if row is None:
        return None
    values = list(row)
    for index in (0, 5, 6):  # raw naive UTC from the connection
        if values[index] is not None and values[index].tzinfo is None:
            values[index] = values[index].replace(tzinfo=UTC)
    return contribution(*values)


# --- reading ---------------------------------------------------------------------------------


class Row(NamedTuple):
    level: int
    block: int
    dim: str
    key: str
    priority: str
    received: int
    first_response: bytes | None
    resolution: bytes | None


def read(
    session: Session,
    scope: int,
    dims: Sequence[str],
    pairs: Iterable[tuple[int, int]],
    *,
    resolution: bool = True,
) -> Iterator[Row]:
    """The rows of ``scope`` for the given dims and (level, block) pairs (without their
    resolution times unless ``resolution``: the trend reads only first responses)."""
    by_level: dict[int, list[int]] = defaultdict(list)
    for level, block in pairs:
        by_level[level].append(block)
    if not by_level:
        return iter(())
    t = _TABLE.c
    stmt = select(
        t.level,
        t.block,
        t.dim,
        t.key,
        t.priority,
        t.received,
        t.first_response,
        t.resolution if resolution else null(),
    ).where(
        t.scope == scope,
        t.dim.in_(list(dims)),
        or_(
            *(
                and_(t.level == level, t.block.in_(sorted(set(blocks_))))
                for level, blocks_ in by_level.items()
            )
        ),
    )
    # Core rows straight from the connection: a two-year dashboard reads thousands.
    return (Row(*row) for row in fetch_all(session.connection(), stmt))


# --- rebuilding from the reports -------------------------------------------------------------


def rebuild(session: Session, *, batch: int = 20_000) -> int:
    """Recompute every rollup row, then the URL cluster counters, from the reports; the caller
    commits. Returns the rollup rows."""
    if session.get_bind().dialect.name == "postgresql":
        # Writers wait for the rebuild, then add their change to the rebuilt rows.
        session.execute(text("LOCK TABLE stats_rollups IN EXCLUSIVE MODE"))
    written = _rebuild_rollups(session, batch)
    trace_counts.rebuild(session)
    return written


def _rebuild_rollups(session: Session, batch: int) -> int:
    session.execute(delete(StatsRollup))
    columns = [Report.__table__.c[name] for name in _TRACKED]
    days, regions, units, categories, priorities, frs, ress = [], [], [], [], [], [], []
    category_codes: dict[str, int] = {}
    priority_codes: dict[str, int] = {}
    result = session.connection().execute(select(*columns).execution_options(yield_per=batch))
    for submitted, region_id, unit_id, category, priority, first, closed in result:
        submitted = submitted.replace(tzinfo=UTC)
        days.append(day_number(submitted))
        regions.append(-1 if region_id is None else region_id)
        units.append(unit_id)
        categories.append(category_codes.setdefault(category, len(category_codes)))
        priorities.append(priority_codes.setdefault(priority or "normal", len(priority_codes)))
        frs.append(
            -1 if first is None else distribution.seconds(first.replace(tzinfo=UTC) - submitted)
        )
        ress.append(
            -1 if closed is None else distribution.seconds(closed.replace(tzinfo=UTC) - submitted)
        )
    if not days:
        return 0
    day = np.asarray(days, dtype=np.int64)
    region = np.asarray(regions, dtype=np.int64)
    unit = np.asarray(units, dtype=np.int64)
    category_arr = np.asarray(categories, dtype=np.int64)
    priority_arr = np.asarray(priorities, dtype=np.int64)
    fr = np.asarray(frs, dtype=np.int64)
    res = np.asarray(ress, dtype=np.int64)
    category_names = {v: k for k, v in category_codes.items()}
    priority_names = {v: k for k, v in priority_codes.items()}
    zero = np.zeros_like(day)
    regional = region >= 0
    specs = [
        (NATIONAL_SCOPE, "t", zero, None),
        (NATIONAL_SCOPE, "r", region, None),
        (NATIONAL_SCOPE, "u", unit, None),
        (NATIONAL_SCOPE, "c", category_arr, None),
        ("region", "t", zero, regional),
        ("region", "u", unit, regional),
        ("region", "c", category_arr, regional),
    ]

    def key_name(dim: str, value: int) -> str:
        if dim == "t":
            return ""
        if dim == "r":
            return ABROAD_KEY if value < 0 else str(value)
        if dim == "c":
            return category_names[value]
        return str(value)

    written = 0
    for level, size in enumerate(LEVELS):
        block = day // size
        for scope_spec, dim, key_values, mask in specs:
            scope = region if scope_spec == "region" else zero
            select_rows = np.arange(day.size) if mask is None else np.nonzero(mask)[0]
            groups = np.stack(
                [
                    scope[select_rows],
                    block[select_rows],
                    key_values[select_rows],
                    priority_arr[select_rows],
                ]
            )
            unique, inverse = np.unique(groups, axis=1, return_inverse=True)
            inverse = inverse.reshape(-1)
            received = np.bincount(inverse, minlength=unique.shape[1])
            blobs = {
                name: _group_blobs(inverse, values[select_rows], unique.shape[1])
                for name, values in (("first_response", fr), ("resolution", res))
            }
            rows = []
            for g in range(unique.shape[1]):
                s, b, kv, p = unique[:, g].tolist()
                fr_count, fr_blob = blobs["first_response"][g]
                res_count, res_blob = blobs["resolution"][g]
                rows.append(
                    {
                        "scope": s,
                        "level": level,
                        "block": b,
                        "dim": dim,
                        "key": key_name(dim, kv),
                        "priority": priority_names[p],
                        "received": int(received[g]),
                        "answered": fr_count,
                        "resolved": res_count,
                        "first_response": fr_blob,
                        "resolution": res_blob,
                    }
                )
            _write(session, rows, batch)
            written += len(rows)
    return written


_COLUMNS = (*_PK, "received", "answered", "resolved", "first_response", "resolution")


def _write(session: Session, rows: list[dict[str, Any]], batch: int) -> None:
    """Insert rebuilt rows: with COPY on PostgreSQL (the rebuild of a large history writes
    millions), in batches elsewhere."""
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        raw = connection.connection.driver_connection
        statement = f"COPY stats_rollups ({', '.join(_COLUMNS)}) FROM STDIN"
        with raw.cursor() as cursor, cursor.copy(statement) as copy:  # type: ignore[union-attr]
            for row in rows:
                copy.write_row([row[name] for name in _COLUMNS])
        return
    for start in range(0, len(rows), batch):
        session.execute(insert(StatsRollup), rows[start : start + batch])


def _group_blobs(
    inverse: np.ndarray, values: np.ndarray, groups: int
) -> list[tuple[int, bytes | None]]:
    """Per group: (count, stored distribution) of the values >= 0."""
    present = values >= 0
    group_of = inverse[present]
    kept = values[present]
    order = np.lexsort((kept, group_of))
    group_of, kept = group_of[order], kept[order]
    bounds = np.searchsorted(group_of, np.arange(groups + 1))
    buckets = distribution.bucket_of(kept)
    out: list[tuple[int, bytes | None]] = []
    for g in range(groups):
        lo, hi = int(bounds[g]), int(bounds[g + 1])
        n = hi - lo
        if n == 0:
            out.append((0, None))
        elif n <= EXACT_LIMIT:
            out.append((n, distribution.exact_blob(kept[lo:hi].tolist())))
        else:
            idx, counts = np.unique(buckets[lo:hi], return_counts=True)
            out.append((n, distribution.sparse_blob(idx.tolist(), counts.tolist())))
    return out
