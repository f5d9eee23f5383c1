"""Second factor and failure counter under concurrency: one code, one sign-in; every failure
counts. The concurrent tests hit PostgreSQL from several threads released at the same instant,
each with its own connection, as gunicorn workers would."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

import pytest
from sqlalchemy import func, select

from portal.models import AuditEvent, Officer
from portal.services import audit
from portal.services import staff_login as login
from tests.support.staff import code_for, make_officer

POLICY = login.LockoutPolicy(threshold=5, minutes=15)

needs_postgres = pytest.mark.skipif(
    not os.environ.get("PORTAL_TEST_DATABASE_URL"), reason="real concurrency needs PostgreSQL"
)


def _at_once(app, officer_id: int, count: int, attempt: Callable) -> list[object]:  # type: ignore[type-arg]
    """Run ``attempt(session, officer)`` in ``count`` threads released together; commit each."""
    factory = app.extensions["db_sessionmaker"]
    barrier = threading.Barrier(count)
    outcomes: list[object] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            with factory() as session:
                officer = session.get(Officer, officer_id)
                barrier.wait(timeout=30)
                outcome = attempt(session, officer)
                session.commit()
                outcomes.append(outcome)
        except BaseException as error:  # reported below, in the test's thread
            errors.append(error)

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    return outcomes


def _count(db, action: str) -> int:
    return db.scalar(select(func.count()).where(AuditEvent.action == action)) or 0


def _fresh(db, officer_id: int) -> Officer:
    db.expire_all()
    return db.get(Officer, officer_id)


def test_a_code_is_accepted_once(app, db, keyring):
    officer, secret = make_officer(app, db, "amina")
    code = code_for(secret)
    assert login.check_code(db, officer, code, keyring, POLICY)
    db.commit()
    assert not login.check_code(db, _fresh(db, officer.id), code, keyring, POLICY)
    db.commit()
    assert _fresh(db, officer.id).failed_logins == 1


def test_failures_lock_the_account_at_the_threshold(app, db, keyring):
    officer, _ = make_officer(app, db, "amina")
    for _ in range(POLICY.threshold):
        assert not login.check_code(db, _fresh(db, officer.id), "000000", keyring, POLICY)
        db.commit()
    locked = _fresh(db, officer.id)
    assert locked.locked_until is not None and locked.failed_logins == 0
    assert _count(db, "staff.locked") == 1


@needs_postgres
def test_same_fresh_code_at_the_same_instant_signs_in_once(app, db, keyring):
    officer, secret = make_officer(app, db, "amina")
    code = code_for(secret)
    outcomes = _at_once(
        app,
        officer.id,
        4,
        lambda session, officer: login.check_code(session, officer, code, keyring, POLICY),
    )
    assert sorted(outcomes) == [False, False, False, True]
    assert audit.verify(db).ok


@needs_postgres
def test_concurrent_failures_are_all_counted_and_lock_once(app, db, keyring):
    officer, _ = make_officer(app, db, "amina")
    outcomes = _at_once(
        app,
        officer.id,
        POLICY.threshold + 2,
        lambda session, officer: login.check_code(session, officer, "000000", keyring, POLICY),
    )
    assert outcomes == [False] * (POLICY.threshold + 2)
    after = _fresh(db, officer.id)
    # Five failures locked the account (and reset the count); the two others counted after.
    assert after.locked_until is not None
    assert after.failed_logins == 2
    assert _count(db, "staff.login_failed") == POLICY.threshold + 2
    assert _count(db, "staff.locked") == 1
    assert audit.verify(db).ok
