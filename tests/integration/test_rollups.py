"""The statistics rollups kept by the write path equal a rebuild from the reports, after every
kind of change an officer or the demo makes (SQLite and PostgreSQL alike)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.models import Report, StatsRollup, Unit
from portal.services import cases, rollups
from portal.services.stats import Period, compute_dashboard
from tests.support.staff import make_officer
from tests.support.stats import NOW, SLA_TEST, add_report, hours
from tests.support.web import submit_and_get_receipt


def stored(db) -> dict:
    """Rollup rows that hold something, keyed by their primary key."""
    db.expire_all()
    return {
        (r.scope, r.level, r.block, r.dim, r.key, r.priority): (
            r.received,
            r.answered,
            r.resolved,
            r.first_response,
            r.resolution,
        )
        for r in db.scalars(select(StatsRollup))
        if r.received or r.first_response or r.resolution
    }


def assert_matches_rebuild(db) -> dict:
    kept = stored(db)
    rollups.rebuild(db)
    db.commit()
    assert stored(db) == kept
    return kept


def test_every_officer_action_moves_the_rollups_like_a_rebuild(app, db):
    officer, _ = make_officer(app, db, "amina", units=("CASABLANCA", "RABAT"))
    keyring = app.extensions["keyring"]
    report = add_report(db, submitted=NOW - timedelta(days=4), priority="normal")
    other = add_report(db, submitted=NOW - timedelta(days=40), first_response=hours(3))
    assert_matches_rebuild(db)

    at = NOW - timedelta(days=3)
    cases.claim(db, officer, report, report.version, now=at)
    db.commit()
    assert_matches_rebuild(db)
    cases.change_priority(db, officer, report, report.version, "urgent", now=at)
    db.commit()
    assert_matches_rebuild(db)
    cases.change_status(
        db, officer, report, report.version, "closed", "no_offence", now=at + hours(5)
    )
    db.commit()
    assert_matches_rebuild(db)
    cases.change_status(db, officer, report, report.version, "in_review", now=at + hours(6))
    db.commit()
    assert_matches_rebuild(db)
    rabat = db.scalar(select(Unit).where(Unit.code == "RABAT"))
    cases.transfer(db, officer, report, report.version, rabat.id, "Suspect in Rabat", keyring)
    db.commit()
    assert_matches_rebuild(db)
    cases.message_reporter(db, officer, other, "We are looking into it.", keyring, now=at)
    db.commit()
    assert_matches_rebuild(db)

    result = compute_dashboard(
        db, period=Period(start=NOW - timedelta(days=30), end=NOW), sla=SLA_TEST, now=NOW
    )
    assert result.total.received == 1
    assert result.total.first_response.p50 == pytest.approx(86400)  # claimed a day later
    assert result.total.resolution.n == 0  # reopened
    assert [r.key for r in result.units if r.received] == ["RABAT"]
    assert [r.key for r in result.priorities if r.received] == ["urgent"]


def test_a_submitted_report_counts_at_once(app, client, db):
    submit_and_get_receipt(client, territory="MA-CAS")
    rows = assert_matches_rebuild(db)
    national_total = [k for k in rows if k[0] == 0 and k[1] == 0 and k[3] == "t"]
    assert len(national_total) == 1
    assert rows[national_total[0]][:3] == (1, 0, 0)
    report = db.scalar(select(Report))
    # One row per grouping at each of the five block sizes: national total, region, unit,
    # category, and the region's own total, unit and category.
    assert len(rows) == 7 * len(rollups.LEVELS)
    assert report.region_id in {k[0] for k in rows}


def test_many_answers_switch_to_buckets_and_stay_within_the_bound(db):
    values = [0.5 + index * 0.37 for index in range(150)]
    for index, h in enumerate(values):
        add_report(db, submitted=NOW - timedelta(days=2, minutes=index), first_response=hours(h))
    result = compute_dashboard(
        db, period=Period(start=NOW - timedelta(days=7), end=NOW), sla=SLA_TEST, now=NOW
    )
    ordered = sorted(h * 3600 for h in values)
    from portal.services.distribution import percentile_cont

    exact = percentile_cont(ordered, 0.9)
    assert result.total.first_response.n == 150
    assert abs(result.total.first_response.p90 - exact) <= 0.01 * exact
    assert result.total.first_sla_met == sum(1 for h in values if h <= 72)
    assert_matches_rebuild(db)


def test_blocks_cover_a_run_of_days_exactly():
    for first in range(0, 900, 37):
        for length in (1, 6, 7, 30, 90, 365, 731):
            pairs = rollups.blocks(first, first + length)
            covered = [
                day
                for level, block in pairs
                for day in range(block * rollups.LEVELS[level], (block + 1) * rollups.LEVELS[level])
            ]
            assert covered == list(range(first, first + length))
            assert len(pairs) <= 40


def _days(pairs):
    return [
        day
        for level, block in pairs
        for day in range(block * rollups.LEVELS[level], (block + 1) * rollups.LEVELS[level])
    ]


def test_a_period_ending_today_may_run_into_the_empty_days_after_it():
    """Blocks may cover days after the period only when those days are still to come: every
    day of the period exactly once, every day added after today."""
    for first in range(0, 900, 37):
        for length in (1, 6, 7, 30, 90, 365, 731):
            end = first + length
            for empty_from in (end, end - 1, end + 3):  # today's end; a range into the future
                pairs = rollups.blocks(first, end, empty_from=empty_from)
                covered = _days(pairs)
                assert covered[:length] == list(range(first, end))
                assert all(day >= empty_from for day in covered[length:])
                assert len(pairs) <= len(rollups.blocks(first, end))
            # A period that ends before today never reads past its end.
            assert rollups.blocks(first, end, empty_from=end + 1) == rollups.blocks(first, end)


def test_the_last_ninety_days_read_a_handful_of_blocks():
    # 90 days to a Saturday (day 20788): three weeks, then the 112-day block that holds the
    # rest and runs into the empty days; within the period alone it took twelve blocks, six of
    # them single days.
    assert len(rollups.blocks(20699, 20789)) == 12
    assert rollups.blocks(20699, 20789, empty_from=20789) == [
        (1, 2957),
        (1, 2958),
        (1, 2959),
        (3, 185),
    ]


def test_a_dashboard_ending_today_counts_today_and_nothing_before_its_period(db):
    """The period ending today reads the current week's and month's blocks whole: today's
    reports count, and a report the day before the period does not, though it shares a
    block with the period's first day."""
    period = Period.rolling("7d", NOW)
    add_report(db, submitted=NOW - timedelta(minutes=5), first_response=hours(1))
    add_report(db, submitted=period.start - timedelta(hours=1), first_response=hours(2))
    add_report(db, submitted=period.start + timedelta(hours=1), first_response=hours(3))
    result = compute_dashboard(db, period=period, sla=SLA_TEST, now=NOW)
    assert result.total.received == 2
    assert result.total.first_response.p50 == 2 * 3600  # 1 h and 3 h


def test_figures_read_as_of_a_past_moment_leave_out_what_came_after_it(db):
    """The blocks may run past a period only over days that hold no report at all, as the
    stored rows say, not as a clock says: figures read as of a past moment (or on a server whose
    clock is behind) leave out a report from a later day in the same week."""
    period = Period.rolling("7d", NOW)  # ends on Wednesday 10 June 2026
    add_report(db, submitted=NOW - timedelta(hours=2), first_response=hours(1))
    add_report(db, submitted=NOW + timedelta(days=2), first_response=hours(9))  # Friday
    result = compute_dashboard(db, period=period, sla=SLA_TEST, now=NOW)
    assert result.total.received == 1
    assert result.total.first_response.p50 == 3600
