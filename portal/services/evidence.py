"""Recording accepted evidence on a report, with its timeline entry and audit trail."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from portal.crypto.keyring import Keyring
from portal.evidence.intake import SOURCES, StagedFile, filename_context
from portal.models import Evidence, Report, ReportEvent, utcnow
from portal.services import audit


def attach(
    session: Session,
    report: Report,
    accepted: list[StagedFile],
    *,
    source: str,
    keyring: Keyring,
    now: Any = None,
) -> list[Evidence]:
    """Record the ``accepted`` staged files on ``report``; the caller commits.

    The blobs were committed to the store when the upload was checked; they are kept once the
    transaction commits and deleted at the end of the request otherwise.
    """
    if source not in SOURCES:
        raise ValueError(f"unknown evidence source {source!r}")
    now = now or utcnow()
    rows: list[Evidence] = []
    for staged in accepted:
        if staged.reference != report.reference:
            raise ValueError("staged evidence is bound to another report")
        assert staged.sha256 and staged.media_type and staged.key_id and staged.wrapped_key
        row = Evidence(
            blob_key=staged.blob_key,
            size=staged.size,
            sniffed_type=staged.media_type,
            sha256=staged.sha256,
            key_id=staged.key_id,
            wrapped_key=staged.wrapped_key,
            filename_enc=keyring.encrypt_field(
                staged.display_name, filename_context(report.reference, staged.blob_key)
            ),
            source=source,
            received_at=now,
        )
        report.evidence.append(row)
        rows.append(row)
    if not rows:
        return rows
    report.events.append(
        ReportEvent(
            at=now,
            kind="evidence_added",
            visible_to_reporter=True,
            details=json.dumps({"count": len(rows), "source": source}),
        )
    )
    if source == "follow_up":
        report.last_reporter_activity_at = now
    report.updated_at = now
    session.flush()
    for row in rows:
        audit.record(
            session,
            actor="reporter",
            action="evidence.received",
            subject=f"report:{report.reference}",
            details={
                "evidence_id": row.id,
                "sha256": row.sha256,
                "size": row.size,
                "type": row.sniffed_type,
                "source": source,
            },
            at=now,
        )
    kept = list(accepted)

    def _keep(_session: Session) -> None:
        for staged in kept:
            staged.state = "kept"

    event.listen(session, "after_commit", _keep, once=True)
    return rows
