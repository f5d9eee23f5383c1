"""Mergeable distributions of durations, with a stated error bound.

A distribution of durations (whole seconds, rounded up) is kept in one of two forms:

- **exact**: the sorted values themselves, while there are at most :data:`EXACT_LIMIT` of them;
- **buckets**: counts per bucket of a fixed staircase of bucket edges (below).

Both merge by addition, so the distribution of any period is the sum of the stored pieces
(days, weeks, ...). Percentiles use the dashboard's definition (linear interpolation between
closest ranks, PostgreSQL's ``percentile_cont``): **exactly** when the merged pieces hold at most
``EXACT_LIMIT`` values, otherwise from the buckets, each value read as the middle of its bucket.

Error bound. Bucket ``i`` holds the whole seconds in ``(EDGES[i-1], EDGES[i]]``; every bucket
starting at ``a`` is at most ``max(1 s, 2 % of a)`` wide, so the middle of the bucket is less than
1 % away from any value in it. A percentile interpolates between two ranks, so it too is less
than **1 %** away from the exact percentile of the same whole-second durations (which are at
most 1 s above the true durations). Durations over :data:`MAX_SECONDS` (ten years) are counted as
ten years.

Targets. Every whole hour up to 50 hours and every whole day up to 100 days is a bucket edge
(:func:`is_edge`): below 50 hours every bucket width divides an hour, from there to 100 days it
divides a day, and every edge is a whole number of widths. A target that is an edge splits the
buckets exactly, so the share of durations within it is exact, not estimated; any other target
is counted to the end of the bucket it falls in.

Sizes. 997 buckets in all: 306 below an hour, 236 from an hour to 50 hours, 259 from there to
100 days. Widths grow with the durations wherever the targets allow, so that a stored piece of
durations spread over weeks holds a few hundred entries, not one per hour (the stored pieces'
entries are what a dashboard's cost follows).
"""

from __future__ import annotations

import functools
import math
import struct
from collections.abc import Iterable, Mapping, Sequence
from datetime import timedelta
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

EXACT_LIMIT = 64
MAX_SECONDS = 10 * 365 * 86400
RELATIVE_ERROR = 0.01
_DAY = 86400
_HOURLY_UNTIL = 50 * 3600
_DAILY_UNTIL = 100 * _DAY
# Widths that keep every whole hour an edge, then every whole day.
_HOUR_WIDTHS = tuple(w for w in range(1, 3601) if 3600 % w == 0)
_DAY_WIDTHS = _HOUR_WIDTHS + tuple(h * 3600 for h in (2, 3, 4, 6, 8, 12, 24))


def _edges() -> npt.NDArray[np.int64]:
    edges = [0]
    x = 0
    while x < MAX_SECONDS:
        allowed = 2 * RELATIVE_ERROR * x
        if x < _DAILY_UNTIL:
            widths = _HOUR_WIDTHS if x < _HOURLY_UNTIL else _DAY_WIDTHS
            width = max(w for w in widths if w <= max(allowed, 1) and x % w == 0)
        else:
            width = max(_DAY, int(allowed // _DAY) * _DAY)
        x += width
        edges.append(x)
    return np.asarray(edges, dtype=np.int64)


EDGES = _edges()
BUCKETS = len(EDGES)
# The whole seconds of bucket i are EDGES[i-1]+1 .. EDGES[i]; their middle stands for them.
_MIDDLES = np.concatenate(([0.0], (EDGES[:-1] + 1 + EDGES[1:]) / 2.0))


def is_edge(value: int) -> bool:
    """Whether ``value`` seconds is a bucket edge: a target there is counted exactly."""
    return bool(0 <= value <= MAX_SECONDS and EDGES[np.searchsorted(EDGES, value)] == value)


def seconds(duration: timedelta) -> int:
    """A duration as whole seconds, rounded up (so "within 4 h" stays exact), never negative."""
    micro = duration // timedelta(microseconds=1)
    return min(max(-(-micro // 1_000_000), 0), MAX_SECONDS)


@functools.cache
def _bucket_table() -> npt.NDArray[np.int16]:
    """The bucket of every whole second up to 50 hours, then of every whole hour up to
    :data:`MAX_SECONDS`: every edge from 50 hours on is a whole hour, so all the seconds of an
    hour from there lie in one bucket. A dashboard finds the buckets of tens of thousands of
    exact values; a look-up costs a fraction of a binary search each."""
    if np.any(EDGES[EDGES > _HOURLY_UNTIL] % 3600):
        raise ValueError("every bucket edge from 50 hours on must be a whole hour")
    hours = -(-(MAX_SECONDS - _HOURLY_UNTIL) // 3600)
    seconds = np.concatenate(
        (np.arange(_HOURLY_UNTIL + 1), _HOURLY_UNTIL + 3600 * np.arange(1, hours + 1))
    )
    return np.searchsorted(EDGES, seconds).astype(np.int16)


def bucket_of(values: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """The bucket of each duration (whole seconds; above ten years counted as ten years)."""
    clipped = np.clip(np.asarray(values, dtype=np.int64), 0, MAX_SECONDS)
    index = np.where(
        clipped <= _HOURLY_UNTIL, clipped, _HOURLY_UNTIL + (clipped - _HOURLY_UNTIL + 3599) // 3600
    )
    return _bucket_table()[index].astype(np.int64)


def percentile_cont(sorted_values: Sequence[float], fraction: float) -> float | None:
    """The ``fraction`` percentile of sorted values: linear interpolation between the closest
    ranks at position ``fraction * (n - 1)``."""
    if not sorted_values:
        return None
    if not 0 <= fraction <= 1:
        raise ValueError("fraction must be between 0 and 1")
    position = fraction * (len(sorted_values) - 1)
    lower = math.floor(position)
    upper = math.ceil(position)
    low_value = float(sorted_values[lower])
    return low_value + (float(sorted_values[upper]) - low_value) * (position - lower)


# --- stored form: one compact blob per piece ---------------------------------------------------

_EXACT = b"E"
_COMPACT = b"C"
# Compact form: b"C", entries u4, first bucket u2, step width u1, count width u1, then the step
# from the previous bucket (0 for the first) and the count of every entry, each as narrow as the
# piece's largest allows (1 or 2 bytes a step, 1, 2 or 4 a count): about 2 bytes an entry.
_COMPACT_HEADER = struct.Struct("<IHBB")


def _compact_arrays(blob: bytes) -> tuple[npt.NDArray[Any], npt.NDArray[Any]]:
    """(buckets, counts) of a stored piece in bucket form."""
    n, first, step_width, count_width = _COMPACT_HEADER.unpack_from(blob, 1)
    at = 1 + _COMPACT_HEADER.size
    steps = np.frombuffer(blob, dtype=f"<u{step_width}", count=n, offset=at)
    counts = np.frombuffer(blob, dtype=f"<u{count_width}", count=n, offset=at + step_width * n)
    return first + np.cumsum(steps, dtype=np.int64), counts


class Piece:
    """A stored distribution being changed by the write path (exact values or bucket counts)."""

    def __init__(self, blob: bytes | None = None) -> None:
        self.values: list[int] | None = []
        self.counts: dict[int, int] = {}
        if blob:
            kind, body = blob[:1], blob[1:]
            if kind == _EXACT:
                self.values = list(np.frombuffer(body, dtype="<u4").tolist())
            else:
                idx, cnt = _compact_arrays(blob)
                self.values = None
                self.counts = dict(zip(idx.tolist(), cnt.tolist(), strict=True))

    def add(self, value: int) -> None:
        if self.values is not None:
            if len(self.values) < EXACT_LIMIT:
                self.values.append(value)
                return
            self._to_buckets()
        index = int(bucket_of(value))
        self.counts[index] = self.counts.get(index, 0) + 1

    def remove(self, value: int) -> None:
        if self.values is not None:
            if value in self.values:
                self.values.remove(value)
            return
        index = int(bucket_of(value))
        left = self.counts.get(index, 0) - 1
        if left > 0:
            self.counts[index] = left
        else:
            self.counts.pop(index, None)

    def _to_buckets(self) -> None:
        for index in bucket_of(self.values or []).tolist():
            self.counts[index] = self.counts.get(index, 0) + 1
        self.values = None

    def to_blob(self) -> bytes | None:
        if self.values is not None:
            if not self.values:
                return None
            return _EXACT + np.asarray(sorted(self.values), dtype="<u4").tobytes()
        return sparse_blob(self.counts.keys(), self.counts.values())


def exact_blob(values: Iterable[int]) -> bytes | None:
    array = np.sort(np.asarray(list(values), dtype="<u4"))
    return _EXACT + array.tobytes() if array.size else None


def sparse_blob(indexes: Iterable[int], counts: Iterable[int]) -> bytes | None:
    """The compact bucket form of (bucket, count) pairs (distinct buckets, counts > 0)."""
    idx = np.asarray(list(indexes), dtype=np.int64)
    cnt = np.asarray(list(counts), dtype=np.int64)
    if not idx.size:
        return None
    order = np.argsort(idx)
    idx, cnt = idx[order], cnt[order]
    steps = np.diff(idx, prepend=idx[0])
    step_width = 1 if int(steps.max()) < 1 << 8 else 2
    top = int(cnt.max())
    count_width = 1 if top < 1 << 8 else 2 if top < 1 << 16 else 4
    return (
        _COMPACT
        + _COMPACT_HEADER.pack(idx.size, int(idx[0]), step_width, count_width)
        + steps.astype(f"<u{step_width}").tobytes()
        + cnt.astype(f"<u{count_width}").tobytes()
    )


# --- merged form: what a dashboard reads ------------------------------------------------------


class Distribution:
    """The sum of stored pieces; answers counts, percentiles and shares within a target."""

    __slots__ = ("_counts", "_exact", "_idx")

    def __init__(self) -> None:
        self._exact: list[npt.NDArray[np.uint32]] = []
        self._idx: list[npt.NDArray[Any]] = []
        self._counts: list[npt.NDArray[Any]] = []

    def add_blob(self, blob: bytes | None) -> None:
        if not blob:
            return
        kind = blob[:1]
        if kind == _EXACT:
            self._exact.append(np.frombuffer(blob, dtype="<u4", offset=1))
        else:
            idx, counts = _compact_arrays(blob)
            self._idx.append(idx)
            self._counts.append(counts)

    def extend(self, other: Distribution) -> None:
        self._exact.extend(other._exact)
        self._idx.extend(other._idx)
        self._counts.extend(other._counts)

    def add_values(self, values: Iterable[int]) -> None:
        array = np.asarray(list(values), dtype=np.uint32)
        if array.size:
            self._exact.append(array)

    def _exact_values(self) -> npt.NDArray[np.uint32] | None:
        """The sorted values, when the exact form still applies to the whole sum."""
        if self._idx:
            return None
        if not self._exact:
            return np.zeros(0, dtype=np.uint32)
        values = np.concatenate(self._exact) if len(self._exact) > 1 else self._exact[0]
        return np.sort(values) if values.size <= EXACT_LIMIT else None

    def buckets(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """(bucket, count) pairs of everything added, exact values put in their buckets; a
        bucket may appear more than once. As long as the pieces, not as long as the edges."""
        idx: list[npt.NDArray[Any]] = list(self._idx)
        weights: list[npt.NDArray[Any]] = list(self._counts)
        if self._exact:
            exact = np.concatenate(self._exact)
            idx.append(bucket_of(exact))
            weights.append(np.ones(exact.size, dtype=np.int64))
        if not idx:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty
        return (
            np.concatenate(idx).astype(np.int64),
            np.concatenate(weights).astype(np.int64),
        )

    def summary(self, fractions: Sequence[float], targets: Sequence[int] = ()) -> Summary:
        """Count, the given percentiles (seconds) and the counts at or under each target."""
        exact = self._exact_values()
        if exact is not None:
            return _exact_summary(exact, fractions, targets)
        return _bucket_summary(*self.buckets(), fractions, targets)


def _exact_summary(
    exact: npt.NDArray[Any], fractions: Sequence[float], targets: Sequence[int]
) -> Summary:
    values = exact.tolist()
    return Summary(
        n=len(values),
        percentiles=[percentile_cont(values, f) for f in fractions],
        within=[int(np.count_nonzero(exact <= t)) for t in targets],
    )


def _within(idx: npt.NDArray[np.int64], weights: npt.NDArray[np.int64], target: int) -> int:
    return int(weights[idx <= min(int(bucket_of(target)), BUCKETS - 1)].sum())


def _bucket_summary(
    idx: npt.NDArray[np.int64],
    weights: npt.NDArray[np.int64],
    fractions: Sequence[float],
    targets: Sequence[int],
) -> Summary:
    within = [_within(idx, weights, t) for t in targets]
    n = int(weights.sum())
    if n == 0:
        return Summary(n=0, percentiles=[None for _ in fractions], within=within)
    order = np.argsort(idx, kind="stable")
    ordered = idx[order]
    cumulative = np.cumsum(weights[order])

    def value_at(rank: int) -> float:
        return float(_MIDDLES[int(ordered[int(np.searchsorted(cumulative, rank, side="right"))])])

    percentiles: list[float | None] = []
    for fraction in fractions:
        position = fraction * (n - 1)
        low, high = math.floor(position), math.ceil(position)
        low_value = value_at(low)
        percentiles.append(low_value + (value_at(high) - low_value) * (position - low))
    return Summary(n=n, percentiles=percentiles, within=within)


def summarize(
    parts: dict[str, Distribution], fractions: Sequence[float], targets: dict[str, int]
) -> tuple[Summary, int]:
    """The summary of the parts together, and how many values of each part are within that
    part's target (summed)."""
    return summarize_many([(parts, targets)], fractions)[0]


class _Exact(NamedTuple):
    """Values kept exactly, each with its group and its target in seconds (-1: none)."""

    values: npt.NDArray[np.int64]
    group: npt.NDArray[np.int64]
    target: npt.NDArray[np.int64]


class _Pieces(NamedTuple):
    """Bucket pieces, their entries one piece after the other (buckets ascending within a
    piece), with each piece's size, group and target bucket (-1: none). Sums per piece are
    sequential reductions; only what must be spread over groups is spread."""

    buckets: npt.NDArray[np.int64]
    counts: npt.NDArray[np.int64]
    sizes: npt.NDArray[np.int64]
    group: npt.NDArray[np.int64]
    target: npt.NDArray[np.int64]


_EMPTY = np.zeros(0, dtype=np.int64)
_NO_PIECES = _Pieces(_EMPTY, _EMPTY, _EMPTY, _EMPTY, _EMPTY)


class _Derived(NamedTuple):
    """Groups that also hold every value of another group (their base), one base each."""

    group: npt.NDArray[np.int64]
    base: npt.NDArray[np.int64]

    @classmethod
    def of(cls, bases: Mapping[int, int]) -> _Derived:
        if set(bases) & set(bases.values()):
            raise ValueError("a base group cannot itself be derived")
        return cls(
            np.fromiter(bases.keys(), dtype=np.int64, count=len(bases)),
            np.fromiter(bases.values(), dtype=np.int64, count=len(bases)),
        )

    def _of_bases(self, groups: npt.NDArray[np.int64]) -> tuple[Any, Any]:
        """Which of items in ``groups`` belong to a base, one derived group after another, and
        how many each derived group takes."""
        order = np.argsort(groups, kind="stable")
        ordered = groups[order]
        first = np.searchsorted(ordered, self.base, side="left")
        sizes = np.searchsorted(ordered, self.base, side="right") - first
        return order[_ranges(first, sizes)], sizes

    def exact_values(self, exact: _Exact) -> _Exact:
        """``exact`` and, again, every exact value of a base for each group derived from it
        (with no target)."""
        if not self.group.size or not exact.values.size:
            return exact
        taken, sizes = self._of_bases(exact.group)
        return _Exact(
            np.concatenate((exact.values, exact.values[taken])),
            np.concatenate((exact.group, np.repeat(self.group, sizes))),
            np.concatenate((exact.target, np.full(taken.size, -1, dtype=np.int64))),
        )

    def pieces(self, pieces: _Pieces) -> _Pieces:
        """``pieces`` and, again, every piece of a base for each group derived from it (with no
        target): what the groups hold, spelt out entry by entry (for the sorted way, where the
        entries are few)."""
        if not self.group.size or not pieces.sizes.size:
            return pieces
        taken, sizes = self._of_bases(pieces.group)
        starts = np.cumsum(pieces.sizes) - pieces.sizes
        entries = _ranges(starts[taken], pieces.sizes[taken])
        return _Pieces(
            np.concatenate((pieces.buckets, pieces.buckets[entries])),
            np.concatenate((pieces.counts, pieces.counts[entries])),
            np.concatenate((pieces.sizes, pieces.sizes[taken])),
            np.concatenate((pieces.group, np.repeat(self.group, sizes))),
            np.concatenate((pieces.target, np.full(taken.size, -1, dtype=np.int64))),
        )


def _ranges(starts: npt.NDArray[np.int64], sizes: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """``start, start + 1, ..., start + size - 1`` for every (start, size), one after another."""
    offsets = np.cumsum(sizes) - sizes
    return np.repeat(starts - offsets, sizes) + np.arange(int(sizes.sum()), dtype=np.int64)


def summarize_many(
    items: Sequence[tuple[Mapping[str, Distribution], Mapping[str, int]]],
    fractions: Sequence[float],
) -> list[tuple[Summary, int]]:
    """:func:`summarize` for many groups at once, in a few array operations over every stored
    entry of every group (a dashboard has hundreds of groups; one pass costs what one group
    costs). A group is read exactly when it holds only exact pieces and at most
    :data:`EXACT_LIMIT` values in all, otherwise from the buckets; a part without a target
    counts nothing as within."""
    exact: list[tuple[npt.NDArray[Any], int, int]] = []
    pieces: list[tuple[npt.NDArray[Any], npt.NDArray[Any], int, int]] = []
    for group, (parts, targets) in enumerate(items):
        for name, part in parts.items():
            target = int(targets[name]) if name in targets else -1
            exact += [(array, group, target) for array in part._exact if array.size]
            pieces += [
                (idx, counts, group, target)
                for idx, counts in zip(part._idx, part._counts, strict=True)
                if idx.size
            ]
    return _summarize(
        len(items),
        fractions,
        _Exact(
            _joined([a for a, _, _ in exact]),
            _spread([g for _, g, _ in exact], [a.size for a, _, _ in exact]),
            _spread([t for _, _, t in exact], [a.size for a, _, _ in exact]),
        ),
        _Pieces(
            _joined([idx for idx, _, _, _ in pieces]),
            _joined([counts for _, counts, _, _ in pieces]),
            np.asarray([idx.size for idx, _, _, _ in pieces], dtype=np.int64),
            np.asarray([g for _, _, g, _ in pieces], dtype=np.int64),
            _target_buckets([t for _, _, _, t in pieces]),
        ),
        _Derived.of({}),
    )


def _joined(arrays: Sequence[npt.NDArray[Any]]) -> npt.NDArray[np.int64]:
    if len(arrays) == 1:
        return arrays[0].astype(np.int64, copy=False)
    return np.concatenate(arrays).astype(np.int64) if arrays else _EMPTY


def _spread(values: Sequence[int], sizes: Sequence[int]) -> npt.NDArray[np.int64]:
    return np.repeat(np.asarray(values, dtype=np.int64), np.asarray(sizes, dtype=np.int64))


def _little(buffer: npt.NDArray[np.uint8], at: npt.NDArray[np.int64], width: int) -> Any:
    """Little-endian unsigned integers of ``width`` bytes starting at each of ``at``."""
    value = buffer[at].astype(np.int64)
    for byte in range(1, width):
        value |= buffer[at + byte].astype(np.int64) << (8 * byte)
    return value


def _fields(
    buffer: npt.NDArray[np.uint8], byte_lengths: npt.NDArray[np.int64], widths: Sequence[int]
) -> list[npt.NDArray[Any]]:
    """The fields of consecutive records in ``buffer``: field ``j`` of record ``i`` takes
    ``byte_lengths[i, j]`` bytes and holds integers of ``widths[j]`` bytes (0: skipped, as a
    header is). Each field of every record comes out as one array, read through one mask over
    the bytes rather than through positions computed for every value."""
    roles = np.tile(np.arange(len(widths), dtype=np.uint8), byte_lengths.shape[0])
    byte_roles = np.repeat(roles, byte_lengths.ravel())
    return [
        buffer[byte_roles == role].view(f"<u{width}") for role, width in enumerate(widths) if width
    ]


def summarize_blobs(
    blobs: Sequence[bytes | None],
    owners: Sequence[int],
    targets: Sequence[int],
    groups: int,
    fractions: Sequence[float],
    bases: Mapping[int, int] | None = None,
) -> list[tuple[Summary, int]]:
    """:func:`summarize_many` straight from stored pieces: piece ``i`` belongs to group
    ``owners[i]`` with target ``targets[i]`` (-1: none). ``bases[d] = b``: group ``d`` also
    holds every value of group ``b`` (none of them counted as within a target), summed from
    ``b``'s counts rather than decoded twice (a row's first responses "so far" are its first
    responses and its waiting reports' ages).

    Every piece is decoded at once from one buffer: the pieces are put in order of their form
    (exact, then each pair of widths), so that each form is one run of bytes whose fields are
    read by masks, and within a form in order of their group, so that a group's entries are
    near each other when they are summed."""
    kept = [i for i, blob in enumerate(blobs) if blob]
    derived = _Derived.of(bases or {})
    if not kept:
        return _summarize(groups, fractions, _Exact(_EMPTY, _EMPTY, _EMPTY), _NO_PIECES, derived)
    owner = np.asarray(owners, dtype=np.int64)[kept]
    target = np.asarray(targets, dtype=np.int64)[kept]
    pieces = [blobs[i] for i in kept]
    lengths = np.fromiter(map(len, pieces), dtype=np.int64, count=len(pieces))  # type: ignore[arg-type]
    buffer = np.frombuffer(b"".join(pieces), dtype=np.uint8)  # type: ignore[arg-type]
    offsets = np.cumsum(lengths) - lengths
    is_exact = buffer[offsets] == _EXACT[0]
    # The form of each piece: 0 exact, else its step width * 8 + its count width.
    head = np.minimum(offsets[:, None] + np.array([7, 8]), buffer.size - 1)
    widths = buffer[head].astype(np.int64)
    form = np.where(is_exact, 0, widths[:, 0] * 8 + widths[:, 1])
    order = np.lexsort((owner, form))
    if np.any(order != np.arange(order.size)):
        buffer = np.frombuffer(b"".join([pieces[i] for i in order]), dtype=np.uint8)  # type: ignore[misc]
        owner, target, lengths, form = owner[order], target[order], lengths[order], form[order]
    ends = np.cumsum(lengths)
    runs = np.flatnonzero(np.diff(form, append=-1)) + 1  # where each form's pieces end
    exact = _Exact(_EMPTY, _EMPTY, _EMPTY)
    buckets: list[npt.NDArray[np.int64]] = []
    counts: list[npt.NDArray[np.int64]] = []
    sizes: list[npt.NDArray[np.int64]] = []
    start = 0
    for end in runs.tolist():
        first_byte = int(ends[start - 1]) if start else 0
        run = buffer[first_byte : int(ends[end - 1])]
        run_lengths = lengths[start:end]
        if form[start] == 0:
            n = (run_lengths - 1) // 4
            (values,) = _fields(run, np.stack((np.ones_like(n), 4 * n), axis=1), (0, 4))
            exact = _Exact(
                values.astype(np.int64),
                np.repeat(owner[start:end], n),
                np.repeat(target[start:end], n),
            )
        else:
            local = np.cumsum(run_lengths) - run_lengths
            n = _little(run, local + 1, 4)
            first = _little(run, local + 5, 2)
            step_width, count_width = divmod(int(form[start]), 8)
            header = np.full_like(n, 1 + _COMPACT_HEADER.size)
            steps, piece_counts = _fields(
                run,
                np.stack((header, step_width * n, count_width * n), axis=1),
                (0, step_width, count_width),
            )
            # Buckets: each piece's first bucket plus the running sum of its steps (the
            # first step is 0).
            running = np.cumsum(steps, dtype=np.int64)
            before = running[np.cumsum(n) - n]
            buckets.append(np.repeat(first - before, n) + running)
            counts.append(piece_counts)
            sizes.append(n)
        start = end
    compact = slice(int(np.count_nonzero(form == 0)), None)
    return _summarize(
        groups,
        fractions,
        exact,
        _Pieces(
            _joined(buckets),
            _joined(counts),
            _joined(sizes),
            owner[compact],
            _target_buckets(target[compact]),
        ),
        derived,
    )


def _target_buckets(targets: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """The bucket of each target (-1: none), found once per stored piece rather than once per
    entry (a piece of a large history holds hundreds of entries)."""
    array = np.asarray(targets, dtype=np.int64)
    found = np.minimum(bucket_of(np.maximum(array, 0)), BUCKETS - 1)
    return np.where(array < 0, -1, found)


def _summarize(
    groups: int, fractions: Sequence[float], exact: _Exact, pieces: _Pieces, derived: _Derived
) -> list[tuple[Summary, int]]:
    """The common part: exact values and bucket pieces to a summary and a count within target
    per group."""
    exact = derived.exact_values(exact)
    starts = np.cumsum(pieces.sizes) - pieces.sizes

    def per_piece(values: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        return np.add.reduceat(values, starts) if starts.size else _EMPTY

    in_pieces = np.bincount(
        pieces.group, weights=per_piece(pieces.counts), minlength=groups
    ).astype(np.int64)
    piece_count = np.bincount(pieces.group, minlength=groups)
    in_pieces[derived.group] += in_pieces[derived.base]
    piece_count[derived.group] += piece_count[derived.base]
    n = np.bincount(exact.group, minlength=groups) + in_pieces
    exact_mode = (piece_count == 0) & (n <= EXACT_LIMIT)

    # Within the target: values in exact groups, buckets (as _within) in the others.
    exact_bucket = bucket_of(exact.values)
    exact_in = exact_mode[exact.group]
    target_bucket = np.minimum(bucket_of(np.maximum(exact.target, 0)), BUCKETS - 1)
    within_exact = np.where(
        exact.target < 0,
        False,
        np.where(exact_in, exact.values <= exact.target, exact_bucket <= target_bucket),
    )
    # A piece's target is -1 when it has none, and buckets are >= 0: nothing counts then.
    entry_target = np.repeat(pieces.target, pieces.sizes)
    piece_within = per_piece(np.where(pieces.buckets <= entry_target, pieces.counts, 0))
    within = np.bincount(exact.group, weights=within_exact, minlength=groups) + np.bincount(
        pieces.group, weights=piece_within, minlength=groups
    )

    # Exact values of groups read from the buckets count as one entry in their bucket.
    loose = (exact.group[~exact_in], exact_bucket[~exact_in])
    entries_of = np.bincount(pieces.group, weights=pieces.sizes, minlength=groups)
    entries = exact.values.size + pieces.buckets.size + int(entries_of[derived.base].sum())
    lowest = pieces.buckets[starts]
    highest = pieces.buckets[starts + pieces.sizes - 1] if starts.size else _EMPTY
    used = np.concatenate((lowest, highest, loose[1]))
    bucket_groups = int(np.count_nonzero(~exact_mode))
    span = int(used.max() - used.min() + 1) if used.size else 1
    if entries > 64 and bucket_groups * span < 3 * entries * max(math.log2(entries), 1):
        percentiles = _dense_percentiles(
            fractions,
            n,
            exact_mode,
            (exact.group[exact_in], exact.values[exact_in]),
            pieces,
            (lowest, highest),
            loose,
            derived,
        )
    else:
        pieces = derived.pieces(pieces)
        exact_value = np.where(exact_in, exact.values.astype(np.float64), _MIDDLES[exact_bucket])
        percentiles = _sorted_percentiles(
            fractions,
            n,
            np.concatenate((exact_value, _MIDDLES[pieces.buckets])),
            np.concatenate((exact.group, np.repeat(pieces.group, pieces.sizes))),
            np.concatenate((np.ones(exact.values.size, dtype=np.int64), pieces.counts)),
        )
    # Plain Python numbers read once per array: a dashboard has over a thousand groups, and
    # indexing a numpy array one element at a time costs more than the whole computation.
    counts = n.tolist()
    within_counts = within.astype(np.int64).tolist()
    columns = [np.asarray(p, dtype=np.float64).tolist() for p in percentiles]
    return [
        (
            Summary(n=count, percentiles=[c[group] if count else None for c in columns], within=[]),
            within_counts[group],
        )
        for group, count in enumerate(counts)
    ]


def _interpolated(
    fractions: Sequence[float], n: npt.NDArray[np.int64], value_at: Any
) -> list[npt.NDArray[np.float64]]:
    """Each fraction's percentile per group: linear interpolation between closest ranks, with
    ``value_at(rank)`` the value at a rank of every group."""
    out = []
    for fraction in fractions:
        position = fraction * (n - 1).astype(np.float64)
        low, high = np.floor(position), np.ceil(position)
        low_value = value_at(np.maximum(low, 0).astype(np.int64))
        out.append(
            low_value
            + (value_at(np.maximum(high, 0).astype(np.int64)) - low_value) * (position - low)
        )
    return out


def _sorted_percentiles(
    fractions: Sequence[float],
    n: npt.NDArray[np.int64],
    keys: npt.NDArray[np.float64],
    owner: npt.NDArray[np.int64],
    weight: npt.NDArray[np.int64],
) -> list[npt.NDArray[np.float64]]:
    """Percentiles from every entry sorted by (group, value): the cheaper way for few entries."""
    order = np.lexsort((keys, owner))
    keys, weight = keys[order], weight[order]
    cumulative = np.cumsum(weight)
    base = np.cumsum(n) - n
    last = max(keys.size - 1, 0)

    def value_at(rank: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
        if not keys.size:
            return np.zeros(n.size)
        return keys[np.minimum(np.searchsorted(cumulative, base + rank, side="right"), last)]

    return _interpolated(fractions, n, value_at)


def _dense_percentiles(
    fractions: Sequence[float],
    n: npt.NDArray[np.int64],
    exact_mode: npt.NDArray[np.bool_],
    exact: tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]],
    pieces: _Pieces,
    ends: tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]],
    loose: tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]],
    derived: _Derived,
) -> list[npt.NDArray[np.float64]]:
    """Percentiles from one count per (group, bucket) over the buckets in use, summed without
    sorting: the cheaper way when groups hold many entries (large histories). Groups read
    exactly (few values) are sorted on their own; ``ends`` are each piece's lowest and highest
    bucket, ``loose`` the (group, bucket) of exact values counted in buckets. A derived
    group's cells add its base's cells from pieces, copied rather than summed again."""
    exact_group, exact_values = exact
    small = _sorted_percentiles(
        fractions,
        np.where(exact_mode, n, 0),
        exact_values.astype(np.float64),
        exact_group,
        np.ones(exact_values.size, dtype=np.int64),
    )
    loose_group, loose_bucket = loose
    if not pieces.buckets.size and not loose_bucket.size:
        return small
    # Each group's cells run from its lowest to its highest bucket in use, one group after the
    # other: the cells follow the buckets each group uses, not groups times every bucket in use.
    piece_low = np.full(n.size, BUCKETS, dtype=np.int64)
    piece_high = np.full(n.size, -1, dtype=np.int64)
    np.minimum.at(piece_low, pieces.group, ends[0])
    np.maximum.at(piece_high, pieces.group, ends[1])
    low, high = piece_low.copy(), piece_high.copy()
    low[derived.group] = np.minimum(low[derived.group], piece_low[derived.base])
    high[derived.group] = np.maximum(high[derived.group], piece_high[derived.base])
    np.minimum.at(low, loose_group, loose_bucket)
    np.maximum.at(high, loose_group, loose_bucket)
    where = np.nonzero(~exact_mode)[0]
    spans = np.maximum(high[where] - low[where] + 1, 1)
    starts = np.cumsum(spans) - spans
    offset = np.zeros(n.size, dtype=np.int64)
    offset[where] = starts - low[where]
    total = int(spans.sum())
    cells = np.bincount(
        np.repeat(offset[pieces.group], pieces.sizes) + pieces.buckets,
        weights=pieces.counts,
        minlength=total,
    )
    with_pieces = piece_high[derived.base] >= 0
    into, source = derived.group[with_pieces], derived.base[with_pieces]
    if source.size:
        width = piece_high[source] - piece_low[source] + 1
        from_source = cells[_ranges(offset[source] + piece_low[source], width)]
        cells[_ranges(offset[into] + piece_low[source], width)] += from_source
    if loose_bucket.size:
        cells += np.bincount(offset[loose_group] + loose_bucket, minlength=total)
    cumulative = np.cumsum(cells)
    base = np.where(starts > 0, cumulative[np.maximum(starts - 1, 0)], 0.0)
    sizes = n[where]
    lows = low[where]

    def value_at(rank: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
        at = np.searchsorted(cumulative, base + rank, side="right")
        return _MIDDLES[np.minimum(at - starts, spans - 1) + lows]

    dense = _interpolated(fractions, sizes, value_at)
    for merged, part in zip(small, dense, strict=True):
        merged[where] = part
    return small


class Summary:
    __slots__ = ("n", "percentiles", "within")

    def __init__(self, n: int, percentiles: list[float | None], within: list[int]) -> None:
        self.n = n
        self.percentiles = percentiles
        self.within = within
