"""The case file for the prosecutor: a printable page, a PDF and a signed ZIP bundle.

Officers of the report's units only (need to know); every export is audited.
"""

from __future__ import annotations

from flask import Response, current_app, render_template, stream_with_context
from flask.typing import ResponseReturnValue

from portal.db import get_session
from portal.domain.categories import CATEGORIES, CLOSURE_REASONS, PRIORITIES, STATUSES
from portal.models import Officer, Report, utcnow
from portal.services import audit, case_export, casefile
from portal.services.scope import get_report_for_officer
from portal.web.context import blob_store, keyring
from portal.web.documents import render_pdf
from portal.web.officer.blueprint import bp
from portal.web.staff.auth import current_officer, role_required

BUNDLE_CSP = "default-src 'none'; sandbox"


def _officer() -> Officer:
    officer = current_officer()
    assert officer is not None  # role_required guarantees it
    return officer


def _page(case: casefile.CaseFile, *, for_pdf: bool = False) -> str:
    return render_template(
        "officer/case_file.html",
        case=case,
        report=case.report,
        categories=CATEGORIES,
        statuses=STATUSES,
        priorities=PRIORITIES,
        closure_reasons=CLOSURE_REASONS,
        generated_at=utcnow(),
        for_pdf=for_pdf,
    )


def _load(ref: str) -> tuple[Officer, Report, casefile.CaseFile]:
    officer, db = _officer(), get_session()
    report = get_report_for_officer(db, officer, ref)
    return officer, report, casefile.load_case_file(db, officer, report, keyring())


def _audit(officer: Officer, report: Report, action: str) -> None:
    db = get_session()
    audit.record(
        db, actor=audit.officer_name(officer), action=action, subject=f"report:{report.reference}"
    )
    db.commit()


@bp.get("/reports/<ref>/case-file")
@role_required("officer")
def case_file(ref: str) -> ResponseReturnValue:
    officer, report, case = _load(ref)
    _audit(officer, report, "case_file.printed")
    return _page(case)


@bp.get("/reports/<ref>/case-file.pdf")
@role_required("officer")
def case_file_pdf(ref: str) -> ResponseReturnValue:
    officer, report, case = _load(ref)
    pdf = render_pdf(_page(case, for_pdf=True))
    _audit(officer, report, "case_file.pdf_exported")
    response = Response(pdf, mimetype="application/pdf")
    response.headers["Content-Disposition"] = (
        f'attachment; filename="case-file-{report.reference}.pdf"'
    )
    response.headers["Content-Security-Policy"] = BUNDLE_CSP
    return response


@bp.get("/reports/<ref>/case-file.zip")
@role_required("officer")
def case_file_bundle(ref: str) -> ResponseReturnValue:
    officer, report, case = _load(ref)
    db = get_session()
    bundle = case_export.build_bundle(
        db,
        officer=officer,
        case=case,
        pdf=render_pdf(_page(case, for_pdf=True)),
        store=blob_store(),
        keyring=keyring(),
        key=case_export.signing_key(current_app.config["CASEFILE_KEY"]),
        now=utcnow(),
    )
    db.commit()
    response = Response(
        stream_with_context(case_export.stream_zip(bundle)), mimetype="application/zip"
    )
    response.headers["Content-Disposition"] = (
        f'attachment; filename="case-file-{report.reference}.zip"'
    )
    response.headers["Content-Security-Policy"] = BUNDLE_CSP
    return response
