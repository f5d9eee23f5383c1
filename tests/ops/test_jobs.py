"""The job queue: jobs run on SQLite (embedded) and on Redis; failures are retried, then kept."""

from __future__ import annotations

import signal
import subprocess
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.jobs import registry
from portal.jobs.queue import jobs_of
from portal.models import Report, utcnow
from portal.services import audit
from tests.support.jobs import app_on_queue, consume, stop_consumer, wait_for
from tests.support.ops import PORTAL, ROOT, portal_env, run_portal, stop, wait_until_up
from tests.support.web import free_port, submit_and_get_receipt

attempts: list[str] = []
done = threading.Event()


@registry.job("tests.always_fails", retries=2, retry_delay=0)
def _always_fails(ctx: registry.JobContext, label: str) -> None:
    attempts.append(label)
    raise RuntimeError(f"cannot reach the partner for {label}")


@registry.job("tests.counts_reports", retries=0)
def _counts_reports(ctx: registry.JobContext, marker: str) -> int:
    count = ctx.session.scalar(select(func.count(Report.id))) or 0
    attempts.append(f"{marker}:{count}")
    done.set()
    return count


@pytest.fixture(params=["sqlite", "redis"])
def queue_app(request: pytest.FixtureRequest, app_config: dict[str, object]) -> Iterator[Flask]:
    attempts.clear()
    done.clear()
    with app_on_queue(request.param, app_config) as application:
        yield application


def test_a_job_runs_in_an_app_context_with_a_database_session(queue_app: Flask) -> None:
    submit_and_get_receipt(queue_app.test_client())
    queue = jobs_of(queue_app)
    queue.enqueue("tests.counts_reports", "seen")
    assert queue.depth() == 1
    consumer = consume(queue)
    try:
        wait_for(done.is_set)
    finally:
        stop_consumer(consumer)
    assert attempts == ["seen:1"]
    assert queue.depth() == 0 and queue.failures() == []


def test_a_failing_job_is_retried_then_recorded_as_failed(queue_app: Flask) -> None:
    queue = jobs_of(queue_app)
    queue.enqueue("tests.always_fails", "partner-7")
    consumer = consume(queue)
    try:
        wait_for(lambda: len(queue.failures()) == 1)
    finally:
        stop_consumer(consumer)
    assert attempts == ["partner-7"] * 3  # the first attempt and two retries
    (failure,) = queue.failures()
    assert failure["job"] == "tests.always_fails"
    assert failure["error"] == "RuntimeError: cannot reach the partner for partner-7"
    status = queue_app.test_cli_runner().invoke(args=["worker", "--status"])
    assert "Waiting jobs: 0" in status.output and "Failed jobs: 1" in status.output
    assert "tests.always_fails" in status.output
    scraped = queue_app.test_client().get("/metrics").get_data(as_text=True)
    assert 'portal_job_failures_recorded{job="tests.always_fails"} 1.0' in scraped
    assert 'portal_job_failures_total{job="tests.always_fails"}' in scraped


def _close_long_ago(db: Session, reference: str) -> None:
    report = db.scalars(select(Report).where(Report.reference == reference)).one()
    report.status = "closed"
    report.closed_at = utcnow() - timedelta(days=400)
    db.commit()


@pytest.mark.slow
def test_portal_run_and_portal_worker_run_the_periodic_jobs(
    app: Flask, db: Session, instance_path: Path, database_url: str, tmp_path: Path
) -> None:
    client = app.test_client()
    expired, _ = submit_and_get_receipt(client)
    kept, _ = submit_and_get_receipt(client)
    _close_long_ago(db, expired)
    anchors = instance_path / "audit-anchors.jsonl"
    env = portal_env(
        instance_path,
        database_url,
        PORTAL_EVIDENCE_STORE=f"file://{instance_path / 'evidence'}",
        PORTAL_QUEUE_PERIODIC_CHECK_SECONDS="1",
        PORTAL_JOB_PERIODS='{"retention.purge": 2, "audit.anchor": 2}',
    )

    def anchored() -> int:
        return len(anchors.read_text().splitlines()) if anchors.exists() else 0

    def reports() -> set[str]:
        db.expire_all()
        return set(db.scalars(select(Report.reference)))

    # The development server of `make run` carries a worker: nothing else to start.
    port = free_port()
    log = (tmp_path / "run.log").open("wb")
    server = subprocess.Popen(
        [str(PORTAL), "run", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_until_up(f"http://127.0.0.1:{port}", server)
        wait_for(lambda: anchored() >= 2 and reports() == {kept})
    finally:
        stop(server)
        log.close()
    assert b"Job worker: 2 thread(s) in this process" in (tmp_path / "run.log").read_bytes()
    written = audit.read_anchors(anchors)
    result = audit.verify(db, anchors=written)
    assert result.ok and result.anchors_checked == len(written) >= 2
    assert written[-1].entry_id == result.head_id

    # `portal worker` alone, stopped and started again: the jobs go on.
    for _ in range(2):
        before = anchored()
        worker = subprocess.Popen(
            [str(PORTAL), "worker"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_for(lambda before=before: anchored() >= before + 2)
        finally:
            worker.send_signal(signal.SIGTERM)
            output, _ = worker.communicate(timeout=60)
        assert worker.returncode == 0, output[-2000:]
        assert b"Job worker on SQLite" in output and b'"logger": "portal.jobs"' in output
    status = run_portal(env, "worker", "--status")
    assert "Failed jobs: 0" in status.stdout
