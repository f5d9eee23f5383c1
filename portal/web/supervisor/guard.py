"""Dashboards may never starve the officers' queue.

- At most ``STATS_MAX_CONCURRENT`` dashboards or exports run at once across every worker
  process: on PostgreSQL a slot is a transaction-scoped advisory lock (so gunicorn's separate
  processes share the bound and a slot is freed when the request's transaction ends); elsewhere
  (SQLite, one process) a semaphore. A request finding no free slot is answered at once with
  503 and ``Retry-After``: the supervisor retries, no worker is held waiting.
- Their statements run under ``STATS_STATEMENT_TIMEOUT_MS`` (``SET LOCAL statement_timeout``);
  a statement over it is cancelled by the database and answered the same way.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from portal.db import limit_statements

# Advisory lock namespace of the dashboard slots (any constant unique to this use).
_LOCK_CLASS = 0x53544154  # "STAT"
_local_slots: dict[int, threading.BoundedSemaphore] = {}
_local_guard = threading.Lock()


class Busy(Exception):
    """No slot for a dashboard now, or its query ran over the time allowed."""


def _local(limit: int) -> threading.BoundedSemaphore:
    with _local_guard:
        return _local_slots.setdefault(limit, threading.BoundedSemaphore(limit))


@contextmanager
def dashboard_slot(session: Session, config: Mapping[str, Any]) -> Iterator[None]:
    limit = max(int(config.get("STATS_MAX_CONCURRENT", 1)), 1)
    timeout_ms = int(config.get("STATS_STATEMENT_TIMEOUT_MS", 5000))
    if session.get_bind().dialect.name != "postgresql":
        semaphore = _local(limit)
        if not semaphore.acquire(blocking=False):
            raise Busy
        try:
            yield
        finally:
            semaphore.release()
        return
    for slot in range(limit):
        if session.scalar(select(func.pg_try_advisory_xact_lock(_LOCK_CLASS, slot))):
            break
    else:
        raise Busy
    limit_statements(session, timeout_ms)
    try:
        yield
    except OperationalError as error:
        if getattr(error.orig, "sqlstate", None) == "57014":  # query_canceled
            session.rollback()
            raise Busy from error
        raise
