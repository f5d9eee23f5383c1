"""What a returning reporter sees of their own report: what they sent and where it stands."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from portal.crypto.keyring import Keyring
from portal.evidence.custody import evidence_filename
from portal.evidence.intake import display_filename
from portal.models import Report
from portal.services.casefile import Answer, answers_of
from portal.services.reports import field_context, report_urls

# Statuses in which the reporter can no longer write or send files (an officer may reopen).
NO_REPLY_STATUSES = frozenset({"closed"})


@dataclass(frozen=True)
class ReportedFile:
    name: str
    size: int
    media_type: str
    received_at: datetime
    source: str


@dataclass(frozen=True)
class ReporterSummary:
    reference: str
    category: str
    platform: str
    submitted_at: datetime
    seen_on: date | None
    description: str
    urls: list[str]
    files: list[ReportedFile]
    answers: list[Answer]
    status: str
    closure_reason: str | None
    closed_at: datetime | None
    language: str | None

    @property
    def accepts_replies(self) -> bool:
        return self.status not in NO_REPLY_STATUSES


def accepts_replies(report: Report) -> bool:
    return report.status not in NO_REPLY_STATUSES


def reporter_summary(report: Report, keyring: Keyring) -> ReporterSummary:
    return ReporterSummary(
        reference=report.reference,
        category=report.category,
        platform=report.platform,
        submitted_at=report.submitted_at,
        seen_on=report.seen_on,
        description=keyring.decrypt_field(
            report.description_enc, field_context(report.reference, "description")
        ),
        urls=[url.original for url in report_urls(report, keyring)],
        files=[
            ReportedFile(
                name=display_filename(evidence_filename(keyring, report, row)),
                size=row.size,
                media_type=row.sniffed_type,
                received_at=row.received_at,
                source=row.source,
            )
            for row in report.evidence
        ],
        answers=answers_of(report, keyring),
        status=report.status,
        closure_reason=report.closure_reason,
        closed_at=report.closed_at,
        language=report.language,
    )
