"""Production server settings: ``gunicorn -c gunicorn.conf.py wsgi:app``.

Several workers share PostgreSQL and the Redis rate-limit store (see README, "Production").
Logs go to stdout as JSON lines; the access log names no client address, user agent, referrer
or query string, and every line passes the anonymizing filter.
"""

from __future__ import annotations

import multiprocessing
import os

from portal.logging_setup import logging_config

bind = os.environ.get("PORTAL_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("PORTAL_WORKERS", min(2 * multiprocessing.cpu_count() + 1, 9)))
# While Redis is down each worker counts rate limits alone: each gets 1/workers of every
# allowance, so that a client's total stays within the limit (README, "Rate limits").
os.environ.setdefault("PORTAL_RATELIMIT_FALLBACK_DIVISOR", str(workers))
worker_class = "sync"
# Receipt checks run argon2id (19 MiB, tens of ms each): leave room for slow moments.
timeout = 60
graceful_timeout = 30
keepalive = 5
# Recycle workers now and then, so that memory of a long-lived worker never grows unbounded.
max_requests = 5000
max_requests_jitter = 500
# Forbid oversized request heads before they reach the application.
limit_request_line = 4094
limit_request_fields = 100
limit_request_field_size = 8190

accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("PORTAL_LOG_LEVEL", "info")
# Method, path without query string, protocol, status, bytes, duration: nothing identifying.
access_log_format = '"%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms'
logconfig_dict = logging_config(loglevel.upper())
# Client addresses come from the trusted proxy hops only (PORTAL_TRUSTED_PROXY_HOPS, ProxyFix).
forwarded_allow_ips = os.environ.get("PORTAL_GUNICORN_FORWARDED_ALLOW_IPS", "127.0.0.1")
proc_name = "portal"
