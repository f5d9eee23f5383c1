"""Demo data: units' staff accounts and a few months of realistic reports (idempotent).

Regions differ on purpose (some units answer within hours, others let a backlog grow) so that
the supervisor dashboard tells a story on first run.
"""

from __future__ import annotations

import json
import os
import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.crypto.blind_index import BlindIndexer
from portal.crypto.keyring import Keyring
from portal.domain.receipts import ReceiptHasher
from portal.domain.urlnorm import normalize_url
from portal.models import (
    OPEN_STATUSES,
    Officer,
    OfficerAlertSettings,
    Report,
    ReportEvent,
    Subdivision,
    Unit,
    utcnow,
)
from portal.services import takedowns
from portal.services.accounts import create_officer
from portal.services.demo_campaigns import create_demo_campaigns
from portal.services.demo_evidence import attach_screenshots
from portal.services.reports import ReportSubmission, find_by_receipt, submit_report
from portal.storage.blobs import BlobStore

# The demo reporter's receipt, published like the demo passwords so that every `portal demo`
# (every `make run`) can print it again: a real receipt is never kept and cannot be shown twice.
DEMO_RECEIPT = "7305194622816604"
# The demo officer who is on duty for alerts, and the work mailbox they go to.
DEMO_ON_DUTY_OFFICER = "casablanca"
DEMO_ON_DUTY_EMAIL = "casablanca.duty@police.example"


@dataclass(frozen=True)
class DemoAccount:
    username: str
    display_name: str
    password: str
    role: str
    units: tuple[str, ...] = ()
    region: str | None = None
    # Fixed demo secrets so that the printed instructions stay true after a re-run.
    totp_secret: str = ""


DEMO_ACCOUNTS = (
    DemoAccount(
        "casablanca",
        "Amina Berrada",
        "demo-casablanca-2026",
        "officer",
        units=("CASABLANCA",),
        totp_secret="JBSWY3DPEHPK3PXPCASAAAAA",
    ),
    DemoAccount(
        "rabat",
        "Youssef Alaoui",
        "demo-rabat-2026",
        "officer",
        units=("RABAT",),
        totp_secret="JBSWY3DPEHPK3PXPRABATAAA",
    ),
    DemoAccount(
        "marrakech",
        "Hicham Ouazzani",
        "demo-marrakech-2026",
        "officer",
        units=("MARRAKECH",),
        totp_secret="JBSWY3DPEHPK3PXPMARRAKEC",
    ),
    DemoAccount(
        "fes",
        "Salma Benjelloun",
        "demo-fes-2026",
        "officer",
        units=("FES",),
        totp_secret="JBSWY3DPEHPK3PXPFESAAAAA",
    ),
    DemoAccount(
        "tanger",
        "Rachid Amrani",
        "demo-tanger-2026",
        "officer",
        units=("TANGER", "TETOUAN"),
        totp_secret="JBSWY3DPEHPK3PXPTANGERAA",
    ),
    DemoAccount(
        "agadir",
        "Fatima Zahra Ait Lahcen",
        "demo-agadir-2026",
        "officer",
        units=("AGADIR",),
        totp_secret="JBSWY3DPEHPK3PXPAGADIRAA",
    ),
    DemoAccount(
        "supervisor",
        "Khadija Tazi",
        "demo-supervisor-2026",
        "supervisor",
        totp_secret="JBSWY3DPEHPK3PXPSUPERVIS",
    ),
    DemoAccount(
        "regional",
        "Nadia El Fassi",
        "demo-regional-2026",
        "supervisor",
        region="MA-06",
        totp_secret="JBSWY3DPEHPK3PXPREGIONAL",
    ),
    DemoAccount(
        "admin",
        "Omar Idrissi",
        "demo-admin-2026",
        "admin",
        totp_secret="JBSWY3DPEHPK3PXPADMINAAA",
    ),
)

_SAMPLE_TEXT = {
    "sextortion": "Un compte inconnu menace de publier mes photos intimes si je ne paie pas.",
    "fraud": "Annonce de vente d'un téléphone, j'ai payé par virement et le vendeur a disparu.",
    "child_sexual_exploitation": "Un groupe partage des contenus montrant des enfants.",
    "terrorism": "Une page publie des vidéos faisant l'apologie d'un attentat.",
    "hate_incitement": "Des publications appellent à la violence contre des migrants.",
    "threats": "Je reçois des messages de menaces de mort depuis plusieurs comptes.",
    "harassment": "Un ancien collègue m'envoie des messages insultants chaque jour.",
    "defamation_privacy": "Une page publie mon adresse et de fausses accusations.",
    "data_theft_hacking": "Mon compte a été piraté et sert à escroquer mes contacts.",
    "trafficking": "Un compte propose des armes et de la drogue à la vente.",
    "other": "Un faux profil se fait passer pour une administration.",
}
# How often each category is reported (relative weights), shared with bench/scale.py.
CATEGORY_WEIGHTS = {
    "fraud": 30,
    "sextortion": 18,
    "harassment": 12,
    "threats": 8,
    "defamation_privacy": 8,
    "data_theft_hacking": 9,
    "hate_incitement": 4,
    "child_sexual_exploitation": 3,
    "terrorism": 2,
    "trafficking": 2,
    "other": 4,
}
_HOSTS = {
    "facebook": "https://www.facebook.com/profile.php?id={n}",
    "instagram": "https://www.instagram.com/user_{n}/",
    "tiktok": "https://www.tiktok.com/@user{n}/video/7{n}",
    "whatsapp": "https://wa.me/2126{n:08d}",
    "telegram": "https://t.me/channel{n}",
    "website": "https://promo-{n}.example.ma/offre?utm_source=fb",
}
# Mean hours to first response per unit, at the start of the demo history and today: Casablanca
# was reinforced and improves, Marrakech and Beni Mellal fall behind, Fez recovers, the far
# south answers slowly throughout. Slow units also close less and pile up a backlog.
_UNIT_PACE: dict[str, tuple[float, float]] = {
    "CASABLANCA": (20, 4),
    "RABAT": (6, 6),
    "SALE": (10, 8),
    "MARRAKECH": (24, 80),
    "BENI-MELLAL": (40, 110),
    "FES": (60, 14),
    "TANGER": (16, 16),
    "OUJDA": (30, 45),
    "AGADIR": (12, 20),
    "LAAYOUNE": (70, 70),
    "DAKHLA": (90, 90),
    "NATIONAL-CHILD": (3, 2),
    "NATIONAL-CT": (3, 3),
}
_DEFAULT_PACE = (24.0, 24.0)


@dataclass
class DemoSummary:
    accounts_created: list[str]
    reports_created: int
    sample_reference: str | None
    sample_receipt: str | None


def _weighted(rng: random.Random, weights: dict[str, int]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def ensure_accounts(
    session: Session, keyring: Keyring, password_hasher: PasswordHasher
) -> list[str]:
    created = []
    for account in DEMO_ACCOUNTS:
        if session.scalar(select(Officer.id).where(Officer.username == account.username)):
            continue
        create_officer(
            session,
            username=account.username,
            display_name=account.display_name,
            password=account.password,
            role=account.role,
            keyring=keyring,
            password_hasher=password_hasher,
            unit_codes=list(account.units),
            region_code=account.region,
            totp_secret=account.totp_secret,
            actor="demo",
        )
        created.append(account.username)
    return created


def _throwaway_hasher() -> ReceiptHasher:
    # Bulk demo reports get unfollowable receipts (a pepper nobody keeps), and cheaply.
    return ReceiptHasher(pepper=os.urandom(32), time_cost=1, memory_cost_kib=64)


def create_demo_reports(
    session: Session,
    keyring: Keyring,
    throwaway: ReceiptHasher,
    indexer: BlindIndexer,
    *,
    count: int = 400,
    days: int = 120,
    seed: int = 2026,
    now: datetime | None = None,
) -> int:
    """Reports spread over ``days``, with the history officers would have given them."""
    now = now or utcnow()
    rng = random.Random(seed)
    subdivisions = list(session.scalars(select(Subdivision.code)))
    weighted_subdivisions = {code: 1 for code in subdivisions}
    for busy in ("MA-CAS", "MA-RAB", "MA-MAR", "MA-FES", "MA-TNG", "MA-SAL", "MA-AGD"):
        if busy in weighted_subdivisions:
            weighted_subdivisions[busy] = 12
    for _index in range(count):
        category = _weighted(rng, CATEGORY_WEIGHTS)
        platform = rng.choice(list(_HOSTS))
        submitted = now - timedelta(days=rng.uniform(0, days), hours=rng.uniform(0, 24))
        answers: dict[str, str] = {}
        if category == "sextortion":
            answers = {"money_demanded": "yes", "paid": rng.choice(["yes", "no"])}
            if rng.random() < 0.15:
                answers["minor_involved"] = "yes"
        elif category == "threats" and rng.random() < 0.3:
            answers = {"threat_to_life": "yes"}
        elif category == "fraud":
            answers = {
                "amount": str(rng.choice([350, 1200, 4500, 18000])),
                "payment_method": "virement",
            }
        submission = ReportSubmission(
            category=category,
            platform=platform,
            description=_SAMPLE_TEXT[category],
            urls=[normalize_url(_HOSTS[platform].format(n=rng.randint(1000, 99999)))],
            subdivision_code=None if rng.random() < 0.04 else _weighted(rng, weighted_subdivisions),
            handle_outside_local=rng.random() < 0.03,
            answers=answers,
        )
        report, _receipt = submit_report(
            session, submission, keyring=keyring, hasher=throwaway, indexer=indexer, now=submitted
        )
        _advance(report, rng, now, days)
    return count


def _pace_hours(unit_code: str, age_fraction: float) -> float:
    """The unit's mean time to first response when the report came in (0: today, 1: oldest)."""
    then, today = _UNIT_PACE.get(unit_code, _DEFAULT_PACE)
    return today + (then - today) * min(max(age_fraction, 0.0), 1.0)


def _advance(report: Report, rng: random.Random, now: datetime, days: int = 120) -> None:
    """Give a demo report the history an officer's actions would have written."""
    age_fraction = (now - report.submitted_at) / timedelta(days=days)
    pace_hours = _pace_hours(report.unit.code, age_fraction)
    if report.priority == "urgent":
        pace_hours = max(1.0, pace_hours / 6)
    elif report.priority == "high":
        pace_hours = max(1.0, pace_hours / 2)
    first_response = report.submitted_at + timedelta(hours=rng.expovariate(1 / pace_hours))
    if first_response > now:
        return
    report.status = "in_review"
    report.first_response_at = first_response
    report.events.append(
        ReportEvent(
            at=first_response,
            kind="status_changed",
            visible_to_reporter=True,
            details=json.dumps({"from": "received", "to": "in_review"}),
        )
    )
    resolution = first_response + timedelta(days=rng.expovariate(1 / (pace_hours / 3)))
    # Slow units leave more cases open.
    if resolution > now or rng.random() < 0.1 + min(pace_hours, 100) / 250:
        report.status = rng.choice(["in_review", "investigating", "awaiting_reporter"])
        return
    final = "referred" if rng.random() < 0.25 else "closed"
    report.status = final
    report.closed_at = resolution
    if final == "closed":
        report.closure_reason = rng.choice(
            ["no_offence", "content_removed", "insufficient_information", "duplicate"]
        )
    report.events.append(
        ReportEvent(
            at=resolution,
            kind="status_changed",
            visible_to_reporter=True,
            details=json.dumps({"from": "in_review", "to": final}),
        )
    )


# The morning queue of the two demo officers: what is waiting for them today.
_MORNING_QUEUE = {
    "CASABLANCA": ("MA-CAS", "MA-MOH", "MA-NOU", "MA-MED"),
    "RABAT": ("MA-RAB", "MA-SKH"),
}
_MORNING_SIZE = {"CASABLANCA": 34, "RABAT": 14}
# One phishing page several people report: a cluster the officer sees at once.
_SHARED_URL = "https://cih-securite-client.example.ma/verification?utm_source=sms"


def _morning_queue(
    session: Session,
    keyring: Keyring,
    throwaway: ReceiptHasher,
    indexer: BlindIndexer,
    rng: random.Random,
    now: datetime,
    store: BlobStore | None = None,
) -> int:
    """What waits for the demo units: reports fresh or days old, some taken by the officer or
    awaiting the reporter, replies waiting to be read, a cluster, and (with ``store``)
    screenshots on Casablanca's cases."""
    officers = {
        account.units[0]: session.scalars(
            select(Officer).where(Officer.username == account.username)
        ).one()
        for account in DEMO_ACCOUNTS
        if account.units and account.units[0] in _MORNING_QUEUE
    }
    created = 0
    for unit_code, subdivisions in _MORNING_QUEUE.items():
        for index in range(_MORNING_SIZE[unit_code]):
            category = _weighted(rng, CATEGORY_WEIGHTS)
            if category in ("child_sexual_exploitation", "terrorism"):
                category = "sextortion"  # those go to national units, not this queue
            answers: dict[str, str] = {}
            if category == "sextortion":
                answers = {"money_demanded": "yes", "paid": "no"}
                if index % 5 == 0:
                    answers["minor_involved"] = "yes"
            elif category == "threats" and index % 3 == 0:
                answers = {"threat_to_life": "yes"}
            platform = rng.choice(list(_HOSTS))
            url = _HOSTS[platform].format(n=rng.randint(1000, 99999))
            if index % 7 == 3:
                category, platform, url = "fraud", "website", _SHARED_URL
            # Most came in overnight; some have waited for days (their deadline is past).
            hours = rng.uniform(0.2, 60) if index % 4 else rng.uniform(60, 24 * 9)
            submitted = now - timedelta(hours=hours)
            report, _receipt = submit_report(
                session,
                ReportSubmission(
                    category=category,
                    platform=platform,
                    description=_SAMPLE_TEXT[category],
                    urls=[normalize_url(url)],
                    subdivision_code=rng.choice(subdivisions),
                    answers=answers,
                ),
                keyring=keyring,
                hasher=throwaway,
                indexer=indexer,
                now=submitted,
            )
            created += 1
            if (
                store is not None
                and unit_code == "CASABLANCA"
                and category in _SCREENSHOT_CATEGORIES
                and index % 3 != 2
            ):
                attach_screenshots(
                    session,
                    report,
                    count=1 + index % 2,
                    seed=index,
                    store=store,
                    keyring=keyring,
                    now=submitted + timedelta(seconds=1),
                )
            officer = officers[unit_code]
            if index % 6 == 5:
                _awaiting_reply(session, keyring, officer, report, now)
            elif index % 8 == 2:
                _under_investigation(session, officer, report, now)
            elif index % 8 == 6:
                _question_asked(session, keyring, officer, report, now)
    return created


# Screenshots are what reporters of these attach; the preview of a blurred thumbnail is tried
# on them.
_SCREENSHOT_CATEGORIES = {"sextortion", "harassment", "threats", "fraud", "defamation_privacy"}


def _under_investigation(session: Session, officer: Officer, report: Report, now: datetime) -> None:
    """A case the officer took earlier and is working on ("my cases")."""
    from portal.services import cases as actions

    waited = now - report.submitted_at
    actions.claim(session, officer, report, report.version, now=report.submitted_at + waited * 0.2)
    actions.change_status(
        session,
        officer,
        report,
        report.version,
        "investigating",
        now=report.submitted_at + waited * 0.4,
    )


def _question_asked(
    session: Session, keyring: Keyring, officer: Officer, report: Report, now: datetime
) -> None:
    """The officer asked the reporter a question that is still unanswered."""
    from portal.services import cases as actions

    waited = now - report.submitted_at
    actions.claim(session, officer, report, report.version, now=report.submitted_at + waited * 0.3)
    actions.message_reporter(
        session,
        officer,
        report,
        "Bonjour, à quelle date avez-vous reçu le premier message ? Avez-vous gardé le numéro ?",
        keyring,
        now=report.submitted_at + waited * 0.5,
    )
    actions.change_status(
        session,
        officer,
        report,
        report.version,
        "awaiting_reporter",
        now=report.submitted_at + waited * 0.5,
    )


def _awaiting_reply(
    session: Session, keyring: Keyring, officer: Officer, report: Report, now: datetime
) -> None:
    """The officer asked a question; the reporter has answered and nobody has read it yet."""
    from portal.services import cases as actions
    from portal.services.reports import add_reporter_reply

    waited = now - report.submitted_at
    asked = report.submitted_at + waited * 0.3
    actions.claim(session, officer, report, report.version, now=asked)
    actions.message_reporter(
        session,
        officer,
        report,
        "Bonjour, pouvez-vous nous envoyer une capture d'écran du dernier message reçu ?",
        keyring,
        now=asked + waited * 0.05,
    )
    add_reporter_reply(
        session,
        report,
        "Oui, je l'ajoute. Il m'a encore écrit ce matin et menace de tout publier ce soir.",
        keyring=keyring,
        now=report.submitted_at + waited * 0.7,
    )


def _followable_sample(
    session: Session, keyring: Keyring, hasher: ReceiptHasher, indexer: BlindIndexer, now: datetime
) -> tuple[str, str]:
    """The report whose receipt the demo prints: first in the Casablanca officer's queue.

    An urgent, unclaimed sextortion report involving a minor, a little older than any other
    open urgent report of the unit, so that "take the most urgent case" leads to it and the
    printed receipt lets one play the reporter on /follow-up.
    """
    casablanca = session.scalars(select(Unit.id).where(Unit.code == "CASABLANCA")).one()
    oldest_urgent = session.scalar(
        select(func.min(Report.submitted_at)).where(
            Report.unit_id == casablanca,
            Report.priority == "urgent",
            Report.status.in_(OPEN_STATUSES),
        )
    )
    submitted = min(oldest_urgent or now, now - timedelta(hours=2)) - timedelta(minutes=30)
    report, receipt = submit_report(
        session,
        ReportSubmission(
            category="sextortion",
            platform="instagram",
            description=(
                "شخص لا أعرفه يهددني بنشر صوري الخاصة إذا لم أرسل له 3000 درهم. "
                "عمري 16 سنة ولا أعرف ماذا أفعل."
            ),
            urls=[normalize_url("https://www.instagram.com/direct/t/demo.blackmailer/")],
            subdivision_code="MA-CAS",
            answers={"money_demanded": "yes", "paid": "no", "minor_involved": "yes"},
        ),
        keyring=keyring,
        hasher=hasher,
        indexer=indexer,
        now=submitted,
    )
    report.receipt_hash = hasher.lookup_hash(DEMO_RECEIPT)
    session.flush()
    return receipt.reference, DEMO_RECEIPT


def run_demo(
    session: Session,
    keyring: Keyring,
    hasher: ReceiptHasher,
    indexer: BlindIndexer,
    *,
    count: int = 400,
    store: BlobStore | None = None,
    password_hasher: PasswordHasher,
) -> DemoSummary:
    """Demo accounts (always, the missing ones), and the demo reports on an empty database.

    With ``store``, some of the Casablanca officer's waiting cases carry demo screenshots.
    """
    accounts = ensure_accounts(session, keyring, password_hasher)
    existing = session.scalar(select(func.count(Report.id))) or 0
    if existing:
        sample = find_by_receipt(session, DEMO_RECEIPT, hasher)
        if sample is None:
            return DemoSummary(accounts, 0, None, None)
        return DemoSummary(accounts, 0, sample.reference, DEMO_RECEIPT)
    created, reference, receipt = seed_demo_reports(
        session, keyring, hasher, indexer, count=count, store=store
    )
    return DemoSummary(accounts, created, reference, receipt)


def ensure_on_duty_officer(session: Session) -> bool:
    """The Casablanca demo officer on duty, with a work address for content-free alerts.

    Called after the demo reports are committed, so that seeding them alerts nobody; with an
    SMTP relay configured, the next urgent report in Casablanca reaches this mailbox.
    """
    officer = session.scalar(select(Officer).where(Officer.username == DEMO_ON_DUTY_OFFICER))
    if officer is None or session.get(OfficerAlertSettings, officer.id) is not None:
        return False
    session.add(OfficerAlertSettings(officer_id=officer.id, on_duty=True, email=DEMO_ON_DUTY_EMAIL))
    return True


def seed_demo_reports(
    session: Session,
    keyring: Keyring,
    hasher: ReceiptHasher,
    indexer: BlindIndexer,
    *,
    count: int = 400,
    store: BlobStore | None = None,
) -> tuple[int, str, str]:
    """The demo reports, campaigns and requests to platforms (the demo accounts must exist).

    Returns how many reports were created, and the followable sample's reference and receipt.
    """
    # The followable sample below is the one report with a real receipt.
    throwaway = _throwaway_hasher()
    created = create_demo_reports(session, keyring, throwaway, indexer, count=count)
    created += _morning_queue(
        session, keyring, throwaway, indexer, random.Random(19), utcnow(), store
    )
    created += create_demo_campaigns(session, keyring, indexer, throwaway, now=utcnow())
    reference, receipt = _followable_sample(session, keyring, hasher, indexer, utcnow())
    _demo_takedowns(session, keyring, random.Random(23), utcnow())
    return created + 1, reference, receipt


# Platforms answer at their own pace; some refuse, some never answer (days to removal).
_TAKEDOWN_PACE = {"instagram": 1.5, "facebook": 2.0, "tiktok": 0.8, "telegram": 9.0}
_TAKEDOWN_EXPLANATION = (
    "Contenu publié pour faire chanter la victime ou pour escroquer des internautes, en "
    "violation de la loi marocaine citée ci-dessus."
)


def _demo_takedowns(session: Session, keyring: Keyring, rng: random.Random, now: datetime) -> None:
    """Removal requests on the Casablanca unit's reports on the big platforms, sent by hand over
    the demo months, most answered, so that the case pages and the figures tell a story."""
    officer = session.scalar(select(Officer).where(Officer.username == "casablanca"))
    if officer is None:
        return
    reports = session.scalars(
        select(Report)
        .join(Unit, Report.unit_id == Unit.id)
        .where(Unit.code == "CASABLANCA", Report.platform.in_(list(_TAKEDOWN_PACE)))
        .order_by(Report.submitted_at)
    ).all()
    for report in reports[::2]:
        if not report.urls:
            continue
        asked = report.submitted_at + timedelta(hours=rng.uniform(2, 30))
        if asked > now:
            continue
        draft = takedowns.TakedownDraft(
            kind="removal",
            url_ids=[url.id for url in report.urls],
            legal_basis="penal_540" if report.category == "fraud" else "penal_447",
            explanation=_TAKEDOWN_EXPLANATION,
            preservation_days=None,
            language="fr",
        )
        request = takedowns.create_request(
            session,
            officer=officer,
            report=report,
            draft=draft,
            keyring=keyring,
            channels={},
            legal_bases={"penal_540": {}, "penal_447": {}},
            now=asked,
        )
        takedowns.mark_sent(session, officer=officer, request=request, now=asked, how="by_hand")
        pace = _TAKEDOWN_PACE[report.platform]
        answered = asked + timedelta(days=rng.expovariate(1 / pace))
        if answered > now:
            continue
        outcome = "removed" if rng.random() < 0.8 else rng.choice(["refused", "no_answer"])
        takedowns.record_outcome(
            session,
            officer=officer,
            request=request,
            item_ids=[item.id for item in request.items],
            outcome=outcome,
            now=answered,
        )
