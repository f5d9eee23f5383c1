"""Rate limits whose keys never contain a client address.

A key is a keyed hash of the client address (an IPv6 address is reduced to its /64, since one
subscriber gets a whole /64) under a secret that changes every UTC day. The secret lives only in
process memory, or in the limiter's Redis when there is one, so that every worker hashes alike;
it expires there shortly after its day ends, and nothing else ever records it.

Each route declares its limits with flask-limiter's decorators, reading the ``RATELIMIT_*``
settings below; ``portal limits`` lists them. This module adds what flask-limiter lacks, each in
one named place:

- ``refused_before_parsing``: a route whose client-keyed limits are read before its body is
  parsed, so that a flood of refused requests costs the workers as little as possible;
- ``charge_accepted_report``: the allowance of accepted reports, charged atomically just before a
  report is stored (a form sent back for correction costs nothing);
- ``client_key``: the rotating keyed client hash above;
- ``setting``: each allowance divided by the number of workers while the shared store is down
  and every worker counts on its own (``portal.web.limit_store``).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import os
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from flask import Flask, current_app, render_template, request, session
from flask_babel import format_timedelta
from flask_limiter import Limiter

from portal.web.i18n import current_language
from portal.web.limit_store import FailoverStorage, failover_uri

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])

# Limit strings (flask-limiter syntax); each can be overridden by PORTAL_<NAME>.
LIMIT_DEFAULTS: dict[str, str] = {
    # Reports accepted; a form sent back for correction does not count against these.
    "RATELIMIT_REPORT": "5/hour;20/day",
    "RATELIMIT_REPORT_WITHOUT_POW": "2/hour;6/day",
    # Few reporters lack JavaScript; a bot wave from thousands of addresses usually does.
    "RATELIMIT_REPORT_WITHOUT_POW_GLOBAL": "30/hour;200/day",
    # Every submission attempt, accepted or not: bounds what a client can make the server parse.
    "RATELIMIT_REPORT_ATTEMPTS": "20/hour;60/day",
    # Wrong receipts only, per client and per IPv6 /56: a reporter who gets in costs nothing.
    "RATELIMIT_FOLLOWUP": "10/hour;30/day",
    "RATELIMIT_FOLLOWUP_NETWORK": "30/hour;90/day",
    # Wrong receipts without a solved proof of work, portal-wide; beyond it every lookup needs
    # one (a reporter's browser solves it while they type), never a refusal of a right receipt.
    "RATELIMIT_FOLLOWUP_GLOBAL": "1000/hour",
    "RATELIMIT_EVIDENCE": "30/hour",
    "RATELIMIT_LOGIN_CLIENT": "20/hour",
    "RATELIMIT_LOGIN_ACCOUNT": "10/hour",
    "RATELIMIT_POST": "30/minute;300/hour",
}

DAILY_KEY_NAMESPACE = "portal:ratelimit:daily-key:"
# After a failure of the shared store, how long a worker keeps its private secret before
# asking the store again.
_SECRET_RETRY_SECONDS = 60.0


def network_of(address: str, ipv6_prefix: int = 64) -> str:
    """The unit a limit applies to: the IPv4 address, or the IPv6 /64 (or a wider prefix).

    One subscriber gets a whole /64, and often a /56 (256 of them): limits on guessing count
    the /56 too, so that one allocation cannot pass for hundreds of clients.
    """
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return "invalid"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        network = ipaddress.IPv6Network(f"{ip}/{ipv6_prefix}", strict=False)
        return f"{network.network_address}/{ipv6_prefix}"
    return str(ip)


def _end_of_day(day: str) -> datetime:
    start = datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=UTC)
    return start + timedelta(days=1)


class DailySecret:
    """The secret of the current UTC day, shared through Redis when the limiter uses it."""

    def __init__(self, storage_uri: str | None = None) -> None:
        self._lock = threading.Lock()
        self._cache: tuple[str, bytes, float] | None = None  # day, secret, retry-after time
        self._redis: Any = None
        if storage_uri and storage_uri.startswith(("redis://", "rediss://")):
            import redis

            self._redis = redis.Redis.from_url(
                storage_uri, socket_timeout=0.5, socket_connect_timeout=0.5
            )

    def for_day(self, day: str) -> bytes:
        with self._lock:
            cached = self._cache
            if cached is not None and cached[0] == day and time.monotonic() < cached[2]:
                return cached[1]
            secret, shared = self._fetch(day, cached[1] if cached and cached[0] == day else None)
            retry_at = float("inf") if shared else time.monotonic() + _SECRET_RETRY_SECONDS
            self._cache = (day, secret, retry_at)
            return secret

    def _fetch(self, day: str, local: bytes | None) -> tuple[bytes, bool]:
        if self._redis is None:
            return local or secrets.token_bytes(32), True
        import redis

        candidate = secrets.token_bytes(32)
        key = DAILY_KEY_NAMESPACE + day
        try:
            # The first worker of the day sets it; the others read the same value.
            self._redis.set(key, candidate, nx=True, exat=int(_end_of_day(day).timestamp()) + 3600)
            stored = self._redis.get(key)
        except redis.RedisError:
            log.warning(
                "Rate-limit store unreachable: hashing client keys with a per-process secret"
            )
            return local or candidate, False
        return (stored if isinstance(stored, bytes) and len(stored) == 32 else candidate), True


_secret_source = DailySecret()


def _today(now: datetime | None = None) -> str:
    return (now or datetime.now(UTC)).strftime("%Y-%m-%d")


def keyed_hash(label: str, value: str, *, now: datetime | None = None) -> str:
    digest = hmac.new(
        _secret_source.for_day(_today(now)), f"{label}:{value}".encode(), hashlib.sha256
    )
    return digest.hexdigest()[:32]


def hashed_client(address: str, *, now: datetime | None = None) -> str:
    return keyed_hash("client", network_of(address), now=now)


def normalise_username(username: str) -> str:
    return username.strip().casefold()


def hashed_account(username: str, *, now: datetime | None = None) -> str:
    return keyed_hash("account", normalise_username(username), now=now)


def client_key() -> str:
    return hashed_client(request.remote_addr or "")


def network_key() -> str:
    """The client's wider network: its IPv6 /56, or its IPv4 address."""
    return keyed_hash("network", network_of(request.remote_addr or "", 56))


limiter = Limiter(key_func=client_key, headers_enabled=True)


def account_key() -> str:
    """The staff account a login attempt is for, keyed like client addresses."""
    username = request.form.get("username")
    if username is None:
        # The second step of a login carries no user name, only the pending sign-in.
        pending = session.get("staff_pending")
        officer_id = pending.get("id") if isinstance(pending, dict) else None
        return keyed_hash("pending-account", str(officer_id))
    return hashed_account(username)


def global_key() -> str:
    return "all-clients"


# Keys that need nothing from the request body: limits keyed by them can refuse before parsing.
_BODY_FREE_KEYS: tuple[Callable[[], str], ...] = (client_key, network_key, global_key)


def fallback_divisor(config: Mapping[str, Any]) -> int:
    """How many processes count on their own while the shared store is down."""
    configured = config.get("RATELIMIT_FALLBACK_DIVISOR")
    if configured:
        return max(1, int(configured))
    for name in ("PORTAL_WORKERS", "WEB_CONCURRENCY", "GUNICORN_WORKERS"):
        value = os.environ.get(name, "")
        if value.isdigit() and int(value) > 0:
            return int(value)
    return 1


def per_process(limits: str, divisor: int) -> str:
    """Each window's allowance divided among ``divisor`` processes (at least 1 each)."""
    from limits import parse_many

    if divisor <= 1:
        return limits
    return ";".join(
        f"{max(1, item.amount // divisor)}/{item.multiples} {item.GRANULARITY.name}"
        for item in parse_many(limits)
    )


def _counting_in_memory() -> bool:
    store = limiter.storage if limiter.enabled else None
    return isinstance(store, FailoverStorage) and store.degraded


_providers: dict[str, Callable[[], str]] = {}


def setting(name: str) -> Callable[[], str]:
    """A limit read from the current app's settings at each request (one object per name).

    While the shared store is down each worker counts alone, so each gets its share only.
    """
    if name not in _providers:

        def provider() -> str:
            limits = str(current_app.config[name])
            if _counting_in_memory():
                return per_process(limits, fallback_divisor(current_app.config))
            return limits

        provider.__name__ = provider.__qualname__ = name
        _providers[name] = provider
    return _providers[name]


def _not_post() -> bool:
    return request.method != "POST"


def failed_attempt(response: Any) -> bool:
    """``deduct_when`` of limits on guesses: only a refused attempt uses up the budget."""
    return int(response.status_code) >= 400


def charged_when_accepted(_response: Any) -> bool:
    """``deduct_when`` of the allowance of accepted reports: flask-limiter only reads it.

    The view charges it with ``charge_accepted_report`` just before storing, atomically.
    """
    return False


# Scopes of the allowances an accepted report is charged to; declared at POST /report.
REPORT_ACCEPTED = "report-accepted"
REPORT_ACCEPTED_WITHOUT_POW = "report-accepted-without-pow"
REPORT_ACCEPTED_WITHOUT_POW_ALL = "report-accepted-without-pow-all-clients"
_CHARGED_WHEN_ACCEPTED = {
    REPORT_ACCEPTED,
    REPORT_ACCEPTED_WITHOUT_POW,
    REPORT_ACCEPTED_WITHOUT_POW_ALL,
}
FOLLOWUP_NETWORK = "followup-network"
FOLLOWUP_ALL_CLIENTS = "followup-all-clients"
LOGIN_ACCOUNT = "login-account"


def _retry_after(reset_at: float) -> int:
    return max(1, int(reset_at - time.time()) + 1)


def _identifiers(key: str, scope: str) -> list[str]:
    """The store identifiers flask-limiter uses for a limit: [prefix,] key, scope."""
    prefix = str(current_app.config.get("RATELIMIT_KEY_PREFIX", ""))
    return [prefix, key, scope] if prefix else [key, scope]


def charge_own_allowance(_breached: Any = None) -> None:
    """``on_breach`` of the stricter report limits: a refused submission uses up the client's
    own allowance too, so that a client who insists is soon refused before its form is parsed."""
    from limits import parse_many

    identifiers = _identifiers(client_key(), REPORT_ACCEPTED)
    for item in parse_many(setting("RATELIMIT_REPORT")()):
        limiter.limiter.hit(item, *identifiers)


def charge_accepted_report() -> int | None:
    """Count one report about to be stored; return seconds to wait if a limit refuses it.

    Charges the allowances the route declared with ``charged_when_accepted`` (flask-limiter
    evaluated them for this request; exempt ones, such as the stricter limits when the proof of
    work is solved, are not among them). Each hit is atomic in the store, so concurrent
    submissions cannot slip past a limit.
    """
    if not limiter.enabled:
        return None
    for request_limit in limiter.current_limits:
        args = request_limit.request_args
        if args[-1] not in _CHARGED_WHEN_ACCEPTED:
            continue
        if not limiter.limiter.hit(request_limit.limit, *args):
            return _retry_after(limiter.limiter.get_window_stats(request_limit.limit, *args)[0])
    return None


_EARLY_MARK = "portal_refused_before_parsing"


def refused_before_parsing(view: F) -> F:
    """Read the route's client-keyed limits before anything of the body is parsed.

    A client already over them is refused before CSRF checking and form parsing, so a flood of
    refused requests costs little. Only limits whose key and exemption need nothing from the body
    are read here; flask-limiter (and ``charge_accepted_report``) count the hits.
    """
    setattr(view, _EARLY_MARK, True)
    return view


def is_refused_before_parsing(endpoint: str | None) -> bool:
    view = current_app.view_functions.get(endpoint or "")
    return bool(getattr(view, _EARLY_MARK, False))


def _refuse_early() -> Any:
    if request.method != "POST" or not limiter.enabled:
        return None
    endpoint = request.endpoint
    if not is_refused_before_parsing(endpoint):
        return None
    try:
        _defaults, declared = limiter.limit_manager.resolve_limits(
            current_app, endpoint, request.blueprint
        )
        for limit in declared:
            if (
                limit.exempt_when is not None
                or limit.key_func not in _BODY_FREE_KEYS
                or limit.method_exempt
            ):
                continue
            identifiers = _identifiers(limit.key_func(), limit.scope_for(endpoint or "", "POST"))
            # One read of the window: no hit is left, so the next one would be refused.
            reset_at, remaining = limiter.limiter.get_window_stats(limit.limit, *identifiers)
            if remaining <= 0:
                return refusal(_retry_after(reset_at))
    except Exception:
        # Store trouble is handled (and logged) by the limits that follow.
        return None
    return None


def refusal(wait_seconds: int) -> tuple[str, int, dict[str, str]]:
    """The answer to a refused request: the refusal page, 429, and when to come back."""
    return refusal_page(wait_seconds), 429, {"Retry-After": str(wait_seconds)}


def breached_wait() -> int | None:
    """Seconds until the limit flask-limiter refused this request on resets (fixed windows:
    a refused retry does not move it)."""
    breached = limiter.current_limit if limiter.enabled else None
    if breached is None or not breached.breached:
        return None
    return _retry_after(breached.reset_at - 1)


def wait_in_words(wait_seconds: int) -> str:
    """The wait in the reader's language, to the minute: "52 minutes", "2 hours"."""
    return format_timedelta(timedelta(seconds=wait_seconds), granularity="minute", threshold=1)


def refusal_page(wait_seconds: int | None = None) -> str:
    """The translated "Too many attempts" page, rendered once per language and wait on flooded
    paths.

    A flood is mostly refused requests: serving them a page rendered earlier keeps each one
    cheap. The page is the same for everyone (no token, nothing about the client); a client
    with messages waiting to be shown gets a fresh rendering so they are not lost or shared.
    """
    from werkzeug.exceptions import TooManyRequests

    wait = wait_in_words(wait_seconds) if wait_seconds else None
    # Only the fixed paths a flood aims at (those refused before parsing) are kept: a client
    # choosing paths cannot fill the cache with pages of its own making; waits are in minutes,
    # so a path has at most a few hundred of them.
    if session.get("_flashes") or not is_refused_before_parsing(request.endpoint):
        return render_template("error.html", error=TooManyRequests(), wait=wait)
    pages: dict[tuple[str, str], dict[str | None, str]] = current_app.extensions.setdefault(
        "portal.refusal_pages", {}
    )
    by_wait = pages.setdefault((current_language(), request.path), {})
    page = by_wait.get(wait)
    if page is None:
        page = render_template("error.html", error=TooManyRequests(), wait=wait)
        by_wait[wait] = page
    return page


def clear_account_limits(username: str, officer_id: int) -> None:
    """Forget the failed sign-ins counted against a staff account (an admin lifting a lockout)."""
    from limits import parse_many

    if not limiter.enabled:
        return
    keys = (hashed_account(username), keyed_hash("pending-account", str(officer_id)))
    for item in parse_many(setting("RATELIMIT_LOGIN_ACCOUNT")()):
        for key in keys:
            limiter.limiter.clear(item, *_identifiers(key, LOGIN_ACCOUNT))


def init_app(app: Flask) -> None:
    """Configure the shared limiter for this app; the limits are declared at the routes."""
    global _secret_source

    for name, value in LIMIT_DEFAULTS.items():
        app.config.setdefault(name, value)
    app.config.setdefault("RATELIMIT_DEFAULT", setting("RATELIMIT_POST"))
    app.config.setdefault("RATELIMIT_DEFAULTS_EXEMPT_WHEN", _not_post)
    app.config.setdefault("RATELIMIT_KEY_PREFIX", "portal")
    app.config.setdefault("RATELIMIT_SWALLOW_ERRORS", True)
    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", True)
    app.config.setdefault("RATELIMIT_FALLBACK_DIVISOR", None)
    uri = str(app.config.get("RATELIMIT_STORAGE_URI") or "memory://")
    if uri.startswith(("redis://", "rediss://")):
        app.config.setdefault(
            "RATELIMIT_STORAGE_OPTIONS", {"socket_timeout": 0.5, "socket_connect_timeout": 0.5}
        )
    else:
        app.config["RATELIMIT_STORAGE_OPTIONS"] = {}

    _secret_source = DailySecret(uri)
    # The configured URI stays what the operator wrote; flask-limiter gets the failover store.
    limiter_config = {"RATELIMIT_STORAGE_URI": failover_uri(uri)}
    saved = {name: app.config.get(name) for name in limiter_config}
    app.config.update(limiter_config)
    # The limiter is one object per process: a new app reads its application limits afresh.
    limiter.limit_manager.set_application_limits([])
    try:
        limiter.init_app(app)
    finally:
        app.config.update(saved)
    # Before every other hook, CSRF checking included: it parses the form.
    app.before_request_funcs.setdefault(None, []).insert(0, _refuse_early)
