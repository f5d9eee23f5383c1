"""The URL cluster counters kept by the write path equal a recount from the reports' rows after
every change that moves them: a submission (the form or a partner's filing), URLs added to a
report, a transfer (alone or in bulk), a retention purge, a rebuild; on SQLite and PostgreSQL,
and under concurrent submissions and transfers on PostgreSQL."""

from __future__ import annotations

import os
import threading
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, update

from portal.domain.urlnorm import normalize_url
from portal.models import Officer, Report, ReportURL, TraceCount, Unit, utcnow
from portal.services import bulk_actions, cases, retention, rollups
from portal.services.reports import seal_report_url, url_index
from tests.support.partners import file_report, make_partner
from tests.support.staff import make_officer
from tests.support.submissions import submit_urls as submit
from tests.support.web import submit_and_get_receipt

needs_postgres = pytest.mark.skipif(
    not os.environ.get("PORTAL_TEST_DATABASE_URL"), reason="real concurrency needs PostgreSQL"
)

POOL = [f"https://pool.example.ma/post/{n}" for n in range(3)]
# The first page of the pool written otherwise: the same normalised URL, so the same key.
POOL_VARIANT = "https://POOL.example.ma/post/0?utm_source=fb"
TERRITORIES = {"MA-CAS": "CASABLANCA", "MA-RAB": "RABAT"}
UNITS = ("CASABLANCA", "RABAT", "TANGER")


def counters(db) -> dict[tuple[str, int], int]:
    """The counters that hold something; none ever below zero."""
    db.expire_all()
    rows = db.execute(select(TraceCount.url_index, TraceCount.unit_id, TraceCount.reports)).all()
    assert all(reports >= 0 for *_, reports in rows), rows
    return {(key, unit): reports for key, unit, reports in rows if reports}


def recount(db) -> dict[tuple[str, int], int]:
    """Reports per (URL key, unit), counted from the rows: each report once per key."""
    rows = db.execute(
        select(ReportURL.url_index, Report.unit_id, func.count(func.distinct(Report.id)))
        .join(Report, Report.id == ReportURL.report_id)
        .group_by(ReportURL.url_index, Report.unit_id)
    ).all()
    return {(key, unit): int(n) for key, unit, n in rows}


def assert_counted(db) -> dict[tuple[str, int], int]:
    kept = counters(db)
    assert kept == recount(db)
    return kept


def key_of(app, url: str) -> str:
    return url_index(app.extensions["blind_indexer"], normalize_url(url).normalized)


def unit_ids(db) -> dict[str, int]:
    return {code: uid for code, uid in db.execute(select(Unit.code, Unit.id))}


def purge(app, db, report: Report) -> None:
    report.status, report.closed_at = "closed", utcnow() - timedelta(days=400)
    db.commit()
    retention.purge(db, app.extensions["blob_store"], {"closed": 365})


# --- each path ------------------------------------------------------------------------------


def test_a_submission_counts_each_distinct_url_once(app, client, db):
    submit_and_get_receipt(
        client, urls=f"{POOL[0]}\n{POOL_VARIANT}\n{POOL[1]}\n", territory="MA-CAS"
    )
    units = unit_ids(db)
    assert assert_counted(db) == {
        (key_of(app, POOL[0]), units["CASABLANCA"]): 1,
        (key_of(app, POOL[1]), units["CASABLANCA"]): 1,
    }
    submit_and_get_receipt(client, urls=f"{POOL[0]}\n", territory="MA-RAB")
    assert assert_counted(db)[(key_of(app, POOL[0]), units["RABAT"])] == 1


def test_a_partner_filing_counts(app, client, db):
    partner = make_partner(db, "centre-a")
    file_report(client, partner, urls=[POOL[0], POOL_VARIANT, POOL[2]])
    file_report(client, partner, urls=[POOL[0]])
    counted = assert_counted(db)
    assert counted[(key_of(app, POOL[0]), unit_ids(db)["CASABLANCA"])] == 2


def test_urls_added_to_a_report_count_unless_it_already_names_them(app, db):
    report = submit(app, db, [POOL[0]])
    keyring, indexer = app.extensions["keyring"], app.extensions["blind_indexer"]
    for position, url in ((1, POOL_VARIANT), (2, POOL[1])):
        report.urls.append(
            seal_report_url(keyring, indexer, report.reference, position, normalize_url(url))
        )
    db.commit()
    assert sorted(assert_counted(db).values()) == [1, 1]


def test_urls_removed_or_indexed_again_move_the_counters(app, db):
    """No page removes a URL today; a maintenance script that does (or that indexes URLs again)
    still keeps the counters right."""
    report = submit(app, db, [POOL[0], POOL_VARIANT, POOL[1]])
    other = submit(app, db, [POOL[1]])
    unit = unit_ids(db)["CASABLANCA"]
    report.urls.remove(report.urls[0])  # POOL_VARIANT still names the same page
    db.commit()
    assert assert_counted(db)[(key_of(app, POOL[0]), unit)] == 1
    report.urls.remove(report.urls[0])
    db.commit()
    assert (key_of(app, POOL[0]), unit) not in assert_counted(db)
    other.urls[0].url_index = key_of(app, POOL[2])
    db.commit()
    assert assert_counted(db) == {
        (key_of(app, POOL[1]), unit): 1,
        (key_of(app, POOL[2]), unit): 1,
    }


def test_transfers_alone_and_in_bulk_move_the_counters(app, db):
    officer, _ = make_officer(app, db, "amina", units=UNITS)
    units = unit_ids(db)
    one = submit(app, db, [POOL[0], POOL[1]])
    two = submit(app, db, [POOL[0]])
    three = submit(app, db, [POOL[0], POOL_VARIANT])
    key = key_of(app, POOL[0])
    assert assert_counted(db)[(key, units["CASABLANCA"])] == 3

    cases.transfer(
        db, officer, one, one.version, units["RABAT"], "Suspect in Rabat", app.extensions["keyring"]
    )
    db.commit()
    counted = assert_counted(db)
    assert counted[(key, units["CASABLANCA"])] == 2 and counted[(key, units["RABAT"])] == 1
    assert counted[(key_of(app, POOL[1]), units["RABAT"])] == 1

    result = bulk_actions.run(
        db,
        officer,
        bulk_actions.BulkRequest(
            action="transfer",
            references=(two.reference, three.reference, one.reference),
            unit_id=units["TANGER"],
            reason="Seller in Tangier",
        ),
        keyring=app.extensions["keyring"],
    )
    db.commit()
    assert result.done == [two.reference, three.reference, one.reference]
    counted = assert_counted(db)
    assert counted == {(key, units["TANGER"]): 3, (key_of(app, POOL[1]), units["TANGER"]): 1}


def test_a_refused_bulk_row_moves_nothing(app, db):
    officer, _ = make_officer(app, db, "amina", units=UNITS)
    units = unit_ids(db)
    report = submit(app, db, [POOL[0]])
    # Already in Rabat's queue: the transfer to the unit it is in is refused, nothing moves.
    db.execute(update(Report).where(Report.id == report.id).values(unit_id=units["RABAT"]))
    db.commit()
    rollups.rebuild(db)
    db.commit()
    result = bulk_actions.run(
        db,
        officer,
        bulk_actions.BulkRequest(
            action="transfer", references=(report.reference,), unit_id=units["RABAT"], reason="x"
        ),
        keyring=app.extensions["keyring"],
    )
    db.commit()
    assert result.failed
    assert assert_counted(db) == {(key_of(app, POOL[0]), units["RABAT"]): 1}


def test_a_purged_report_leaves_the_counters(app, db):
    kept = submit(app, db, [POOL[0]])
    gone = submit(app, db, [POOL[0], POOL[1]], territory="MA-RAB")
    purge(app, db, gone)
    assert db.get(Report, gone.id) is None
    units = unit_ids(db)
    assert assert_counted(db) == {(key_of(app, POOL[0]), units["CASABLANCA"]): 1}
    purge(app, db, kept)
    assert assert_counted(db) == {}


def test_rebuild_recomputes_the_counters_and_drops_empty_ones(app, db):
    submit(app, db, [POOL[0], POOL[1]])
    gone = submit(app, db, [POOL[2]])
    purge(app, db, gone)
    expected = assert_counted(db)
    # Counters gone wrong (a bulk load, a bug): the rebuild recomputes them from the reports.
    db.execute(update(TraceCount).values(reports=TraceCount.reports + 5))
    db.commit()
    assert counters(db) != expected
    result = app.test_cli_runner().invoke(args=["stats", "rebuild"])
    assert result.exit_code == 0, result.output
    assert "URL cluster counters" in result.output
    assert assert_counted(db) == expected
    # The counter of the purged report's URL, at zero, is gone.
    assert db.scalar(select(func.count()).select_from(TraceCount)) == len(expected)


# --- any sequence ---------------------------------------------------------------------------

URL_CHOICES = [*POOL, POOL_VARIANT]
OPERATIONS = st.lists(
    st.one_of(
        st.tuples(
            st.just("submit"),
            st.lists(st.sampled_from(URL_CHOICES), max_size=3),
            st.sampled_from(sorted(TERRITORIES)),
        ),
        st.tuples(st.just("transfer"), st.integers(0, 20), st.sampled_from(UNITS)),
        st.tuples(
            st.just("bulk_transfer"),
            st.lists(st.integers(0, 20), min_size=1, max_size=3),
            st.sampled_from(UNITS),
        ),
        st.tuples(st.just("add_url"), st.integers(0, 20), st.sampled_from(URL_CHOICES)),
        st.tuples(st.just("purge"), st.integers(0, 20)),
        st.tuples(st.just("rebuild")),
    ),
    min_size=1,
    max_size=10,
)


@given(operations=OPERATIONS)
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_after_any_sequence_the_counters_equal_a_recount(app, db, operations):
    """Submissions, transfers, bulk transfers, added URLs, purges and rebuilds in any order."""
    officer = _officer(app, db)
    keyring, indexer = app.extensions["keyring"], app.extensions["blind_indexer"]
    units = unit_ids(db)
    live: list[int] = []

    def pick(index: int) -> Report | None:
        return db.get(Report, live[index % len(live)]) if live else None

    for operation in operations:
        kind = operation[0]
        if kind == "submit":
            live.append(submit(app, db, list(operation[1]), operation[2]).id)
        elif kind == "transfer" and (report := pick(operation[1])) is not None:
            if report.unit_id != units[operation[2]]:
                cases.transfer(
                    db, officer, report, report.version, units[operation[2]], "Moved", keyring
                )
                db.commit()
        elif kind == "bulk_transfer" and live:
            references = tuple(
                {report.reference for i in operation[1] if (report := pick(i)) is not None}
            )
            bulk_actions.run(
                db,
                officer,
                bulk_actions.BulkRequest(
                    action="transfer",
                    references=references,
                    unit_id=units[operation[2]],
                    reason="Moved together",
                ),
                keyring=keyring,
            )
            db.commit()
        elif kind == "add_url" and (report := pick(operation[1])) is not None:
            position = max((row.position for row in report.urls), default=-1) + 1
            report.urls.append(
                seal_report_url(
                    keyring, indexer, report.reference, position, normalize_url(operation[2])
                )
            )
            db.commit()
        elif kind == "purge" and (report := pick(operation[1])) is not None:
            live.remove(report.id)
            purge(app, db, report)
        elif kind == "rebuild":
            rollups.rebuild(db)
            db.commit()
        assert_counted(db)


def _officer(app, db) -> Officer:
    """One account for every example (the database outlives them): its units see them all."""
    officer = db.scalar(select(Officer).where(Officer.username == "every-unit"))
    if officer is None:
        officer, _ = make_officer(app, db, "every-unit", units=UNITS)
    return officer


# --- concurrency ----------------------------------------------------------------------------


@needs_postgres
def test_concurrent_submissions_and_transfers_lose_no_count(app, db):
    """Submissions naming the same URLs and transfers of reports naming them, released at the
    same instant from several connections (as gunicorn workers would): none deadlocks or
    fails, and the counters equal a recount."""
    officer, _ = make_officer(app, db, "amina", units=UNITS)
    officer_id = officer.id
    units = unit_ids(db)
    earlier = [submit(app, db, [POOL[0], POOL[1]]).id for _ in range(4)]
    factory = app.extensions["db_sessionmaker"]
    submissions = 8
    barrier = threading.Barrier(submissions + len(earlier))
    errors: list[BaseException] = []

    def submitter(number: int) -> None:
        try:
            with factory() as session:
                barrier.wait(timeout=30)
                territory = "MA-CAS" if number % 2 else "MA-RAB"
                urls = [POOL[0], POOL[1], f"https://own.example.ma/{number}"]
                if number % 3 == 0:
                    urls.append(POOL_VARIANT)
                submit(app, session, urls, territory)
        except BaseException as error:  # reported below, in the test's thread
            errors.append(error)

    def transferrer(report_id: int) -> None:
        try:
            with factory() as session:
                mover = session.get(Officer, officer_id)
                report = session.get(Report, report_id)
                barrier.wait(timeout=30)
                cases.transfer(
                    session,
                    mover,
                    report,
                    report.version,
                    units["TANGER"],
                    "Moved",
                    app.extensions["keyring"],
                )
                session.commit()
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=submitter, args=(n,)) for n in range(submissions)]
    threads += [threading.Thread(target=transferrer, args=(rid,)) for rid in earlier]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    counted = assert_counted(db)
    key = key_of(app, POOL[0])
    assert counted[(key, units["TANGER"])] == len(earlier)
    assert counted[(key, units["CASABLANCA"])] == submissions // 2
    assert counted[(key, units["RABAT"])] == submissions // 2
