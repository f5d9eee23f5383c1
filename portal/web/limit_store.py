"""The rate-limit store: Redis shared by every worker, this process's memory while Redis is down.

flask-limiter's own fallback swaps the limits of every route for one fallback list; this store
keeps the limits declared at each route and only changes where they are counted. While counting
in memory, each worker sees only its own clients' hits, so ``portal.web.ratelimit`` divides every
allowance by the number of workers (see ``degraded``): what a client gets across all workers
stays within the limit the route declares (README, "Rate limits").
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from limits.storage import MemoryStorage, RedisStorage, Storage

log = logging.getLogger(__name__)

SCHEME_PREFIX = "failover+"
# How long counting stays in memory after a failure before Redis is asked again.
RETRY_SECONDS = 5.0

T = TypeVar("T")


class FailoverStorage(Storage):
    """Counts in Redis; in this process's memory while Redis does not answer."""

    STORAGE_SCHEME = ["failover+redis", "failover+rediss"]

    def __init__(self, uri: str, wrap_exceptions: bool = False, **options: Any) -> None:
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        self.primary = RedisStorage(uri.removeprefix(SCHEME_PREFIX), **options)
        self.local = MemoryStorage()
        self._lock = threading.Lock()
        self._down_until = 0.0

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        return self.primary.base_exceptions

    @property
    def degraded(self) -> bool:
        """Whether hits are being counted in this process's memory."""
        return time.monotonic() < self._down_until

    def _call(self, operation: Callable[[Storage], T]) -> T:
        if not self.degraded:
            try:
                result = operation(self.primary)
            except self.primary.base_exceptions:
                with self._lock:
                    if not self.degraded:
                        log.warning(
                            "Rate limit storage unreachable - falling back to in-memory storage"
                        )
                    self._down_until = time.monotonic() + RETRY_SECONDS
            else:
                if self._down_until:
                    with self._lock:
                        if self._down_until:
                            log.info("Rate limit storage reachable again")
                            self._down_until = 0.0
                return result
        return operation(self.local)

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        return self._call(lambda store: store.incr(key, expiry, amount=amount))

    def get(self, key: str) -> int:
        return self._call(lambda store: store.get(key))

    def get_expiry(self, key: str) -> float:
        return self._call(lambda store: store.get_expiry(key))

    def check(self) -> bool:
        try:
            return bool(self.primary.check())
        except self.primary.base_exceptions:
            return False

    def reset(self) -> int | None:
        self.local.reset()
        return self.primary.reset()

    def clear(self, key: str) -> None:
        self.local.clear(key)
        self.primary.clear(key)


def failover_uri(uri: str) -> str:
    """The store URI flask-limiter is given for a configured ``RATELIMIT_STORAGE_URI``."""
    if uri.startswith(("redis://", "rediss://")):
        return SCHEME_PREFIX + uri
    return uri
