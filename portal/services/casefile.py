"""Everything the report page shows, decrypted and put in order (no Flask globals)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, any_, func, select
from sqlalchemy.orm import Session

from portal.crypto.keyring import Keyring
from portal.domain.categories import QUESTIONS, Question, all_questions
from portal.domain.urlnorm import NormalizedURL
from portal.evidence.custody import evidence_filename
from portal.evidence.intake import display_filename
from portal.models import Officer, Report, ReportURL, Unit
from portal.services import trace_counts
from portal.services.reports import decrypt_json, field_context, message_context, report_urls
from portal.services.scope import scope_unit_ids
from portal.services.trace_counts import shared_trace_key


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


# The case page names at most this many reports of the cluster; the rest are a link away.
CLUSTER_PREVIEW = 20
CLUSTER_PAGE = 50


@dataclass
class Cluster:
    """Other reports sharing a URL: the first few in scope named, counts per unit for all.

    ``visible`` holds at most ``CLUSTER_PREVIEW`` reports (newest first); ``in_scope`` counts
    every one the officer may open, ``elsewhere`` the others per unit, never named. With
    ``at_least`` the counts are lower bounds (see :func:`cluster_for`); ``more`` says whether
    reports in scope remain beyond ``visible``."""

    visible: list[ClusterMember] = field(default_factory=list)
    elsewhere: list[tuple[Unit, int]] = field(default_factory=list)
    in_scope: int = 0
    at_least: bool = False
    more: bool = False

    @property
    def size(self) -> int:
        return self.in_scope + sum(count for _, count in self.elsewhere)


@dataclass
class ClusterPage:
    members: list[ClusterMember]
    next_after: int | None  # the keyset cursor of the next page (a report id), if any


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


def _scope_set(session: Session, officer: Officer) -> set[int] | None:
    """The ids of the units whose reports ``officer`` may read (None: all)."""
    scope = scope_unit_ids(officer)
    if scope is None:
        return None
    return set(scope) if isinstance(scope, list) else set(session.scalars(scope))


def _keys(session: Session, report: Report) -> list[str]:
    """The report's own URL keys, as values: the planner then sees how common each one is."""
    return sorted(
        set(session.scalars(select(shared_trace_key()).where(ReportURL.report_id == report.id)))
    )


def _in_cluster(session: Session, report: Report, keys: list[str]) -> ColumnElement[bool]:
    shared = select(ReportURL.report_id).where(
        shared_trace_key().in_(keys), ReportURL.report_id != report.id
    )
    if session.get_bind().dialect.name == "postgresql":
        # An array of ids read by primary key: a join would have the planner scan every report
        # for a large cluster.
        return Report.id == any_(func.array(shared.scalar_subquery()))
    return Report.id.in_(shared)


def _counts(session: Session, report: Report, keys: list[str]) -> trace_counts.Reading:
    """Other reports sharing one of ``keys`` with ``report``, per unit, at a cost that does not
    grow with the cluster: read from the counters, the report itself taken out.

    With one shared key (the usual case) that is exact. A report naming two shared keys is
    counted under both, so with several the rows are counted instead when the counters hold at
    most ``trace_counts.EXACT_BOUND`` in all (a bounded cost), and beyond that each unit shows
    its largest count over the keys, as "at least"."""
    by_key = trace_counts.per_unit(session, keys)
    for counts in by_key.values():
        if report.unit_id in counts:
            counts[report.unit_id] -= 1
    reading = trace_counts.combine(by_key)
    if reading is not None:
        return reading
    exact = session.execute(
        select(Report.unit_id, func.count())
        .where(_in_cluster(session, report, sorted(by_key)))
        .group_by(Report.unit_id)
    ).all()
    return trace_counts.Reading({unit_id: int(count) for unit_id, count in exact})


def cluster_for(session: Session, officer: Officer, report: Report) -> Cluster:
    """Counts per unit and the newest ``CLUSTER_PREVIEW`` reports in scope."""
    cluster = Cluster()
    keys = _keys(session, report)
    if not keys:
        return cluster
    reading = _counts(session, report, keys)
    if not reading.counts:
        return cluster
    cluster.at_least = reading.at_least
    scope = _scope_set(session, officer)
    units = {unit.id: unit for unit in session.scalars(select(Unit))}
    for unit_id, count in sorted(reading.counts.items()):
        if scope is None or unit_id in scope:
            cluster.in_scope += count
        else:
            cluster.elsewhere.append((units[unit_id], count))
    if cluster.in_scope:
        exact = None if cluster.at_least else cluster.in_scope
        preview = cluster_page(session, officer, report, CLUSTER_PREVIEW, in_scope=exact)
        cluster.visible = preview.members
        cluster.more = preview.next_after is not None if exact is None else exact > CLUSTER_PREVIEW
        # A lower bound is at least what the preview found.
        cluster.in_scope = max(cluster.in_scope, len(cluster.visible) + int(cluster.more))
    return cluster


# Cluster members read from the (URL key, report) index in the first round, newest first; each
# further round reads twice as many, so that a walk deep into a large cluster takes few rounds.
CLUSTER_BATCH = 200


def _newest_ids(
    session: Session, keys: list[str], report: Report, below: int | None, batch: int
) -> tuple[list[int], bool]:
    """The ids of the newest reports (but ``report``) naming one of ``keys``, below ``below``:
    per key, a range of the (URL key, report) index read backwards, at most ``batch`` ids.
    Returns those known in full (every key read down to them), newest first, and whether they
    are all there is."""
    found: set[int] = set()
    floor: int | None = None  # below it, a key that filled its batch may hold more
    column = shared_trace_key()
    for key in keys:
        # A range on the key rather than an equality, ordered key first: that order then comes
        # only from the (URL key, report) index, read a batch at a time; with an equality the
        # planner may walk the newest URL rows of every report, testing the key on each.
        stmt = (
            select(column, ReportURL.report_id)
            .where(column.between(key, key), ReportURL.report_id != report.id)
            .distinct()
            .order_by(column.desc(), ReportURL.report_id.desc())
            .limit(batch)
        )
        if below is not None:
            stmt = stmt.where(ReportURL.report_id < below)
        ids = [report_id for _key, report_id in session.execute(stmt)]
        found.update(ids)
        if len(ids) == batch:
            floor = ids[-1] if floor is None else max(floor, ids[-1])
    newest = sorted((i for i in found if floor is None or i >= floor), reverse=True)
    return newest, floor is None


def cluster_page(
    session: Session,
    officer: Officer,
    report: Report,
    limit: int = CLUSTER_PAGE,
    after: int | None = None,
    *,
    in_scope: int | None = None,
) -> ClusterPage:
    """Reports in scope sharing a URL with ``report``, newest first, keyset by report id.

    The cluster is read newest first a batch of ids at a time, and each batch's reports in
    scope by primary key, until the page is full: a join would let the planner walk every
    report of the officer's units down to the cluster's newest. ``in_scope``, the exact count
    of the cluster in scope when known (the counters), ends the walk once all are found."""
    keys = _keys(session, report)
    if not keys:
        return ClusterPage(members=[], next_after=None)
    scope = _scope_set(session, officer)
    wanted = limit + 1 if in_scope is None else min(limit + 1, in_scope)
    rows: list[Any] = []
    below, batch = after, CLUSTER_BATCH
    while len(rows) < wanted:
        ids, complete = _newest_ids(session, keys, report, below, batch)
        if ids:
            # Read by primary key, the scope applied here: a condition on the unit would let
            # the database read the unit's reports instead.
            found = session.execute(
                select(Report.id, Report.reference, Report.status, Report.unit_id)
                .where(Report.id.in_(ids))
                .order_by(Report.id.desc())
            ).all()
            rows += [row for row in found if scope is None or row[3] in scope]
        if complete:
            break
        below, batch = ids[-1], min(batch * 2, 64 * CLUSTER_BATCH)
    units = {unit.id: unit for unit in session.scalars(select(Unit))}
    members = [ClusterMember(ref, status, units[unit]) for _id, ref, status, unit in rows[:limit]]
    next_after = rows[limit - 1][0] if len(rows) > limit else None
    return ClusterPage(members=members, next_after=next_after)


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
