"""Rollups of takedown requests, kept by the write path, for supervisors and the public page.

Each URL sent to a platform counts once in the rows of the local day the request was sent, for
its platform and the report's category, nationally and in the report's region: ``requested``
when it is sent; ``removed`` (with the time from sending to removal, as a mergeable
distribution: :mod:`portal.services.distribution`) or ``refused`` when its outcome is recorded.
Rows are kept at the block sizes of the report rollups (:mod:`portal.services.rollups`), so any
period is read from a few dozen rows whatever the number of requests. Outcomes are recorded once
per URL, so the rows only ever grow.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any, NamedTuple

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from portal.db import insert_missing
from portal.models import TakedownItem, TakedownRequest, TakedownRollup
from portal.services import distribution
from portal.services.distribution import Distribution, Piece
from portal.services.rollups import (
    LEVELS,
    NATIONAL_SCOPE,
    blocks,
    day_number,
    first_empty_day,
)

_TABLE = TakedownRollup.__table__
_PK = ("scope", "level", "block", "platform", "category")


def _keys(request: TakedownRequest) -> list[tuple[Any, ...]]:
    assert request.sent_at is not None
    day = day_number(request.sent_at)
    scopes = [NATIONAL_SCOPE]
    if request.report.region_id is not None:
        scopes.append(request.report.region_id)
    return [
        (scope, level, day // size, request.platform, request.report.category)
        for scope in scopes
        for level, size in enumerate(LEVELS)
    ]


def _ensure(session: Session, keys: Sequence[tuple[Any, ...]]) -> None:
    insert_missing(
        session.connection(),
        _TABLE,
        [dict(zip(_PK, key, strict=True), requested=0, removed=0, refused=0) for key in keys],
    )


def _locked(session: Session, keys: Sequence[tuple[Any, ...]]) -> dict[tuple[Any, ...], Any]:
    _ensure(session, keys)
    columns = [_TABLE.c[name] for name in _PK]
    rows = session.connection().execute(
        select(*columns, _TABLE.c.requested, _TABLE.c.removed, _TABLE.c.refused, _TABLE.c.removal)
        .where(or_(*(and_(*(c == v for c, v in zip(columns, key, strict=True))) for key in keys)))
        .order_by(*columns)
        .with_for_update()
    )
    return {tuple(row[:5]): row[5:] for row in rows}


def _write(session: Session, values: dict[tuple[Any, ...], dict[str, Any]]) -> None:
    for key, changes in sorted(values.items()):
        session.connection().execute(
            update(_TABLE)
            .where(*(_TABLE.c[name] == value for name, value in zip(_PK, key, strict=True)))
            .values(**changes)
        )


def record_sent(session: Session, request: TakedownRequest) -> None:
    keys = _keys(request)
    current = _locked(session, keys)
    _write(
        session,
        {key: {"requested": current[key][0] + len(request.items)} for key in keys},
    )


def record_outcomes(
    session: Session, request: TakedownRequest, items: Iterable[TakedownItem], outcome: str
) -> None:
    items = list(items)
    if outcome not in ("removed", "refused") or not items:
        return
    assert request.sent_at is not None
    keys = _keys(request)
    current = _locked(session, keys)
    changes: dict[tuple[Any, ...], dict[str, Any]] = {}
    for key in keys:
        _requested, removed, refused, blob = current[key]
        if outcome == "refused":
            changes[key] = {"refused": refused + len(items)}
            continue
        piece = Piece(blob)
        for item in items:
            assert item.outcome_at is not None
            piece.add(distribution.seconds(item.outcome_at - request.sent_at))
        changes[key] = {"removed": removed + len(items), "removal": piece.to_blob()}
    _write(session, changes)


class Row(NamedTuple):
    platform: str
    category: str
    requested: int
    removed: int
    refused: int
    removal: bytes | None


def read(session: Session, scope: int, pairs: Iterable[tuple[int, int]]) -> Iterator[Row]:
    pairs = sorted(set(pairs))
    if not pairs:
        return iter(())
    stmt = select(
        TakedownRollup.platform,
        TakedownRollup.category,
        TakedownRollup.requested,
        TakedownRollup.removed,
        TakedownRollup.refused,
        TakedownRollup.removal,
    ).where(
        TakedownRollup.scope == scope,
        or_(*(and_(TakedownRollup.level == lv, TakedownRollup.block == bl) for lv, bl in pairs)),
    )
    return (Row(*row) for row in session.execute(stmt))


def rebuild(session: Session) -> int:
    """Recompute every row from the requests (``portal stats rebuild``); the caller commits."""
    session.execute(_TABLE.delete())
    count = 0
    requests = session.scalars(
        select(TakedownRequest)
        .where(TakedownRequest.sent_at.is_not(None))
        .order_by(TakedownRequest.id)
    )
    for request in requests:
        record_sent(session, request)
        for outcome in ("removed", "refused"):
            record_outcomes(
                session, request, [i for i in request.items if i.outcome == outcome], outcome
            )
        count += 1
    return count


class Figures(NamedTuple):
    """Requests to platforms over a period, for one platform or category (or all)."""

    requested: int
    removed: int
    refused: int
    removal_n: int
    removal_p50: float | None  # seconds
    removal_p90: float | None

    @property
    def removed_share(self) -> float | None:
        return self.removed / self.requested if self.requested else None


def period_figures(
    session: Session, scope: int, first_day: int, end_day: int
) -> tuple[Figures, dict[str, Figures], dict[str, Figures]]:
    """:func:`figures` of the days ``[first_day, end_day)``, read from the fewest blocks (past
    the last day anything is stored, a block may run beyond the period)."""
    empty_from = first_empty_day(session, _TABLE, scope)
    return figures(session, scope, blocks(first_day, end_day, empty_from=empty_from))


def figures(
    session: Session, scope: int, pairs: Iterable[tuple[int, int]]
) -> tuple[Figures, dict[str, Figures], dict[str, Figures]]:
    """Totals, per platform and per category, for the blocks ``pairs`` of ``scope``."""

    def empty() -> list[Any]:
        return [0, 0, 0, Distribution()]

    total = empty()
    by_platform: dict[str, list[Any]] = {}
    by_category: dict[str, list[Any]] = {}
    for row in read(session, scope, pairs):
        for acc in (
            total,
            by_platform.setdefault(row.platform, empty()),
            by_category.setdefault(row.category, empty()),
        ):
            acc[0] += row.requested
            acc[1] += row.removed
            acc[2] += row.refused
            acc[3].add_blob(row.removal)

    def done(acc: list[Any]) -> Figures:
        summary = acc[3].summary((0.5, 0.9))
        p50, p90 = summary.percentiles
        return Figures(acc[0], acc[1], acc[2], summary.n, p50, p90)

    return (
        done(total),
        {key: done(acc) for key, acc in sorted(by_platform.items())},
        {key: done(acc) for key, acc in sorted(by_category.items())},
    )
