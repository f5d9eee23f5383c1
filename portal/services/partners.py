"""Partners: organisations that file for victims through the API, their tokens and mandates.

A token reads ``ptk_<public id>_<secret>``. The public id finds the row; only the SHA-256 of the
secret is stored and compared in constant time, so a leaked table gives nothing to present
back. A partner reads a report only through a live mandate: one it got by filing the report, or
one the victim gave it on /follow-up. When the mandate is withdrawn, the report answers 404 to
that partner like any report it never knew.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, case, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal.crypto.blind_index import BlindIndexer
from portal.crypto.keyring import Keyring
from portal.crypto.tokens import token_hash
from portal.domain.categories import CATEGORIES
from portal.domain.receipts import ReceiptHasher
from portal.models import (
    PRIORITY_RANK,
    IdempotencyKey,
    Mandate,
    Message,
    Officer,
    Partner,
    PartnerToken,
    Report,
    ReportEvent,
    utcnow,
)
from portal.services import alerts, audit, cases
from portal.services.reports import (
    ReportSubmission,
    SubmittedReport,
    message_context,
    submit_report,
)

KINDS = ("ngo", "lawyer", "platform")
ACCREDITATIONS = ("pending", "accredited", "suspended")
SCOPES = ("file", "read", "message")
TOKEN_PREFIX = "ptk"  # noqa: S105 (the visible prefix of every token, not a secret)
# Closure reasons that count against a partner's accuracy.
INACCURATE_REASONS = ("no_offence", "duplicate")
# Message kinds exchanged between an officer and a partner.
PARTNER_MESSAGE_KINDS = ("to_partner", "from_partner")
# Whom an officer writes to from the partner panel.
AUDIENCES = ("partner", "reporter", "both")

_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{1,38}[a-z0-9]$")
_TOKEN = re.compile(rf"^{TOKEN_PREFIX}_([A-Za-z0-9]{{16}})_([A-Za-z0-9_-]{{43}})$")


class PartnerError(Exception):
    """A refused partner operation; the message is for the person who asked."""


def actor_name(partner: Partner) -> str:
    """How the audit chain names a partner: by id (names change)."""
    return f"partner:{partner.id}"


# --- organisations and tokens -------------------------------------------------------------------


def create_partner(
    session: Session,
    *,
    slug: str,
    name: str,
    kind: str,
    contact_email: str,
    categories: Sequence[str],
    accreditation: str = "pending",
    actor: str,
    now: datetime | None = None,
) -> Partner:
    now = now or utcnow()
    if not _SLUG.match(slug):
        raise PartnerError("the short name takes 3-40 lower-case letters, digits and dashes")
    if kind not in KINDS:
        raise PartnerError(f"kind must be one of {', '.join(KINDS)}")
    if accreditation not in ACCREDITATIONS:
        raise PartnerError(f"accreditation must be one of {', '.join(ACCREDITATIONS)}")
    unknown = sorted(set(categories) - set(CATEGORIES))
    if unknown:
        raise PartnerError(f"unknown categories: {', '.join(unknown)}")
    if not name.strip() or "@" not in contact_email:
        raise PartnerError("a name and a contact e-mail address are needed")
    if session.scalar(select(Partner.id).where(Partner.slug == slug)) is not None:
        raise PartnerError(f"a partner named {slug} exists already")
    partner = Partner(
        slug=slug,
        name=name.strip(),
        kind=kind,
        accreditation=accreditation,
        contact_email=contact_email.strip(),
        allowed_categories=" ".join(sorted(set(categories))),
        created_at=now,
    )
    session.add(partner)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="partner.created",
        subject=actor_name(partner),
        details={"kind": kind, "accreditation": accreditation},
        at=now,
    )
    return partner


def set_accreditation(
    session: Session,
    partner: Partner,
    accreditation: str,
    *,
    actor: str,
    now: datetime | None = None,
) -> None:
    if accreditation not in ACCREDITATIONS:
        raise PartnerError(f"accreditation must be one of {', '.join(ACCREDITATIONS)}")
    now = now or utcnow()
    old, partner.accreditation = partner.accreditation, accreditation
    audit.record(
        session,
        actor=actor,
        action="partner.accreditation_changed",
        subject=actor_name(partner),
        details={"from": old, "to": accreditation},
        at=now,
    )


def set_categories(
    session: Session, partner: Partner, categories: Sequence[str], *, actor: str
) -> None:
    unknown = sorted(set(categories) - set(CATEGORIES))
    if unknown:
        raise PartnerError(f"unknown categories: {', '.join(unknown)}")
    chosen = " ".join(sorted(set(categories)))
    if chosen == partner.allowed_categories:
        return  # a save that changes nothing leaves nothing in the audit log
    previous = partner.categories
    partner.allowed_categories = chosen
    audit.record(
        session,
        actor=actor,
        action="partner.categories_changed",
        subject=actor_name(partner),
        details={"from": previous, "categories": partner.categories},
    )


def issue_token(
    session: Session,
    partner: Partner,
    *,
    scopes: Sequence[str],
    days: int,
    label: str = "",
    actor: str,
    now: datetime | None = None,
) -> tuple[PartnerToken, str]:
    """A new token; the clear value is returned once and never stored."""
    now = now or utcnow()
    wanted = sorted(set(scopes))
    if not wanted or set(wanted) - set(SCOPES):
        raise PartnerError(f"scopes are some of {', '.join(SCOPES)}")
    if not 1 <= days <= 730:
        raise PartnerError("a token lives 1 to 730 days")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    public_id = "".join(secrets.choice(alphabet) for _ in range(16))
    secret = secrets.token_urlsafe(32)
    token = PartnerToken(
        partner_id=partner.id,
        public_id=public_id,
        secret_hash=token_hash(secret),
        scopes=" ".join(wanted),
        label=label[:120],
        created_at=now,
        expires_at=now + timedelta(days=days),
    )
    session.add(token)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="partner.token_issued",
        subject=actor_name(partner),
        details={"token": public_id, "scopes": wanted, "expires_at": token.expires_at.isoformat()},
        at=now,
    )
    return token, f"{TOKEN_PREFIX}_{public_id}_{secret}"


def revoke_token(
    session: Session, token: PartnerToken, *, actor: str, now: datetime | None = None
) -> None:
    now = now or utcnow()
    if token.revoked_at is not None:
        return
    token.revoked_at = now
    audit.record(
        session,
        actor=actor,
        action="partner.token_revoked",
        subject=f"partner:{token.partner_id}",
        details={"token": token.public_id},
        at=now,
    )


@dataclass(frozen=True)
class PartnerPrincipal:
    """Who calls the API: the partner and the token it presented."""

    partner_id: int
    token_id: int
    token_public_id: str
    scopes: frozenset[str]
    categories: frozenset[str]


def authenticate(
    session: Session, presented: str | None, *, now: datetime | None = None
) -> PartnerPrincipal | None:
    """The principal of a presented token, or None (unknown, wrong, revoked, expired, or the
    partner is not accredited: all alike to the caller)."""
    if not presented:
        return None
    match = _TOKEN.match(presented)
    if match is None:
        return None
    now = now or utcnow()
    public_id, secret = match.groups()
    row = session.execute(
        select(PartnerToken, Partner)
        .join(Partner, Partner.id == PartnerToken.partner_id)
        .where(PartnerToken.public_id == public_id)
    ).one_or_none()
    # The hash is computed even for an unknown id, so both answers take the same work.
    presented_hash = token_hash(secret)
    if row is None:
        hmac.compare_digest(presented_hash, "0" * 64)
        return None
    token, partner = row
    if not hmac.compare_digest(presented_hash, token.secret_hash):
        return None
    if token.revoked_at is not None or token.expires_at <= now:
        return None
    if partner.accreditation != "accredited":
        return None
    return PartnerPrincipal(
        partner_id=partner.id,
        token_id=token.id,
        token_public_id=token.public_id,
        scopes=frozenset(token.scopes.split()),
        categories=frozenset(partner.categories),
    )


def touch_token(session: Session, principal: PartnerPrincipal, now: datetime) -> None:
    token = session.get(PartnerToken, principal.token_id)
    if token is not None and (
        token.last_used_at is None or now - token.last_used_at > timedelta(minutes=5)
    ):
        token.last_used_at = now


def accredited_partners(session: Session, category: str | None = None) -> list[Partner]:
    partners = session.scalars(
        select(Partner).where(Partner.accreditation == "accredited").order_by(Partner.name)
    ).all()
    return [p for p in partners if category is None or category in p.categories]


# --- filings ------------------------------------------------------------------------------------


def _live_mandate(partner_id: int):  # type: ignore[no-untyped-def]
    return and_(
        Mandate.report_id == Report.id,
        Mandate.partner_id == partner_id,
        Mandate.withdrawn_at.is_(None),
    )


def report_for_partner(session: Session, partner_id: int, reference: str) -> Report | None:
    """The report if the partner holds a live mandate for it; None otherwise (the API's 404)."""
    return session.scalar(
        select(Report).join(Mandate, _live_mandate(partner_id)).where(Report.reference == reference)
    )


def mandate_for(session: Session, partner_id: int, report: Report) -> Mandate | None:
    return session.scalar(
        select(Mandate).where(
            Mandate.report_id == report.id,
            Mandate.partner_id == partner_id,
            Mandate.withdrawn_at.is_(None),
        )
    )


def list_filings(
    session: Session, partner_id: int, *, limit: int = 50, before_id: int | None = None
) -> list[tuple[Report, Mandate]]:
    query = (
        select(Report, Mandate)
        .join(Mandate, _live_mandate(partner_id))
        .order_by(Report.id.desc())
        .limit(limit)
    )
    if before_id is not None:
        query = query.where(Report.id < before_id)
    return [(report, mandate) for report, mandate in session.execute(query).all()]


def request_fingerprint(body: object) -> str:
    """What makes two create requests "the same" for an idempotency key."""
    canonical = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class Filing:
    report: Report
    # The victim's reference and receipt: given once, on the request that created the report.
    submitted: SubmittedReport | None
    replayed: bool = False


class IdempotencyMismatch(PartnerError):
    """The key was used before with a different request."""


@dataclass(frozen=True)
class LanePolicy:
    """When a partner's filings come into the queue one priority step up."""

    min_accuracy: float | None  # None: the lane is off
    min_closed: int = 20


def in_trusted_lane(session: Session, partner_id: int, policy: LanePolicy) -> bool:
    if policy.min_accuracy is None:
        return False
    closed, inaccurate = session.execute(
        select(
            func.count(Report.id),
            func.coalesce(
                func.sum(case((Report.closure_reason.in_(INACCURATE_REASONS), 1), else_=0)), 0
            ),
        )
        .join(Mandate, Mandate.report_id == Report.id)
        .where(
            Mandate.partner_id == partner_id,
            Mandate.origin == "partner_filed",
            Report.status == "closed",
        )
    ).one()
    if not closed or closed < policy.min_closed:
        return False
    return 1 - inaccurate / closed >= policy.min_accuracy


def file_report(
    session: Session,
    principal: PartnerPrincipal,
    submission: ReportSubmission,
    *,
    keyring: Keyring,
    hasher: ReceiptHasher,
    indexer: BlindIndexer,
    idempotency_key: str | None,
    fingerprint: str,
    lane: LanePolicy | None = None,
    reference: str | None = None,
    now: datetime | None = None,
) -> Filing:
    """File a report for a victim; commits.

    With an idempotency key, the key's row is written first in the same transaction: a
    concurrent request with the same key waits on the primary key until this one commits, then
    fails to insert and answers with the report this one created.
    """
    now = now or utcnow()
    if idempotency_key is not None:
        session.add(
            IdempotencyKey(
                partner_id=principal.partner_id,
                key=idempotency_key,
                request_hash=fingerprint,
                created_at=now,
            )
        )
        try:
            session.flush()
        except IntegrityError:
            session.rollback()
            return _replay(session, principal, idempotency_key, fingerprint)
    report, submitted = submit_report(
        session,
        submission,
        keyring=keyring,
        hasher=hasher,
        indexer=indexer,
        reference=reference,
        now=now,
    )
    session.add(
        Mandate(
            report_id=report.id,
            partner_id=principal.partner_id,
            origin="partner_filed",
            granted_at=now,
        )
    )
    trusted = lane is not None and in_trusted_lane(session, principal.partner_id, lane)
    if trusted and report.priority == "normal":
        report.priority, report.priority_rank = "high", PRIORITY_RANK["high"]
    if idempotency_key is not None:
        row = session.get(IdempotencyKey, (principal.partner_id, idempotency_key))
        assert row is not None
        row.report_id = report.id
    audit.record(
        session,
        actor=f"partner:{principal.partner_id}",
        action="partner.report_filed",
        subject=f"report:{report.reference}",
        details={"token": principal.token_public_id, "trusted_lane": trusted},
        at=now,
    )
    return Filing(report=report, submitted=submitted)


def _replay(session: Session, principal: PartnerPrincipal, key: str, fingerprint: str) -> Filing:
    row = session.get(IdempotencyKey, (principal.partner_id, key))
    if row is None or row.report_id is None:
        # The first request failed and rolled back: its key row went with it.
        raise PartnerError("the first request with this key did not complete; retry")
    if not hmac.compare_digest(row.request_hash, fingerprint):
        raise IdempotencyMismatch("this Idempotency-Key was used with a different request")
    report = session.get(Report, row.report_id)
    assert report is not None
    return Filing(report=report, submitted=None, replayed=True)


@dataclass(frozen=True)
class PartnerTimelineEntry:
    at: datetime
    kind: str  # "event" or "message"
    event: str | None = None
    status: str | None = None
    message_id: int | None = None
    author: str | None = None  # "officer" or "partner"
    body: str | None = None


def partner_messages(report: Report) -> list[Message]:
    return [m for m in report.messages if m.kind in PARTNER_MESSAGE_KINDS]


def partner_timeline(report: Report, keyring: Keyring) -> list[PartnerTimelineEntry]:
    """What a mandated partner reads: the reporter-visible events and its own exchange."""
    entries: list[PartnerTimelineEntry] = []
    for event in report.events:
        if not event.visible_to_reporter:
            continue
        details = json.loads(event.details) if event.details else {}
        entries.append(
            PartnerTimelineEntry(
                at=event.at,
                kind="event",
                event=event.kind,
                status=details.get("to") if event.kind == "status_changed" else None,
            )
        )
    for message in partner_messages(report):
        entries.append(
            PartnerTimelineEntry(
                at=message.created_at,
                kind="message",
                message_id=message.id,
                author="officer" if message.kind == "to_partner" else "partner",
                body=read_message(message, report, keyring),
            )
        )
    entries.sort(key=lambda entry: entry.at)
    return entries


def read_message(message: Message, report: Report, keyring: Keyring) -> str:
    return keyring.decrypt_field(message.body_enc, message_context(report.reference, message.id))


def _new_message(
    session: Session,
    report: Report,
    kind: str,
    body: str,
    keyring: Keyring,
    now: datetime,
    officer_id: int | None = None,
) -> Message:
    message = Message(kind=kind, officer_id=officer_id, body_enc=b"", created_at=now)
    report.messages.append(message)
    session.flush()
    message.body_enc = keyring.encrypt_field(body, message_context(report.reference, message.id))
    return message


def partner_message(
    session: Session,
    principal: PartnerPrincipal,
    report: Report,
    body: str,
    *,
    keyring: Keyring,
    now: datetime | None = None,
) -> Message:
    """A message from the partner to the officers; it shows as an unread reply in the queue."""
    now = now or utcnow()
    message = _new_message(session, report, "from_partner", body, keyring, now)
    report.last_reporter_activity_at = now
    report.events.append(ReportEvent(at=now, kind="partner_replied", visible_to_reporter=False))
    alerts.reporter_replied(session, report)
    audit.record(
        session,
        actor=f"partner:{principal.partner_id}",
        action="report.partner_replied",
        subject=f"report:{report.reference}",
        details={"message_id": message.id},
        at=now,
    )
    return message


def officer_message_partner(
    session: Session,
    officer: Officer,
    report: Report,
    body: str,
    *,
    keyring: Keyring,
    now: datetime | None = None,
) -> Message:
    """An officer's message to the mandated partner (the victim sees it on /follow-up too)."""
    now = now or utcnow()
    if not live_mandates(session, report):
        raise PartnerError("no partner acts for this report")
    message = _new_message(session, report, "to_partner", body.strip(), keyring, now, officer.id)
    if report.first_response_at is None:
        report.first_response_at = now
    report.updated_at = now
    report.events.append(
        ReportEvent(
            at=now, kind="partner_messaged", officer_id=officer.id, visible_to_reporter=False
        )
    )
    audit.record(
        session,
        actor=audit.officer_name(officer),
        action="report.partner_messaged",
        subject=f"report:{report.reference}",
        details={"message_id": message.id},
        at=now,
    )
    return message


def officer_message(
    session: Session,
    officer: Officer,
    report: Report,
    body: str,
    audience: str,
    *,
    keyring: Keyring,
    now: datetime | None = None,
) -> None:
    """The partner panel's message: to the partner (``PartnerError`` when none acts for the
    victim any more, before anything is written), to the victim (the officer's message to the
    reporter, with its notice), or both."""
    if audience not in AUDIENCES:
        raise ValueError(f"unknown audience {audience!r}")
    if audience in ("partner", "both"):
        officer_message_partner(session, officer, report, body, keyring=keyring, now=now)
    if audience in ("reporter", "both"):
        cases.message_reporter(session, officer, report, body, keyring, now=now)


# --- mandates -----------------------------------------------------------------------------------


def live_mandates(session: Session, report: Report) -> list[Mandate]:
    return list(
        session.scalars(
            select(Mandate)
            .where(Mandate.report_id == report.id, Mandate.withdrawn_at.is_(None))
            .order_by(Mandate.id)
        )
    )


def all_mandates(session: Session, report: Report) -> list[Mandate]:
    return list(
        session.scalars(select(Mandate).where(Mandate.report_id == report.id).order_by(Mandate.id))
    )


def grant_mandate(
    session: Session, report: Report, partner_id: int, *, now: datetime | None = None
) -> Mandate:
    """The victim lets an accredited partner act on her report."""
    now = now or utcnow()
    partner = session.get(Partner, partner_id)
    if (
        partner is None
        or partner.accreditation != "accredited"
        or report.category not in partner.categories
    ):
        raise PartnerError("this organisation cannot act on this report")
    existing = mandate_for(session, partner.id, report)
    if existing is not None:
        return existing
    mandate = Mandate(
        report_id=report.id, partner_id=partner.id, origin="victim_granted", granted_at=now
    )
    session.add(mandate)
    report.events.append(
        ReportEvent(
            at=now,
            kind="mandate_granted",
            visible_to_reporter=False,
            details=json.dumps({"partner": partner.slug}),
        )
    )
    session.flush()
    audit.record(
        session,
        actor="reporter",
        action="mandate.granted",
        subject=f"report:{report.reference}",
        details={"partner": actor_name(partner), "mandate_id": mandate.id},
        at=now,
    )
    return mandate


def withdraw_mandate(
    session: Session, mandate: Mandate, *, by: str, actor: str, now: datetime | None = None
) -> None:
    """End a mandate (``by``: ``victim`` or ``partner``); the partner sees nothing more."""
    now = now or utcnow()
    if mandate.withdrawn_at is not None:
        return
    mandate.withdrawn_at = now
    mandate.withdrawn_by = by
    mandate.report.events.append(
        ReportEvent(
            at=now,
            kind="mandate_withdrawn",
            visible_to_reporter=False,
            details=json.dumps({"partner": mandate.partner.slug, "by": by}),
        )
    )
    audit.record(
        session,
        actor=actor,
        action="mandate.withdrawn",
        subject=f"report:{mandate.report.reference}",
        details={"partner": f"partner:{mandate.partner_id}", "by": by, "mandate_id": mandate.id},
        at=now,
    )


# --- the trusted-partner lane ------------------------------------------------------------------


@dataclass(frozen=True)
class PartnerFigures:
    partner: Partner
    filings: int
    open: int
    closed: int
    inaccurate: int

    @property
    def accuracy(self) -> float | None:
        """Share of closed filings not closed as no offence or duplicate (None: none closed)."""
        if not self.closed:
            return None
        return 1 - self.inaccurate / self.closed


def partner_figures(session: Session) -> list[PartnerFigures]:
    """Each partner's filings (reports it filed itself), open, closed, and closed as inaccurate."""
    filed = and_(Mandate.partner_id == Partner.id, Mandate.origin == "partner_filed")
    rows = session.execute(
        select(
            Partner,
            func.count(Report.id),
            func.sum(case((Report.status.in_(("closed", "referred")), 0), else_=1)),
            func.sum(case((Report.status == "closed", 1), else_=0)),
            func.sum(
                case(
                    (
                        and_(
                            Report.status == "closed",
                            Report.closure_reason.in_(INACCURATE_REASONS),
                        ),
                        1,
                    ),
                    else_=0,
                )
            ),
        )
        .outerjoin(Mandate, filed)
        .outerjoin(Report, Report.id == Mandate.report_id)
        .group_by(Partner.id)
        .order_by(Partner.name)
    ).all()
    return [
        PartnerFigures(
            partner=partner,
            filings=int(count or 0),
            open=int(open_ or 0),
            closed=int(closed or 0),
            inaccurate=int(inaccurate or 0),
        )
        for partner, count, open_, closed, inaccurate in rows
    ]
