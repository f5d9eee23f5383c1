"""Takedown and preservation requests: ask a platform to remove or keep reported content.

An officer picks one or more URLs of a report that sit on one platform and writes a request
carrying what the EU Digital Services Act requires of orders and notices (articles 9 and 16):
the exact URLs, the legal basis and the reasons, the issuing unit and its contact, a statement
of accuracy and, for preservation, the period. The request is sent through the platform's
configured channel (e-mail through the SMTP relay) or filed by hand through the platform's own
portal and recorded as sent. Each URL then gets its outcome: removed, refused or no answer.

Like every officer action, each service changes rows, appends a timeline event and an audit
entry in the caller's transaction; the caller commits. The reporter sees, in her terms, that
removal was requested and that content was removed; a preservation request is internal.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from portal.crypto.keyring import Keyring
from portal.domain.platforms import OTHER, Platform, load_platforms, platform_for_host
from portal.models import Officer, Report, ReportEvent, ReportURL, TakedownItem, TakedownRequest
from portal.services import audit, takedown_rollups
from portal.services.reports import open_report_url

KINDS = ("removal", "preservation")
OUTCOMES = ("removed", "refused", "no_answer")
REQUEST_LANGUAGES = ("en", "fr", "ar")
MAX_EXPLANATION = 5000
MAX_PRESERVATION_DAYS = 365


class TakedownError(Exception):
    """A request the service refuses; ``message`` is shown to the officer (translated)."""

    def __init__(self, message: object) -> None:
        super().__init__(str(message))
        self.message = message


@dataclass(frozen=True)
class CandidateURL:
    """A URL of the report an officer may include in a request."""

    id: int
    url: str
    host: str
    platform: str  # platform code, or "other"


@dataclass(frozen=True)
class TakedownDraft:
    kind: str
    url_ids: Sequence[int]
    legal_basis: str
    explanation: str
    preservation_days: int | None
    language: str


def explanation_context(reference: str, request_id: int) -> str:
    return f"takedown:{reference}:{request_id}:explanation"


def report_url_text(keyring: Keyring, row: ReportURL) -> str:
    """The normalised URL of a report URL row (decrypted), as a request quotes it."""
    return open_report_url(keyring, row.report.reference, row).normalized


def report_url_host(keyring: Keyring, row: ReportURL) -> str:
    return open_report_url(keyring, row.report.reference, row).host


def platform_code(host: str) -> str:
    platform = platform_for_host(host)
    return platform.code if platform else OTHER


def candidate_urls(report: Report, keyring: Keyring) -> list[CandidateURL]:
    candidates = []
    for row in report.urls:
        url = open_report_url(keyring, report.reference, row)
        candidates.append(CandidateURL(row.id, url.normalized, url.host, platform_code(url.host)))
    return candidates


def platform_of(code: str) -> Platform | None:
    return load_platforms().get(code)


def _subject(report: Report) -> str:
    return f"report:{report.reference}"


def _check(draft: TakedownDraft, legal_bases: Mapping[str, object]) -> None:
    if draft.kind not in KINDS:
        raise TakedownError(_l("Choose removal or preservation."))
    if draft.legal_basis not in legal_bases:
        raise TakedownError(_l("Choose the legal basis of the request."))
    explanation = draft.explanation.strip()
    if not explanation:
        raise TakedownError(_l("Explain why the content is illegal."))
    if len(explanation) > MAX_EXPLANATION:
        raise TakedownError(
            _l("The explanation is too long (at most %(count)d characters).", count=MAX_EXPLANATION)
        )
    if draft.kind == "preservation" and not (
        draft.preservation_days and 1 <= draft.preservation_days <= MAX_PRESERVATION_DAYS
    ):
        raise TakedownError(
            _l(
                "Give a preservation period from 1 to %(days)d days.",
                days=MAX_PRESERVATION_DAYS,
            )
        )
    if not draft.url_ids:
        raise TakedownError(_l("Choose at least one URL."))


def create_request(
    session: Session,
    *,
    officer: Officer,
    report: Report,
    draft: TakedownDraft,
    keyring: Keyring,
    channels: Mapping[str, str],
    legal_bases: Mapping[str, object],
    now: datetime,
) -> TakedownRequest:
    """Record a request for URLs of ``report`` that sit on one platform (not yet sent)."""
    _check(draft, legal_bases)
    by_id = {candidate.id: candidate for candidate in candidate_urls(report, keyring)}
    chosen = [by_id.get(url_id) for url_id in dict.fromkeys(draft.url_ids)]
    if any(candidate is None for candidate in chosen):
        raise TakedownError(_l("A chosen URL is not part of this report."))
    platforms = {candidate.platform for candidate in chosen if candidate is not None}
    if len(platforms) != 1:
        raise TakedownError(_l("A request goes to one platform: choose URLs of one platform."))
    code = platforms.pop()
    platform = platform_of(code)
    language = draft.language if draft.language in REQUEST_LANGUAGES else "en"
    if platform is not None:
        language = platform.language_for(language)
    recipient = channels.get(code) or None
    request = TakedownRequest(
        report=report,
        unit_id=report.unit_id,
        officer_id=officer.id,
        kind=draft.kind,
        platform=code,
        legal_basis=draft.legal_basis,
        explanation_enc=b"",
        preservation_days=draft.preservation_days if draft.kind == "preservation" else None,
        language=language,
        channel="email" if recipient else "by_hand",
        recipient=recipient,
        created_at=now,
        items=[TakedownItem(report_url_id=c.id) for c in chosen if c is not None],
    )
    session.add(request)
    session.flush()
    request.explanation_enc = keyring.encrypt_field(
        draft.explanation.strip(), explanation_context(report.reference, request.id)
    )
    audit.record(
        session,
        actor=audit.officer_name(officer),
        action="takedown.created",
        subject=_subject(report),
        details={
            "request_id": request.id,
            "kind": request.kind,
            "platform": code,
            "urls": len(request.items),
            "channel": request.channel,
        },
        at=now,
    )
    return request


def explanation(keyring: Keyring, request: TakedownRequest) -> str:
    return keyring.decrypt_field(
        request.explanation_enc, explanation_context(request.report.reference, request.id)
    )


def _event(report: Report, officer: Officer, kind: str, now: datetime, **details: object) -> None:
    # Removal requests and removals are news for the reporter; preservation stays internal.
    report.events.append(
        ReportEvent(
            at=now,
            kind=kind,
            officer_id=officer.id,
            visible_to_reporter=kind in {"takedown_requested", "content_removed"},
            details=json.dumps(details),
        )
    )


def hold_unsent(session: Session, request: TakedownRequest) -> None:
    """Lock the request's row until the transaction ends, then refuse it if it was sent: a
    second click or a colleague's send waits here, finds it sent, and the platform never gets
    the request twice (call before anything leaves)."""
    session.refresh(request, with_for_update=True)
    if request.sent_at is not None:
        raise TakedownError(_l("This request was already sent."))


# What reading a request's document is, in the audit chain: it quotes the report's URLs and the
# explanation, printed from the page or downloaded as a PDF.
DOCUMENT_EXPORTS = {"printed": "takedown.document_printed", "pdf": "takedown.document_exported"}


def record_document_export(
    session: Session, *, officer: Officer, request: TakedownRequest, how: str, now: datetime
) -> None:
    """The request's document left the portal (``how``: a key of :data:`DOCUMENT_EXPORTS`)."""
    audit.record(
        session,
        actor=audit.officer_name(officer),
        action=DOCUMENT_EXPORTS[how],
        subject=_subject(request.report),
        details={"request_id": request.id},
        at=now,
    )


def mark_sent(
    session: Session,
    *,
    officer: Officer,
    request: TakedownRequest,
    now: datetime,
    how: str,
    message_id: str | None = None,
    refused: Sequence[str] = (),
) -> None:
    """Record that the request left (``how``: ``email`` or ``by_hand``); once only. ``refused``:
    the platform's addresses the relay refused while it took the others (audited)."""
    if request.sent_at is not None:
        raise TakedownError(_l("This request was already sent."))
    request.sent_at = now
    report = request.report
    takedown_rollups.record_sent(session, request)
    if request.kind == "removal":
        _event(report, officer, "takedown_requested", now, request_id=request.id)
        # Asking a platform to remove the content is an action the reporter is told about:
        # it counts as a first response, like a claim or a message.
        session.execute(
            update(Report)
            .where(Report.id == report.id)
            .values(first_response_at=func.coalesce(Report.first_response_at, now), updated_at=now)
        )
    audit.record(
        session,
        actor=audit.officer_name(officer),
        action="takedown.sent",
        subject=_subject(report),
        details={
            "request_id": request.id,
            "how": how,
            "message_id": message_id,
            **({"refused": sorted(refused)} if refused else {}),
        },
        at=now,
    )


def record_acknowledged(
    session: Session, *, officer: Officer, request: TakedownRequest, now: datetime
) -> None:
    if request.sent_at is None:
        raise TakedownError(_l("Record that the request was sent first."))
    if request.acknowledged_at is None:
        request.acknowledged_at = now
        audit.record(
            session,
            actor=audit.officer_name(officer),
            action="takedown.acknowledged",
            subject=_subject(request.report),
            details={"request_id": request.id},
            at=now,
        )


def record_outcome(
    session: Session,
    *,
    officer: Officer,
    request: TakedownRequest,
    item_ids: Iterable[int],
    outcome: str,
    now: datetime,
) -> list[TakedownItem]:
    """Record what became of some URLs of a sent request."""
    if outcome not in OUTCOMES:
        raise TakedownError(_l("Choose what became of the content."))
    if request.sent_at is None:
        raise TakedownError(_l("Record that the request was sent first."))
    wanted = set(item_ids)
    # An outcome is recorded once per URL: the figures count each URL once.
    items = [item for item in request.items if item.id in wanted and item.outcome is None]
    if not items or len(items) != len(wanted):
        raise TakedownError(_l("Choose at least one URL of this request."))
    for item in items:
        item.outcome = outcome
        item.outcome_at = now
    takedown_rollups.record_outcomes(session, request, items, outcome)
    if outcome == "removed":
        _event(request.report, officer, "content_removed", now, request_id=request.id)
    audit.record(
        session,
        actor=audit.officer_name(officer),
        action="takedown.outcome",
        subject=_subject(request.report),
        details={"request_id": request.id, "items": sorted(wanted), "outcome": outcome},
        at=now,
    )
    return items


def requests_for(session: Session, report: Report) -> list[TakedownRequest]:
    return list(
        session.scalars(
            select(TakedownRequest)
            .where(TakedownRequest.report_id == report.id)
            .order_by(TakedownRequest.id)
        )
    )


def recheck_waiting(
    session: Session,
    *,
    keyring: Keyring,
    check: Callable[[str], int | None],
    now: datetime,
    limit: int = 500,
) -> int:
    """Ask whether each sent, undecided URL still answers; record the HTTP status (or None).

    Only the status is kept: nothing of the content is read or shown. An officer still decides
    whether content was removed (a platform may answer 200 with a "not available" page).
    """
    rows = session.scalars(
        select(TakedownItem)
        .join(TakedownRequest)
        .where(
            TakedownItem.outcome.is_(None),
            TakedownRequest.sent_at.is_not(None),
            TakedownRequest.kind == "removal",
        )
        .order_by(TakedownItem.last_check_at.is_not(None), TakedownItem.last_check_at)
        .limit(limit)
    ).all()
    for item in rows:
        item.last_check_status = check(report_url_text(keyring, item.report_url))
        item.last_check_at = now
    return len(rows)
