"""Rate limits whose keys never contain a client address.

A key is a keyed hash of the client address (an IPv6 address is reduced to its /64, since one
subscriber gets a whole /64) under a secret that changes every UTC day. The secret lives only in
process memory, or in the limiter's Redis when there is one, so that every worker hashes alike;
it expires there shortly after its day ends, and nothing else ever records it.

Limits are registered here on the views other modules define, so that the policy lives in one
place: report submission (stricter without a valid proof of work, per client and for the whole
portal, so that a bot wave from many addresses cannot bury the queues), receipt attempts (per
client and for the whole portal, because many reporters share one address behind carrier NAT or
Tor), evidence uploads, staff login (per client and per account) and a default for every other
POST.
When the shared store fails, limits continue per process in memory and the log says so.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import ipaddress
import logging
import secrets
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Flask, current_app, redirect, render_template, request, session, url_for
from flask_limiter import Limiter

from portal.web import pow as proof_of_work
from portal.web.i18n import current_language

log = logging.getLogger(__name__)

# Limit strings (flask-limiter syntax); each can be overridden by PORTAL_<NAME>.
LIMIT_DEFAULTS: dict[str, str] = {
    # Reports accepted; a form sent back for correction does not count against these.
    "RATELIMIT_REPORT": "5/hour;20/day",
    "RATELIMIT_REPORT_WITHOUT_POW": "2/hour;6/day",
    # Few reporters lack JavaScript; a bot wave from thousands of addresses usually does.
    "RATELIMIT_REPORT_WITHOUT_POW_GLOBAL": "30/hour;200/day",
    # Every submission attempt, accepted or not: bounds what a client can make the server parse.
    "RATELIMIT_REPORT_ATTEMPTS": "20/hour;60/day",
    "RATELIMIT_FOLLOWUP": "10/hour",
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


def network_of(address: str) -> str:
    """The unit a limit applies to: the IPv4 address, or the IPv6 /64."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return "invalid"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return f"{ipaddress.IPv6Network(f'{ip}/64', strict=False).network_address}/64"
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


_providers: dict[str, Callable[[], str]] = {}


def _config_limit(name: str) -> Callable[[], str]:
    """A limit read from the current app's settings; one object per name, so that
    registering the limits again for another app replaces rather than adds."""
    if name not in _providers:

        def provider() -> str:
            return str(current_app.config[name])

        _providers[name] = provider
    return _providers[name]


def _not_post() -> bool:
    return request.method != "POST"


def _failed_attempt(response: Any) -> bool:
    # Only wrong receipts use up the budget: a reporter who gets in costs nobody anything.
    return int(response.status_code) >= 400


def _fallback_limits() -> str:
    """Per-process limits while the shared store is down: the same policy, in memory."""
    endpoint = request.endpoint or ""
    config = current_app.config
    if request.method != "POST":
        return ""
    if endpoint in _endpoints_by_role.get("report", ()):
        return str(config["RATELIMIT_REPORT_ATTEMPTS"])
    if endpoint in _endpoints_by_role.get("followup", ()):
        return str(config["RATELIMIT_FOLLOWUP"])
    if endpoint in _endpoints_by_role.get("login", ()):
        return str(config["RATELIMIT_LOGIN_CLIENT"])
    if endpoint in _endpoints_by_role.get("evidence", ()):
        return str(config["RATELIMIT_EVIDENCE"])
    return str(config["RATELIMIT_POST"])


# Endpoint names found in the URL map, per role; filled by init_app.
_endpoints_by_role: dict[str, set[str]] = {}


def _post_endpoints(app: Flask, match: Callable[[str], bool]) -> set[str]:
    return {
        rule.endpoint
        for rule in app.url_map.iter_rules()
        if "POST" in (rule.methods or set()) and match(rule.rule)
    }


def _wrap(app: Flask, endpoint: str, *limits: Any) -> None:
    view = app.view_functions[endpoint]
    for limit in limits:
        view = limit(view)
    app.view_functions[endpoint] = view


def _register_limits(app: Flask) -> None:

    roles = {
        "report": _post_endpoints(app, lambda rule: rule == "/report"),
        "followup": _post_endpoints(app, lambda rule: rule == "/follow-up"),
        "evidence": _post_endpoints(
            app, lambda rule: "evidence" in rule and "/officer" not in rule
        ),
        "login": _post_endpoints(app, lambda rule: rule.startswith("/officer/login")),
    }
    _endpoints_by_role.clear()
    _endpoints_by_role.update(roles)

    for endpoint in roles["report"]:
        # Every attempt counts here; accepted reports are charged by the view (see
        # ``charge_accepted_report``), so that a form sent back for correction costs nothing.
        # The honeypot guard sits inside: a bot's discarded submission is charged like a report.
        app.view_functions[endpoint] = honeypot_guard(app.view_functions[endpoint])
        _wrap(
            app,
            endpoint,
            limiter.limit(_config_limit("RATELIMIT_REPORT_ATTEMPTS"), methods=["POST"]),
        )
    for endpoint in roles["followup"]:
        _wrap(
            app,
            endpoint,
            limiter.limit(
                _config_limit("RATELIMIT_FOLLOWUP"), methods=["POST"], deduct_when=_failed_attempt
            ),
            limiter.shared_limit(
                _config_limit("RATELIMIT_FOLLOWUP_GLOBAL"),
                scope="followup-all-clients",
                key_func=global_key,
                methods=["POST"],
                deduct_when=_failed_attempt,
            ),
        )
    for endpoint in roles["evidence"] - roles["report"]:
        _wrap(app, endpoint, limiter.limit(_config_limit("RATELIMIT_EVIDENCE"), methods=["POST"]))
    for endpoint in roles["login"]:
        _wrap(
            app,
            endpoint,
            limiter.limit(_config_limit("RATELIMIT_LOGIN_CLIENT"), methods=["POST"]),
            limiter.shared_limit(
                _config_limit("RATELIMIT_LOGIN_ACCOUNT"),
                scope="login-account",
                key_func=account_key,
                methods=["POST"],
            ),
        )


# Counters of accepted reports; the early check reads the per-client one.
ACCEPTED_REPORT_SCOPE = "report-accepted"
_ACCEPTED_WITHOUT_POW_SCOPE = "report-accepted-without-pow"
_WITHOUT_POW_GLOBAL_SCOPE = "report-accepted-without-pow-all-clients"


LimitItems = list[tuple[Any, list[str]]]


def _limit_items(setting: str, key: str, scope: str) -> LimitItems:
    """(limit item, store identifiers) for each window of a limit setting, e.g. "5/hour;20/day"."""
    from limits import parse_many

    prefix = str(current_app.config.get("RATELIMIT_KEY_PREFIX", ""))
    identifiers = [prefix, key, scope] if prefix else [key, scope]
    return [(item, identifiers) for item in parse_many(str(current_app.config[setting]))]


def _retry_after(reset_at: float) -> int:
    return max(1, int(reset_at - time.time()) + 1)


def _own_allowance() -> LimitItems:
    return _limit_items("RATELIMIT_REPORT", client_key(), ACCEPTED_REPORT_SCOPE)


def _accepted_report_limits(proof_of_work: bool) -> LimitItems:
    """Every limit an accepted report is charged to: the client's own allowance first."""
    items = _own_allowance()
    if not proof_of_work:
        items += _limit_items(
            "RATELIMIT_REPORT_WITHOUT_POW", client_key(), _ACCEPTED_WITHOUT_POW_SCOPE
        )
        items += _limit_items(
            "RATELIMIT_REPORT_WITHOUT_POW_GLOBAL", global_key(), _WITHOUT_POW_GLOBAL_SCOPE
        )
    return items


def accepted_report_wait(*, proof_of_work: bool) -> int | None:
    """Seconds to wait if a report would be refused now; reads the counters, charges nothing.

    Lets the view refuse a client already over its allowance before validating the form, so
    that the bulk of a bot wave costs little. ``charge_accepted_report`` decides for real.
    """

    if not limiter.enabled:
        return None
    try:
        for item, identifiers in _accepted_report_limits(proof_of_work):
            reset_at, remaining = limiter.limiter.get_window_stats(item, *identifiers)
            if remaining <= 0:
                # A refused submission uses up the client's own allowance too, so that a
                # client who insists is soon refused before its form is even parsed.
                for own_item, own_identifiers in _own_allowance():
                    limiter.limiter.hit(own_item, *own_identifiers)
                return _retry_after(reset_at)
    except Exception:
        return None  # store trouble: the charge that follows handles it
    return None


def charge_accepted_report(*, proof_of_work: bool) -> int | None:
    """Count one report about to be stored; return seconds to wait if a limit refuses it.

    Called once the form is valid, just before anything is stored: each hit is atomic in the
    store, so concurrent submissions cannot slip past a limit, and a form sent back for
    correction never uses up a reporter's allowance.
    """

    if not limiter.enabled:
        return None
    for item, identifiers in _accepted_report_limits(proof_of_work):
        # The limiter's own in-memory fallback while it knows the store is down.
        rate_limiter = limiter.limiter
        try:
            allowed = rate_limiter.hit(item, *identifiers)
        except Exception:
            log.warning("Rate limit storage unreachable - counting this report in memory")
            rate_limiter = _in_memory_limiter()
            allowed = rate_limiter.hit(item, *identifiers)
        if not allowed:
            return _retry_after(rate_limiter.get_window_stats(item, *identifiers).reset_time)
    return None


def _in_memory_limiter() -> Any:
    """This process's own counters, for when the shared store fails mid-request."""
    from limits.storage import MemoryStorage
    from limits.strategies import FixedWindowRateLimiter

    local = current_app.extensions.get("portal.local_limiter")
    if local is None:
        local = current_app.extensions["portal.local_limiter"] = FixedWindowRateLimiter(
            MemoryStorage()
        )
    return local


def _early_checks() -> LimitItems:
    """Limits that refuse a POST before anything is parsed.

    A client already over these limits is refused before CSRF checking and form parsing, so a
    flood of refused requests costs the workers as little as possible. The checks only read the
    counters; the limits registered on the views, and ``charge_accepted_report``, count the hits.
    """
    endpoint = request.endpoint or ""
    if endpoint in _endpoints_by_role.get("report", ()):
        # The allowance first: a bot is refused on it first, in one read.
        return _own_allowance() + _limit_items("RATELIMIT_REPORT_ATTEMPTS", client_key(), endpoint)
    if endpoint in _endpoints_by_role.get("followup", ()):
        return _limit_items("RATELIMIT_FOLLOWUP", client_key(), endpoint) + _limit_items(
            "RATELIMIT_FOLLOWUP_GLOBAL", global_key(), "followup-all-clients"
        )
    return []


def _refuse_early() -> Any:

    if request.method != "POST" or not limiter.enabled or limiter._storage_dead:
        return None
    try:
        for item, identifiers in _early_checks():
            # One read of the window: no hit is left, so the next one would be refused.
            reset_at, remaining = limiter.limiter.get_window_stats(item, *identifiers)
            if remaining <= 0:
                return refusal(_retry_after(reset_at))
    except Exception:
        # Store trouble is handled (and logged) by the limiter's own check that follows.
        return None
    return None


def refusal(wait_seconds: int) -> tuple[str, int, dict[str, str]]:
    """The answer to a refused request: the refusal page, 429, and when to come back."""
    return refusal_page(), 429, {"Retry-After": str(wait_seconds)}


def refusal_page() -> str:
    """The translated "Too many attempts" page, rendered once per language on flooded paths.

    A flood is mostly refused requests: serving them a page rendered earlier keeps each one
    cheap. The page is the same for everyone (no token, nothing about the client); a client
    with messages waiting to be shown gets a fresh rendering so they are not lost or shared.
    """
    from werkzeug.exceptions import TooManyRequests

    endpoint = request.endpoint or ""
    flooded = _endpoints_by_role.get("report", set()) | _endpoints_by_role.get("followup", set())
    # Only the fixed paths a flood aims at are kept: a client choosing paths cannot fill the
    # cache with pages of its own making.
    if session.get("_flashes") or endpoint not in flooded:
        return render_template("error.html", error=TooManyRequests())
    pages: dict[tuple[str, str], str] = current_app.extensions.setdefault(
        "portal.refusal_pages", {}
    )
    key = (current_language(), request.path)
    page = pages.get(key)
    if page is None:
        page = render_template("error.html", error=TooManyRequests())
        pages[key] = page
    return page


def init_app(app: Flask) -> None:
    """Configure the shared limiter for this app and register the portal's limits."""
    global _secret_source

    for name, value in LIMIT_DEFAULTS.items():
        app.config.setdefault(name, value)
    app.config.setdefault("RATELIMIT_DEFAULT", _config_limit("RATELIMIT_POST"))
    app.config.setdefault("RATELIMIT_DEFAULTS_EXEMPT_WHEN", _not_post)
    app.config.setdefault("RATELIMIT_KEY_PREFIX", "portal")
    app.config.setdefault("RATELIMIT_IN_MEMORY_FALLBACK_ENABLED", True)
    app.config.setdefault("RATELIMIT_IN_MEMORY_FALLBACK", _fallback_limits)
    app.config.setdefault("RATELIMIT_SWALLOW_ERRORS", True)
    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", True)
    app.config.setdefault(
        "RATELIMIT_STORAGE_OPTIONS", {"socket_timeout": 0.5, "socket_connect_timeout": 0.5}
    )
    if not str(app.config.get("RATELIMIT_STORAGE_URI", "")).startswith(("redis", "rediss")):
        app.config["RATELIMIT_STORAGE_OPTIONS"] = {}

    _secret_source = DailySecret(app.config.get("RATELIMIT_STORAGE_URI"))
    # The limiter is one object per process; a new app (tests build many) starts it afresh,
    # with a healthy store and this app's settings.
    limiter._storage_dead = False
    limiter.limit_manager.set_application_limits([])  # read again from this app's config
    limiter.init_app(app)
    # Blueprints are registered after the extensions: the views get their limits on the first
    # request, before the limiter's own check runs.
    hooks = app.before_request_funcs.setdefault(None, [])
    hooks.insert(0, _refuse_early)
    hooks.insert(0, _register_limits_once(app))


def _register_limits_once(app: Flask) -> Callable[[], None]:
    done = threading.Event()
    lock = threading.Lock()

    def register() -> None:
        if done.is_set():
            return
        with lock:
            if not done.is_set():
                _register_limits(app)
                done.set()

    return register


def honeypot_guard(view: Callable[..., Any]) -> Callable[..., Any]:
    """Discard a submission whose honeypot field is filled, answering as if it succeeded.

    The answer is the same redirect a real submission gets, so a bot learns nothing; nothing of
    the submission is stored.
    """

    @functools.wraps(view)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        if request.method == "POST" and request.form.get(proof_of_work.HONEYPOT_FIELD, "").strip():
            log.info("report submission discarded: honeypot field filled")
            # Charged like a real report, so the limits answer the bot exactly as they would.
            wait = charge_accepted_report(proof_of_work=proof_of_work.request_has_valid_solution())
            if wait is not None:
                return refusal(wait)
            return redirect(url_for("citizen.receipt"), code=303)
        return view(*args, **kwargs)

    return guarded
