"""Link a newly received report, and its images, to the campaigns they belong to."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from flask import current_app
from sqlalchemy.orm import Session

from portal.domain.urlnorm import NormalizedURL
from portal.evidence.intake import StagedFile
from portal.evidence.pdq import MIN_QUALITY, PdqIndex
from portal.models import Evidence, Report
from portal.services import campaigns
from portal.web.context import blind_indexer, keyring


def pdq_index() -> PdqIndex:
    """The instance's image index, loaded lazily and refreshed on each use."""
    return current_app.extensions.setdefault("pdq_index", PdqIndex())


def link_images(
    db: Session, report: Report, rows: Sequence[Evidence], staged: Sequence[StagedFile]
) -> None:
    for row, item in zip(rows, staged, strict=True):
        if item.pdq is not None:
            bits, quality = item.pdq
            campaigns.add_image_hash(
                db,
                report,
                row.id,
                bits,
                quality,
                index=pdq_index(),
                keyring=keyring(),
                min_quality=MIN_QUALITY,
            )
    if rows:
        campaigns.raise_for_repeat(
            db, report, current_app.config["CAMPAIGN_REPEAT_PRIORITY"], now=report.updated_at
        )


def link_submission(
    db: Session,
    report: Report,
    answers: dict[str, str],
    urls: Iterable[NormalizedURL],
    rows: Sequence[Evidence],
    staged: Sequence[StagedFile],
) -> None:
    campaigns.link_new_report(
        db,
        report,
        answers,
        urls,
        indexer=blind_indexer(),
        keyring=keyring(),
        repeat_priority=current_app.config["CAMPAIGN_REPEAT_PRIORITY"],
        now=report.submitted_at,
    )
    link_images(db, report, rows, staged)
