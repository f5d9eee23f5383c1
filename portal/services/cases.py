"""What an officer can do to a report. Each service changes the report, appends a timeline
event and an audit entry in the caller's transaction; the caller commits or rolls back.

Concurrency: state changes are a single ``UPDATE ... WHERE id = ? AND version = ?`` (a claim
also requires ``assigned_officer_id IS NULL``). Of two officers acting on the same version,
exactly one updates a row; the other gets ``ActionError`` and is told what happened.

Lifecycle (DESIGN.md), with the shortcuts this portal allows:

* received -> in_review (a claim does this too) or closed;
* in_review -> awaiting_reporter | investigating | closed;
* awaiting_reporter -> in_review | investigating | closed;
* investigating -> awaiting_reporter | referred | closed;
* closed -> in_review (reopening clears ``closed_at``); referred is final.

Closing is allowed from every open status because duplicates, reports outside jurisdiction and
reports with no offence are usually clear on first reading; referral to the prosecutor needs an
investigation first.

A message to the reporter and a status change are news to the reporter: each queues the opt-in,
content-free e-mail notice for after the commit (``portal.services.notices.news``), whatever page
or bulk action called it.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session
from werkzeug.exceptions import NotFound

from portal.crypto.keyring import Keyring
from portal.domain.categories import CLOSURE_REASONS, PRIORITIES, STATUSES
from portal.domain.receipts import normalize_reference
from portal.models import (
    PRIORITY_RANK,
    RESOLVED_STATUSES,
    Message,
    Officer,
    Report,
    ReportEvent,
    Unit,
    utcnow,
)
from portal.services import audit, notices, rollups, trace_counts
from portal.services.reports import message_context
from portal.services.scope import get_report_for_officer

TRANSITIONS: dict[str, tuple[str, ...]] = {
    "received": ("in_review", "closed"),
    "in_review": ("awaiting_reporter", "investigating", "closed"),
    "awaiting_reporter": ("in_review", "investigating", "closed"),
    "investigating": ("awaiting_reporter", "referred", "closed"),
    "referred": (),
    "closed": ("in_review",),
}
MAX_TEXT = 5000


class ActionError(Exception):
    """An action that cannot be done; ``message`` is shown to the officer."""

    def __init__(self, message: object) -> None:
        super().__init__(message)
        self.message = message


STALE = _l(
    "This report was changed by someone else while you were looking at it. "
    "Check the latest state below and try again."
)


def _subject(report: Report) -> str:
    return f"report:{report.reference}"


def _apply(
    session: Session,
    report: Report,
    expected_version: int,
    values: dict[str, Any],
    *conditions: Any,
    now: datetime,
) -> bool:
    """The conditional update at the heart of every state change; True if this one won.

    The statistics rollups and the URL cluster counters move with the row: its state is read
    under a row lock first."""
    before = rollups.capture(session, report.id, lock=True)
    result = session.execute(
        update(Report)
        .where(Report.id == report.id, Report.version == expected_version, *conditions)
        .values(version=Report.version + 1, updated_at=now, **values)
        .execution_options(synchronize_session=False)
    )
    won = (result.rowcount or 0) == 1  # type: ignore[attr-defined]
    if won:
        after = rollups.capture(session, report.id)
        rollups.apply(session, [(before, after)])
        trace_counts.moved(session, report.id, before, after)
    session.refresh(report)
    return won


def _first_response(now: datetime) -> Any:
    # Set once, atomically: the earliest action that the reporter notices or that moves the case.
    return func.coalesce(Report.first_response_at, now)


def _record(
    session: Session,
    report: Report,
    officer: Officer,
    kind: str,
    now: datetime,
    details: dict[str, Any] | None = None,
    *,
    visible: bool = False,
    audit_details: dict[str, Any] | None = None,
) -> None:
    """Write an action to the case timeline and to the audit chain, in the same transaction."""
    _event(report, officer, kind, now, details, visible=visible)
    audit.record(
        session,
        actor=audit.officer_name(officer),
        action=f"report.{kind}",
        subject=_subject(report),
        details=details if audit_details is None else audit_details,
    )


def _event(
    report: Report,
    officer: Officer,
    kind: str,
    now: datetime,
    details: dict[str, Any] | None = None,
    *,
    visible: bool = False,
) -> None:
    report.events.append(
        ReportEvent(
            at=now,
            kind=kind,
            officer_id=officer.id,
            visible_to_reporter=visible,
            details=json.dumps(details) if details is not None else None,
        )
    )


def _text(body: str) -> str:
    body = body.strip()
    if not body:
        raise ActionError(_l("Write something first."))
    if len(body) > MAX_TEXT:
        raise ActionError(_l("This text is too long."))
    return body


def claim(
    session: Session,
    officer: Officer,
    report: Report,
    expected_version: int,
    *,
    now: datetime | None = None,
) -> None:
    """Take the report; a received report moves to in_review (the reporter sees it)."""
    now = now or utcnow()
    previous_status = report.status
    values: dict[str, Any] = {
        "assigned_officer_id": officer.id,
        "first_response_at": _first_response(now),
    }
    if previous_status == "received":
        values["status"] = "in_review"
    won = _apply(
        session,
        report,
        expected_version,
        values,
        Report.assigned_officer_id.is_(None),
        now=now,
    )
    if not won:
        holder = report.assigned_officer
        if holder is not None and holder.id != officer.id:
            raise ActionError(_l("%(name)s claimed this report first.", name=holder.display_name))
        raise ActionError(STALE)
    _event(report, officer, "claimed", now)
    if previous_status == "received":
        _event(
            report,
            officer,
            "status_changed",
            now,
            {"from": "received", "to": "in_review"},
            visible=True,
        )
    audit.record(
        session,
        actor=audit.officer_name(officer),
        action="report.claimed",
        subject=_subject(report),
        details={"status": report.status},
    )


def assign(
    session: Session,
    officer: Officer,
    report: Report,
    expected_version: int,
    assignee_id: int,
    *,
    now: datetime | None = None,
) -> None:
    """Give the report to a colleague: an active officer of the report's unit."""
    now = now or utcnow()
    assignee = session.get(Officer, assignee_id)
    if (
        assignee is None
        or not assignee.active
        or assignee.role != "officer"
        or report.unit_id not in {unit.id for unit in assignee.units}
    ):
        raise ActionError(_l("Choose a colleague of this report's unit."))
    if not _apply(
        session,
        report,
        expected_version,
        {"assigned_officer_id": assignee.id, "first_response_at": _first_response(now)},
        now=now,
    ):
        raise ActionError(STALE)
    _record(
        session,
        report,
        officer,
        "assigned",
        now,
        {"to": assignee.id},
        audit_details={"to": audit.officer_name(assignee)},
    )


def change_status(
    session: Session,
    officer: Officer,
    report: Report,
    expected_version: int,
    new_status: str,
    closure_reason: str | None = None,
    *,
    now: datetime | None = None,
) -> None:
    now = now or utcnow()
    old_status = report.status
    if new_status not in STATUSES or new_status not in TRANSITIONS.get(old_status, ()):
        raise ActionError(_l("This status change is not allowed."))
    if new_status == "closed" and closure_reason not in CLOSURE_REASONS:
        raise ActionError(_l("Choose why the report is closed."))
    values: dict[str, Any] = {
        "status": new_status,
        "first_response_at": _first_response(now),
        "closed_at": now if new_status in RESOLVED_STATUSES else None,
        "closure_reason": closure_reason if new_status == "closed" else None,
    }
    if not _apply(session, report, expected_version, values, Report.status == old_status, now=now):
        raise ActionError(STALE)
    details: dict[str, Any] = {"from": old_status, "to": new_status}
    if new_status == "closed":
        details["reason"] = closure_reason
    _record(session, report, officer, "status_changed", now, details, visible=True)
    notices.news(session, report)


def change_priority(
    session: Session,
    officer: Officer,
    report: Report,
    expected_version: int,
    priority: str,
    *,
    now: datetime | None = None,
) -> None:
    now = now or utcnow()
    if priority not in PRIORITIES:
        raise ActionError(_l("Choose a priority."))
    old = report.priority
    if old == priority:
        return
    values = {"priority": priority, "priority_rank": PRIORITY_RANK[priority]}
    if not _apply(session, report, expected_version, values, now=now):
        raise ActionError(STALE)
    details = {"from": old, "to": priority}
    _record(session, report, officer, "priority_changed", now, details)


def _add_message(
    session: Session,
    report: Report,
    officer: Officer,
    kind: str,
    body: str,
    keyring: Keyring,
    now: datetime,
) -> Message:
    message = Message(kind=kind, officer_id=officer.id, body_enc=b"", created_at=now)
    report.messages.append(message)
    session.flush()
    message.body_enc = keyring.encrypt_field(body, message_context(report.reference, message.id))
    return message


def transfer(
    session: Session,
    officer: Officer,
    report: Report,
    expected_version: int,
    unit_id: int,
    reason: str,
    keyring: Keyring,
    *,
    now: datetime | None = None,
) -> Unit:
    """Move the case to another unit (jurisdiction may differ from the reporter's territory).

    The reason is kept as an internal note (encrypted), the event holds only the unit codes.
    """
    now = now or utcnow()
    reason = _text(reason)
    target = session.get(Unit, unit_id)
    if target is None or not target.active or target.id == report.unit_id:
        raise ActionError(_l("Choose another active unit."))
    source = report.unit
    if not _apply(
        session,
        report,
        expected_version,
        {"unit_id": target.id, "assigned_officer_id": None},
        now=now,
    ):
        raise ActionError(STALE)
    note = _add_message(session, report, officer, "internal_note", reason, keyring, now)
    details = {"from": source.code, "to": target.code}
    _record(
        session,
        report,
        officer,
        "transferred",
        now,
        {**details, "note_id": note.id},
        audit_details=details,
    )
    return target


def link_duplicate(
    session: Session,
    officer: Officer,
    report: Report,
    expected_version: int,
    other_reference: str,
    *,
    now: datetime | None = None,
) -> Report:
    """Record that ``report`` duplicates another report the officer can see."""
    now = now or utcnow()
    try:
        canonical = normalize_reference(other_reference) or ""
        original = get_report_for_officer(session, officer, canonical)
    except NotFound:
        raise ActionError(_l("No report with this reference in your units.")) from None
    if original.id == report.id or original.duplicate_of_id == report.id:
        raise ActionError(_l("A report cannot duplicate itself or its own duplicate."))
    if not _apply(session, report, expected_version, {"duplicate_of_id": original.id}, now=now):
        raise ActionError(STALE)
    details = {"of": original.reference}
    _record(session, report, officer, "linked_duplicate", now, details)
    return original


def add_note(
    session: Session,
    officer: Officer,
    report: Report,
    body: str,
    keyring: Keyring,
    *,
    now: datetime | None = None,
) -> Message:
    """An internal note: colleagues see it, the reporter never does."""
    now = now or utcnow()
    message = _add_message(session, report, officer, "internal_note", _text(body), keyring, now)
    _record(session, report, officer, "note_added", now, {"message_id": message.id})
    return message


def message_reporter(
    session: Session,
    officer: Officer,
    report: Report,
    body: str,
    keyring: Keyring,
    *,
    now: datetime | None = None,
) -> Message:
    """A message the reporter reads on /follow-up (signed "the officer", never by name)."""
    now = now or utcnow()
    message = _add_message(session, report, officer, "to_reporter", _text(body), keyring, now)
    before = rollups.capture(session, report.id, lock=True)
    session.execute(
        update(Report)
        .where(Report.id == report.id)
        .values(first_response_at=_first_response(now), updated_at=now)
        .execution_options(synchronize_session=False)
    )
    rollups.apply(session, [(before, rollups.capture(session, report.id))])
    _record(session, report, officer, "message_sent", now, {"message_id": message.id})
    session.flush()
    session.refresh(report)
    notices.news(session, report)
    return message


def record_view(
    session: Session, officer: Officer, report: Report, *, now: datetime | None = None
) -> None:
    """Opening a report marks reporter replies as seen; it is never a first response."""
    now = now or utcnow()
    if report.last_reporter_activity_at is not None:
        report.officer_seen_reporter_at = now
    audit.record(
        session, actor=audit.officer_name(officer), action="report.viewed", subject=_subject(report)
    )


def colleagues(session: Session, report: Report) -> list[Officer]:
    """Active officers of the report's unit, who can be assigned to it."""
    return list(
        session.scalars(
            select(Officer)
            .where(
                Officer.active.is_(True),
                Officer.role == "officer",
                Officer.units.any(Unit.id == report.unit_id),
            )
            .order_by(Officer.display_name)
        )
    )
