"""Configuration layering: defaults < ``instance/config.py`` < ``PORTAL_*`` environment.

Every setting that a deployment may change lives here with its embedded-mode default, so that a
newcomer gets a working portal (SQLite, local files, in-memory limits) with no setup at all.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

ENV_PREFIX = "PORTAL_"

_PACKAGE_DIR = Path(__file__).resolve().parent


def resource_dir(name: str) -> Path:
    """Where ``templates``, ``static`` or ``migrations`` are: inside the installed package
    (``portal/bundled/<name>``, as a wheel lays them out) or, in a checkout, at the top level of
    the repository."""
    installed = _PACKAGE_DIR / "bundled" / name
    if installed.is_dir():
        return installed
    return _PACKAGE_DIR.parent / name


class DefaultConfig:
    # Storage and services (the contract names in DESIGN.md).
    DATABASE_URL: str | None = None  # None -> SQLite file in the instance dir
    RATELIMIT_STORAGE_URI = "memory://"
    # Every request of one client, whatever the page (flask-limiter's application-wide limit,
    # counted per method): cheap page views cannot crowd out the officers' work.
    RATELIMIT_APPLICATION = "300/minute;6000/hour"
    RATELIMIT_APPLICATION_PER_METHOD = True
    EVIDENCE_STORE: str | None = None  # None -> file://<instance>/evidence
    S3_ENDPOINT_URL: str | None = None
    S3_REGION: str | None = None

    # Job queue (portal/jobs): None -> SQLite file in the instance dir; or redis://...
    QUEUE_URL: str | None = None
    # Worker threads of `portal worker`, and of the one `portal run` starts when this is on.
    QUEUE_WORKERS = 2
    QUEUE_WORKER_IN_RUN = True
    # How often the scheduler looks for periodic jobs that are due (seconds, a factor of 60
    # or a multiple of it), and each periodic job's period in seconds by name, e.g.
    # {"stats.refresh": 900, "retention.purge": 86400, "audit.anchor": 3600} (the defaults).
    QUEUE_PERIODIC_CHECK_SECONDS = 60
    JOB_PERIODS: dict[str, int] = {}
    # Who may read /metrics: these addresses or networks, or a bearer of METRICS_TOKEN.
    METRICS_ALLOW: list[str] = ["127.0.0.1/32", "::1/128"]
    METRICS_TOKEN: str | None = None

    # Where the audit head anchor job appends the chain's head hash; None -> instance dir.
    AUDIT_ANCHOR_FILE: str | None = None

    # Languages: Arabic first; the reporter chooses with a visible switcher.
    LANGUAGES = ("ar", "fr", "en", "es")
    BABEL_DEFAULT_LOCALE = "ar"
    # No time-zone setting: every page shows Morocco's clock, named once in
    # portal.domain.localtime (create_app hands its name to Flask-Babel).

    # The report form.
    MAX_URLS_PER_REPORT = 20
    MAX_DESCRIPTION_LENGTH = 10_000

    # Evidence limits (bytes); enforced while the upload streams in.
    EVIDENCE_MAX_FILES = 10
    EVIDENCE_MAX_FILE_SIZE = 100 * 1024 * 1024
    EVIDENCE_MAX_REQUEST_SIZE = 300 * 1024 * 1024
    # An oversized request is read and discarded up to this many bytes so that the browser gets
    # the "too large" page instead of a reset connection; None means twice the request limit.
    EVIDENCE_DRAIN_LIMIT: int | None = None

    # Receipt lookup hash cost (argon2id, OWASP's 19 MiB / 2 passes). The pepper already makes a
    # database leak alone useless; this cost slows guessing if the pepper leaks too, without
    # letting a flood of the submissions the rate limits admit exhaust the CPU. Tests lower it.
    RECEIPT_ARGON2_TIME_COST = 2
    RECEIPT_ARGON2_MEMORY_KIB = 19_456
    RECEIPT_ARGON2_PARALLELISM = 1
    # Staff password hashing (argon2id). None: argon2-cffi's recommended parameters (RFC 9106's
    # low-memory profile, 3 passes over 64 MiB in 4 lanes, at the time of writing). An account
    # hashed with other parameters is rehashed at its next sign-in. Tests lower it.
    STAFF_PASSWORD_ARGON2_TIME_COST: int | None = None
    STAFF_PASSWORD_ARGON2_MEMORY_KIB: int | None = None
    STAFF_PASSWORD_ARGON2_PARALLELISM: int | None = None

    # Reporter follow-up session: short, server-side, never the receipt itself. It ends after
    # this many minutes without a request, and in any case this long after the receipt was given.
    FOLLOWUP_SESSION_MINUTES = 20
    FOLLOWUP_SESSION_MAX_MINUTES = 240

    # The sender of the opt-in, content-free e-mail notice ("there is news; come back with your
    # receipt"), sent through the SMTP relay below; no relay: no notice is sent. None: SMTP_FROM.
    NOTICE_SENDER: str | None = None

    # Staff sessions.
    STAFF_IDLE_TIMEOUT_MINUTES = 30
    STAFF_ABSOLUTE_LIFETIME_HOURS = 10
    STAFF_LOCKOUT_THRESHOLD = 5
    STAFF_LOCKOUT_MINUTES = 15

    # Service-level targets for the first response, per priority (hours).
    SLA_FIRST_RESPONSE_HOURS = {"urgent": 4, "high": 24, "normal": 72}
    # Resolution targets, per priority (days).
    SLA_RESOLUTION_DAYS = {"urgent": 7, "high": 30, "normal": 60}

    # Supervisor dashboards and exports: at most this many at once across all workers (the rest
    # are told to retry), each statement cancelled after this many milliseconds.
    STATS_MAX_CONCURRENT = 1
    STATS_STATEMENT_TIMEOUT_MS = 5000
    # Every staff page: a database statement running longer is cancelled (PostgreSQL), so that
    # one slow page cannot hold a worker and the database for long.
    STAFF_STATEMENT_TIMEOUT_MS = 10000

    # Retention per final status, in days; None keeps the report.
    RETENTION_DAYS = {"closed": 365, "referred": None}
    # Blobs and partial uploads no report points to are removed by the purge once this old.
    EVIDENCE_ORPHAN_GRACE_HOURS = 6.0

    # The file audit anchors are appended to (the audit chain's head, kept outside the
    # database); empty means `audit-anchors.jsonl` in the instance directory.
    AUDIT_ANCHOR_FILE = ""
    # Campaigns: a new report sharing a trace with an earlier one whose reporter paid (a repeat
    # blackmail) is raised to this priority; None only flags it on the case page.
    CAMPAIGN_REPEAT_PRIORITY = "urgent"
    # The legal basis quoted in preservation and freeze requests, per language.
    CAMPAIGN_FREEZE_LEGAL_REFERENCE = {
        "fr": "articles 57 et 59 du Code de procédure pénale et loi n° 43-05 relative à la "
        "lutte contre le blanchiment de capitaux",
        "ar": "المادتان 57 و59 من قانون المسطرة الجنائية والقانون رقم 43.05 المتعلق بمكافحة "
        "غسل الأموال",
    }

    # Where the quick-exit button sends a reporter who must hide the page at once.
    QUICK_EXIT_URL = "https://www.google.com/search?q=m%C3%A9t%C3%A9o"

    # Number of reverse proxies whose X-Forwarded-For we trust (0: none, direct exposure).
    TRUSTED_PROXY_HOPS = 0
    # Cookies are marked Secure when the portal is served over https.
    PREFER_HTTPS = False

    # Outgoing mail (reporters' notices, requests to platforms): an SMTP relay. No host: nothing
    # is e-mailed, and officers send requests to platforms by hand.
    SMTP_HOST: str | None = None
    SMTP_PORT = 587
    SMTP_STARTTLS = True
    SMTP_USERNAME: str | None = None
    SMTP_PASSWORD: str | None = None
    # The sender of every e-mail (staff alerts, requests to platforms, and reporters' notices
    # unless NOTICE_SENDER names another): set it to an address of the deployment.
    SMTP_FROM = "no-reply@portal.invalid"
    SMTP_TIMEOUT_SECONDS = 30

    # Content-free alerts to the officers on duty for a unit (an urgent report, a reporter's
    # reply, a first-response deadline about to pass, a daily digest of counts). E-mail goes
    # through the SMTP relay above (ALERT_EMAIL off: webhook only); the webhook, for the police's
    # own messaging, gets a JSON POST signed with HMAC-SHA-256 under ALERT_WEBHOOK_SECRET.
    ALERT_EMAIL = True
    ALERT_WEBHOOK_URL: str | None = None
    ALERT_WEBHOOK_SECRET: str | None = None
    ALERT_TIMEOUT_SECONDS = 10
    # The portal's address as officers reach it, for the link to the queue ("" : a bare path).
    ALERT_BASE_URL = ""
    # Warn this many minutes before an unanswered report's first-response deadline passes.
    ALERT_SLA_WARNING_MINUTES = 60
    # The daily digest goes out from this hour on, Africa/Casablanca time (0-23).
    ALERT_DIGEST_HOUR = 7

    # Takedowns: the e-mail address of each platform's law-enforcement or abuse channel (platform
    # code -> address); a platform without one is sent to by hand through its own portal.
    TAKEDOWN_CHANNELS: dict[str, str] = {}
    # Legal bases officers can cite (code -> text per language; the first language is the
    # fallback). The texts are the deployment's to check with its legal service.
    TAKEDOWN_LEGAL_BASES: dict[str, dict[str, str]] = {
        "penal_447": {
            "fr": "Code pénal, articles 447-1 à 447-3 (atteinte à la vie privée, diffusion "
            "d'images ou de propos sans consentement)",
            "en": "Penal Code, articles 447-1 to 447-3 (invasion of privacy, distribution of "
            "images or words without consent)",
            "ar": "القانون الجنائي، الفصول 447-1 إلى 447-3 (المس بالحياة الخاصة وبث الصور أو "
            "الأقوال دون موافقة)",
        },
        "penal_503_1": {
            "fr": "Code pénal, articles 503-1 et suivants (harcèlement, exploitation sexuelle)",
            "en": "Penal Code, articles 503-1 et seq. (harassment, sexual exploitation)",
            "ar": "القانون الجنائي، الفصل 503-1 وما يليه (التحرش والاستغلال الجنسي)",
        },
        "penal_540": {
            "fr": "Code pénal, article 540 (escroquerie)",
            "en": "Penal Code, article 540 (fraud)",
            "ar": "القانون الجنائي، الفصل 540 (النصب)",
        },
        "penal_218_2": {
            "fr": "Code pénal, article 218-2 (apologie du terrorisme)",
            "en": "Penal Code, article 218-2 (apology of terrorism)",
            "ar": "القانون الجنائي، الفصل 218-2 (الإشادة بالإرهاب)",
        },
        "law_09_08": {
            "fr": "Loi 09-08 relative à la protection des personnes physiques à l'égard du "
            "traitement des données à caractère personnel",
            "en": "Law 09-08 on the protection of individuals with regard to the processing of "
            "personal data",
            "ar": "القانون 09-08 المتعلق بحماية الأشخاص الذاتيين تجاه معالجة المعطيات ذات الطابع "
            "الشخصي",
        },
    }
    # What a request gives as the issuing unit's contact (unit code -> address, phone); units
    # without an entry give the default.
    TAKEDOWN_CONTACTS: dict[str, dict[str, str]] = {}
    TAKEDOWN_DEFAULT_CONTACT: dict[str, str] = {
        "email": "cybercrime@police.invalid",
        "phone": "+212 5 37 00 00 00",
    }
    PRESERVATION_DEFAULT_DAYS = 90
    # The re-check of URLs under a takedown request: how long one request may take.
    TAKEDOWN_RECHECK_TIMEOUT_SECONDS = 10.0
    # The re-check never reaches private or loopback addresses unless this is set (tests only).
    TAKEDOWN_RECHECK_ALLOW_PRIVATE = False

    # Cross-border referrals: the portal's own country, hosting countries known for certain
    # hosts (host -> ISO 3166-1 alpha-2), and an optional WHOIS server ("host:port") asked for
    # the country of a host's address.
    HOME_COUNTRY = "MA"
    HOSTING_COUNTRY_OVERRIDES: dict[str, str] = {}
    HOSTING_WHOIS_SERVER: str | None = None
    # Partner API. Webhook endpoints must be https; plain http to the loopback only in tests.
    WEBHOOK_ALLOW_LOCAL_HTTP = False
    # Trusted-partner lane: filings of a partner whose closed filings were at least this
    # accurate (share not closed as no offence or duplicate), over at least the given number of
    # closed filings, come into the queue one priority step up (normal -> high). None: off.
    PARTNER_LANE_MIN_ACCURACY: float | None = None
    PARTNER_LANE_MIN_CLOSED = 20

    # The public transparency page: figures resting on fewer reports than this are suppressed;
    # how many complete months it shows; how long its figures are reused (seconds).
    TRANSPARENCY_MIN_CELL = 10
    TRANSPARENCY_MONTHS = 12
    TRANSPARENCY_CACHE_SECONDS = 600

    # Flask itself.
    SESSION_COOKIE_NAME = "portal_session"
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Strict"
    PERMANENT_SESSION_LIFETIME = timedelta(hours=10)
    WTF_CSRF_TIME_LIMIT = 4 * 3600
    # Over https a form must also come with a Referer from this origin (the pages' Referrer-Policy
    # is same-origin, so browsers send it); a foreign Origin header is refused on any scheme.
    WTF_CSRF_SSL_STRICT = True
    MAX_FORM_PARTS = 1000
    MAX_FORM_MEMORY_SIZE = 500 * 1024
    TEMPLATES_AUTO_RELOAD = False


def _coerce(value: str, current: Any) -> Any:
    """Read an environment string as the type of the default it overrides."""
    if isinstance(current, bool):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    if isinstance(current, int):
        return int(value)
    if isinstance(current, dict | list | tuple):
        parsed = json.loads(value)
        return tuple(parsed) if isinstance(current, tuple) else parsed
    if current is None and value.strip().lstrip("-").isdigit():
        return int(value)
    return value


def environment_overrides(config: Mapping[str, Any], env: Mapping[str, str]) -> dict[str, Any]:
    """Return the settings that ``PORTAL_<NAME>`` variables override."""
    overrides: dict[str, Any] = {}
    for key, value in env.items():
        if not key.startswith(ENV_PREFIX):
            continue
        name = key[len(ENV_PREFIX) :]
        # Secrets stay out of app.config: they are read where they are used.
        if name in {
            "INSTANCE_PATH",
            "TEST_DATABASE_URL",
            "TEST_REDIS_URL",
            "REQUIRE_BROWSER",
            "MASTER_KEYS",
            "ACTIVE_KEY_ID",
            # Keys and peppers given by environment are read and decoded by load_secrets.
            "RECEIPT_PEPPER",
            "INDEX_PEPPER",
            "AUDIT_KEY",
            "CASEFILE_KEY",
            # The README's name for the keys file's passphrase (`portal backup`).
            "BACKUP_PASSPHRASE",
        }:
            continue
        overrides[name] = _coerce(value, config.get(name))
    return overrides


def instance_path_from_env(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    return Path(env.get("PORTAL_INSTANCE_PATH", "instance")).resolve()


def resolve_storage_defaults(config: dict[str, Any], instance_path: Path) -> None:
    """Fill in the embedded defaults that depend on the instance directory."""
    if not config.get("DATABASE_URL"):
        config["DATABASE_URL"] = f"sqlite:///{instance_path / 'portal.sqlite3'}"
    if not config.get("EVIDENCE_STORE"):
        config["EVIDENCE_STORE"] = f"file://{instance_path / 'evidence'}"
    if not config.get("AUDIT_ANCHOR_FILE"):
        config["AUDIT_ANCHOR_FILE"] = str(instance_path / "audit-anchors.jsonl")


def load_config(instance_path: Path, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The layered settings without building the app (commands that need no secrets use it)."""
    from flask import Config

    env = os.environ if env is None else env
    config = Config(str(instance_path))
    config.from_object(DefaultConfig)
    config.from_pyfile("config.py", silent=True)
    config.update(environment_overrides(config, env))
    resolve_storage_defaults(config, instance_path)
    return dict(config)
