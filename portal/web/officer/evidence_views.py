"""Officer evidence access: verified download and the per-report manifest, every access audited.

A file reaches the officer only after a full verification pass (every chunk authenticated,
size and SHA-256 equal to the values recorded at intake); a file that fails is refused with an
audit entry. Downloads are attachments that no browser will render in the portal's origin.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

from flask import Response, render_template, stream_with_context
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import NotFound

from portal.db import get_session
from portal.evidence import custody, intake, thumbnails
from portal.models import Evidence, Officer, Report
from portal.services import audit, content_access
from portal.services.scope import get_report_for_officer
from portal.web.context import blob_store, keyring
from portal.web.officer.blueprint import bp
from portal.web.staff.auth import staff_required

DOWNLOAD_CSP = "default-src 'none'; sandbox"

log = logging.getLogger(__name__)


def _evidence_in_scope(
    officer: Officer, ref: str, evidence_id: int, what: str
) -> tuple[Officer, Report, Evidence]:
    """The report (404 outside the scope), its content access, and one of its files."""
    db = get_session()
    report = get_report_for_officer(db, officer, ref)
    row = db.get(Evidence, evidence_id)
    if row is None or row.report_id != report.id:
        raise NotFound()
    content_access.require_content(db, officer, report, what)
    return officer, report, row


def _integrity_failure(
    officer: Officer, report: Report, row: Evidence, failure: Exception
) -> ResponseReturnValue:
    db = get_session()
    log.error("Evidence %s of %s failed verification: %s", row.id, report.reference, failure)
    audit.record(
        db,
        actor=audit.officer_name(officer),
        action="evidence.integrity_failure",
        subject=f"report:{report.reference}",
        details={"evidence_id": row.id, "sha256": row.sha256, "problem": str(failure)},
    )
    db.commit()
    return (
        render_template("officer/evidence_integrity_failure.html", report=report, item=row),
        500,
    )


def _preview(ref: str, evidence_id: int, officer: Officer, *, blurred: bool) -> ResponseReturnValue:
    """A downscaled, re-encoded PNG of an evidence image: never the original bytes.

    The file is read through the same verified path as a download (every chunk authenticated,
    size and SHA-256 re-checked) and drawn again, small and without metadata, by
    ``portal.evidence.thumbnails``; blurred unless the officer asked for it clear.
    """
    what = "evidence preview" if blurred else "evidence preview unblurred"
    officer, report, row = _evidence_in_scope(officer, ref, evidence_id, what)
    if not thumbnails.previewable(row.sniffed_type, row.size):
        raise NotFound()
    db = get_session()
    try:
        data = b"".join(custody.verified_stream(blob_store(), keyring(), report, row))
    except intake.IntegrityFailure as failure:
        return _integrity_failure(officer, report, row, failure)
    try:
        image = thumbnails.thumbnail(data, blurred=blurred)
    except thumbnails.NotPreviewable:
        raise NotFound() from None
    finally:
        del data
    audit.record(
        db,
        actor=audit.officer_name(officer),
        action="evidence.previewed" if blurred else "evidence.preview_unblurred",
        subject=f"report:{report.reference}",
        details={"evidence_id": row.id, "sha256": row.sha256, "blurred": blurred},
    )
    db.commit()
    response = Response(image, mimetype="image/png")
    response.headers["Content-Disposition"] = (
        f'inline; filename="preview-{report.reference}-{row.id}.png"'
    )
    response.headers["Content-Security-Policy"] = DOWNLOAD_CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store"
    response.headers["Cross-Origin-Resource-Policy"] = "same-origin"
    return response


@staff_required()
def evidence_preview(ref: str, evidence_id: int, *, staff: Officer) -> ResponseReturnValue:
    return _preview(ref, evidence_id, staff, blurred=True)


@staff_required()
def evidence_preview_clear(ref: str, evidence_id: int, *, staff: Officer) -> ResponseReturnValue:
    return _preview(ref, evidence_id, staff, blurred=False)


# Any staff role: the scope decides, and answers 404 outside it (admins see no report).
@staff_required()
def download_evidence(ref: str, evidence_id: int, *, staff: Officer) -> ResponseReturnValue:
    officer, report, row = _evidence_in_scope(staff, ref, evidence_id, "evidence download")
    db = get_session()
    store, ring = blob_store(), keyring()
    try:
        chunks = custody.verified_stream(store, ring, report, row)
    except intake.IntegrityFailure as failure:
        return _integrity_failure(officer, report, row, failure)
    name = intake.download_filename(custody.evidence_filename(ring, report, row), row.sniffed_type)
    audit.record(
        db,
        actor=audit.officer_name(officer),
        action="evidence.downloaded",
        subject=f"report:{report.reference}",
        details={"evidence_id": row.id, "sha256": row.sha256, "size": row.size},
    )
    db.commit()

    def body() -> Iterator[bytes]:
        yield from chunks

    response = Response(stream_with_context(body()), mimetype="application/octet-stream")
    response.headers["Content-Disposition"] = intake.content_disposition(
        name, f"evidence-{report.reference}-{row.id}"
    )
    response.headers["Content-Length"] = str(row.size)
    response.headers["Content-Security-Policy"] = DOWNLOAD_CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Evidence-SHA256"] = row.sha256
    return response


@staff_required()
def evidence_manifest(ref: str, *, staff: Officer) -> ResponseReturnValue:
    officer, report = staff, get_report_for_officer(get_session(), staff, ref)
    db = get_session()
    content_access.require_content(db, officer, report, "evidence manifest")
    document = custody.manifest(db, report)
    audit.record(
        db,
        actor=audit.officer_name(officer),
        action="evidence.manifest_exported",
        subject=f"report:{report.reference}",
        details={"files": len(document["files"])},
    )
    db.commit()
    response = Response(
        json.dumps(document, indent=2, ensure_ascii=False) + "\n", mimetype="application/json"
    )
    response.headers["Content-Disposition"] = (
        f'attachment; filename="evidence-manifest-{report.reference}.json"'
    )
    response.headers["Content-Security-Policy"] = DOWNLOAD_CSP
    response.headers["Cache-Control"] = "no-store"
    return response


bp.add_url_rule(
    "/reports/<ref>/evidence/<int:evidence_id>",
    endpoint="download_evidence",
    view_func=download_evidence,
    methods=["GET"],
)
bp.add_url_rule(
    "/reports/<ref>/evidence-manifest.json",
    endpoint="evidence_manifest",
    view_func=evidence_manifest,
    methods=["GET"],
)
bp.add_url_rule(
    "/reports/<ref>/evidence/<int:evidence_id>/preview.png",
    endpoint="evidence_preview",
    view_func=evidence_preview,
    methods=["GET"],
)
bp.add_url_rule(
    "/reports/<ref>/evidence/<int:evidence_id>/preview-unblurred.png",
    endpoint="evidence_preview_clear",
    view_func=evidence_preview_clear,
    methods=["GET"],
)
