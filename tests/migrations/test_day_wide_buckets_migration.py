"""Migration 0018 on stored distributions: after the upgrade every piece in bucket form is the
piece the write path would now store for the same durations, byte for byte; exact pieces are
left alone; the downgrade keeps every count and puts percentiles within 2 %."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from sqlalchemy import Engine, text

from portal.services import schema
from portal.services.distribution import Distribution, Piece, percentile_cont
from tests.support.migration_engines import empty_database

BEFORE = "0017_waiting_index"
MIGRATION = (
    Path(__file__).resolve().parents[2] / "migrations" / "versions" / "0018_day_wide_buckets.py"
)
DAY = 86400


def _migration() -> ModuleType:
    spec = importlib.util.spec_from_file_location("day_wide_buckets", MIGRATION)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def engine(tmp_path) -> Iterator[Engine]:
    with empty_database("day_wide_buckets_test", tmp_path) as engine:
        yield engine


def _hourly_piece(values: np.ndarray, old: ModuleType, form: bytes) -> bytes:
    """A piece as stored before 0018: the hourly staircase, in the compact or the first form."""
    buckets, counts = np.unique(np.searchsorted(old.HOURLY, values), return_counts=True)
    if form == b"C":
        return old._encode(buckets, counts)
    return (
        b"B"
        + np.uint32(buckets.size).tobytes()
        + buckets.astype("<u2").tobytes()
        + counts.astype("<u4").tobytes()
    )


def _current_piece(values: np.ndarray) -> bytes | None:
    piece = Piece()
    for value in values.tolist():
        piece.add(value)
    return piece.to_blob()


def _durations(rng: np.random.Generator, n: int) -> np.ndarray:
    """Answers within hours, resolutions over weeks, a few cases of a year or more."""
    return np.concatenate(
        (
            rng.integers(0, 50 * 3600, n // 2),
            rng.integers(50 * 3600, 100 * DAY, n // 3),
            rng.integers(100 * DAY, 3 * 365 * DAY, n - n // 2 - n // 3),
        )
    )


def test_upgrade_recounts_every_piece_as_the_write_path_now_would(engine: Engine) -> None:
    old = _migration()
    # The staircase before this revision: every whole hour up to 100 days an edge.
    hourly = set(old.HOURLY.tolist())
    assert all(hours * 3600 in hourly for hours in range(1, 2400)) and old.HOURLY.size == 3088
    schema.upgrade(engine, BEFORE)
    rng = np.random.default_rng(18)
    stored = {
        ("u", "7"): (_durations(rng, 900), _durations(rng, 70_000), b"C"),
        ("u", "8"): (_durations(rng, 300), _durations(rng, 200), b"B"),
        ("c", "fraud"): (rng.integers(0, 100 * DAY, 40), _durations(rng, 500), b"C"),
    }
    removal = _durations(rng, 400)
    with engine.begin() as connection:
        for (dim, key), (first, resolution, form) in stored.items():
            first_blob = (
                b"E" + np.sort(first).astype("<u4").tobytes()
                if first.size <= 64
                else _hourly_piece(first, old, form)
            )
            connection.execute(
                text(
                    "INSERT INTO stats_rollups (scope, level, block, dim, key, priority, received,"
                    " answered, resolved, first_response, resolution) VALUES (0, 0, 20000, :dim,"
                    " :key, 'normal', :n, :a, :r, :first, :resolution)"
                ),
                {
                    "dim": dim,
                    "key": key,
                    "n": resolution.size,
                    "a": first.size,
                    "r": resolution.size,
                    "first": first_blob,
                    "resolution": _hourly_piece(resolution, old, form),
                },
            )
        connection.execute(
            text(
                "INSERT INTO takedown_rollups (scope, level, block, platform, category, requested,"
                " removed, refused, removal) VALUES (0, 1, 3000, 'facebook', 'fraud', 400, 400,"
                " 0, :removal)"
            ),
            {"removal": _hourly_piece(removal, old, b"C")},
        )

    schema.upgrade(engine)

    with engine.connect() as connection:
        rows = {
            (dim, key): (bytes(first), bytes(resolution))
            for dim, key, first, resolution in connection.execute(
                text("SELECT dim, key, first_response, resolution FROM stats_rollups")
            )
        }
        (stored_removal,) = connection.execute(text("SELECT removal FROM takedown_rollups")).one()
    for key, (first, resolution, _form) in stored.items():
        assert rows[key][1] == _current_piece(resolution)
        if first.size <= 64:  # few durations: kept as they were, exact
            assert rows[key][0] == b"E" + np.sort(first).astype("<u4").tobytes()
        else:
            assert rows[key][0] == _current_piece(first)
    assert bytes(stored_removal) == _current_piece(removal)


def test_downgrade_keeps_every_count_and_percentiles_within_two_per_cent(engine: Engine) -> None:
    old = _migration()
    schema.upgrade(engine)
    values = _durations(np.random.default_rng(3), 5_000)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO stats_rollups (scope, level, block, dim, key, priority, received,"
                " answered, resolved, first_response, resolution) VALUES (0, 0, 20000, 't', '',"
                " 'normal', :n, :n, :n, :piece, :piece)"
            ),
            {"n": values.size, "piece": _current_piece(values)},
        )

    schema.downgrade(engine, BEFORE)

    with engine.connect() as connection:
        (blob,) = connection.execute(text("SELECT resolution FROM stats_rollups")).one()
    buckets, counts = old._decode(bytes(blob))
    assert int(counts.sum()) == values.size
    middles = np.concatenate(([0.0], (old.HOURLY[:-1] + 1 + old.HOURLY[1:]) / 2.0))
    read = np.sort(np.repeat(middles[buckets], counts.astype(np.int64)))
    exact = np.sort(values)
    for fraction in (0.1, 0.5, 0.9, 0.99):
        expected = percentile_cont(exact.tolist(), fraction)
        got = percentile_cont(read.tolist(), fraction)
        assert expected is not None and got is not None
        assert abs(got - expected) <= 0.02 * expected

    schema.upgrade(engine)  # and back: the counts are still all there
    with engine.connect() as connection:
        (blob,) = connection.execute(text("SELECT resolution FROM stats_rollups")).one()
    merged = Distribution()
    merged.add_blob(bytes(blob))
    assert merged.summary([0.5]).n == values.size
