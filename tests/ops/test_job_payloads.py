"""What the job queue stores is JSON of plain data: jobs travel through SQLite and Redis intact,
and bytes of any other shape written into the queue's storage (a pickle) are never run."""

from __future__ import annotations

import json
import logging
import pickle
import threading
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from portal.jobs import registry
from portal.jobs.queue import UNREADABLE, jobs_of
from portal.jobs.serializer import NotPlainData
from portal.models import utcnow
from tests.support.jobs import app_on_queue, consume, stop_consumer, wait_for

received: list[tuple[tuple[Any, ...], dict[str, Any], datetime]] = []
finished = threading.Event()

ARGS = (7, "تنبيه عاجل", [1, None, {"a": [True, 2.5]}], {"unit": "CASABLANCA"}, None)


@registry.job("tests.echo", retries=1, retry_delay=1)
def _echo(ctx: registry.JobContext, *args: Any, **kwargs: Any) -> None:
    received.append((args, kwargs, utcnow()))
    if kwargs.get("fail_first") and len(received) == 1:
        raise RuntimeError("the first attempt fails")
    finished.set()


@pytest.fixture(params=["sqlite", "redis"])
def queue_app(request: pytest.FixtureRequest, app_config: dict[str, object]) -> Iterator[Flask]:
    received.clear()
    finished.clear()
    with app_on_queue(request.param, app_config) as application:
        yield application


def test_a_job_is_stored_as_json_and_reaches_its_task_intact(queue_app: Flask) -> None:
    queue = jobs_of(queue_app)
    queue.enqueue("tests.echo", *ARGS, fail_first=True)
    (raw,) = queue.huey.storage.enqueued_items()
    stored = json.loads(raw)
    assert stored["portal_job"] == 1
    assert stored["message"]["name"].endswith("tests.echo")
    assert stored["message"]["args"] == json.loads(json.dumps(list(ARGS)))
    assert stored["message"]["kwargs"] == {"fail_first": True}
    consumer = consume(queue)
    try:
        # The first attempt fails: the retry waits in the schedule, its time (eta) in JSON.
        wait_for(finished.is_set)
    finally:
        stop_consumer(consumer)
    first, retry = received
    assert first[:2] == retry[:2] == (ARGS, {"fail_first": True})
    assert (retry[2] - first[2]).total_seconds() >= 1
    assert queue.depth() == 0 and queue.failures() == []


def test_a_job_with_arguments_json_would_change_is_refused_when_enqueued(
    queue_app: Flask,
) -> None:
    queue = jobs_of(queue_app)
    for value in ((1, 2), utcnow(), b"bytes", {1: "one"}, float("nan")):
        with pytest.raises(NotPlainData):
            queue.enqueue("tests.echo", value)
    assert queue.depth() == 0


class _CreatesFile:
    """Unpickling this creates ``path``: what a forged pickle would do, only harmless."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (self.path,))


def test_a_pickle_written_into_the_queue_is_refused_and_the_worker_goes_on(
    queue_app: Flask, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    queue = jobs_of(queue_app)
    storage = queue.huey.storage
    queued, scheduled, recorded = (tmp_path / name for name in ("queued", "scheduled", "failed"))
    storage.enqueue(pickle.dumps(_CreatesFile(queued)), 0)
    storage.add_to_schedule(pickle.dumps(_CreatesFile(scheduled)), datetime(2000, 1, 1))
    storage.put_data("failed:2026-01-01T00:00:00:forged", pickle.dumps(_CreatesFile(recorded)))
    queue.enqueue("tests.echo", "after")

    def refusals() -> int:
        return caplog.text.count("Refused a queue entry that is not a portal job")

    with caplog.at_level(logging.ERROR, logger="portal.jobs"):
        consumer = consume(queue)
        try:
            wait_for(lambda: finished.is_set() and refusals() == 2 and queue.depth() == 0)
        finally:
            stop_consumer(consumer)
        assert [args for args, _, _ in received] == [("after",)]
        (failure,) = queue.failures()
    assert failure == {
        "job": "unknown",
        "id": "forged",
        "at": "2026-01-01T00:00:00",
        "error": UNREADABLE,
    }
    status = queue_app.test_cli_runner().invoke(args=["worker", "--status"])
    assert f"2026-01-01T00:00:00  unknown  {UNREADABLE}" in status.output
    assert not queued.exists() and not scheduled.exists() and not recorded.exists()
