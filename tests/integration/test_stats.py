"""The statistics service against hand-computed figures (SQLite and PostgreSQL alike)."""

from __future__ import annotations

import csv
import io
import itertools
from datetime import UTC, date, datetime, time, timedelta

import pytest
from sqlalchemy import func, select

from portal.models import StatsRollup, utcnow
from portal.services.stats import (
    ABROAD,
    NATIONAL,
    TOTAL,
    Period,
    compute_dashboard,
    percentile_cont,
    trend_steps,
)
from tests.support.stats import NOW, SLA_TEST, add_report, hours

PERIOD = Period(start=NOW - timedelta(days=30), end=NOW)


def dashboard(db, region: str | None = None, period: Period = PERIOD):
    return compute_dashboard(db, period=period, sla=SLA_TEST, region_code=region, now=NOW)


def row(rows, key):
    return next(r for r in rows if r.key == key)


# --- the percentile definition ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "fraction", "expected"),
    [
        ([], 0.5, None),
        ([7.0], 0.5, 7.0),
        ([7.0], 0.9, 7.0),
        ([1, 2, 3, 10], 0.5, 2.5),
        ([1, 2, 3, 10], 0.9, 7.9),  # position 2.7: 3 + 0.7 * (10 - 3)
        ([1, 2, 3, 4, 100], 0.5, 3.0),
        ([1, 2, 3, 4, 100], 0.9, 61.6),  # position 3.6: 4 + 0.6 * 96
        ([2, 2, 2, 5], 0.5, 2.0),
        ([2, 2, 2, 5], 0.9, 4.1),
    ],
)
def test_percentile_is_linear_interpolation_between_closest_ranks(values, fraction, expected):
    result = percentile_cont(values, fraction)
    assert result == (None if expected is None else pytest.approx(expected))


def test_percentile_rejects_a_fraction_outside_0_1():
    with pytest.raises(ValueError):
        percentile_cont([1.0], 1.5)


# --- the dashboard ---------------------------------------------------------------------------


def test_empty_period_gives_zeros_and_no_invented_times(db):
    result = dashboard(db)
    assert result.total.received == 0
    assert result.total.first_response.p50 is None
    assert result.total.resolution.p90 is None
    assert result.total.first_sla_share is None
    assert result.total.open_backlog == 0
    # Every region still has its row, so a silent region is visible as such.
    assert len([r for r in result.regions if r.key.startswith("MA-")]) == 12
    assert all(r.received == 0 for r in result.regions)
    assert [count for _name, count in result.backlog_buckets] == [0, 0, 0, 0, 0]


def test_single_report_median_and_p90_are_its_own_times(db):
    add_report(db, submitted=NOW - timedelta(days=3), first_response=hours(2), closed=hours(30))
    result = dashboard(db)
    assert result.total.received == 1
    assert result.total.first_response.p50 == pytest.approx(2 * 3600)
    assert result.total.first_response.p90 == pytest.approx(2 * 3600)
    assert result.total.resolution.p50 == pytest.approx(30 * 3600)
    assert result.total.open_backlog == 0


@pytest.mark.parametrize(
    ("answers", "median", "p90"),
    [
        ([1, 2, 3, 10], 2.5, 7.9),  # even count
        ([1, 2, 3, 4, 100], 3.0, 61.6),  # odd count
        ([2, 2, 2, 5], 2.0, 4.1),  # ties
    ],
)
def test_first_response_percentiles_match_hand_computed_values(db, answers, median, p90):
    for index, h in enumerate(answers):
        add_report(db, submitted=NOW - timedelta(days=5, hours=index), first_response=hours(h))
    total = dashboard(db).total
    assert total.first_response.n == len(answers)
    assert total.first_response.p50 == pytest.approx(median * 3600)
    assert total.first_response.p90 == pytest.approx(p90 * 3600)


def test_open_reports_count_in_backlog_never_in_resolution_times(db):
    add_report(db, submitted=NOW - timedelta(days=10), first_response=hours(1), closed=hours(24))
    add_report(db, submitted=NOW - timedelta(days=10), first_response=hours(3), closed=hours(48))
    # Still open: answered, and never answered.
    add_report(db, submitted=NOW - timedelta(days=8), first_response=hours(5))
    add_report(db, submitted=NOW - timedelta(hours=12))
    total = dashboard(db).total
    assert total.received == 4
    assert total.resolution.n == 2
    assert total.unresolved == 2
    assert total.resolution.p50 == pytest.approx(36 * 3600)
    assert total.first_response.n == 3
    assert total.awaiting_first_response == 1
    assert total.first_response.p50 == pytest.approx(3 * 3600)
    assert total.open_backlog == 2
    assert total.oldest_open_seconds == pytest.approx(8 * 86400)


def test_backlog_age_buckets_include_reports_older_than_the_period(db):
    add_report(db, submitted=NOW - timedelta(hours=5))  # < 1 day
    add_report(db, submitted=NOW - timedelta(days=2))  # 1-3 days
    add_report(db, submitted=NOW - timedelta(days=2, hours=3))
    add_report(db, submitted=NOW - timedelta(days=12))  # 7-30 days
    add_report(db, submitted=NOW - timedelta(days=200))  # > 30 days, before the period
    add_report(db, submitted=NOW - timedelta(days=40), first_response=hours(1), closed=hours(9))
    result = dashboard(db)
    assert dict(result.backlog_buckets) == {
        "lt1d": 1,
        "1to3d": 2,
        "3to7d": 0,
        "7to30d": 1,
        "gt30d": 1,
    }
    assert result.total.open_backlog == 5
    # The period counts what was submitted in it: the 200- and 40-day-old reports are not.
    assert result.total.received == 4


def test_sla_share_judges_only_reports_whose_target_has_passed(db):
    # Targets in the test configuration: urgent 4 h, high 24 h, normal 72 h.
    add_report(db, priority="urgent", submitted=NOW - timedelta(days=2), first_response=hours(3))
    add_report(db, priority="urgent", submitted=NOW - timedelta(days=2), first_response=hours(5))
    add_report(db, priority="normal", submitted=NOW - timedelta(hours=1))  # not due yet
    add_report(db, priority="normal", submitted=NOW - timedelta(hours=100))  # overdue
    add_report(db, priority="high", submitted=NOW - timedelta(hours=30), first_response=hours(24))
    result = dashboard(db)
    assert result.total.first_sla_due == 4
    assert result.total.first_sla_met == 2
    assert result.total.first_sla_share == pytest.approx(0.5)
    urgent = row(result.priorities, "urgent")
    assert (urgent.first_sla_met, urgent.first_sla_due) == (1, 2)
    assert [r.key for r in result.priorities] == ["urgent", "high", "normal"]


def test_rows_per_region_unit_and_abroad(db):
    add_report(db, region="MA-06", unit="CASABLANCA", first_response=hours(2))
    add_report(db, region="MA-06", unit="CASABLANCA", first_response=hours(4))
    add_report(db, region="MA-07", unit="MARRAKECH", first_response=hours(40))
    add_report(db, region=None, unit="NATIONAL-CYBER", first_response=hours(10))
    result = dashboard(db)
    assert row(result.regions, "MA-06").first_response.p50 == pytest.approx(3 * 3600)
    assert row(result.regions, "MA-07").first_response.p50 == pytest.approx(40 * 3600)
    assert row(result.regions, ABROAD).received == 1
    assert result.regions[-1].key == ABROAD
    assert row(result.units, "NATIONAL-CYBER").received == 1
    # Every unit met its target, so the slowest median comes first.
    assert result.units[0].key == "MARRAKECH"
    assert row(result.categories, "fraud").received == 4


def test_units_sorted_by_share_within_target_first(db):
    add_report(
        db,
        region="MA-06",
        unit="CASABLANCA",
        submitted=NOW - timedelta(days=9),
        first_response=hours(100),
    )  # missed
    add_report(
        db,
        region="MA-07",
        unit="MARRAKECH",
        submitted=NOW - timedelta(days=9),
        first_response=hours(60),
    )  # met, although slower
    result = dashboard(db)
    assert [r.key for r in result.units[:2]] == ["CASABLANCA", "MARRAKECH"]


def test_regional_scope_sees_only_its_region(db):
    add_report(db, region="MA-06", unit="CASABLANCA", first_response=hours(2))
    add_report(db, region="MA-07", unit="MARRAKECH", first_response=hours(40))
    add_report(db, region="MA-07", unit="MARRAKECH")
    result = dashboard(db, region="MA-07")
    assert result.scope == "MA-07"
    assert [r.key for r in result.regions] == ["MA-07"]
    assert result.total.received == 2
    assert result.total.open_backlog == 2  # answered is not resolved
    assert result.total.awaiting_first_response == 1
    assert [r.key for r in result.units] == ["MARRAKECH"]
    assert set(result.trend) <= {"MA-07", TOTAL}


def test_weekly_trend_uses_casablanca_weeks(db):
    # 2026-06-07 is a Sunday: 22:30 UTC is 23:30 in Casablanca (UTC+1), still that week.
    sunday_late = datetime(2026, 6, 7, 22, 30, tzinfo=UTC)
    monday_early = datetime(2026, 6, 7, 23, 30, tzinfo=UTC)  # 00:30 local on Monday 8 June
    add_report(db, region="MA-06", submitted=sunday_late, first_response=hours(2))
    add_report(db, region="MA-06", submitted=monday_early, first_response=hours(6))
    period = Period.between(date(2026, 6, 1), date(2026, 6, 9))
    result = dashboard(db, period=period)
    assert (result.steps, result.step_days) == ([date(2026, 6, 1), date(2026, 6, 8)], 7)
    assert result.trend["MA-06"] == [pytest.approx(2 * 3600), pytest.approx(6 * 3600)]
    assert result.trend[TOTAL] == [pytest.approx(2 * 3600), pytest.approx(6 * 3600)]


def test_a_trend_over_26_weeks_goes_four_weeks_at_a_time(db):
    """Up to 26 weeks the trend is weekly; beyond, each point is the median of four weeks (a
    stored block of 28 days counted from Monday 5 January 1970), first and last partial."""
    assert trend_steps(Period.between(date(2025, 12, 10), date(2026, 6, 9)))[1] == 7  # 182 d
    noon = time(12, 0, tzinfo=UTC)
    # Before the period: in the first step's block, but not in the period.
    add_report(db, submitted=datetime.combine(date(2025, 12, 1), noon), first_response=hours(100))
    add_report(db, submitted=datetime.combine(date(2025, 12, 10), noon), first_response=hours(1))
    # Three different weeks of the block starting Monday 22 December: one point, median 4 h.
    for day, h in ((date(2025, 12, 23), 2), (date(2026, 1, 5), 4), (date(2026, 1, 15), 9)):
        add_report(db, submitted=datetime.combine(day, noon), first_response=hours(h))
    add_report(
        db,
        region="MA-07",
        unit="MARRAKECH",
        submitted=datetime.combine(date(2026, 2, 20), noon),
        first_response=hours(30),
    )
    result = dashboard(db, period=Period.between(date(2025, 12, 9), date(2026, 6, 9)))  # 183 d
    assert result.step_days == 28
    assert result.steps == [date(2025, 11, 24) + timedelta(days=28 * i) for i in range(8)]
    assert result.trend["MA-06"] == [3600, 4 * 3600] + [None] * 6
    assert result.trend["MA-07"] == [None, None, None, 30 * 3600] + [None] * 4
    assert result.trend[TOTAL] == [3600, 4 * 3600, None, 30 * 3600] + [None] * 4


def test_custom_period_is_whole_local_days():
    period = Period.between(date(2026, 6, 1), date(2026, 6, 30))
    assert period.start == datetime(2026, 5, 31, 23, 0, tzinfo=UTC)
    assert period.end == datetime(2026, 6, 30, 23, 0, tzinfo=UTC)
    with pytest.raises(ValueError):
        Period.between(date(2026, 6, 2), date(2026, 6, 1))
    assert trend_steps(period) == (
        [
            date(2026, 6, 1),
            date(2026, 6, 8),
            date(2026, 6, 15),
            date(2026, 6, 22),
            date(2026, 6, 29),
        ],
        7,
    )


def test_figures_follow_new_reports_at_once_without_any_refresh(db):
    for h in (1, 2, 3, 10):
        add_report(db, region="MA-04", unit="RABAT", first_response=hours(h))
    later = NOW + timedelta(minutes=20)
    first = compute_dashboard(db, period=Period.rolling("30d", later), sla=SLA_TEST, now=later)
    assert first.total.received == 4
    assert first.total.first_response.p90 == pytest.approx(7.9 * 3600)
    assert first.scope == NATIONAL
    add_report(db, region="MA-04", unit="RABAT", first_response=hours(50))
    regional = compute_dashboard(
        db, period=Period.rolling("30d", later), sla=SLA_TEST, region_code="MA-04", now=later
    )
    assert regional.scope == "MA-04"
    assert regional.total.received == 5
    assert regional.total.first_response.p50 == pytest.approx(3 * 3600)


def test_many_groups_match_percentiles_computed_in_python(db):
    """The database path and the definition agree on a larger, irregular sample."""
    durations: dict[str, list[float]] = {"MA-01": [], "MA-02": []}
    for index, (region, h) in enumerate(
        zip(
            itertools.cycle(["MA-01", "MA-02"]),
            [0.5, 7, 7, 3.25, 90, 1, 12, 12, 48, 2, 0.1],
            strict=False,
        )
    ):
        unit = "TANGER" if region == "MA-01" else "OUJDA"
        add_report(
            db,
            region=region,
            unit=unit,
            submitted=NOW - timedelta(days=4, minutes=index),
            first_response=hours(h),
        )
        durations[region].append(h * 3600)
    result = dashboard(db)
    for region, values in durations.items():
        values.sort()
        stats = row(result.regions, region).first_response
        assert stats.p50 == pytest.approx(percentile_cont(values, 0.5))
        assert stats.p90 == pytest.approx(percentile_cont(values, 0.9))


def test_command_line_prints_the_same_figures_and_rebuilds_rollups(app, db):
    recent = utcnow() - timedelta(days=2)
    for index, h in enumerate((1, 2, 3, 10)):
        add_report(
            db, region="MA-06", submitted=recent - timedelta(minutes=index), first_response=hours(h)
        )
    runner = app.test_cli_runner()
    result = runner.invoke(args=["stats", "--period", "7d", "--region", "MA-06"])
    assert result.exit_code == 0, result.output
    before = result.output
    rows = list(csv.reader(io.StringIO(result.output)))
    assert rows[0][9] == "Median time to first response (hours)"
    region = next(r for r in rows if r[0] == "Region")
    assert region[1] == "MA-06" and region[9:11] == ["2.50", "7.90"]

    bad = runner.invoke(args=["stats", "--region", "MA-99"])
    assert bad.exit_code != 0

    stored = db.scalar(select(func.count()).select_from(StatsRollup))
    result = runner.invoke(args=["stats", "rebuild"])
    assert result.exit_code == 0, result.output
    assert f"Rebuilt {stored} rollup rows" in result.output
    db.expire_all()
    again = runner.invoke(args=["stats", "--period", "7d", "--region", "MA-06"])
    assert again.output == before


def test_categories_with_as_many_reports_come_in_order_of_their_code(db):
    """The most reported category first; between equals, the order never depends on how the
    figures were read."""
    for category in ("threats", "fraud", "sextortion", "threats"):
        add_report(db, category=category)
    result = compute_dashboard(db, period=Period.rolling("30d", NOW), sla=SLA_TEST, now=NOW)
    assert [row.key for row in result.categories] == ["threats", "fraud", "sextortion"]
