"""Report intake and the reporter's follow-up: the citizen side of the domain."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from portal.crypto.blind_index import BlindIndexer
from portal.crypto.keyring import Keyring
from portal.crypto.tokens import token_hash
from portal.domain.categories import automatic_priority
from portal.domain.receipts import ReceiptHasher, generate_receipt, generate_reference
from portal.domain.routing import route
from portal.domain.urlnorm import NormalizedURL
from portal.models import (
    PRIORITY_RANK,
    FollowUpSession,
    Message,
    Report,
    ReportEvent,
    ReportURL,
    Subdivision,
    Unit,
    utcnow,
)
from portal.services import alerts, audit
from portal.services.reference_data import load_routing_table


@dataclass
class ReportSubmission:
    category: str
    platform: str
    description: str
    urls: list[NormalizedURL]
    subdivision_code: str | None  # None: the reporter is outside Morocco
    handle_outside_local: bool = False
    seen_on: date | None = None
    answers: dict[str, str] = field(default_factory=dict)
    contact: dict[str, str] | None = None
    # The interface language the reporter used (officers answer in it).
    language: str | None = None
    # An address for the opt-in, content-free "there is news" notice.
    notify_email: str | None = None


@dataclass(frozen=True)
class SubmittedReport:
    report_id: int
    reference: str
    receipt: str


def field_context(report_reference: str, column: str) -> str:
    """Associated data binding a ciphertext to one column of one report."""
    return f"report.{column}:{report_reference}"


# --- reported URLs: encrypted at rest, linked by keyed blind indexes ---------------------------

URL_INDEX_KIND = "url"
HOST_INDEX_KIND = "host"
URL_COLUMNS = ("original", "normalized", "host")


def report_url_context(reference: str, position: int, column: str) -> str:
    """Associated data binding a URL ciphertext to one column of one URL of one report."""
    return f"report_url.{column}:{reference}:{position}"


def url_index(indexer: BlindIndexer, normalized: str) -> str:
    """The blind index clustering reports that name the same normalised URL."""
    return indexer.index(URL_INDEX_KIND, normalized)


def host_index(indexer: BlindIndexer, host: str) -> str:
    """The blind index of a site: reports about the same host, without storing the host."""
    return indexer.index(HOST_INDEX_KIND, host)


def seal_report_url(
    keyring: Keyring, indexer: BlindIndexer, reference: str, position: int, url: NormalizedURL
) -> ReportURL:
    def seal(column: str) -> bytes:
        return keyring.encrypt_field(
            getattr(url, column), report_url_context(reference, position, column)
        )

    return ReportURL(
        position=position,
        original_enc=seal("original"),
        normalized_enc=seal("normalized"),
        host_enc=seal("host"),
        url_index=url_index(indexer, url.normalized),
        host_index=host_index(indexer, url.host),
    )


def open_report_url(keyring: Keyring, reference: str, row: ReportURL) -> NormalizedURL:
    def unseal(column: str) -> str:
        return keyring.decrypt_field(
            getattr(row, f"{column}_enc"), report_url_context(reference, row.position, column)
        )

    return NormalizedURL(
        original=unseal("original"), normalized=unseal("normalized"), host=unseal("host")
    )


def report_urls(report: Report, keyring: Keyring) -> list[NormalizedURL]:
    """The decrypted URLs of a report, in the order the reporter gave them."""
    return [open_report_url(keyring, report.reference, row) for row in report.urls]


def encrypt_json(keyring: Keyring, value: object, context: str) -> bytes:
    return keyring.encrypt_field(json.dumps(value, ensure_ascii=False), context)


def decrypt_json(keyring: Keyring, token: bytes | None, context: str) -> object:
    if token is None:
        return None
    return json.loads(keyring.decrypt_field(token, context))


def new_reference(session: Session) -> str:
    while True:
        reference = generate_reference()
        if session.scalar(select(Report.id).where(Report.reference == reference)) is None:
            return reference


def submit_report(
    session: Session,
    submission: ReportSubmission,
    *,
    keyring: Keyring,
    hasher: ReceiptHasher,
    indexer: BlindIndexer,
    reference: str | None = None,
    now: datetime | None = None,
) -> tuple[Report, SubmittedReport]:
    """Create the report, its URLs, timeline and audit entry; the caller commits.

    Returns the report row (so evidence can be attached in the same transaction) and what the
    reporter is shown once: reference and receipt. Only the receipt's lookup hash is stored.
    """
    now = now or utcnow()
    reference = reference or new_reference(session)
    receipt = generate_receipt()

    table = load_routing_table(session)
    decision = route(
        table,
        subdivision_code=submission.subdivision_code,
        category=submission.category,
        outside_local=submission.handle_outside_local,
    )
    unit = session.scalars(select(Unit).where(Unit.code == decision.unit_code)).one()
    subdivision = None
    if submission.subdivision_code:
        subdivision = session.scalars(
            select(Subdivision).where(Subdivision.code == submission.subdivision_code)
        ).one()

    priority = automatic_priority(submission.category, submission.answers)
    report = Report(
        reference=reference,
        receipt_hash=hasher.lookup_hash(receipt),
        category=submission.category,
        platform=submission.platform,
        seen_on=submission.seen_on,
        description_enc=keyring.encrypt_field(
            submission.description, field_context(reference, "description")
        ),
        answers_enc=encrypt_json(keyring, submission.answers, field_context(reference, "answers"))
        if submission.answers
        else None,
        minor_involved=submission.answers.get("minor_involved") == "yes",
        threat_to_life=submission.answers.get("threat_to_life") == "yes",
        contact_enc=encrypt_json(keyring, submission.contact, field_context(reference, "contact"))
        if submission.contact
        else None,
        language=submission.language,
        notify_email_enc=keyring.encrypt_field(
            submission.notify_email, field_context(reference, "notify_email")
        )
        if submission.notify_email
        else None,
        subdivision_id=subdivision.id if subdivision else None,
        region_id=subdivision.region_id if subdivision else None,
        abroad=submission.subdivision_code is None,
        handle_outside_local=submission.handle_outside_local,
        routing_reason=decision.reason,
        unit_id=unit.id,
        priority=priority,
        priority_rank=PRIORITY_RANK[priority],
        status="received",
        submitted_at=now,
        updated_at=now,
    )
    for position, url in enumerate(submission.urls):
        report.urls.append(seal_report_url(keyring, indexer, reference, position, url))
    report.events.append(
        ReportEvent(
            at=now,
            kind="submitted",
            visible_to_reporter=True,
            details=json.dumps({"unit": unit.code, "routing": decision.reason}),
        )
    )
    session.add(report)
    session.flush()
    audit.record(
        session,
        actor="reporter",
        action="report.submitted",
        subject=f"report:{reference}",
        details={"unit": unit.code, "routing": decision.reason, "priority": priority},
        at=now,
    )
    alerts.report_arrived(session, report)
    return report, SubmittedReport(report_id=report.id, reference=reference, receipt=receipt)


# --- follow-up ------------------------------------------------------------------------------


def find_by_receipt(session: Session, receipt_digits: str, hasher: ReceiptHasher) -> Report | None:
    return session.scalars(
        select(Report).where(Report.receipt_hash == hasher.lookup_hash(receipt_digits))
    ).one_or_none()


def open_followup_session(
    session: Session,
    report: Report,
    *,
    minutes: int,
    max_minutes: int | None = None,
    now: datetime | None = None,
) -> str:
    """A random token for the reporter's cookie; only its hash is stored, never the receipt.

    The session lasts ``minutes`` after the last request that used it (``touch_followup_session``)
    and never longer than ``max_minutes`` after it was opened.
    """
    now = now or utcnow()
    session.execute(delete(FollowUpSession).where(FollowUpSession.expires_at < now))
    token = secrets.token_urlsafe(32)
    idle = timedelta(minutes=minutes)
    cap = timedelta(minutes=max_minutes) if max_minutes else idle
    session.add(
        FollowUpSession(
            token_hash=token_hash(token),
            report_id=report.id,
            created_at=now,
            expires_at=now + min(idle, cap),
        )
    )
    return token


def touch_followup_session(
    session: Session,
    token: str | None,
    *,
    minutes: int,
    max_minutes: int,
    now: datetime | None = None,
) -> None:
    """Activity: the session now ends ``minutes`` from ``now``, within its absolute cap."""
    if not token:
        return
    now = now or utcnow()
    row = session.get(FollowUpSession, token_hash(token))
    if row is None or row.expires_at < now:
        return
    row.expires_at = min(
        now + timedelta(minutes=minutes), row.created_at + timedelta(minutes=max_minutes)
    )


def report_for_followup(
    session: Session, token: str | None, *, now: datetime | None = None
) -> Report | None:
    if not token:
        return None
    now = now or utcnow()
    row = session.get(FollowUpSession, token_hash(token))
    if row is None or row.expires_at < now:
        return None
    return session.get(Report, row.report_id)


def close_followup_session(session: Session, token: str | None) -> None:
    if token:
        session.execute(
            delete(FollowUpSession).where(FollowUpSession.token_hash == token_hash(token))
        )


def add_reporter_reply(
    session: Session, report: Report, body: str, *, keyring: Keyring, now: datetime | None = None
) -> Message:
    now = now or utcnow()
    message = Message(
        kind="from_reporter",
        body_enc=b"",
        created_at=now,
    )
    report.messages.append(message)
    session.flush()
    message.body_enc = keyring.encrypt_field(body, message_context(report.reference, message.id))
    report.last_reporter_activity_at = now
    report.updated_at = now  # the queue's "last activity" sort
    report.events.append(ReportEvent(at=now, kind="reporter_replied", visible_to_reporter=False))
    audit.record(
        session,
        actor="reporter",
        action="report.reporter_replied",
        subject=f"report:{report.reference}",
        details={"message_id": message.id},
        at=now,
    )
    alerts.reporter_replied(session, report)
    return message


def message_context(reference: str, message_id: int) -> str:
    return f"message.body:{reference}:{message_id}"


@dataclass(frozen=True)
class ReporterTimelineEntry:
    at: datetime
    kind: str  # "event" or "message"
    event_kind: str | None = None
    status: str | None = None
    author: str | None = None  # "reporter" or "officer" (never a name)
    body: str | None = None


def reporter_timeline(report: Report, keyring: Keyring) -> list[ReporterTimelineEntry]:
    """What the reporter may see: status changes and the two-way messages, nothing internal."""
    entries: list[ReporterTimelineEntry] = []
    for event in report.events:
        if not event.visible_to_reporter:
            continue
        details = json.loads(event.details) if event.details else {}
        entries.append(
            ReporterTimelineEntry(
                at=event.at,
                kind="event",
                event_kind=event.kind,
                status=details.get("to") if event.kind == "status_changed" else None,
            )
        )
    for message in report.messages:
        if message.kind not in ("to_reporter", "from_reporter"):
            continue
        entries.append(
            ReporterTimelineEntry(
                at=message.created_at,
                kind="message",
                author="officer" if message.kind == "to_reporter" else "reporter",
                body=keyring.decrypt_field(
                    message.body_enc, message_context(report.reference, message.id)
                ),
            )
        )
    entries.sort(key=lambda entry: entry.at)
    return entries
