"""Mergeable duration distributions: the stated error bound, checked against the exact
computation on random data."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portal.services.distribution import (
    BUCKETS,
    EDGES,
    EXACT_LIMIT,
    MAX_SECONDS,
    RELATIVE_ERROR,
    Distribution,
    Piece,
    bucket_of,
    exact_blob,
    is_edge,
    percentile_cont,
    seconds,
    sparse_blob,
    summarize_blobs,
    summarize_many,
)

durations = st.integers(min_value=0, max_value=400 * 86400)
# Targets the shares within are exact for: whole hours up to 50, whole days up to 100 (seconds).
edge_targets = st.integers(1, 50).map(lambda hours: hours * 3600) | st.integers(1, 100).map(
    lambda days: days * 86400
)
fractions = st.sampled_from([0.0, 0.1, 0.5, 0.9, 0.99, 1.0]) | st.floats(0, 1)


def merged(pieces: list[list[int]]) -> Distribution:
    """Each piece stored as the write path would, then merged as a dashboard reads them."""
    result = Distribution()
    for values in pieces:
        piece = Piece()
        for value in values:
            piece.add(value)
        result.add_blob(piece.to_blob())
    return result


@settings(max_examples=300, deadline=None)
@given(
    pieces=st.lists(st.lists(durations, min_size=0, max_size=150), min_size=1, max_size=8),
    fraction=fractions,
)
def test_percentiles_are_within_one_percent_of_the_exact_value(pieces, fraction):
    values = sorted(v for piece in pieces for v in piece)
    summary = merged(pieces).summary([fraction])
    assert summary.n == len(values)
    exact = percentile_cont(values, fraction)
    estimate = summary.percentiles[0]
    if exact is None:
        assert estimate is None
        return
    assert abs(estimate - exact) <= RELATIVE_ERROR * exact
    if len(values) <= EXACT_LIMIT:
        assert estimate == pytest.approx(exact)  # few values: exactly the definition


@settings(max_examples=200, deadline=None)
@given(
    values=st.lists(durations, min_size=1, max_size=300),
    target=edge_targets,
)
def test_counts_within_a_whole_hour_or_whole_day_target_are_exact(values, target):
    summary = merged([values]).summary([], [target])
    assert summary.within == [sum(1 for v in values if v <= target)]


@settings(max_examples=100, deadline=None)
@given(
    kept=st.lists(durations, min_size=0, max_size=120),
    removed=st.lists(durations, min_size=0, max_size=120),
)
def test_removing_a_value_undoes_adding_it(kept, removed):
    piece = Piece()
    for value in [*kept, *removed]:
        piece.add(value)
    for value in removed:
        piece = Piece(piece.to_blob())
        piece.remove(value)
    after = Distribution()
    after.add_blob(piece.to_blob())
    result = after.summary([0.5, 0.9], [3600])
    assert result.n == len(kept)
    assert result.within == [sum(1 for v in kept if v <= 3600)]
    for fraction, got in zip([0.5, 0.9], result.percentiles, strict=True):
        exact = percentile_cont(sorted(kept), fraction)
        if exact is None:
            assert got is None
        else:
            assert abs(got - exact) <= RELATIVE_ERROR * exact


def test_bucket_widths_keep_the_bound_and_whole_hours_then_days_are_edges():
    widths = np.diff(EDGES)
    starts = EDGES[:-1]
    assert np.all((widths == 1) | (widths <= 2 * RELATIVE_ERROR * starts))
    assert all(is_edge(hours * 3600) for hours in range(1, 51))
    assert all(is_edge(days * 86400) for days in range(1, 101))
    assert not is_edge(30 * 86400 + 3600) and not is_edge(-1) and not is_edge(MAX_SECONDS + 1)
    assert EDGES[-1] >= MAX_SECONDS
    # Widths grow with the durations past two days: a piece of durations spread over weeks
    # holds a few hundred entries, not one per hour (1,392 from two to sixty days).
    assert BUCKETS < 1000
    assert np.count_nonzero((EDGES > 2 * 86400) & (EDGES <= 60 * 86400)) < 250


def test_the_bucket_of_a_duration_is_the_first_edge_at_or_above_it():
    """The look-up table gives what a binary search over the edges gives: for every second up
    to 100 days, on both sides of every edge, and beyond ten years."""

    def searched(values):
        return np.searchsorted(EDGES, np.clip(np.asarray(values, dtype=np.int64), 0, MAX_SECONDS))

    every_second = np.arange(100 * 86400 + 1)
    assert np.array_equal(bucket_of(every_second), searched(every_second))
    around = np.concatenate((EDGES - 1, EDGES, EDGES + 1, [-5, MAX_SECONDS + 1, 10**12]))
    assert np.array_equal(bucket_of(around), searched(around))
    wide = np.random.default_rng(7).integers(0, MAX_SECONDS, 200_000)
    assert np.array_equal(bucket_of(wide), searched(wide))
    assert int(bucket_of(3600)) == int(np.searchsorted(EDGES, 3600))


def test_durations_round_up_to_whole_seconds_and_are_never_negative():
    assert seconds(timedelta(hours=4)) == 14400
    assert seconds(timedelta(hours=4, microseconds=1)) == 14401
    assert seconds(timedelta(seconds=-5)) == 0


def test_exact_form_is_kept_only_up_to_the_limit():
    small = merged([list(range(EXACT_LIMIT))]).summary([0.5])
    assert small.percentiles == [percentile_cont(list(range(EXACT_LIMIT)), 0.5)]
    blob = exact_blob([5, 1, 3])
    assert blob is not None and blob[:1] == b"E"


@settings(max_examples=150, deadline=None)
@given(
    groups=st.lists(
        st.dictionaries(
            st.sampled_from(["urgent", "high", "normal"]),
            st.lists(st.lists(durations, max_size=120), min_size=1, max_size=4),
            max_size=3,
        ),
        min_size=1,
        max_size=12,
    ),
    targets=st.dictionaries(
        st.sampled_from(["urgent", "high", "normal"]), edge_targets, min_size=3
    ),
)
def test_many_groups_at_once_match_the_exact_computation_of_each(groups, targets):
    """A dashboard summarizes all its rows in one pass: each row's count, percentiles (within
    the bound, exact for few values) and share within its per-priority targets are those of
    the exact computation over that row's durations alone."""
    items = [
        ({name: merged(pieces) for name, pieces in group.items()}, targets) for group in groups
    ]
    results = summarize_many(items, [0.5, 0.9])
    for group, (summary, within) in zip(groups, results, strict=True):
        values = sorted(v for pieces in group.values() for piece in pieces for v in piece)
        assert summary.n == len(values)
        assert within == sum(
            1
            for name, pieces in group.items()
            for piece in pieces
            for v in piece
            if v <= targets[name]
        )
        for fraction, estimate in zip([0.5, 0.9], summary.percentiles, strict=True):
            exact = percentile_cont(values, fraction)
            if exact is None:
                assert estimate is None
                continue
            assert abs(estimate - exact) <= RELATIVE_ERROR * exact
            if len(values) <= EXACT_LIMIT:
                assert estimate == pytest.approx(exact)


bucket_counts = st.dictionaries(
    st.integers(0, BUCKETS - 1), st.integers(1, 100_000) | st.integers(1, 300), max_size=40
)


@settings(max_examples=150, deadline=None)
@given(
    pieces=st.lists(
        st.tuples(st.integers(0, 5), edge_targets | st.just(-1), bucket_counts | st.just({})),
        min_size=1,
        max_size=20,
    ),
)
def test_stored_pieces_read_back_their_counts(pieces):
    """Pieces are stored compactly (narrow steps between buckets and narrow counts); read back
    together, each group has the counts it was given, and the counts within its targets."""
    groups = 6
    owners = [owner for owner, _, _ in pieces]
    targets = [target for _, target, _ in pieces]
    compact = [sparse_blob(counts.keys(), counts.values()) for _, _, counts in pieces]
    for blob, (_, _, counts) in zip(compact, pieces, strict=True):
        assert (blob is None) == (not counts)
        if blob is not None:
            assert len(blob) <= 9 + 6 * len(counts)  # at most 2 + 4 bytes an entry
            assert Piece(blob).counts == counts
            assert Piece(blob).to_blob() == blob
    result = summarize_blobs(compact, owners, targets, groups, [0.5, 0.9])
    expected_n = [0] * groups
    expected_within = [0] * groups
    for owner, target, (_, _, counts) in zip(owners, targets, pieces, strict=True):
        expected_n[owner] += sum(counts.values())
        if target >= 0:
            expected_within[owner] += sum(c for b, c in counts.items() if EDGES[b] <= target)
    assert [summary.n for summary, _ in result] == expected_n
    assert [within for _, within in result] == expected_within


stored_pieces = st.one_of(
    st.lists(durations, min_size=1, max_size=EXACT_LIMIT).map(exact_blob),
    bucket_counts.filter(bool).map(lambda counts: sparse_blob(counts.keys(), counts.values())),
    st.none(),
)


@settings(max_examples=200, deadline=None)
@given(
    pieces=st.lists(
        st.tuples(st.integers(0, 7), edge_targets | st.just(-1), stored_pieces), max_size=30
    ),
    fraction=fractions,
)
def test_pieces_read_from_one_buffer_summarize_as_each_read_alone(pieces, fraction):
    """A dashboard decodes all its stored pieces at once, whatever their forms (exact values,
    narrow or wide steps and counts) and in whatever order their groups come; each group's
    count, percentile and count within target are those of its pieces read one by one."""
    groups = 8
    owners = [owner for owner, _, _ in pieces]
    targets = [target for _, target, _ in pieces]
    blobs = [blob for _, _, blob in pieces]
    together = summarize_blobs(blobs, owners, targets, groups, [fraction])
    one_by_one = []
    for group in range(groups):
        parts: dict[str, Distribution] = {}
        part_targets: dict[str, int] = {}
        for index, (owner, target, blob) in enumerate(pieces):
            if owner == group:
                parts[str(index)] = Distribution()
                parts[str(index)].add_blob(blob)
                if target >= 0:
                    part_targets[str(index)] = target
        one_by_one.append((parts, part_targets))
    expected = summarize_many(one_by_one, [fraction])
    for (summary, within), (want, want_within) in zip(together, expected, strict=True):
        assert summary.n == want.n
        assert within == want_within
        assert summary.percentiles == pytest.approx(want.percentiles)


# Pieces whose buckets lie close together, as a busy row's do: summed per (group, bucket).
close_pieces = st.dictionaries(st.integers(300, 360), st.integers(1, 300), min_size=20).map(
    lambda counts: sparse_blob(counts.keys(), counts.values())
)


@settings(max_examples=200, deadline=None)
@given(
    pieces=st.lists(
        st.tuples(st.integers(0, 7), edge_targets | st.just(-1), stored_pieces | close_pieces),
        max_size=30,
    ),
    bases=st.dictionaries(st.integers(4, 7), st.integers(0, 3), max_size=4),
    fraction=fractions,
)
def test_a_group_derived_from_another_holds_its_values_too(pieces, bases, fraction):
    """A row's first responses "so far" hold its first responses without decoding them again:
    a derived group summarizes as if its base's pieces were its own (counted within no
    target), in the exact form and from buckets alike."""
    groups = 8
    owners = [owner for owner, _, _ in pieces]
    targets = [target for _, target, _ in pieces]
    blobs = [blob for _, _, blob in pieces]
    derived = summarize_blobs(blobs, owners, targets, groups, [fraction], bases=bases)
    spelt_out = list(pieces)
    for group, base in bases.items():
        spelt_out += [(group, -1, blob) for owner, _, blob in pieces if owner == base]
    expected = summarize_blobs(
        [blob for _, _, blob in spelt_out],
        [owner for owner, _, _ in spelt_out],
        [target for _, target, _ in spelt_out],
        groups,
        [fraction],
    )
    for (summary, within), (want, want_within) in zip(derived, expected, strict=True):
        assert summary.n == want.n
        assert within == want_within
        assert summary.percentiles == pytest.approx(want.percentiles)


def test_a_base_group_cannot_itself_be_derived():
    with pytest.raises(ValueError):
        summarize_blobs([exact_blob([1])], [0], [-1], 3, [0.5], bases={1: 0, 2: 1})
