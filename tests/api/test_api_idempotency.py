"""Idempotent create: retries and concurrent duplicates with one key make one report."""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import func, select

from portal.models import Mandate, Report
from tests.support.partners import report_body

THREADS = 8


def _post(app: Any, partner: Any, key: str, body: dict[str, Any]) -> Any:
    headers = {**partner.headers, "Idempotency-Key": key}
    return app.test_client().post("/api/v1/reports", json=body, headers=headers)


def test_retry_with_the_same_key_returns_the_same_report(app, db, partner_a):
    first = _post(app, partner_a, "key-1", report_body())
    again = _post(app, partner_a, "key-1", report_body())
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.get_json()["reference"] == again.get_json()["reference"]
    assert first.get_json()["victim_receipt"] and again.get_json()["victim_receipt"] is None
    assert again.get_json()["replayed"] is True
    assert db.scalar(select(func.count(Report.id))) == 1


def test_same_key_different_body_is_refused(app, db, partner_a):
    assert _post(app, partner_a, "key-2", report_body()).status_code == 201
    other = _post(app, partner_a, "key-2", report_body(description="Something else entirely."))
    assert other.status_code == 422
    assert other.get_json()["type"].endswith("/idempotency_conflict")
    assert db.scalar(select(func.count(Report.id))) == 1


def test_keys_belong_to_one_partner(app, db, partner_a, partner_b):
    a = _post(app, partner_a, "shared-key", report_body())
    b = _post(app, partner_b, "shared-key", report_body())
    assert (a.status_code, b.status_code) == (201, 201)
    assert a.get_json()["reference"] != b.get_json()["reference"]


def test_concurrent_duplicates_make_one_report(app, db, partner_a):
    barrier = threading.Barrier(THREADS)
    results: list[Any] = []
    lock = threading.Lock()

    def worker() -> None:
        barrier.wait()
        response = _post(app, partner_a, "concurrent-key", report_body())
        with lock:
            results.append((response.status_code, response.get_json()))

    threads = [threading.Thread(target=worker) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    statuses = sorted(status for status, _ in results)
    assert statuses == [200] * (THREADS - 1) + [201], results
    assert len({body["reference"] for _, body in results}) == 1
    assert sum(1 for _, body in results if body["victim_receipt"]) == 1
    assert db.scalar(select(func.count(Report.id))) == 1
    assert db.scalar(select(func.count(Mandate.id))) == 1
