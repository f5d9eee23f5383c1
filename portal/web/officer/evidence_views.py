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
from portal.evidence import custody, intake
from portal.models import Evidence, Officer
from portal.services import audit
from portal.services.scope import get_report_for_officer
from portal.web.context import blob_store, keyring
from portal.web.officer.blueprint import bp
from portal.web.staff.auth import staff_required

DOWNLOAD_CSP = "default-src 'none'; sandbox"

log = logging.getLogger(__name__)


# Any staff role: the scope decides, and answers 404 outside it (admins see no report).
@staff_required()
def download_evidence(ref: str, evidence_id: int, *, staff: Officer) -> ResponseReturnValue:
    officer, report = staff, get_report_for_officer(get_session(), staff, ref)
    db = get_session()
    row = db.get(Evidence, evidence_id)
    if row is None or row.report_id != report.id:
        raise NotFound()
    store, ring = blob_store(), keyring()
    try:
        chunks = custody.verified_stream(store, ring, report, row)
    except intake.IntegrityFailure as failure:
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
