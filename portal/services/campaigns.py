"""Campaigns: reports linked by the traces an offender leaves, across units, without content.

A trace is a blind index of a normalised identifier or URL (``BlindIndexer.index(kind,
value)``), or an image (keyed by its evidence id; a near-duplicate also carries the keys of the
images it matches). Reports sharing a trace are connected; each connected component is a
campaign, kept incrementally as reports and traces arrive: every linked report is a member of
exactly one campaign, and a trace shared with members of other
campaigns merges them (the smaller campaign's members move to the larger, so a report moves
O(log n) times at most).

Scope (DESIGN invariant 4): an officer learns that other reports share a trace, and which units
hold them; never their content. Reports outside the officer's scope are listed by reference,
unit, category, date and the kind of linking trace only, and opening one is still 404.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.orm import Session, aliased

from portal.crypto.blind_index import BlindIndexer
from portal.crypto.keyring import Keyring
from portal.domain.categories import PRIORITIES, QUESTIONS
from portal.domain.identifiers import Identifier, parse_answer
from portal.domain.urlnorm import NormalizedURL
from portal.models import (
    PRIORITY_RANK,
    Campaign,
    CampaignMember,
    ImageHash,
    Officer,
    Report,
    ReportEvent,
    Trace,
    Unit,
    utcnow,
)
from portal.services import audit
from portal.services.content_access import reads_content_by_role
from portal.services.scope import scope_unit_ids

PAYMENT_KINDS = ("bank_account", "wallet", "transfer_code")
# Question kinds whose identifiers are where money went, not who the offender is.
PAYEE_QUESTION_KINDS = ("payees", "bank_account", "wallet", "transfer_code")


@dataclass(frozen=True)
class NewTrace:
    kind: str  # the blind-index kind
    value: str  # the normal form (encrypted when stored)
    role: str  # "account", "payee", "url"


def trace_context(reference: str, kind: str, key: str) -> str:
    """Associated data binding a trace's encrypted value to its report and index."""
    return f"trace.value:{reference}:{kind}:{key}"


def identifier_trace(identifier: Identifier, role: str) -> NewTrace:
    return NewTrace(identifier.index_kind, identifier.value, role)


def traces_from_answers(
    category: str, answers: dict[str, str], platform: str | None
) -> list[NewTrace]:
    """The identifiers a reporter gave in the category's questions (already validated)."""
    found: list[NewTrace] = []
    for question in QUESTIONS.get(category, ()):
        text = answers.get(question.name)
        if not text or question.kind not in (*PAYEE_QUESTION_KINDS, "accounts"):
            continue
        identifiers, _ = parse_answer(question.kind, text, platform)
        role = "payee" if question.kind in PAYEE_QUESTION_KINDS else "account"
        found.extend(identifier_trace(identifier, role) for identifier in identifiers)
    return found


def url_traces(urls: Iterable[NormalizedURL]) -> list[NewTrace]:
    return [NewTrace("url", url.normalized, "url") for url in urls]


@dataclass(frozen=True)
class Money:
    paid: bool
    amount_cents: int | None
    currency: str | None


def money_from_answers(category: str, answers: dict[str, str]) -> Money:
    """What was paid or demanded, from the category's answers (amounts stay per report)."""
    raw = answers.get("amount_demanded") or answers.get("amount")
    try:
        amount = Decimal(raw) if raw else None
    except InvalidOperation:
        amount = None
    cents = int(amount * 100) if amount is not None and amount > 0 else None
    currency = answers.get("currency") or ("MAD" if cents is not None else None)
    # Sextortion asks; for fraud, an amount lost was paid.
    paid = answers.get("paid") == "yes" if category == "sextortion" else cents is not None
    return Money(paid=paid, amount_cents=cents, currency=currency if cents is not None else None)


# --- membership and merging ------------------------------------------------------------------


def resolve(session: Session, campaign_id: int) -> Campaign | None:
    """The live campaign for an id, following merges."""
    campaign = session.get(Campaign, campaign_id)
    seen = 0
    while campaign is not None and campaign.merged_into_id is not None and seen < 64:
        campaign = session.get(Campaign, campaign.merged_into_id)
        seen += 1
    return campaign


def ensure_member(session: Session, report: Report, *, now: datetime) -> CampaignMember:
    member = session.get(CampaignMember, report.id)
    if member is None:
        campaign = Campaign(created_at=now, updated_at=now, report_count=1)
        session.add(campaign)
        session.flush()
        member = CampaignMember(report_id=report.id, campaign_id=campaign.id, joined_at=now)
        session.add(member)
        session.flush()
    return member


def merge(session: Session, campaign_ids: Iterable[int], *, now: datetime) -> int:
    """Union of campaigns: the largest absorbs the others. Returns the surviving id."""
    ids = sorted(set(campaign_ids))
    if len(ids) == 1:
        return ids[0]
    campaigns = list(session.scalars(select(Campaign).where(Campaign.id.in_(ids))))
    target = max(campaigns, key=lambda c: (c.report_count, -c.id)).id
    others = [c.id for c in campaigns if c.id != target]
    unsynchronized = {"synchronize_session": False}
    # Counts move by the rows actually moved, in SQL: concurrent merges add up, none is lost.
    moved = session.execute(
        update(CampaignMember)
        .where(CampaignMember.campaign_id.in_(others))
        .values(campaign_id=target)
        .execution_options(**unsynchronized)
    ).rowcount
    session.execute(
        update(Campaign)
        .where(or_(Campaign.id.in_(others), Campaign.merged_into_id.in_(others)))
        .values(merged_into_id=target)
        .execution_options(**unsynchronized)
    )
    session.execute(
        update(Campaign)
        .where(Campaign.id.in_(others))
        .values(report_count=0)
        .execution_options(**unsynchronized)
    )
    session.execute(
        update(Campaign)
        .where(Campaign.id == target)
        .values(report_count=Campaign.report_count + moved, updated_at=now)
        .execution_options(**unsynchronized)
    )
    for campaign in campaigns:
        session.expire(campaign)
    for member in session.identity_map.values():
        if isinstance(member, CampaignMember):
            session.expire(member)
    return target


def _link(
    session: Session, report: Report, keys: Sequence[tuple[str, str]], *, now: datetime
) -> int:
    """Merge ``report``'s campaign with those of every report sharing one of ``keys``."""
    member = ensure_member(session, report, now=now)
    if not keys:
        return member.campaign_id
    condition = [and_(Trace.kind == kind, Trace.key == key) for kind, key in keys]
    others = set(
        session.scalars(
            select(CampaignMember.campaign_id)
            .join(Trace, Trace.report_id == CampaignMember.report_id)
            .where(or_(*condition), Trace.report_id != report.id)
            .distinct()
        )
    )
    if not others - {member.campaign_id}:
        return member.campaign_id
    return merge(session, {member.campaign_id, *others}, now=now)


def add_traces(
    session: Session,
    report: Report,
    traces: Iterable[NewTrace],
    *,
    indexer: BlindIndexer,
    keyring: Keyring,
    source: str = "reporter",
    officer: Officer | None = None,
    now: datetime | None = None,
) -> list[Trace]:
    """Store ``traces`` on ``report`` (value encrypted, blind index plain) and link; no commit."""
    now = now or utcnow()
    existing = {
        (kind, key)
        for kind, key in session.execute(
            select(Trace.kind, Trace.key).where(Trace.report_id == report.id)
        )
    }
    added: list[Trace] = []
    for new in traces:
        key = indexer.index(new.kind, new.value)
        if (new.kind, key) in existing:
            continue
        existing.add((new.kind, key))
        row = Trace(
            report_id=report.id,
            kind=new.kind,
            key=key,
            role=new.role,
            value_enc=keyring.encrypt_field(
                new.value, trace_context(report.reference, new.kind, key)
            ),
            source=source,
            officer_id=officer.id if officer else None,
            created_at=now,
        )
        session.add(row)
        added.append(row)
    session.flush()
    _link(session, report, [(row.kind, row.key) for row in added], now=now)
    return added


def link_new_report(
    session: Session,
    report: Report,
    answers: dict[str, str],
    urls: Iterable[NormalizedURL],
    *,
    indexer: BlindIndexer,
    keyring: Keyring,
    repeat_priority: str | None = "urgent",
    now: datetime | None = None,
) -> CampaignMember:
    """At submission: the report's traces and money, its campaign, and the repeat alert."""
    now = now or utcnow()
    traces = [*traces_from_answers(report.category, answers, report.platform), *url_traces(urls)]
    add_traces(session, report, traces, indexer=indexer, keyring=keyring, now=now)
    member = ensure_member(session, report, now=now)
    money = money_from_answers(report.category, answers)
    member.paid, member.amount_cents, member.currency = (
        money.paid,
        money.amount_cents,
        money.currency,
    )
    raise_for_repeat(session, report, repeat_priority, now=now)
    return member


def raise_for_repeat(
    session: Session, report: Report, priority: str | None, *, now: datetime
) -> bool:
    """A report sharing a trace with an earlier one whose reporter paid: raise its priority."""
    if not repeat_matches(session, report):
        return False
    already = session.scalar(
        select(ReportEvent.id).where(
            ReportEvent.report_id == report.id, ReportEvent.kind == "repeat_blackmail"
        )
    )
    if already is None:
        report.events.append(
            ReportEvent(at=now, kind="repeat_blackmail", visible_to_reporter=False)
        )
    if priority in PRIORITIES and PRIORITY_RANK[priority] < report.priority_rank:
        report.priority = priority
        report.priority_rank = PRIORITY_RANK[priority]
    session.flush()
    return True


def _sharing(report_id: int):  # type: ignore[no-untyped-def]
    """(mine, theirs): two aliases of traces joined on the same kind and key."""
    mine, theirs = aliased(Trace), aliased(Trace)
    joined = (
        select(theirs.report_id, theirs.kind, theirs.key)
        .select_from(mine)
        .join(theirs, and_(theirs.kind == mine.kind, theirs.key == mine.key))
        .where(mine.report_id == report_id, theirs.report_id != report_id)
    )
    return joined, theirs


def repeat_matches(session: Session, report: Report) -> list[int]:
    """Ids of earlier reports, sharing a trace with ``report``, whose reporter paid."""
    joined, theirs = _sharing(report.id)
    query = (
        joined.join(CampaignMember, CampaignMember.report_id == theirs.report_id)
        .join(Report, Report.id == theirs.report_id)
        .where(CampaignMember.paid.is_(True), Report.submitted_at <= report.submitted_at)
    )
    return sorted({row.report_id for row in session.execute(query)})


# --- images ----------------------------------------------------------------------------------


def add_image_hash(
    session: Session,
    report: Report,
    evidence_id: int,
    bits: bytes,
    quality: int,
    *,
    index: object,
    keyring: Keyring,
    min_quality: int,
    now: datetime | None = None,
) -> list[int]:
    """Store an image's PDQ hash (encrypted) and link near-duplicates; returns matched ids.

    ``index`` is a ``portal.evidence.pdq.PdqIndex``. Each image belongs to the groups of the
    images it matches (a trace ``image``/<group>); an image matching none starts its own group.
    """
    from portal.evidence.pdq import PdqIndex, hash_context

    assert isinstance(index, PdqIndex)
    now = now or utcnow()
    session.add(
        ImageHash(
            evidence_id=evidence_id,
            report_id=report.id,
            pdq_enc=keyring.encrypt_field(bits.hex(), hash_context(report.reference, evidence_id)),
            quality=quality,
            created_at=now,
        )
    )
    session.flush()
    if quality < min_quality:
        # PDQ's own advice: a low-quality hash (a flat or tiny image) matches too much.
        return []
    index.refresh(session, keyring)
    matches = index.match(bits, exclude={evidence_id})
    # The index may still hold hashes of purged reports: only rows that exist count.
    live = (
        set(
            session.scalars(select(ImageHash.evidence_id).where(ImageHash.evidence_id.in_(matches)))
        )
        if matches
        else set()
    )
    # Every image is a trace keyed by its own id; a near-duplicate also carries the keys of the
    # images it matches, so an equality join on traces links the two reports.
    keys = {str(evidence_id), *(str(other) for other in live)}
    existing = set(
        session.scalars(
            select(Trace.key).where(Trace.report_id == report.id, Trace.kind == "image")
        )
    )
    for key in sorted(keys - existing):
        session.add(Trace(report_id=report.id, kind="image", key=key, role="image", created_at=now))
    session.flush()
    _link(session, report, [("image", key) for key in sorted(keys)], now=now)
    return sorted(live)


# --- what an officer sees --------------------------------------------------------------------


def can_view_campaigns(officer: Officer) -> bool:
    """National units' officers and supervisors see whole campaigns; others see case links."""
    if not officer.active:
        return False
    if officer.role == "supervisor":
        return True
    return officer.role == "officer" and any(unit.national for unit in officer.units)


def _scope_units(session: Session, officer: Officer) -> set[int] | None:
    units = scope_unit_ids(officer)
    if units is None:
        return None
    if isinstance(units, list):
        return set(units)
    return set(session.scalars(units))


@dataclass
class SharedTrace:
    kind: str
    role: str
    value: str | None
    units: list[tuple[Unit, int]]
    total: int


@dataclass
class CaseLinks:
    campaign_id: int | None
    campaign_size: int
    shared: list[SharedTrace] = field(default_factory=list)
    repeat_of: int = 0  # earlier reports that share a trace and whose reporter paid
    can_open_campaign: bool = False


def case_links(session: Session, officer: Officer, report: Report, keyring: Keyring) -> CaseLinks:
    """For a case page: which traces other reports share, counted per unit; no content."""
    member = session.get(CampaignMember, report.id)
    campaign = resolve(session, member.campaign_id) if member else None
    links = CaseLinks(
        campaign_id=campaign.id if campaign else None,
        campaign_size=campaign.report_count if campaign else 0,
        can_open_campaign=can_view_campaigns(officer),
    )
    joined, _theirs = _sharing(report.id)
    subquery = joined.subquery()
    counts = session.execute(
        select(
            subquery.c.kind,
            subquery.c.key,
            Report.unit_id,
            func.count(subquery.c.report_id.distinct()),
        )
        .join(Report, Report.id == subquery.c.report_id)
        .group_by(subquery.c.kind, subquery.c.key, Report.unit_id)
    ).all()
    per_trace: dict[tuple[str, str], list[tuple[int, int]]] = defaultdict(list)
    for kind, key, unit_id, count in counts:
        per_trace[(kind, key)].append((unit_id, count))
    units = (
        {
            unit.id: unit
            for unit in session.scalars(
                select(Unit).where(Unit.id.in_({u for rows in per_trace.values() for u, _ in rows}))
            )
        }
        if per_trace
        else {}
    )
    own = {
        (row.kind, row.key): row
        for row in session.scalars(select(Trace).where(Trace.report_id == report.id))
    }
    for (kind, key), rows in sorted(per_trace.items()):
        trace = own.get((kind, key))
        value = None
        if trace is not None and trace.value_enc is not None:
            value = keyring.decrypt_field(
                trace.value_enc, trace_context(report.reference, kind, key)
            )
        rows.sort(key=lambda item: -item[1])
        links.shared.append(
            SharedTrace(
                kind=kind,
                role=trace.role if trace else kind,
                value=value,
                units=[(units[unit_id], count) for unit_id, count in rows],
                total=sum(count for _, count in rows),
            )
        )
    links.repeat_of = len(repeat_matches(session, report))
    return links


def own_traces(
    session: Session, report: Report, keyring: Keyring
) -> list[tuple[Trace, str | None]]:
    rows = session.scalars(
        select(Trace).where(Trace.report_id == report.id, Trace.kind != "image").order_by(Trace.id)
    )
    return [
        (
            row,
            keyring.decrypt_field(row.value_enc, trace_context(report.reference, row.kind, row.key))
            if row.value_enc is not None
            else None,
        )
        for row in rows
    ]


# The members a campaign page lists (most recent first); the figures cover every member.
MEMBERS_SHOWN = 200


@dataclass
class CampaignMemberView:
    report_id: int
    reference: str
    unit: Unit
    category: str
    submitted_at: datetime
    linking: list[str]  # kinds of the traces it shares with other members
    in_scope: bool
    paid: bool


@dataclass
class CampaignView:
    campaign: Campaign
    members: list[CampaignMemberView]  # the latest MEMBERS_SHOWN
    size: int
    units: list[tuple[Unit, int]]
    categories: list[tuple[str, int]]
    money: list[tuple[str, int, int]]  # currency, total cents, reports
    paid_reports: int
    timeline: list[tuple[str, int]]  # month, new reports
    traces: list[tuple[str, str, int, str | None]]  # kind, fingerprint, reports, value if visible
    first_at: datetime | None
    last_at: datetime | None


def load_campaign(
    session: Session,
    officer: Officer,
    campaign_id: int,
    keyring: Keyring,
    *,
    now: datetime | None = None,
) -> CampaignView | None:
    """The whole campaign for a national viewer, in figures and references; audited.

    Aggregates are computed in the database; only the latest ``MEMBERS_SHOWN`` members are
    listed. Values of linking traces are shown to officers only (supervisors see kinds and
    fingerprints: content_access), and only from reports in the viewer's scope.
    """
    if not can_view_campaigns(officer):
        return None
    campaign = resolve(session, campaign_id)
    if campaign is None or campaign.report_count == 0:
        return None
    in_campaign = CampaignMember.campaign_id == campaign.id
    scope = _scope_units(session, officer)
    if officer.role == "supervisor" and scope is not None:
        # A regional supervisor sees the campaigns that reach their region, not the others.
        touching = session.scalar(
            select(CampaignMember.report_id)
            .join(Report, Report.id == CampaignMember.report_id)
            .where(in_campaign, Report.unit_id.in_(scope or {-1}))
            .limit(1)
        )
        if touching is None:
            return None
    members_q = select(CampaignMember.report_id).where(in_campaign)
    per_unit = session.execute(
        select(Report.unit_id, func.count())
        .join(CampaignMember, CampaignMember.report_id == Report.id)
        .where(in_campaign)
        .group_by(Report.unit_id)
    ).all()
    units = {
        unit.id: unit
        for unit in session.scalars(select(Unit).where(Unit.id.in_([u for u, _ in per_unit])))
    }
    categories = session.execute(
        select(Report.category, func.count())
        .join(CampaignMember, CampaignMember.report_id == Report.id)
        .where(in_campaign)
        .group_by(Report.category)
        .order_by(func.count().desc(), Report.category)
    ).all()
    dates = sorted(
        session.scalars(
            select(Report.submitted_at)
            .join(CampaignMember, CampaignMember.report_id == Report.id)
            .where(in_campaign)
        )
    )
    months = Counter(moment.strftime("%Y-%m") for moment in dates)
    paid = session.scalar(select(func.count()).where(in_campaign, CampaignMember.paid.is_(True)))
    shared = session.execute(
        select(Trace.kind, Trace.key, func.count(Trace.report_id.distinct()))
        .where(Trace.report_id.in_(members_q))
        .group_by(Trace.kind, Trace.key)
        .having(func.count(Trace.report_id.distinct()) > 1)
    ).all()
    shared_keys = {(kind, key) for kind, key, _ in shared}
    visible_values: dict[tuple[str, str], str] = {}
    # Identifier values are content: supervisors see the campaign in figures and fingerprints.
    if shared and reads_content_by_role(officer):
        holders = select(Trace.report_id, Trace.kind, Trace.key, Trace.value_enc, Report.reference)
        holders = holders.join(Report, Report.id == Trace.report_id).where(
            Trace.report_id.in_(members_q),
            Trace.value_enc.is_not(None),
            Trace.key.in_({key for _, key in shared_keys}),
        )
        if scope is not None:
            holders = holders.where(Report.unit_id.in_(scope or {-1}))
        for row in session.execute(holders):
            pair = (row.kind, row.key)
            if pair in shared_keys and pair not in visible_values:
                visible_values[pair] = keyring.decrypt_field(
                    row.value_enc, trace_context(row.reference, row.kind, row.key)
                )
    latest = session.execute(
        select(Report, CampaignMember.paid)
        .join(CampaignMember, CampaignMember.report_id == Report.id)
        .where(in_campaign)
        .order_by(Report.submitted_at.desc(), Report.id.desc())
        .limit(MEMBERS_SHOWN)
    ).all()
    linking: dict[int, set[str]] = defaultdict(set)
    for report_id, kind, key in session.execute(
        select(Trace.report_id, Trace.kind, Trace.key).where(
            Trace.report_id.in_([report.id for report, _ in latest])
        )
    ):
        if (kind, key) in shared_keys:
            linking[report_id].add(kind)
    members = [
        CampaignMemberView(
            report_id=report.id,
            reference=report.reference,
            unit=units.get(report.unit_id) or report.unit,
            category=report.category,
            submitted_at=report.submitted_at,
            linking=sorted(linking.get(report.id, ())),
            in_scope=scope is None or report.unit_id in scope,
            paid=bool(member_paid),
        )
        for report, member_paid in latest
    ]
    view = CampaignView(
        campaign=campaign,
        members=members,
        size=len(dates),
        units=sorted(((units[u], n) for u, n in per_unit), key=lambda item: -item[1]),
        categories=[(category, n) for category, n in categories],
        money=campaign_money(session, campaign.id),
        paid_reports=int(paid or 0),
        timeline=sorted(months.items()),
        traces=sorted(
            ((kind, key[:8], int(n), visible_values.get((kind, key))) for kind, key, n in shared),
            key=lambda item: (-item[2], item[0], item[1]),
        ),
        first_at=dates[0] if dates else None,
        last_at=dates[-1] if dates else None,
    )
    audit.record(
        session,
        actor=audit.officer_name(officer),
        action="campaign.viewed",
        subject=f"campaign:{campaign.id}",
        details={"reports": view.size},
        at=now,
    )
    return view


@dataclass(frozen=True)
class CampaignSummary:
    campaign_id: int
    reports: int
    recent: int
    units: int
    last_at: datetime


def top_campaigns(
    session: Session,
    officer: Officer,
    *,
    now: datetime | None = None,
    days: int = 30,
    limit: int = 10,
) -> tuple[list[CampaignSummary], list[CampaignSummary]]:
    """The largest campaigns, and those that grew most in the last ``days``; audited."""
    now = now or utcnow()
    since = now - timedelta(days=days)
    scope = _scope_units(session, officer)
    base = select(CampaignMember.campaign_id).join(Report, Report.id == CampaignMember.report_id)
    if scope is not None:
        base = base.where(Report.unit_id.in_(scope or {-1}))
    visible = base.distinct().subquery()

    def summaries(order_recent: bool) -> list[CampaignSummary]:
        recent = func.sum(
            func.cast(CampaignMember.joined_at >= since, type_=Campaign.report_count.type)
        )
        query = (
            select(
                CampaignMember.campaign_id,
                func.count(),
                recent,
                func.count(Report.unit_id.distinct()),
                func.max(Report.submitted_at),
            )
            .join(Report, Report.id == CampaignMember.report_id)
            .join(visible, visible.c.campaign_id == CampaignMember.campaign_id)
            .group_by(CampaignMember.campaign_id)
            .having(func.count() > 1)
            .order_by((recent if order_recent else func.count()).desc(), CampaignMember.campaign_id)
            .limit(limit)
        )
        if order_recent:
            query = query.having(recent > 0)
        return [
            CampaignSummary(cid, int(n), int(r or 0), int(u), last)
            for cid, n, r, u, last in session.execute(query)
        ]

    largest, growing = summaries(False), summaries(True)
    audit.record(
        session,
        actor=audit.officer_name(officer),
        action="campaign.list_viewed",
        subject="campaigns",
        details={
            "largest": [s.campaign_id for s in largest],
            "growing": [s.campaign_id for s in growing],
        },
        at=now,
    )
    return largest, growing


def record_letter(
    session: Session,
    officer: Officer,
    report: Report,
    trace: Trace,
    language: str,
    *,
    now: datetime | None = None,
) -> None:
    audit.record(
        session,
        actor=audit.officer_name(officer),
        action="campaign.freeze_letter",
        subject=f"report:{report.reference}",
        details={"trace": trace.id, "kind": trace.kind, "language": language},
        at=now,
    )


def record_trace_added(
    session: Session,
    officer: Officer,
    report: Report,
    added: Sequence[Trace],
    *,
    now: datetime | None = None,
) -> None:
    for trace in added:
        audit.record(
            session,
            actor=audit.officer_name(officer),
            action="report.identifier_added",
            subject=f"report:{report.reference}",
            details={"trace": trace.id, "kind": trace.kind, "role": trace.role},
            at=now,
        )


def campaign_money(session: Session, campaign_id: int) -> list[tuple[str, int, int]]:
    rows = session.execute(
        select(CampaignMember.currency, func.sum(CampaignMember.amount_cents), func.count())
        .where(CampaignMember.campaign_id == campaign_id, CampaignMember.amount_cents.is_not(None))
        .group_by(CampaignMember.currency)
        .order_by(CampaignMember.currency)
    )
    return [(currency, int(total), int(n)) for currency, total, n in rows]


# --- purge -----------------------------------------------------------------------------------


def forget_report(session: Session, report_id: int, *, now: datetime) -> None:
    """Remove a report's traces, image hashes and membership, and split what it connected."""
    member = session.get(CampaignMember, report_id)
    session.execute(delete(Trace).where(Trace.report_id == report_id))
    session.execute(delete(ImageHash).where(ImageHash.report_id == report_id))
    if member is not None:
        campaign_id = member.campaign_id
        session.delete(member)
        session.flush()
        rebuild_after_removal(session, [campaign_id], now=now)


def rebuild_after_removal(session: Session, campaign_ids: Iterable[int], *, now: datetime) -> None:
    """After reports left (purged), split their campaigns into what is still connected."""
    for campaign_id in set(campaign_ids):
        campaign = session.get(Campaign, campaign_id)
        if campaign is None:
            continue
        members = list(
            session.scalars(select(CampaignMember).where(CampaignMember.campaign_id == campaign_id))
        )
        campaign.report_count = len(members)
        if len(members) <= 1:
            continue
        ids = {member.report_id for member in members}
        traces = session.execute(
            select(Trace.report_id, Trace.kind, Trace.key).where(Trace.report_id.in_(ids))
        ).all()
        parent = {report_id: report_id for report_id in ids}

        def find(node: int, parent: dict[int, int] = parent) -> int:
            while parent[node] != node:
                parent[node] = parent[parent[node]]
                node = parent[node]
            return node

        first: dict[tuple[str, str], int] = {}
        for report_id, kind, key in traces:
            seen = first.setdefault((kind, key), report_id)
            parent[find(report_id)] = find(seen)
        groups: dict[int, list[CampaignMember]] = defaultdict(list)
        for member in members:
            groups[find(member.report_id)].append(member)
        ordered = sorted(groups.values(), key=len, reverse=True)
        campaign.report_count = len(ordered[0])
        for group in ordered[1:]:
            split = Campaign(created_at=now, updated_at=now, report_count=len(group))
            session.add(split)
            session.flush()
            for member in group:
                member.campaign_id = split.id
    session.flush()
