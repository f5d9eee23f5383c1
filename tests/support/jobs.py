"""Running the job queue in a test: an app on SQLite's or Redis's queue, consumer threads, and
waiting on them."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

import pytest
from flask import Flask
from huey.consumer import Consumer

from portal import create_app
from portal.jobs.queue import JobQueue, jobs_of, make_consumer

QUEUE_REDIS_URL = os.environ.get("PORTAL_TEST_QUEUE_REDIS_URL") or os.environ.get(
    "PORTAL_TEST_REDIS_URL"
)


@contextmanager
def app_on_queue(backend: str, app_config: Mapping[str, object]) -> Iterator[Flask]:
    """The app with its queue on ``backend`` ("sqlite", the embedded default, or "redis",
    skipped without ``PORTAL_TEST_REDIS_URL``), emptied before and after."""
    config = dict(app_config)
    if backend == "redis":
        if not QUEUE_REDIS_URL:
            pytest.skip("PORTAL_TEST_REDIS_URL is not set")
        config["QUEUE_URL"] = QUEUE_REDIS_URL
    application = create_app(config)
    queue = jobs_of(application)
    queue.huey.storage.flush_all()
    try:
        yield application
    finally:
        queue.huey.storage.flush_all()
        application.extensions["db_engine"].dispose()


def wait_for(condition: Callable[[], bool], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def consume(queue: JobQueue, workers: int = 2) -> Consumer:
    """Start consumer threads (no periodic jobs); the test stops them. pytest's signal handlers
    are put back: Huey's consumer installs its own."""
    consumer = make_consumer(queue, workers=workers, periodic=False, check_seconds=60)
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    consumer.start()
    for sig, handler in saved.items():
        signal.signal(sig, handler)
    return consumer


def stop_consumer(consumer: Consumer) -> None:
    """Stop the consumer and wait for its threads to end. A thread still blocked in its wait on
    the queue (Redis: up to a second) would otherwise take the next test's first job."""
    consumer.stop(graceful=True)
