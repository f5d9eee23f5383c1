"""Duration buckets up to a day wide between 50 hours and 100 days

Revision ID: 0018_day_wide_buckets
Revises: 0017_waiting_index
Create Date: 2026-12-05 04:30:00.000000

The stored distributions of durations (``stats_rollups.first_response`` and ``.resolution``,
``takedown_rollups.removal``) count durations per bucket of a fixed staircase of edges. Between
50 hours and 100 days the buckets were one hour wide (2,354 of them); they now grow with the
durations up to a day (259), still within 1 % of any value in them, with every whole day an
edge. Every new edge was an edge before, so each earlier bucket lies inside one new bucket: the
upgrade adds up the counts of the earlier buckets inside each new one, which is exactly what
counting the durations anew would give. The downgrade puts each bucket's count in the earlier
bucket holding its middle: figures within 2 % instead of 1 % until ``portal stats rebuild``.

The staircases and the stored form are written out here as they are at this revision, so that
later changes to the application cannot change what this migration does.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

import numpy as np
import sqlalchemy as sa
from alembic import op

revision = "0018_day_wide_buckets"
down_revision = "0017_waiting_index"
branch_labels = None
depends_on = None

MAX_SECONDS = 10 * 365 * 86400
DAY = 86400
HOUR_WIDTHS = tuple(w for w in range(1, 3601) if 3600 % w == 0)
DAY_WIDTHS = HOUR_WIDTHS + tuple(h * 3600 for h in (2, 3, 4, 6, 8, 12, 24))
BATCH = 5_000
TABLES = {
    "stats_rollups": (
        ("scope", "level", "block", "dim", "key", "priority"),
        ("first_response", "resolution"),
    ),
    "takedown_rollups": (("scope", "level", "block", "platform", "category"), ("removal",)),
}


def staircase(day_wide_from: int) -> np.ndarray:
    """Bucket edges: widths up to 2 % of the start, dividing an hour below ``day_wide_from``
    seconds, dividing a day from there to 100 days, whole days beyond."""
    edges = [0]
    x = 0
    while x < MAX_SECONDS:
        allowed = 0.02 * x
        if x < 100 * DAY:
            widths = HOUR_WIDTHS if x < day_wide_from else DAY_WIDTHS
            width = max(w for w in widths if w <= max(allowed, 1) and x % w == 0)
        else:
            width = max(DAY, int(allowed // DAY) * DAY)
        x += width
        edges.append(x)
    return np.asarray(edges, dtype=np.int64)


HOURLY = staircase(100 * DAY)  # before this revision: every whole hour up to 100 days
DAY_WIDE = staircase(50 * 3600)


def _decode(blob: bytes) -> tuple[np.ndarray, np.ndarray]:
    """(buckets, counts) of a stored piece in bucket form: b"B" (bucket u2, count u4 per entry)
    or b"C" (entries u4, first bucket u2, step width u1, count width u1, steps, counts)."""
    if blob[:1] == b"B":
        (n,) = struct.unpack_from("<I", blob, 1)
        buckets = np.frombuffer(blob, dtype="<u2", count=n, offset=5).astype(np.int64)
        return buckets, np.frombuffer(blob, dtype="<u4", count=n, offset=5 + 2 * n)
    n, first, step_width, count_width = struct.unpack_from("<IHBB", blob, 1)
    steps = np.frombuffer(blob, dtype=f"<u{step_width}", count=n, offset=9)
    counts = np.frombuffer(blob, dtype=f"<u{count_width}", count=n, offset=9 + step_width * n)
    return first + np.cumsum(steps, dtype=np.int64), counts


def _encode(buckets: np.ndarray, counts: np.ndarray) -> bytes:
    """The b"C" form of distinct sorted buckets and their counts."""
    steps = np.diff(buckets, prepend=buckets[0])
    step_width = 1 if int(steps.max()) < 1 << 8 else 2
    top = int(counts.max())
    count_width = 1 if top < 1 << 8 else 2 if top < 1 << 16 else 4
    return (
        b"C"
        + struct.pack("<IHBB", buckets.size, int(buckets[0]), step_width, count_width)
        + steps.astype(f"<u{step_width}").tobytes()
        + counts.astype(f"<u{count_width}").tobytes()
    )


def _converter(source: np.ndarray, target: np.ndarray, at: str) -> Callable[[bytes], bytes]:
    """Re-count a piece on ``source``'s buckets into ``target``'s: each bucket goes to the
    target bucket holding its upper edge (``at="edge"``) or its middle (``at="middle"``)."""
    upper = source
    lower = np.concatenate(([0], source[:-1] + 1))
    point = upper if at == "edge" else (lower + upper) // 2
    mapping = np.searchsorted(target, np.minimum(point, target[-1]))

    def convert(blob: bytes) -> bytes:
        buckets, counts = _decode(blob)
        merged = np.bincount(mapping[buckets], weights=counts).astype(np.int64)
        kept = np.nonzero(merged)[0]
        return _encode(kept, merged[kept])

    return convert


def _rewrite(convert: Callable[[bytes], bytes]) -> None:
    """Every piece in bucket form, rewritten by ``convert``, in batches in primary-key order
    (pieces of few durations keep their exact values and are left as they are)."""
    bind = op.get_bind()
    for name, (keys, pieces) in TABLES.items():
        table = sa.table(name, *(sa.column(c) for c in (*keys, *pieces)))
        pk = [table.c[k] for k in keys]
        in_buckets = sa.or_(*(sa.func.substr(table.c[p], 1, 1).in_([b"B", b"C"]) for p in pieces))
        update = (
            table.update()
            .where(*(table.c[k] == sa.bindparam(f"k_{k}") for k in keys))
            .values({p: sa.bindparam(f"v_{p}") for p in pieces})
        )
        after: tuple | None = None
        while True:
            stmt = sa.select(*pk, *(table.c[p] for p in pieces)).where(in_buckets)
            if after is not None:
                stmt = stmt.where(sa.tuple_(*pk) > sa.tuple_(*after))
            rows = bind.execute(stmt.order_by(*pk).limit(BATCH)).all()
            if not rows:
                break
            changes = []
            for row in rows:
                values = {f"k_{k}": row[i] for i, k in enumerate(keys)}
                for j, p in enumerate(pieces):
                    blob = row[len(keys) + j]
                    blob = bytes(blob) if blob is not None else None
                    if blob and blob[:1] in (b"B", b"C"):
                        blob = convert(blob)
                    values[f"v_{p}"] = blob
                changes.append(values)
            bind.execute(update, changes)
            after = tuple(rows[-1][: len(keys)])


def upgrade() -> None:
    _rewrite(_converter(HOURLY, DAY_WIDE, "edge"))


def downgrade() -> None:
    _rewrite(_converter(DAY_WIDE, HOURLY, "middle"))
