"""Building blocks for the statistics tests: reports with chosen times, fixed targets."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.models import PRIORITY_RANK, Region, Report, Unit
from portal.services.stats import SLA

# A Wednesday in June: Casablanca is at UTC+1, away from the Ramadan change of offset.
NOW = datetime(2026, 6, 10, 12, 0, tzinfo=UTC)
SLA_TEST = SLA(
    first_response_hours={"urgent": 4, "high": 24, "normal": 72},
    resolution_days={"urgent": 7, "high": 30, "normal": 60},
)


def hours(value: float) -> timedelta:
    return timedelta(hours=value)


def add_report(
    db: Session,
    *,
    region: str | None = "MA-06",
    unit: str = "CASABLANCA",
    category: str = "fraud",
    priority: str = "normal",
    submitted: datetime | None = None,
    first_response: timedelta | None = None,
    closed: timedelta | None = None,
) -> Report:
    """A report submitted at ``submitted``, answered and closed the given times after it."""
    submitted = submitted or NOW - timedelta(days=3)
    region_id = db.scalar(select(Region.id).where(Region.code == region)) if region else None
    status = "received"
    if first_response is not None:
        status = "in_review"
    if closed is not None:
        status = "closed"
    report = Report(
        reference=f"EB-T{secrets.token_hex(5).upper()}",
        receipt_hash=secrets.token_bytes(32),
        category=category,
        platform="facebook",
        description_enc=b"x",
        region_id=region_id,
        abroad=region is None,
        routing_reason="territory" if region else "abroad",
        unit_id=db.scalar(select(Unit.id).where(Unit.code == unit)),
        priority=priority,
        priority_rank=PRIORITY_RANK[priority],
        status=status,
        closure_reason="no_offence" if closed is not None else None,
        submitted_at=submitted,
        first_response_at=submitted + first_response if first_response is not None else None,
        closed_at=submitted + closed if closed is not None else None,
        updated_at=submitted,
    )
    db.add(report)
    db.commit()
    return report
