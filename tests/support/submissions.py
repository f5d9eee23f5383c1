"""A report submitted through the service (encrypted fields, blind indexes, rollups, counters),
without the web form: for tests that need many reports naming chosen URLs."""

from __future__ import annotations

from typing import Any

from portal.domain.urlnorm import normalize_url
from portal.models import Report
from portal.services.reports import ReportSubmission, submit_report


def submit_urls(
    app: Any,
    db: Any,
    urls: list[str],
    territory: str = "MA-CAS",
    description: str = "A fake bank login page asking for card numbers.",
) -> Report:
    """A fraud report from ``territory`` naming ``urls``, committed."""
    report, _ = submit_report(
        db,
        ReportSubmission(
            category="fraud",
            platform="website",
            description=description,
            urls=[normalize_url(url) for url in urls],
            subdivision_code=territory,
        ),
        keyring=app.extensions["keyring"],
        hasher=app.extensions["receipt_hasher"],
        indexer=app.extensions["blind_indexer"],
    )
    db.commit()
    return report
