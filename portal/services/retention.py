"""Data retention: delete reports whose final status has outlived its retention period.

``RETENTION_DAYS`` maps a final status to days (``None``: keep). A report is expired when it is
in such a status and was closed more than that many days ago. Purging crypto-shreds its evidence:
the rows holding the per-file wrapped keys are deleted and committed first (after which the
ciphertext can never be decrypted), then the blobs themselves are deleted from the store. Each
purge is recorded in the audit chain, without any report content.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import groupby

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from portal.domain.categories import STATUSES
from portal.models import Evidence, Report, UsedPowToken, utcnow
from portal.services import audit, campaigns
from portal.storage.blobs import BlobStore, StorageError

log = logging.getLogger(__name__)

ACTOR = "system:retention"


@dataclass(frozen=True)
class ExpiredReport:
    report_id: int
    reference: str
    status: str
    closed_at: datetime
    blob_keys: tuple[str, ...]


@dataclass
class PurgeResult:
    dry_run: bool
    reports: list[ExpiredReport] = field(default_factory=list)
    blobs_deleted: int = 0
    blob_failures: list[str] = field(default_factory=list)
    pow_tokens_deleted: int = 0


def find_expired(
    session: Session, retention_days: Mapping[str, int | None], *, now: datetime | None = None
) -> list[ExpiredReport]:
    moment = now or utcnow()
    expired: list[ExpiredReport] = []
    for status, days in retention_days.items():
        if days is None or status not in STATUSES:
            continue
        cutoff = moment - timedelta(days=int(days))
        # One query per status: each report comes with its blob keys (None when it has none).
        rows = session.execute(
            select(Report.id, Report.reference, Report.status, Report.closed_at, Evidence.blob_key)
            .outerjoin(Evidence, Evidence.report_id == Report.id)
            .where(Report.status == status, Report.closed_at.is_not(None))
            .where(Report.closed_at < cutoff)
            .order_by(Report.id, Evidence.id)
        ).all()
        for (report_id, reference, report_status, closed_at), group in groupby(
            rows, key=lambda row: tuple(row[:4])
        ):
            keys = tuple(row.blob_key for row in group if row.blob_key is not None)
            expired.append(ExpiredReport(report_id, reference, report_status, closed_at, keys))
    return expired


def purge(
    session: Session,
    store: BlobStore,
    retention_days: Mapping[str, int | None],
    *,
    dry_run: bool = False,
    now: datetime | None = None,
) -> PurgeResult:
    moment = now or utcnow()
    result = PurgeResult(dry_run=dry_run, reports=find_expired(session, retention_days, now=now))
    if dry_run:
        return result
    for item in result.reports:
        # Reports marked as duplicates of this one keep their own data, not the link.
        session.execute(
            update(Report)
            .where(Report.duplicate_of_id == item.report_id)
            .values(duplicate_of_id=None)
        )
        # Its traces and image hashes go with it; what it alone connected falls apart.
        campaigns.forget_report(session, item.report_id, now=moment)
        report = session.get(Report, item.report_id)
        if report is not None:
            session.delete(report)
        audit.record(
            session,
            actor=ACTOR,
            action="report.purged",
            subject=item.reference,
            details={
                "status": item.status,
                "closed_at": item.closed_at.isoformat(),
                "evidence_files": len(item.blob_keys),
            },
            at=moment,
        )
        # Committed before the blobs go: with the wrapped keys gone the evidence is unreadable
        # even if deleting a blob fails below.
        session.commit()
        for key in item.blob_keys:
            try:
                store.delete(key)
                result.blobs_deleted += 1
            except StorageError as error:
                log.warning("evidence blob of a purged report not deleted: %s", error)
                result.blob_failures.append(key)
    deleted = session.execute(delete(UsedPowToken).where(UsedPowToken.expires_at < moment))
    result.pow_tokens_deleted = int(getattr(deleted, "rowcount", 0) or 0)
    session.commit()
    return result
