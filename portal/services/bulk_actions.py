"""Actions on several reports at once, from the queue: claim, assign, transfer, close as a
duplicate.

Each report goes through the same single-report service as on its own page
(``portal.services.cases``), so the rules, the timeline events and the audit entries are the
same, one per report.

Semantics, per row, in one transaction:

* the references are looked up together, in one query scoped to the officer's units; one outside
  them reads exactly like one that does not exist ("not found in your units"), so a bulk form
  cannot be used to probe for reports of other units;
* each report's action runs inside a savepoint: if it fails half-way (closing as a duplicate
  links, then closes), everything it wrote is rolled back and the row is reported with the
  reason; the other rows go on;
* the caller commits once at the end: the rows that succeeded are committed together, and an
  unexpected error (the database going away) rolls back every row.

The request itself is audited too (``queue.bulk_action``, with how many references were sent),
before any report is touched.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.crypto.keyring import Keyring
from portal.domain.receipts import normalize_reference
from portal.models import Officer, Report, Unit, utcnow
from portal.services import audit, closing
from portal.services import cases as actions
from portal.services.scope import reports_in_scope, scope_unit_ids

ACTIONS = ("claim", "assign", "transfer", "duplicate")
MAX_REFERENCES = 100

NOT_FOUND = _l("not found in your units")
ALREADY_CLOSED = _l("already closed")
ALREADY_REFERRED = _l("already referred to the prosecutor")
ALREADY_YOURS = _l("already assigned to you")
NEEDS_CONFIRMATION = _l(
    "urgent, or awaiting the reporter's answer: close it from its own page, which asks you to "
    "confirm"
)


@dataclass(frozen=True)
class RowOutcome:
    reference: str
    ok: bool
    message: object = None  # why it failed (a lazy string), None when done


@dataclass
class BulkResult:
    rows: list[RowOutcome] = field(default_factory=list)

    @property
    def done(self) -> list[str]:
        return [row.reference for row in self.rows if row.ok]

    @property
    def failed(self) -> list[RowOutcome]:
        return [row for row in self.rows if not row.ok]


@dataclass(frozen=True)
class BulkRequest:
    action: str  # one of ACTIONS
    references: tuple[str, ...]
    assignee_id: int | None = None  # assign
    unit_id: int | None = None  # transfer
    reason: str | None = None  # transfer
    original: str | None = None  # duplicate: the reference of the report kept open


def unique_references(raw: Iterable[str]) -> list[str]:
    """The references as typed or ticked, trimmed, without repeats, in their order."""
    seen: list[str] = []
    for reference in raw:
        reference = (reference or "").strip()[:40]
        if reference and reference not in seen:
            seen.append(reference)
    return seen


def _status_refusal(report: Report) -> object | None:
    if report.status == "closed":
        return ALREADY_CLOSED
    if report.status == "referred":
        return ALREADY_REFERRED
    return None


def _perform(
    session: Session,
    officer: Officer,
    report: Report,
    request: BulkRequest,
    keyring: Keyring,
    now: datetime,
) -> None:
    """One report's action (a close is news to the reporter: ``cases`` queues the notice);
    ActionError when refused."""
    if request.action == "claim":
        if report.assigned_officer_id == officer.id:
            raise actions.ActionError(ALREADY_YOURS)
        actions.claim(session, officer, report, report.version, now=now)
        return
    if request.action == "assign":
        actions.assign(session, officer, report, report.version, request.assignee_id or 0, now=now)
        return
    if request.action == "transfer":
        actions.transfer(
            session,
            officer,
            report,
            report.version,
            request.unit_id or 0,
            request.reason or "",
            keyring,
            now=now,
        )
        return
    if request.action == "duplicate":
        actions.link_duplicate(
            session, officer, report, report.version, request.original or "", now=now
        )
        actions.change_status(
            session, officer, report, report.version, "closed", "duplicate", now=now
        )
        return
    raise ValueError(f"unknown bulk action {request.action!r}")


def _load_in_scope(
    session: Session, officer: Officer, references: Iterable[str]
) -> dict[str, Report]:
    """The reports named by ``references`` that are in ``officer``'s scope, by reference, in one
    query: one of another unit is simply not there, like one that does not exist."""
    wanted = sorted(
        {canonical for typed in references if (canonical := normalize_reference(typed))}
    )
    if not wanted:
        return {}
    query = reports_in_scope(officer).where(Report.reference.in_(wanted))
    return {report.reference: report for report in session.scalars(query)}


def run(
    session: Session,
    officer: Officer,
    request: BulkRequest,
    *,
    keyring: Keyring,
    now: datetime | None = None,
) -> BulkResult:
    """Apply ``request`` to each of its references; the caller commits (see the module doc)."""
    now = now or utcnow()
    if request.action not in ACTIONS:
        raise ValueError(f"unknown bulk action {request.action!r}")
    references = list(request.references)[:MAX_REFERENCES]
    details: dict[str, object] = {"action": request.action, "count": len(references)}
    if request.action == "duplicate":
        details["of"] = normalize_reference(request.original or "") or ""
    # Written first: the transaction is open before the first savepoint, on every database.
    audit.record(
        session,
        actor=audit.officer_name(officer),
        action="queue.bulk_action",
        subject="queue",
        details=details,
        at=now,
    )
    result = BulkResult()
    found = _load_in_scope(session, officer, references)
    for typed in references:
        report = found.get(normalize_reference(typed) or "")
        if report is None:
            result.rows.append(RowOutcome(typed, False, NOT_FOUND))
            continue
        refusal = _status_refusal(report) if request.action != "duplicate" else None
        if request.action == "duplicate" and closing.closing_warnings(report, now=now):
            # Closing such a case takes a confirmation on its page: never many at one click.
            refusal = NEEDS_CONFIRMATION
        if refusal is not None:
            result.rows.append(RowOutcome(report.reference, False, refusal))
            continue
        savepoint = session.begin_nested()
        try:
            _perform(session, officer, report, request, keyring, now)
        except actions.ActionError as error:
            savepoint.rollback()
            session.refresh(report)
            message = _status_refusal(report) if request.action == "duplicate" else None
            result.rows.append(RowOutcome(report.reference, False, message or error.message))
            continue
        savepoint.commit()
        result.rows.append(RowOutcome(report.reference, True))
    return result


def colleague_choices(session: Session, officer: Officer) -> list[Officer]:
    """Active officers of the units in ``officer``'s scope: whom a bulk may assign to (the
    single-report rule still checks, per report, that the colleague belongs to its unit)."""
    units = scope_unit_ids(officer)
    query = select(Officer).where(Officer.active.is_(True), Officer.role == "officer")
    if isinstance(units, list) and not units:
        return []
    if units is not None:
        query = query.where(Officer.units.any(Unit.id.in_(units)))
    return list(session.scalars(query.order_by(Officer.display_name)))
