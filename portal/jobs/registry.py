"""Declaring tasks: ``@job`` for work that is enqueued, ``@periodic`` for work on a schedule."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from portal.crypto.keyring import Keyring
from portal.storage.blobs import BlobStore


@dataclass(frozen=True)
class JobContext:
    """What a task may use; the session is committed after the task returns."""

    session: Session
    config: Mapping[str, Any]
    keyring: Keyring
    blob_store: BlobStore
    instance_path: Path
    now: datetime


TaskFunction = Callable[..., Any]


@dataclass(frozen=True)
class TaskSpec:
    name: str
    func: TaskFunction
    retries: int
    retry_delay: int
    # Seconds between runs for a periodic task (overridable per name by JOB_PERIODS).
    period: int | None = None


TASKS: dict[str, TaskSpec] = {}


def _register(spec: TaskSpec) -> None:
    if spec.name in TASKS and TASKS[spec.name].func is not spec.func:
        raise ValueError(f"Two tasks are named {spec.name!r}.")
    TASKS[spec.name] = spec


def job(
    name: str, *, retries: int = 3, retry_delay: int = 30
) -> Callable[[TaskFunction], TaskFunction]:
    """Declare a task that callers enqueue by name (``portal.jobs.queue.enqueue``)."""

    def declare(func: TaskFunction) -> TaskFunction:
        _register(TaskSpec(name, func, retries, retry_delay))
        return func

    return declare


def periodic(
    name: str, *, default_seconds: int, retries: int = 2, retry_delay: int = 60
) -> Callable[[TaskFunction], TaskFunction]:
    """Declare a task the scheduler runs every ``JOB_PERIODS[name]`` (or default) seconds."""

    def declare(func: TaskFunction) -> TaskFunction:
        _register(TaskSpec(name, func, retries, retry_delay, period=default_seconds))
        return func

    return declare
