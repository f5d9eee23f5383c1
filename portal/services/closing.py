"""Why closing or referring a report deserves a second look before it is done.

An urgent case, or one where the officer asked the reporter a question that is still
unanswered, is not closed on one click: the officer's page asks for a confirmation and says
why. Pure reading of the report; nothing is written here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from portal.models import RESOLVED_STATUSES, Report, utcnow


@dataclass(frozen=True)
class ClosingWarning:
    """``kind``: ``urgent`` (with what makes it so) or ``awaiting_reporter`` (since when)."""

    kind: str
    minor: bool = False
    threat_to_life: bool = False
    asked_at: datetime | None = None
    minutes_ago: int | None = None


def needs_confirmation(new_status: str) -> bool:
    return new_status in RESOLVED_STATUSES


def unanswered_question_at(report: Report) -> datetime | None:
    """When the officers last wrote to the reporter, if the reporter has not written since."""
    asked: datetime | None = None
    for message in report.messages:
        if message.kind == "to_reporter":
            asked = message.created_at
        elif message.kind == "from_reporter":
            asked = None
    return asked


def closing_warnings(report: Report, *, now: datetime | None = None) -> list[ClosingWarning]:
    """What the officer should know before closing ``report``; empty when nothing stands out."""
    now = now or utcnow()
    warnings: list[ClosingWarning] = []
    if report.priority == "urgent":
        warnings.append(
            ClosingWarning(
                "urgent", minor=report.minor_involved, threat_to_life=report.threat_to_life
            )
        )
    asked = unanswered_question_at(report)
    if asked is not None or report.status == "awaiting_reporter":
        minutes = None if asked is None else max(0, int((now - asked).total_seconds() // 60))
        warnings.append(ClosingWarning("awaiting_reporter", asked_at=asked, minutes_ago=minutes))
    return warnings
