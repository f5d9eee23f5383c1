"""Content-free alerts to the officers on duty for a unit: "something waits in your queue".

What raises an alert
--------------------
- ``urgent``: an urgent report arrives in a unit (the web form, the partner API);
- ``reply``: a reporter (or the partner filing for them) answers, or adds evidence at follow-up;
- ``sla``: an open report's first-response deadline passes within ``ALERT_SLA_WARNING_MINUTES``
  (a periodic scan over the index of open reports, bounded per run);
- ``digest``: once a day per unit, at ``ALERT_DIGEST_HOUR`` (Africa/Casablanca), counts only:
  new in the last 24 hours, waiting for a first response, past the first-response deadline.

What an alert says
------------------
Only the kind and the unit: "An urgent report waits in the queue of <unit>", the link to the
officer queue, and, for the digest, three counts. Never a reference, a category, a URL, a name
or anything the reporter wrote: a mailbox or a messaging system outside the portal must learn
nothing about a case. Officers read the case in the portal, where access is scoped and audited.

Who receives it
---------------
The unit's active officers (and supervisors who are members of it) who said, on their alerts
page, that they are on duty and want this kind. E-mail goes to the address they gave (through
the SMTP relay); the webhook (``ALERT_WEBHOOK_URL``, for the police's own messaging) gets one
signed POST per alert naming the kind, the unit and the recipients' user names.

How it travels
--------------
The write paths call one function here (``report_arrived``, ``reporter_replied``,
``evidence_added``) inside their transaction. Nothing leaves before the transaction commits:
the alerts wait in ``Session.info`` and are handed, after the commit, to the dispatcher the app
put in the session factory's ``info`` (``DISPATCH_INFO``: it enqueues one job per alert and
channel). A rollback drops them; a failure to enqueue is logged and never fails the request.
The job (``portal.jobs.alerts``) calls ``deliver``: sent alerts are audited with kind, unit,
channel and the number of recipients; a failed delivery is audited too and retried by the queue.
E-mail goes as one message per language. When the relay fails after some officers' messages went
out, or refuses some addresses while it takes the others of their message, the failure's audit
entry names the alert (an id the dispatcher gives it), the officers the relay took it for and the
ones it refused, and the retry sends only to those it has not reached, so that no officer gets
the same alert twice and none is dropped in silence.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from babel.support import Translations
from sqlalchemy import ColumnElement, case, event, exists, func, select, text
from sqlalchemy.orm import Session

from portal.domain.localtime import to_local
from portal.models import (
    OPEN_STATUS_SQL,
    OPEN_STATUSES,
    PRIORITY_RANK,
    AlertDigestMark,
    AlertSlaMark,
    AuditEvent,
    Officer,
    OfficerAlertSettings,
    Report,
    Unit,
    officer_units,
)
from portal.services import after_commit, audit, mailer, stats
from portal.services.mailer import SmtpSettings
from portal.services.webhooks import http_post, sign

log = logging.getLogger("portal.alerts")

KINDS = ("urgent", "reply", "sla", "digest")
CHANNELS = ("email", "webhook")
LANGUAGES = ("ar", "fr", "en", "es")
SIGNATURE_HEADER = "Portal-Signature"
TRANSLATIONS = Path(__file__).resolve().parent.parent / "translations"

# The after-commit channel, and the ``Session.info`` key of the dispatcher the app installs
# (``dispatch(kind, unit_id)``, once per alert); the
# ``Session.info`` key of what the open transaction raised, resolved to alerts before it commits.
DISPATCH_INFO = "alert_dispatch"
_PENDING = "alerts_pending"


# Evidence added by these hands after the report was filed is an answer to the officers.
REPLY_SOURCES = ("follow_up",)


def _(message: str) -> str:
    """Marks a message for extraction; it is translated when the alert is written."""
    return message


SUBJECTS = {
    "urgent": _("Urgent report waiting"),
    "reply": _("A reporter has answered"),
    "sla": _("A response deadline is near"),
    "digest": _("Daily summary of your unit's queue"),
}
LEADS = {
    "urgent": _("An urgent report waits in the queue of %(unit)s."),
    "reply": _("A reporter has answered in a case of the queue of %(unit)s."),
    "sla": _("A report in the queue of %(unit)s will soon pass its first-response deadline."),
    "digest": _(
        "The queue of %(unit)s: %(new)d new report(s) in the last 24 hours, %(waiting)d waiting "
        "for a first response, %(overdue)d past the first-response deadline."
    ),
}
FOOTER = _(
    "Open the queue: %(link)s\n\nThis message says nothing more on purpose. You receive it "
    "because you are on duty for this unit; your alerts page says what reaches you: %(settings)s"
)


# --- the write paths' hooks ----------------------------------------------------------------------


def report_arrived(session: Session, report: Report) -> None:
    """A new report: an alert after the commit if it is urgent by then."""
    session.info.setdefault(_PENDING, []).append(("new", report))


def reporter_replied(session: Session, report: Report) -> None:
    """The reporter (or the partner filing for them) answered: an alert after the commit."""
    session.info.setdefault(_PENDING, []).append(("reply", report))


def evidence_added(session: Session, report: Report, source: str) -> None:
    """Evidence the reporter adds at follow-up is an answer; at submission it is not."""
    if source in REPLY_SOURCES:
        reporter_replied(session, report)


def queue_alert(session: Session, kind: str, unit_id: int) -> None:
    """An alert of ``kind`` for ``unit_id``, sent after the commit (the periodic scans)."""
    if kind not in KINDS:
        raise ValueError(f"unknown alert kind {kind!r}")
    session.info.setdefault(_PENDING, []).append((kind, unit_id))


@event.listens_for(Session, "before_commit")
def _resolve(session: Session) -> None:
    """Decide what the transaction announces while its rows can still be read."""
    if session.in_nested_transaction():
        return  # a savepoint: the alerts wait for the real commit
    pending = session.info.pop(_PENDING, None)
    if not pending:
        return
    for kind, target in pending:
        if kind == "new":
            if target.priority != "urgent":
                continue
            after_commit.announce(session, DISPATCH_INFO, "urgent", target.unit_id)
        elif kind == "reply":
            after_commit.announce(session, DISPATCH_INFO, "reply", target.unit_id)
        else:
            after_commit.announce(session, DISPATCH_INFO, kind, target)


@event.listens_for(Session, "after_rollback")
def _forget(session: Session) -> None:
    if not session.in_nested_transaction():
        session.info.pop(_PENDING, None)


# --- channels ------------------------------------------------------------------------------------


class AlertFailed(RuntimeError):
    """A channel refused or could not be reached; the queue tries again. ``reached``: the
    officers (ids) whose e-mail the relay took before the failure; ``refused``: those whose
    address it refused."""

    def __init__(
        self,
        recipients: int,
        reason: str,
        reached: Sequence[int] = (),
        refused: Sequence[int] = (),
    ) -> None:
        super().__init__(reason)
        self.recipients = recipients
        self.reason = reason
        self.reached = tuple(reached)
        self.refused = tuple(refused)


@dataclass(frozen=True)
class AlertSettings:
    smtp: SmtpSettings
    email: bool
    webhook_url: str | None
    webhook_secret: str | None
    base_url: str
    timeout: float
    sla_warning: timedelta
    first_response_hours: Mapping[str, float]
    digest_hour: int

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> AlertSettings:
        return cls(
            smtp=SmtpSettings.from_config(config),
            email=bool(config.get("ALERT_EMAIL", True)),
            webhook_url=str(config.get("ALERT_WEBHOOK_URL") or "") or None,
            # str(): an all-digit secret given by environment is read as a number.
            webhook_secret=str(config.get("ALERT_WEBHOOK_SECRET") or "") or None,
            base_url=str(config.get("ALERT_BASE_URL") or "").rstrip("/"),
            timeout=float(config.get("ALERT_TIMEOUT_SECONDS", 10)),
            sla_warning=timedelta(minutes=float(config.get("ALERT_SLA_WARNING_MINUTES", 60))),
            first_response_hours=dict(config["SLA_FIRST_RESPONSE_HOURS"]),
            digest_hour=int(config.get("ALERT_DIGEST_HOUR", 7)),
        )

    def channels(self) -> list[str]:
        """The channels alerts go out on: e-mail with a relay, the webhook with a URL."""
        found = []
        if self.email and self.smtp.configured:
            found.append("email")
        if self.webhook_url:
            found.append("webhook")
        return found

    def link(self, path: str) -> str:
        return f"{self.base_url}{path}"


# --- recipients and what they are told -----------------------------------------------------------


@dataclass(frozen=True)
class Recipient:
    officer_id: int
    username: str
    email: str | None
    language: str


def recipients(session: Session, unit_id: int, kind: str) -> list[Recipient]:
    """The unit's active staff who are on duty and want alerts of ``kind``."""
    if kind not in KINDS:
        raise ValueError(f"unknown alert kind {kind!r}")
    wants = getattr(OfficerAlertSettings, kind)
    rows = session.execute(
        select(
            Officer.id, Officer.username, OfficerAlertSettings.email, OfficerAlertSettings.language
        )
        .join(OfficerAlertSettings, OfficerAlertSettings.officer_id == Officer.id)
        .join(officer_units, officer_units.c.officer_id == Officer.id)
        .where(
            officer_units.c.unit_id == unit_id,
            Officer.active.is_(True),
            Officer.role.in_(("officer", "supervisor")),
            OfficerAlertSettings.on_duty.is_(True),
            wants.is_(True),
        )
        .order_by(Officer.id)
    ).all()
    return [Recipient(row[0], row[1], row[2] or None, row[3] or "ar") for row in rows]


@dataclass(frozen=True)
class DigestCounts:
    new: int
    waiting: int
    overdue: int


def digest_counts(
    session: Session, unit_id: int, first_response_hours: Mapping[str, float], *, now: datetime
) -> DigestCounts:
    """Counts only, in one pass over the unit's reports of the last 24 hours and its waiting
    ones. Each priority's deadline is the statistics' CASE on the priority; a priority the SLA
    setting does not name has no deadline: it is waiting, never overdue."""
    new = Report.submitted_at >= now - timedelta(hours=24)
    waiting = Report.status.in_(OPEN_STATUSES) & Report.first_response_at.is_(None)
    targets = {name: timedelta(hours=float(hours)) for name, hours in first_response_hours.items()}
    deadline = stats.deadline_cutoff(targets, now, None)
    overdue = waiting & (Report.submitted_at < deadline)

    def count(condition: ColumnElement[bool]) -> ColumnElement[int]:
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    row = session.execute(
        select(count(new), count(waiting), count(overdue)).where(
            Report.unit_id == unit_id, new | waiting
        )
    ).one()
    return DigestCounts(new=int(row[0]), waiting=int(row[1]), overdue=int(row[2]))


def alert_text(
    kind: str,
    unit: Unit,
    language: str,
    settings: AlertSettings,
    counts: DigestCounts | None = None,
) -> tuple[str, str]:
    """Subject and body in ``language``: the kind, the unit, the links, and counts for a digest."""
    translations = Translations.load(str(TRANSLATIONS), [language], domain="messages")
    values: dict[str, Any] = {"unit": unit.name(language)}
    if counts is not None:
        values.update(new=counts.new, waiting=counts.waiting, overdue=counts.overdue)
    lead = translations.gettext(LEADS[kind]) % values
    footer = translations.gettext(FOOTER) % {
        "link": settings.link("/officer/"),
        "settings": settings.link("/officer/alerts"),
    }
    return translations.gettext(SUBJECTS[kind]), f"{lead}\n\n{footer}\n"


def _email(
    kind: str,
    unit: Unit,
    people: Sequence[Recipient],
    settings: AlertSettings,
    counts: DigestCounts | None,
    reached: list[int],
    refused: list[int],
) -> None:
    """One message per language. ``reached`` gathers the officers the relay took it for, so that
    a failure half-way says who already has it; ``refused``, those whose address it refused (the
    other languages still go: a bad address is no outage)."""
    by_language: dict[str, list[Recipient]] = {}
    for person in people:
        if person.email:
            by_language.setdefault(person.language, []).append(person)
    for language, group in sorted(by_language.items()):
        subject, body = alert_text(kind, unit, language, settings, counts)
        # Every address a blind copy: colleagues' addresses stay private.
        message = mailer.build_message(
            settings.smtp, to="undisclosed-recipients:;", subject=subject, body=body
        )
        try:
            mailer.send(settings.smtp, message, to_addrs=[str(p.email) for p in group])
        except mailer.RecipientsRefused as refusal:
            refused.extend(p.officer_id for p in group if p.email in refusal.refused)
            reached.extend(p.officer_id for p in group if p.email not in refusal.refused)
            continue
        reached.extend(p.officer_id for p in group)


def webhook_body(
    kind: str,
    unit: Unit,
    people: Sequence[Recipient],
    settings: AlertSettings,
    counts: DigestCounts | None,
    now: datetime,
) -> bytes:
    payload: dict[str, Any] = {
        "id": f"alert_{uuid.uuid4().hex}",
        "type": f"alert.{kind}",
        "created": now.isoformat(timespec="seconds"),
        "unit": {"code": unit.code, "name": {lang: unit.name(lang) for lang in ("ar", "fr")}},
        "recipients": [person.username for person in people],
        "link": settings.link("/officer/"),
    }
    if counts is not None:
        payload["counts"] = {
            "new": counts.new,
            "waiting": counts.waiting,
            "overdue": counts.overdue,
        }
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


def _webhook(body: bytes, settings: AlertSettings) -> None:
    if not settings.webhook_url or not settings.webhook_secret:
        raise AlertFailed(0, "ALERT_WEBHOOK_URL needs ALERT_WEBHOOK_SECRET")
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "portal-alerts",
        SIGNATURE_HEADER: sign(settings.webhook_secret, int(time.time()), body),
    }
    status = http_post(settings.webhook_url, body, headers, settings.timeout)
    if not 200 <= status < 300:
        raise AlertFailed(0, f"HTTP {status}")


@dataclass(frozen=True)
class Delivery:
    kind: str
    unit_code: str | None
    channel: str
    recipients: int


@dataclass(frozen=True)
class Reached:
    """Who earlier attempts of an alert reached by e-mail: officers (ids), and whole languages
    (entries written before officers were recorded name languages)."""

    officers: frozenset[int] = frozenset()
    languages: frozenset[str] = frozenset()

    def has(self, person: Recipient) -> bool:
        return person.officer_id in self.officers or person.language in self.languages


def already_reached(session: Session, unit_code: str, alert_id: str) -> Reached:
    """Who earlier attempts of alert ``alert_id`` reached, read from their failures' audit entries
    (a few per failed alert, under the unit's subject)."""
    officers: set[int] = set()
    languages: set[str] = set()
    rows = session.scalars(
        select(AuditEvent.details).where(
            AuditEvent.action == "alert.failed",
            AuditEvent.subject == f"unit:{unit_code}",
            AuditEvent.details.contains(alert_id),
        )
    )
    for details in rows:
        entry = json.loads(details)
        if entry.get("alert") == alert_id:
            officers.update(entry.get("reached", ()))
            languages.update(entry.get("sent", ()))
    return Reached(frozenset(officers), frozenset(languages))


def deliver(
    session: Session,
    kind: str,
    unit_id: int,
    channel: str,
    *,
    settings: AlertSettings,
    now: datetime,
    alert_id: str | None = None,
) -> Delivery:
    """Send one alert on one channel to the unit's on-duty officers who want it; audited.

    Raises ``AlertFailed`` when the relay or the webhook fails, or the relay refuses addresses
    (the caller records it with ``record_failure`` and lets the queue retry). Nobody to tell:
    nothing is sent nor recorded. A retry of alert ``alert_id`` e-mails only the officers earlier
    attempts did not reach.
    """
    if kind not in KINDS or channel not in CHANNELS:
        raise ValueError(f"unknown alert {kind!r} on {channel!r}")
    unit = session.get(Unit, unit_id)
    if unit is None:
        return Delivery(kind, None, channel, 0)
    people = recipients(session, unit_id, kind)
    if channel == "email":
        done = already_reached(session, unit.code, alert_id) if alert_id else Reached()
        people = [person for person in people if person.email and not done.has(person)]
    if not people:
        return Delivery(kind, unit.code, channel, 0)
    counts = (
        digest_counts(session, unit_id, settings.first_response_hours, now=now)
        if kind == "digest"
        else None
    )
    reached: list[int] = []
    refused: list[int] = []
    try:
        if channel == "email":
            _email(kind, unit, people, settings, counts, reached, refused)
        else:
            _webhook(webhook_body(kind, unit, people, settings, counts, now), settings)
    except AlertFailed as error:
        raise AlertFailed(len(people), error.reason, reached, refused) from error
    except mailer.MailError as error:
        reason = type(error.__cause__ or error).__name__
        raise AlertFailed(len(people), reason, reached, refused) from error
    except (OSError, mailer.MailNotConfigured) as error:
        raise AlertFailed(len(people), type(error).__name__, reached, refused) from error
    if refused:
        raise AlertFailed(len(people), "RecipientsRefused", reached, refused)
    audit.record(
        session,
        actor="system",
        action="alert.sent",
        subject=f"unit:{unit.code}",
        details={"kind": kind, "channel": channel, "recipients": len(people)},
        at=now,
    )
    return Delivery(kind, unit.code, channel, len(people))


def record_failure(
    session: Session,
    kind: str,
    unit_id: int,
    channel: str,
    failure: AlertFailed,
    *,
    now: datetime,
    alert_id: str | None = None,
) -> None:
    """Audit a failed attempt (kind, unit, channel, recipients, the error's class or status; the
    alert's id, the officers it reached, which its retry skips, and those the relay refused)."""
    unit = session.get(Unit, unit_id)
    details: dict[str, Any] = {
        "kind": kind,
        "channel": channel,
        "recipients": failure.recipients,
        "error": failure.reason[:100],
    }
    if alert_id is not None:
        details.update(
            alert=alert_id, reached=sorted(failure.reached), refused=sorted(failure.refused)
        )
    audit.record(
        session,
        actor="system",
        action="alert.failed",
        subject=f"unit:{unit.code if unit else unit_id}",
        details=details,
        at=now,
    )


# --- the periodic scans --------------------------------------------------------------------------


def scan_deadlines(
    session: Session,
    *,
    first_response_hours: Mapping[str, float],
    warning: timedelta,
    now: datetime,
    limit: int = 500,
) -> dict[int, int]:
    """Mark the open reports whose first-response deadline passes within ``warning`` and that
    were never announced, and queue one ``sla`` alert per unit; returns {unit id: reports}.

    Reads ``ix_reports_open_national`` (open reports by priority and submission time), a
    one-window range per priority; at most ``limit`` reports per run.
    """
    found: dict[int, int] = {}
    taken = 0
    for priority, hours in sorted(first_response_hours.items()):
        if taken >= limit or priority not in PRIORITY_RANK:
            continue
        target = timedelta(hours=float(hours))
        rows = session.execute(
            select(Report.id, Report.unit_id)
            .where(
                Report.priority_rank == PRIORITY_RANK[priority],
                # Written out (not bound) so that the planner matches the partial index.
                text(OPEN_STATUS_SQL),
                Report.first_response_at.is_(None),
                # Deadline (submitted_at + target) in (now, now + warning].
                Report.submitted_at > now - target,
                Report.submitted_at <= now - target + warning,
                ~exists().where(AlertSlaMark.report_id == Report.id),
            )
            .order_by(Report.submitted_at, Report.id)
            .limit(limit - taken)
        ).all()
        for report_id, unit_id in rows:
            session.add(AlertSlaMark(report_id=report_id, sent_at=now))
            found[unit_id] = found.get(unit_id, 0) + 1
        taken += len(rows)
    session.flush()
    for unit_id in sorted(found):
        queue_alert(session, "sla", unit_id)
    return found


def take_digests(session: Session, *, hour: int, now: datetime) -> list[int]:
    """From ``hour`` (local time) on, each unit someone wants a digest for gets one a day: the
    day is marked and the digest queued. Returns the units."""
    local = to_local(now)
    if local.hour < hour:
        return []
    day = local.date()
    wanted = session.scalars(
        select(officer_units.c.unit_id)
        .join(Officer, Officer.id == officer_units.c.officer_id)
        .join(OfficerAlertSettings, OfficerAlertSettings.officer_id == Officer.id)
        .where(
            Officer.active.is_(True),
            OfficerAlertSettings.on_duty.is_(True),
            OfficerAlertSettings.digest.is_(True),
            ~exists().where(
                AlertDigestMark.unit_id == officer_units.c.unit_id, AlertDigestMark.day == day
            ),
        )
        .distinct()
        .order_by(officer_units.c.unit_id)
    ).all()
    for unit_id in wanted:
        session.add(AlertDigestMark(unit_id=unit_id, day=day, sent_at=now))
        queue_alert(session, "digest", unit_id)
    session.flush()
    return list(wanted)


# --- each officer's choices ----------------------------------------------------------------------


def settings_for(
    session: Session, officer: Officer, *, language: str = "ar"
) -> OfficerAlertSettings:
    """The officer's alert settings (unsaved defaults, off duty, when they never chose)."""
    row = session.get(OfficerAlertSettings, officer.id)
    if row is None:
        row = OfficerAlertSettings(
            officer_id=officer.id,
            on_duty=False,
            email=None,
            language=language if language in LANGUAGES else "ar",
            urgent=True,
            reply=True,
            sla=True,
            digest=True,
        )
    return row


def save_settings(
    session: Session,
    officer: Officer,
    *,
    on_duty: bool,
    email: str | None,
    language: str,
    kinds: Sequence[str],
    now: datetime,
) -> OfficerAlertSettings:
    """Store what reaches ``officer``; audited without the address (the caller commits)."""
    if language not in LANGUAGES:
        raise ValueError(f"unknown language {language!r}")
    unknown = set(kinds) - set(KINDS)
    if unknown:
        raise ValueError(f"unknown alert kinds {sorted(unknown)}")
    row = session.get(OfficerAlertSettings, officer.id)
    if row is None:
        row = OfficerAlertSettings(officer_id=officer.id)
        session.add(row)
    row.on_duty = on_duty
    row.email = (email or "").strip() or None
    row.language = language
    for kind in KINDS:
        setattr(row, kind, kind in kinds)
    row.updated_at = now
    session.flush()
    audit.record(
        session,
        actor=audit.officer_name(officer),
        action="alerts.settings_changed",
        subject=f"officer:{officer.id}",
        details={
            "on_duty": on_duty,
            "email": row.email is not None,
            "kinds": [kind for kind in KINDS if kind in kinds],
        },
        at=now,
    )
    return row
