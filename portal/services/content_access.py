"""Who reads a report's content, and who acts on it: the one decision, used by every route.

Need to know:

- **Officers** read and act on the reports of their units (``scope.get_report_for_officer``
  decides which reports; this module adds nothing for them).
- **Supervisors** (regional or national) see figures and case *metadata*: reference, category,
  unit, status, priority, dates, SLA state, counts. The *content* -- description, answers,
  addresses, identifiers, messages, notes, evidence, documents sent to platforms -- opens to a
  supervisor only through a **break glass**: a reason (at least ``MIN_REASON`` characters)
  that opens one report's content to that supervisor for ``GRANT_MINUTES``. The grant is a row
  in the database; the break glass and every content view under it are in the audit chain with
  the reason. Supervisors never act on a report (no state change), grant or not.
- **Admins** read no report at all (the scope gives them none).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.models import BreakGlassGrant, Officer, Report, utcnow
from portal.services import audit

GRANT_MINUTES = 30
MIN_REASON = 20
MAX_REASON = 1000


class ContentLocked(Exception):
    """The principal may see this report's metadata but not its content (no live grant)."""

    def __init__(self, report: Report, officer: Officer) -> None:
        super().__init__(report.reference)
        self.report = report
        self.officer = officer


class NotAllowed(Exception):
    """The principal may not do this at all (a supervisor acting on a report)."""


@dataclass(frozen=True)
class Access:
    """What ``officer`` may do with one report's content right now."""

    content: bool
    grant: BreakGlassGrant | None = None

    @property
    def through_break_glass(self) -> bool:
        return self.grant is not None


def reads_content_by_role(officer: Officer) -> bool:
    """Officers read their units' content without asking; nobody else does."""
    return officer.active and officer.role == "officer"


def may_act(officer: Officer) -> bool:
    """Only officers change reports; supervisors watch, admins manage accounts."""
    return officer.active and officer.role == "officer"


def live_grant(
    session: Session, officer: Officer, report: Report, *, now: datetime | None = None
) -> BreakGlassGrant | None:
    """The supervisor's unexpired grant on ``report``, the latest first; None otherwise."""
    if not officer.active or officer.role != "supervisor":
        return None
    now = now or utcnow()
    return session.scalar(
        select(BreakGlassGrant)
        .where(
            BreakGlassGrant.officer_id == officer.id,
            BreakGlassGrant.report_id == report.id,
            BreakGlassGrant.expires_at > now,
        )
        .order_by(BreakGlassGrant.expires_at.desc())
        .limit(1)
    )


def access(
    session: Session, officer: Officer, report: Report, *, now: datetime | None = None
) -> Access:
    """``report`` must already be in ``officer``'s scope (``scope.get_report_for_officer``)."""
    if reads_content_by_role(officer):
        return Access(content=True)
    grant = live_grant(session, officer, report, now=now)
    return Access(content=grant is not None, grant=grant)


def require_content(
    session: Session,
    officer: Officer,
    report: Report,
    what: str,
    *,
    now: datetime | None = None,
) -> Access:
    """Let ``officer`` read ``what`` of ``report``, or raise ContentLocked.

    A read through a break-glass grant is audited here, with the grant's reason; an officer's
    read is audited by the route itself (as it always was).
    """
    result = access(session, officer, report, now=now)
    if not result.content:
        raise ContentLocked(report, officer)
    if result.grant is not None:
        audit.record(
            session,
            actor=audit.officer_name(officer),
            action="report.content_viewed_break_glass",
            subject=f"report:{report.reference}",
            details={
                "what": what,
                "grant_id": result.grant.id,
                "reason": result.grant.reason,
                "expires_at": result.grant.expires_at.isoformat(),
            },
            at=now,
        )
    return result


def require_action(officer: Officer) -> None:
    """Raise NotAllowed unless ``officer`` may change reports."""
    if not may_act(officer):
        raise NotAllowed()


def break_glass(
    session: Session,
    officer: Officer,
    report: Report,
    reason: str,
    *,
    now: datetime | None = None,
) -> BreakGlassGrant:
    """Open ``report``'s content to a supervisor for ``GRANT_MINUTES``; audited with the reason.

    ``report`` must already be in the supervisor's scope. The caller commits.
    """
    if not officer.active or officer.role != "supervisor":
        raise NotAllowed()
    reason = " ".join(reason.split())
    if not MIN_REASON <= len(reason) <= MAX_REASON:
        raise ValueError("the reason must be between MIN_REASON and MAX_REASON characters")
    now = now or utcnow()
    grant = BreakGlassGrant(
        officer_id=officer.id,
        report_id=report.id,
        reason=reason,
        granted_at=now,
        expires_at=now + timedelta(minutes=GRANT_MINUTES),
    )
    session.add(grant)
    session.flush()
    audit.record(
        session,
        actor=audit.officer_name(officer),
        action="report.break_glass",
        subject=f"report:{report.reference}",
        details={
            "grant_id": grant.id,
            "reason": reason,
            "minutes": GRANT_MINUTES,
            "expires_at": grant.expires_at.isoformat(),
        },
        at=now,
    )
    return grant


def metadata_viewed(
    session: Session, officer: Officer, report: Report, *, now: datetime | None = None
) -> None:
    """A supervisor opened a report's metadata page: audited, and never marks replies as read."""
    audit.record(
        session,
        actor=audit.officer_name(officer),
        action="report.metadata_viewed",
        subject=f"report:{report.reference}",
        at=now,
    )
