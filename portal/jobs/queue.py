"""The job queue: Huey built from ``QUEUE_URL``, its consumers, and failure records."""

from __future__ import annotations

import functools
import importlib
import logging
import os
import signal
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from flask import Flask
from huey import Huey, RedisHuey, SqliteHuey
from huey import signals as huey_signals
from huey.consumer import Consumer, Scheduler
from huey.exceptions import TaskLockedException
from prometheus_client import Counter
from sqlalchemy.engine import make_url

from portal.jobs.registry import TASKS, JobContext, TaskSpec
from portal.jobs.serializer import JsonSerializer, RefusedPayload
from portal.logging_setup import scrub
from portal.models import utcnow

log = logging.getLogger("portal.jobs")

# Each family of tasks is one module; importing it declares its tasks.
TASK_MODULES = (
    "portal.jobs.maintenance",
    "portal.jobs.notices",
    "portal.jobs.platforms",
    "portal.jobs.alerts",
)

QUEUE_NAME = "portal"
QUEUE_FILENAME = "jobs.sqlite3"
FAILED_PREFIX = "failed:"
UNREADABLE = "record refused: not in the queue's JSON format"

JOB_RUNS = Counter("portal_jobs_total", "Job attempts by outcome.", ["job", "outcome"])
JOB_FAILURES = Counter("portal_job_failures_total", "Jobs that failed their last attempt.", ["job"])


def queue_url(config: Any, instance_path: Path) -> str:
    return config.get("QUEUE_URL") or f"sqlite:///{instance_path / QUEUE_FILENAME}"


def make_huey(url: str) -> Huey:
    if url.startswith(("redis://", "rediss://", "unix://")):
        return RedisHuey(QUEUE_NAME, url=url, results=False, serializer=JsonSerializer())
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        raise ValueError(f"QUEUE_URL must be sqlite:///path or redis://..., not {url!r}")
    path = Path(parsed.database)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    # Created private before SQLite opens it (its -wal and -shm files copy the mode).
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    return SqliteHuey(QUEUE_NAME, filename=str(path), results=False, serializer=JsonSerializer())


class JobQueue:
    """One Huey instance with every declared task bound to one app."""

    def __init__(self, app: Flask, huey: Huey, url: str) -> None:
        self.app = app
        self.huey = huey
        self.url = url
        self.tasks: dict[str, Any] = {}
        for module in TASK_MODULES:
            importlib.import_module(module)
        for spec in TASKS.values():
            self.bind(spec)
        huey.signal(huey_signals.SIGNAL_ERROR)(self._on_error)
        huey.signal(huey_signals.SIGNAL_COMPLETE)(self._on_complete)

    def bind(self, spec: TaskSpec) -> None:
        run = functools.partial(_run_in_app, self.app, spec)
        functools.update_wrapper(run, spec.func)
        if spec.period is None:
            wrapper = self.huey.task(
                retries=spec.retries, retry_delay=spec.retry_delay, name=spec.name
            )(run)
        else:
            periods = self.app.config.get("JOB_PERIODS") or {}
            seconds = int(periods.get(spec.name, spec.period))
            # A run still going when the next is due makes the next one a no-op.
            lock = self.huey.lock_task(f"periodic.{spec.name}")
            run = functools.partial(_run_alone, lock, self.app, spec)
            functools.update_wrapper(run, spec.func)
            wrapper = self.huey.periodic_task(
                _every(seconds), retries=spec.retries, retry_delay=spec.retry_delay, name=spec.name
            )(run)
        self.tasks[spec.name] = wrapper

    def enqueue(self, name: str, *args: Any, **kwargs: Any) -> Any:
        return self.tasks[name](*args, **kwargs)

    def depth(self) -> int:
        """Tasks waiting to run, now or at a later time (retries included)."""
        return int(self.huey.pending_count()) + int(self.huey.scheduled_count())

    def failures(self) -> list[dict[str, Any]]:
        """Recorded final failures, oldest first."""
        found = []
        for key, value in self.huey.all_results().items():
            name = key.decode() if isinstance(key, bytes) else str(key)
            if name.startswith(FAILED_PREFIX):
                found.append(self._failure(name, value))
        return sorted(found, key=lambda item: item["at"])

    def _failure(self, key: str, value: bytes) -> dict[str, Any]:
        """A failure record; one of another shape (written by a version that pickled, or forged)
        is listed by its key alone."""
        try:
            record = self.huey.serializer.deserialize(value)
        except RefusedPayload:
            record = None
        if isinstance(record, dict) and all(
            isinstance(record.get(field), str) for field in ("job", "at", "error")
        ):
            return record
        at, _, task_id = key.removeprefix(FAILED_PREFIX).rpartition(":")
        return {"job": "unknown", "id": task_id, "at": at, "error": UNREADABLE}

    def _on_complete(self, _signal: str, task: Any, *_: Any) -> None:
        JOB_RUNS.labels(task.name, "succeeded").inc()

    def _on_error(self, _signal: str, task: Any, exc: BaseException | None = None) -> None:
        if task.retries:
            JOB_RUNS.labels(task.name, "retried").inc()
            log.warning("Job %s failed; %d attempt(s) left", task.name, task.retries)
            return
        JOB_RUNS.labels(task.name, "failed").inc()
        JOB_FAILURES.labels(task.name).inc()
        error = scrub(f"{type(exc).__name__}: {exc}")[:500] if exc else "unknown"
        at = utcnow().isoformat(timespec="seconds")
        log.error("Job %s failed after its last attempt: %s", task.name, error)
        self.huey.put(
            f"{FAILED_PREFIX}{at}:{task.id}",
            {"job": task.name, "id": task.id, "at": at, "error": error},
        )


def _run_in_app(app: Flask, spec: TaskSpec, *args: Any, **kwargs: Any) -> Any:
    """Run a task in an app context with its own session: committed on success."""
    keyring = app.extensions["keyring"]
    # Keys rotated since the last job are picked up here, as app servers do per request.
    keyring.reload_if_changed()
    with app.app_context():
        session = app.extensions["db_sessionmaker"]()
        try:
            context = JobContext(
                session=session,
                config=app.config,
                keyring=keyring,
                blob_store=app.extensions["blob_store"],
                instance_path=Path(app.instance_path),
                now=utcnow(),
            )
            result = spec.func(context, *args, **kwargs)
            session.commit()
            return result
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()


def _run_alone(lock: Any, app: Flask, spec: TaskSpec) -> Any:
    try:
        with lock:
            return _run_in_app(app, spec)
    except TaskLockedException:
        log.info("Job %s is still running; this run is skipped", spec.name)
        return None


def _every(seconds: int) -> Any:
    """A Huey schedule: due at the first check, then once in each ``seconds``-long slot."""
    last_slot: list[int | None] = [None]

    def due(now: datetime) -> bool:
        slot = int(now.timestamp()) // max(seconds, 1)
        if slot == last_slot[0]:
            return False
        last_slot[0] = slot
        return True

    return due


def build_queue(app: Flask) -> JobQueue:
    url = queue_url(app.config, Path(app.instance_path))
    return JobQueue(app, make_huey(url), url)


def jobs_of(app: Flask) -> JobQueue:
    return app.extensions["jobs"]  # type: ignore[no-any-return]


def install_dispatch(app: Flask, key: str, dispatch: Callable[..., None]) -> None:
    """Every session of ``app`` carries ``dispatch`` in its ``info[key]``: the services hand it,
    after their transaction commits, what must go on the queue (alerts, reporters' notices)."""
    factory = app.extensions["db_sessionmaker"]
    info = dict(factory.kw.get("info") or {})
    info[key] = dispatch
    factory.configure(info=info)


def enqueue(app: Flask, name: str, *args: Any, **kwargs: Any) -> Any:
    """Put a declared task on the app's queue (arguments: ids, never personal data)."""
    return jobs_of(app).enqueue(name, *args, **kwargs)


def make_consumer(queue: JobQueue, *, workers: int, periodic: bool, check_seconds: int) -> Consumer:
    """A Huey consumer of thread workers; periodic tasks are checked every ``check_seconds``."""
    scheduler = type("PortalScheduler", (Scheduler,), {"periodic_task_seconds": check_seconds})
    consumer_class = type("PortalConsumer", (Consumer,), {"scheduler_class": scheduler})
    return consumer_class(
        queue.huey,
        workers=workers,
        worker_type="thread",
        periodic=periodic,
        scheduler_interval=1,
        max_delay=2.0,
        # Locks left by a worker killed mid-job would block their periodic job for ever.
        flush_locks=periodic,
    )


def start_in_process(queue: JobQueue, *, workers: int, check_seconds: int) -> Consumer:
    """Start consumer threads in this process (``portal run``) and keep its signal handlers."""
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    consumer = make_consumer(queue, workers=workers, periodic=True, check_seconds=check_seconds)
    try:
        consumer.start()
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)
    return consumer
