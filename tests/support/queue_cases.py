"""Forty cases in the Casablanca demo officer's queue, for the queue's browser and a11y tests.

Made once per live server (the server lives for the whole test session): three of them share a
URL, the others each have their own page on one site; some are urgent, some have an unread
reply from the reporter, a few are assigned. A colleague in the same unit can be assigned to.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from portal.domain.urlnorm import normalize_url
from portal.models import PRIORITY_RANK, utcnow
from portal.services.accounts import create_officer
from portal.services.reports import ReportSubmission, submit_report
from tests.support.browser import LiveServer
from tests.support.staff import PASSWORD

SITE = "queue-forty.example.ma"
SHARED_URL = f"https://{SITE}/shared-post?id=40"
COLLEAGUE = "Karima Queue-Test"
CATEGORIES = ("fraud", "sextortion", "threats", "harassment", "hate_incitement", "defamation")


@dataclass(frozen=True)
class QueueCases:
    references: tuple[str, ...]
    shared: tuple[str, ...]  # the three sharing SHARED_URL


_MADE: dict[int, QueueCases] = {}


def forty_cases(live_server: LiveServer) -> QueueCases:
    key = id(live_server.app)
    if key in _MADE:
        return _MADE[key]
    app = live_server.app
    now = utcnow()
    references: list[str] = []
    shared: list[str] = []
    with live_server.session() as session:
        create_officer(
            session,
            username="queue-colleague",
            display_name=COLLEAGUE,
            password=PASSWORD,
            role="officer",
            keyring=app.extensions["keyring"],
            password_hasher=app.extensions["password_hasher"],
            unit_codes=["CASABLANCA"],
        )
        for n in range(40):
            url = SHARED_URL if n % 15 == 0 else f"https://{SITE}/post/{n}"
            report, _ = submit_report(
                session,
                ReportSubmission(
                    category=CATEGORIES[n % len(CATEGORIES)],
                    platform="website",
                    description="A case of the forty.",
                    urls=[normalize_url(url)],
                    subdivision_code="MA-CAS",
                ),
                keyring=app.extensions["keyring"],
                hasher=app.extensions["receipt_hasher"],
                indexer=app.extensions["blind_indexer"],
                now=now - timedelta(hours=3 * n + 1),
            )
            priority = ("urgent", "high", "normal", "normal")[n % 4]
            report.priority, report.priority_rank = priority, PRIORITY_RANK[priority]
            if n % 7 == 3:
                report.last_reporter_activity_at = now - timedelta(minutes=n)
            references.append(report.reference)
            if url == SHARED_URL:
                shared.append(report.reference)
        session.commit()
    made = QueueCases(tuple(references), tuple(shared))
    _MADE[key] = made
    return made
