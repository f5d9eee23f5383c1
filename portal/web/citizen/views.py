"""Reporter pages: home, report form, one-time receipt, follow-up. Thin: parse, call, render."""

from __future__ import annotations

from datetime import timedelta

from flask import (
    Response,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import format_timedelta
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from portal.db import get_session
from portal.domain.categories import (
    CATEGORIES,
    CLOSURE_REASONS_FOR_REPORTER,
    NO_FILE_CATEGORIES,
    PLATFORMS,
    QUESTIONS,
    STATUSES,
    all_questions,
)
from portal.domain.guidance import TOPICS
from portal.domain.receipts import format_receipt, parse_receipt
from portal.models import Report
from portal.services import evidence as evidence_service
from portal.services import handoff, reporter_view, reports
from portal.web import honeypot, linking, ratelimit, uploads
from portal.web import pow as proof_of_work
from portal.web.citizen.blueprint import bp
from portal.web.citizen.followup_session import (
    FOLLOWUP_KEY,
    HANDOFF_KEY,
    PENDING_KEY,
    current_followup_report,
    followup_minutes,
    reporter_required,
)
from portal.web.citizen.forms import ReceiptForm, ReplyForm, ReportForm
from portal.web.context import blind_indexer, blob_store, keyring, receipt_hasher
from portal.web.headers import is_local_path
from portal.web.i18n import LANGUAGE_COOKIE, current_language
from portal.web.ratelimit import global_key, limiter, network_key, setting

RECEIPT_NOT_FOUND = _l(
    "We could not find a report with this receipt. Check the 16 digits and try again."
)
PROOF_OF_WORK_NEEDED = _l(
    "Many wrong receipts are being tried on this site right now, so your browser must finish a"
    " short check first. Wait a few seconds, then send your receipt again. This check needs"
    " JavaScript; without it, please try again in an hour."
)


@bp.get("/")
def home() -> ResponseReturnValue:
    return render_template("citizen/home.html", categories=CATEGORIES, topics=TOPICS)


@bp.get("/language/<code>")
def set_language(code: str) -> ResponseReturnValue:
    target = request.args.get("next", "")
    # Only local paths: "/x" but never "//host" or "/\host" (an open redirect).
    if not is_local_path(target):
        target = url_for("citizen.home")
    response = redirect(target)
    if code in current_app.config["LANGUAGES"]:
        response.set_cookie(
            LANGUAGE_COOKIE,
            code,
            max_age=365 * 24 * 3600,
            samesite="Lax",
            httponly=True,
            secure=current_app.config["PREFER_HTTPS"],
        )
    return response


def _render_report_form(
    form: ReportForm, status: int = 200, **extra: object
) -> ResponseReturnValue:
    return (
        render_template(
            "citizen/report.html",
            form=form,
            questions=QUESTIONS,
            no_file_categories=NO_FILE_CATEGORIES,
            **extra,
        ),
        status,
    )


@bp.get("/report")
def report_form() -> ResponseReturnValue:
    return _render_report_form(ReportForm())


def _kept_choice() -> set[int] | None:
    """The held files still ticked in the form (None when the form offered none)."""
    if "keep_file_shown" not in request.form:
        return None
    return {int(value) for value in request.form.getlist("keep_file") if value.isdigit()}


@bp.post("/report")
@ratelimit.refused_before_parsing
# Every attempt, accepted or not: bounds what a client can make the server parse.
@limiter.limit(setting("RATELIMIT_REPORT_ATTEMPTS"))
# Accepted reports: read here, charged by the view just before storing.
@limiter.shared_limit(
    setting("RATELIMIT_REPORT"),
    scope=ratelimit.REPORT_ACCEPTED,
    deduct_when=ratelimit.charged_when_accepted,
)
# Stricter without a solved proof of work, per client and for the whole portal.
@limiter.shared_limit(
    setting("RATELIMIT_REPORT_WITHOUT_POW"),
    scope=ratelimit.REPORT_ACCEPTED_WITHOUT_POW,
    exempt_when=proof_of_work.request_has_valid_solution,
    deduct_when=ratelimit.charged_when_accepted,
    on_breach=ratelimit.charge_own_allowance,
)
@limiter.shared_limit(
    setting("RATELIMIT_REPORT_WITHOUT_POW_GLOBAL"),
    scope=ratelimit.REPORT_ACCEPTED_WITHOUT_POW_ALL,
    key_func=global_key,
    exempt_when=proof_of_work.request_has_valid_solution,
    deduct_when=ratelimit.charged_when_accepted,
    on_breach=ratelimit.charge_own_allowance,
)
@honeypot.guard
def submit_report() -> ResponseReturnValue:
    form = ReportForm()
    upload = uploads.current_upload()
    db = get_session()
    store = blob_store()
    # Files held from an earlier try count only for the form that shows them.
    pending_token = session.get(PENDING_KEY)
    if not pending_token or form.pending_upload.data != pending_token:
        pending_token = None
    valid = form.validate()
    files_allowed = form.category.data not in NO_FILE_CATEGORIES
    file_problems = upload.check(files_allowed=files_allowed)
    if files_allowed and pending_token:
        # Files held from earlier tries count towards the same per-report limit.
        keep = _kept_choice()
        held = evidence_service.held_files(db, pending_token, keyring=keyring())
        kept = [file for file in held if keep is None or file.id in keep]
        room = int(current_app.config["EVIDENCE_MAX_FILES"]) - len(kept)
        file_problems += upload.limit_to(room)
    if not files_allowed:
        evidence_service.discard_pending(db, session.pop(PENDING_KEY, None), store=store)
        db.commit()
        pending_token = None
    if not valid or file_problems:
        return _report_needs_correction(form, upload, file_problems, pending_token)
    wait = ratelimit.charge_accepted_report()
    if wait is not None:
        upload.discard()
        return ratelimit.refusal(wait)
    reference = upload.reference or evidence_service.pending_reference(db, pending_token)
    submission = form.submission(language=current_language())
    report, submitted = reports.submit_report(
        db,
        submission,
        keyring=keyring(),
        hasher=receipt_hasher(),
        indexer=blind_indexer(),
        reference=reference,
    )
    held = evidence_service.claim_pending(
        db, pending_token, report.reference, keep=_kept_choice(), store=store
    )
    rows = evidence_service.attach(
        db, report, upload.accepted, source="report", keyring=keyring(), pending_rows=held
    )
    # The rows of files held from an earlier try come first; only new files carry image hashes.
    new_rows = rows[len(held) :]
    linking.link_submission(
        db, report, submission.answers, submission.urls, new_rows, upload.accepted
    )
    token = handoff.stash_receipt(db, report, submitted.receipt, keyring=keyring())
    db.commit()
    session.pop(PENDING_KEY, None)
    session[HANDOFF_KEY] = token
    return redirect(url_for("citizen.receipt"), code=303)


def _report_needs_correction(
    form: ReportForm, upload: uploads.Upload, file_problems: list[str], pending_token: str | None
) -> ResponseReturnValue:
    """Send the form back with everything typed, keeping every file that was accepted."""
    db = get_session()
    accepted = upload.accepted
    if accepted:
        # A refused file never costs the accepted ones: they wait, encrypted, for this form.
        token = pending_token or evidence_service.new_pending_token()
        evidence_service.purge_expired_pending(db, store=blob_store())
        evidence_service.hold(db, token, accepted, keyring=keyring())
        db.commit()
        session[PENDING_KEY] = pending_token = token
    form.pending_upload.data = pending_token or ""
    held = evidence_service.held_files(db, pending_token, keyring=keyring())
    form.evidence.errors = [*form.evidence.errors, *file_problems]
    return _render_report_form(form, uploads.form_status(upload), held_files=held)


def _receipt_or_gone(template: str = "citizen/receipt.html") -> ResponseReturnValue:
    db = get_session()
    token = session.get(HANDOFF_KEY)
    shown = handoff.show_receipt(db, token, keyring=keyring())
    db.commit()
    # A bot's discarded submission gets a receipt page like a real one (portal.web.honeypot).
    shown = shown or honeypot.take_decoy(token)
    if shown is None:
        session.pop(HANDOFF_KEY, None)
        return render_template("citizen/receipt_gone.html"), 410
    hours = current_app.config["SLA_FIRST_RESPONSE_HOURS"].get(shown.priority)
    return render_template(
        template,
        reference=shown.reference,
        receipt=format_receipt(shown.receipt),
        first_response=format_timedelta(timedelta(hours=hours), threshold=1.1) if hours else None,
        priority=shown.priority,
    )


@bp.get("/report/receipt")
def receipt() -> ResponseReturnValue:
    return _receipt_or_gone()


@bp.get("/report/receipt.txt")
def receipt_file() -> ResponseReturnValue:
    """The reference and receipt as a small text file to keep (never cached)."""
    page = _receipt_or_gone("citizen/receipt.txt")
    if isinstance(page, tuple):
        return page
    response = make_response(page)
    response.headers["Content-Type"] = "text/plain; charset=utf-8"
    response.headers["Content-Disposition"] = 'attachment; filename="e-report-receipt.txt"'
    return response


@bp.post("/report/receipt/done")
def receipt_done() -> ResponseReturnValue:
    db = get_session()
    handoff.forget_receipt(db, session.pop(HANDOFF_KEY, None))
    db.commit()
    flash(_("Your receipt is no longer shown on this device. Keep your copy safe."), "info")
    return redirect(url_for("citizen.follow_up"), code=303)


def _render_login(form: ReceiptForm, status: int = 200, **extra: object) -> ResponseReturnValue:
    idle, _cap = followup_minutes()
    return render_template(
        "citizen/followup_login.html", form=form, idle_minutes=idle, **extra
    ), status


@bp.route("/follow-up", methods=["GET", "POST"])
@ratelimit.refused_before_parsing
# Wrong receipts only, per client and per IPv6 /56: a reporter who gets in costs nothing.
@limiter.limit(
    setting("RATELIMIT_FOLLOWUP"), methods=["POST"], deduct_when=ratelimit.failed_attempt
)
@limiter.shared_limit(
    setting("RATELIMIT_FOLLOWUP_NETWORK"),
    scope=ratelimit.FOLLOWUP_NETWORK,
    key_func=network_key,
    methods=["POST"],
    deduct_when=ratelimit.failed_attempt,
)
# Portal-wide, wrong receipts without a solved proof of work: beyond it a lookup needs one.
@limiter.shared_limit(
    setting("RATELIMIT_FOLLOWUP_GLOBAL"),
    scope=ratelimit.FOLLOWUP_ALL_CLIENTS,
    key_func=global_key,
    methods=["POST"],
    exempt_when=proof_of_work.request_has_valid_solution,
    deduct_when=ratelimit.failed_attempt,
    on_breach=lambda _limit: _proof_of_work_needed(),
)
def follow_up() -> ResponseReturnValue:
    db = get_session()
    report = current_followup_report()
    if report is not None and request.method == "GET":
        return _render_followup(report, ReplyForm())

    form = ReceiptForm()
    if request.method == "POST" and form.validate():
        digits = parse_receipt(form.receipt.data)
        found = reports.find_by_receipt(db, digits, receipt_hasher()) if digits else None
        if found is None:
            form.receipt.errors = [str(RECEIPT_NOT_FOUND)]
            return _render_login(form, 400, expired=bool(form.draft.data or form.file_names.data))
        idle, cap = followup_minutes()
        token = reports.open_followup_session(db, found, minutes=idle, max_minutes=cap)
        db.commit()
        session[FOLLOWUP_KEY] = token
        names = [name for name in form.file_names.data if name]
        if form.draft.data or names:
            # What was typed or chosen when the session ended comes back, ready to send.
            reply = ReplyForm(formdata=None, body=form.draft.data or "")
            return _render_followup(found, reply, choose_again=names)
        return redirect(url_for("citizen.follow_up"), code=303)
    if report is not None:
        return _render_followup(report, ReplyForm())
    status = 400 if request.method == "POST" else 200
    return _render_login(form, status)


def _session_ended(draft: str = "", file_names: list[str] | None = None) -> ResponseReturnValue:
    """A reply or upload arrived after the session ended: ask for the receipt, lose nothing."""
    session.pop(FOLLOWUP_KEY, None)
    form = ReceiptForm(formdata=None, draft=draft, file_names=file_names or [])
    return _render_login(form, 401, expired=True)


def _proof_of_work_needed() -> Response:
    """The receipt form again, to be sent with the check a browser solves while one types."""
    form = ReceiptForm()
    form.receipt.errors = [str(PROOF_OF_WORK_NEEDED)]
    page = render_template("citizen/followup_login.html", form=form)
    return Response(page, 429, {"Retry-After": "5"})


def _render_followup(
    report: object, reply_form: ReplyForm, status: int = 200, **extra: object
) -> ResponseReturnValue:
    timeline = reports.reporter_timeline(report, keyring())  # type: ignore[arg-type]
    summary = reporter_view.reporter_summary(report, keyring())  # type: ignore[arg-type]
    idle, _cap = followup_minutes()
    return (
        render_template(
            "citizen/followup.html",
            report=report,
            summary=summary,
            timeline=timeline,
            reply_form=reply_form,
            statuses=STATUSES,
            categories=CATEGORIES,
            closure_reasons=CLOSURE_REASONS_FOR_REPORTER,
            questions=all_questions(),
            platforms=PLATFORMS,
            no_file_categories=NO_FILE_CATEGORIES,
            idle_minutes=idle,
            **extra,
        ),
        status,
    )


def _reply_after_end() -> ResponseReturnValue:
    return _session_ended(draft=request.form.get("body", "")[:5000])


def _files_after_end() -> ResponseReturnValue:
    upload = uploads.current_upload()
    names = [staged.display_name for staged in upload.files]
    upload.discard()
    return _session_ended(file_names=names)


@bp.post("/follow-up/reply")
@reporter_required(ended=_reply_after_end)
def follow_up_reply(report: Report) -> ResponseReturnValue:
    db = get_session()
    form = ReplyForm()
    if not reporter_view.accepts_replies(report):  # type: ignore[arg-type]
        flash(_("This report is closed: it takes no more messages."), "error")
        return redirect(url_for("citizen.follow_up"), code=303)
    if not form.validate():
        return _render_followup(report, form, 400)
    reports.add_reporter_reply(db, report, form.body.data.strip(), keyring=keyring())  # type: ignore[arg-type]
    db.commit()
    flash(_("Your message was sent."), "success")
    return redirect(url_for("citizen.follow_up"), code=303)


@bp.post("/follow-up/evidence")
@limiter.limit(setting("RATELIMIT_EVIDENCE"))
@reporter_required(ended=_files_after_end)
def follow_up_evidence(report: Report) -> ResponseReturnValue:
    db = get_session()
    upload = uploads.current_upload()
    if not reporter_view.accepts_replies(report):  # type: ignore[arg-type]
        upload.discard()
        flash(_("This report is closed: it takes no more files."), "error")
        return redirect(url_for("citizen.follow_up"), code=303)
    problems = upload.check(files_allowed=report.category not in NO_FILE_CATEGORIES)  # type: ignore[attr-defined]
    if not upload.files and not problems:
        problems = [_("Choose at least one file to send.")]
    accepted = upload.accepted
    if accepted:
        # The good files are kept even when others were refused.
        rows = evidence_service.attach(db, report, accepted, source="follow_up", keyring=keyring())
        linking.link_images(db, report, rows, accepted)
        db.commit()
    if problems:
        status = uploads.form_status(upload)
        kept = [(staged.display_name, staged.size, staged.media_type) for staged in accepted]
        return _render_followup(
            report, ReplyForm(), status, evidence_errors=problems, kept_files=kept
        )
    flash(_("Your files were received. Thank you."), "success")
    return redirect(url_for("citizen.follow_up"), code=303)


@bp.post("/follow-up/end")
def follow_up_end() -> ResponseReturnValue:
    db = get_session()
    reports.close_followup_session(db, session.pop(FOLLOWUP_KEY, None))
    db.commit()
    flash(_("You have left your report. Keep your receipt safe to come back."), "info")
    return redirect(url_for("citizen.follow_up"), code=303)


@bp.get("/exit")
def quick_exit() -> ResponseReturnValue:
    """Quick exit: end whatever this device has open here, then leave for a neutral site.

    The follow-up session, a receipt waiting to be shown and files held for a form are ended
    on the server; the response also asks the browser to drop this site's cookies and storage.
    Browser history cannot be erased by a site, and the page says so.
    """
    db = get_session()
    reports.close_followup_session(db, session.get(FOLLOWUP_KEY))
    handoff.forget_receipt(db, session.get(HANDOFF_KEY))
    evidence_service.discard_pending(db, session.get(PENDING_KEY), store=blob_store())
    db.commit()
    session.clear()
    response = redirect(current_app.config["QUICK_EXIT_URL"], code=303)
    response.headers["Clear-Site-Data"] = '"cookies", "storage"'
    return response
