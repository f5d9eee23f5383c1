"""Everything the report page shows, decrypted and put in order (no Flask globals)."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.crypto.keyring import Keyring
from portal.domain.categories import QUESTIONS, Question, all_questions
from portal.domain.urlnorm import NormalizedURL
from portal.evidence.custody import evidence_filename
from portal.evidence.intake import display_filename
from portal.models import Officer, Report, ReportURL, Unit
from portal.services.reports import decrypt_json, field_context, message_context, report_urls
from portal.services.scope import scope_unit_ids


@dataclass(frozen=True)
class Answer:
    question: Question | None
    name: str
    value: str


@dataclass(frozen=True)
class TimelineItem:
    at: datetime
    kind: str  # an event kind, or "to_reporter" / "from_reporter" / "internal_note"
    officer: Officer | None = None
    details: dict[str, Any] = field(default_factory=dict)
    body: str | None = None
    visible_to_reporter: bool = False


@dataclass(frozen=True)
class ClusterMember:
    reference: str
    status: str
    unit: Unit


@dataclass
class Cluster:
    """Other reports sharing a URL: named when in scope, only counted per unit otherwise."""

    visible: list[ClusterMember] = field(default_factory=list)
    elsewhere: list[tuple[Unit, int]] = field(default_factory=list)

    @property
    def size(self) -> int:
        return len(self.visible) + sum(count for _, count in self.elsewhere)


@dataclass
class CaseFile:
    report: Report
    description: str
    answers: list[Answer]
    contact: dict[str, str] | None
    timeline: list[TimelineItem]
    cluster: Cluster
    urls: list[NormalizedURL] = field(default_factory=list)
    duplicate_of: str | None = None
    # Evidence id -> the file name the reporter's device gave, made safe to display.
    evidence_names: dict[int, str] = field(default_factory=dict)


def answers_of(report: Report, keyring: Keyring) -> list[Answer]:
    raw = decrypt_json(keyring, report.answers_enc, field_context(report.reference, "answers"))
    if not isinstance(raw, dict):
        return []
    known = all_questions()
    ordered = [q.name for q in QUESTIONS.get(report.category, ())]
    names = ordered + sorted(name for name in raw if name not in ordered)
    return [
        Answer(known.get(name), name, str(raw[name]))
        for name in names
        if name in raw and raw[name] not in (None, "")
    ]


def _timeline(report: Report, keyring: Keyring) -> list[TimelineItem]:
    items: list[TimelineItem] = []
    for event in report.events:
        # Messages are listed themselves; their events would only repeat them.
        if event.kind in (
            "message_sent",
            "note_added",
            "reporter_replied",
            "partner_replied",
            "partner_messaged",
        ):
            continue
        items.append(
            TimelineItem(
                at=event.at,
                kind=event.kind,
                officer=event.officer,
                details=json.loads(event.details) if event.details else {},
                visible_to_reporter=event.visible_to_reporter,
            )
        )
    for message in report.messages:
        items.append(
            TimelineItem(
                at=message.created_at,
                kind=message.kind,
                officer=message.officer,
                body=keyring.decrypt_field(
                    message.body_enc, message_context(report.reference, message.id)
                ),
                visible_to_reporter=message.kind != "internal_note",
            )
        )
    items.sort(key=lambda item: item.at)
    return items


def cluster_for(session: Session, officer: Officer, report: Report) -> Cluster:
    indexes = [url.url_index for url in report.urls]
    cluster = Cluster()
    if not indexes:
        return cluster
    rows = session.execute(
        select(Report.reference, Report.status, Report.unit_id)
        .join(ReportURL, ReportURL.report_id == Report.id)
        .where(ReportURL.url_index.in_(indexes), Report.id != report.id)
        .distinct()
        .order_by(Report.reference)
    ).all()
    scope = scope_unit_ids(officer)
    if scope is not None and not isinstance(scope, list):
        scope = list(session.scalars(scope))
    units = {unit.id: unit for unit in session.scalars(select(Unit))}
    hidden: Counter[int] = Counter()
    for reference, status, unit_id in rows:
        if scope is None or unit_id in scope:
            cluster.visible.append(ClusterMember(reference, status, units[unit_id]))
        else:
            hidden[unit_id] += 1
    cluster.elsewhere = [(units[unit_id], count) for unit_id, count in sorted(hidden.items())]
    return cluster


def load_case_file(
    session: Session, officer: Officer, report: Report, keyring: Keyring
) -> CaseFile:
    contact = decrypt_json(keyring, report.contact_enc, field_context(report.reference, "contact"))
    return CaseFile(
        report=report,
        description=keyring.decrypt_field(
            report.description_enc, field_context(report.reference, "description")
        ),
        answers=answers_of(report, keyring),
        contact=contact if isinstance(contact, dict) else None,
        timeline=_timeline(report, keyring),
        cluster=cluster_for(session, officer, report),
        urls=report_urls(report, keyring),
        evidence_names={
            row.id: display_filename(evidence_filename(keyring, report, row))
            for row in report.evidence
        },
        duplicate_of=session.scalar(
            select(Report.reference).where(Report.id == report.duplicate_of_id)
        )
        if report.duplicate_of_id
        else None,
    )
