"""Production server settings: ``gunicorn -c python:portal.web.gunicorn_conf``.

(``gunicorn -c gunicorn.conf.py`` in a checkout reads the same settings.) Several processes,
each with a pool of threads, share PostgreSQL and the Redis rate-limit store (see README,
"Production"). Logs go to stdout as JSON lines; the access log names no client address, user
agent, referrer or query string, and every line passes the anonymizing filter.

Why threads: a phone uploading 100 MiB over a slow link holds its request for minutes. A
``sync`` worker is busy (and killed after ``timeout``) for that long; a ``gthread`` worker keeps
answering its heartbeat from its main loop while one thread waits for the slow client, so a slow
upload is neither killed nor in anyone else's way. Slow clients are bounded: a connection that
sends nothing for ``CLIENT_IO_TIMEOUT`` seconds, in the request head or the body, is dropped.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
from typing import Any

from portal.logging_setup import logging_config
from portal.web import allocator

wsgi_app = "portal:create_app()"
bind = os.environ.get("PORTAL_BIND", "127.0.0.1:8000")
# Processes for the CPU (receipt hashing, encryption); threads for clients that wait on the
# network. 2 cores: 3 processes x 32 threads = 96 requests in flight at once.
workers = int(os.environ.get("PORTAL_WORKERS", min(multiprocessing.cpu_count() + 1, 9)))
# While Redis is down each worker counts rate limits alone: each gets 1/workers of every
# allowance, so that a client's total stays within the limit (README, "Rate limits").
os.environ.setdefault("PORTAL_RATELIMIT_FALLBACK_DIVISOR", str(workers))
worker_class = "gthread"
threads = int(os.environ.get("PORTAL_THREADS", 32))
# Open connections per process, kept-alive idle ones included.
worker_connections = 1000
# The main loop of a gthread worker answers its heartbeat whatever its threads do: this only
# catches a process that is really stuck, never a slow client.
timeout = 30
graceful_timeout = 30
keepalive = 5
# Recycle workers now and then, so that memory of a long-lived worker never grows unbounded.
max_requests = 5000
max_requests_jitter = 500
# Forbid oversized request heads before they reach the application.
limit_request_line = 4094
limit_request_fields = 100
limit_request_field_size = 8190

# Longest silence tolerated from a client while its request is read (head or body) or its
# answer is written; a steady slow upload is never cut, a stalled one frees its thread.
CLIENT_IO_TIMEOUT = float(os.environ.get("PORTAL_CLIENT_IO_TIMEOUT", 30))


# Workers keep the memory they free for their next request (portal.web.allocator): faster
# dashboards for about 100 MiB more per worker at 1M reports. PORTAL_KEEP_FREED_MEMORY=0 turns
# it off on a host short of memory.
KEEP_FREED_MEMORY = os.environ.get("PORTAL_KEEP_FREED_MEMORY", "1") != "0"


def post_worker_init(worker: Any) -> None:
    """Freeze what the worker loaded (the app, its catalogues, templates and table metadata:
    about 200,000 objects that live as long as the worker): the garbage collector's full passes
    then skip them. Each such pass walked them all, about a hundred milliseconds that fell on
    whichever request triggered it. Then keep freed memory for the next request
    (:mod:`portal.web.allocator`)."""
    gc.freeze()
    worker.log.info("%d objects loaded at start frozen out of collections", gc.get_freeze_count())
    if KEEP_FREED_MEMORY and allocator.keep_freed_memory():
        worker.log.info("freed memory kept for reuse up to %d MiB", allocator.TRIM_THRESHOLD >> 20)


def pre_request(worker: Any, req: Any) -> None:
    sock = getattr(getattr(req, "unreader", None), "sock", None)
    if sock is not None:
        sock.settimeout(CLIENT_IO_TIMEOUT)


accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("PORTAL_LOG_LEVEL", "info")
# Method, path without query string, protocol, status, bytes, duration: nothing identifying.
access_log_format = '"%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms'
logconfig_dict = logging_config(loglevel.upper())
# Client addresses come from the trusted proxy hops only (PORTAL_TRUSTED_PROXY_HOPS, ProxyFix).
forwarded_allow_ips = os.environ.get("PORTAL_GUNICORN_FORWARDED_ALLOW_IPS", "127.0.0.1")
proc_name = "portal"
