"""Reporter pages: home, report form, one-time receipt, follow-up. Thin: parse, call, render."""

from __future__ import annotations

from flask import (
    Response,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from portal.db import get_session
from portal.domain.categories import CATEGORIES, NO_FILE_CATEGORIES, QUESTIONS, STATUSES
from portal.domain.guidance import TOPICS
from portal.domain.receipts import format_receipt, parse_receipt
from portal.models import Report
from portal.services import evidence as evidence_service
from portal.services import handoff, reports
from portal.web import honeypot, linking, ratelimit, uploads
from portal.web import pow as proof_of_work
from portal.web.citizen.blueprint import bp
from portal.web.citizen.followup_session import FOLLOWUP_KEY, reporter_required
from portal.web.citizen.forms import ReceiptForm, ReplyForm, ReportForm
from portal.web.context import blind_indexer, keyring, receipt_hasher
from portal.web.headers import is_local_path
from portal.web.i18n import LANGUAGE_COOKIE
from portal.web.ratelimit import global_key, limiter, network_key, setting

RECEIPT_NOT_FOUND = _l(
    "We could not find a report with this receipt. Check the 16 digits and try again."
)
PROOF_OF_WORK_NEEDED = _l(
    "Many wrong receipts are being tried on this site right now, so your browser must finish a"
    " short check first. Wait a few seconds, then send your receipt again. This check needs"
    " JavaScript; without it, please try again in an hour."
)
HANDOFF_KEY = honeypot.HANDOFF_KEY


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


def _render_report_form(form: ReportForm, status: int = 200) -> ResponseReturnValue:
    return (
        render_template(
            "citizen/report.html",
            form=form,
            questions=QUESTIONS,
            no_file_categories=NO_FILE_CATEGORIES,
        ),
        status,
    )


@bp.get("/report")
def report_form() -> ResponseReturnValue:
    return _render_report_form(ReportForm())


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
    valid = form.validate()
    file_problems = upload.check(files_allowed=form.category.data not in NO_FILE_CATEGORIES)
    if not valid or file_problems:
        if upload.accepted and not file_problems:
            file_problems = [uploads.choose_again_message()]
        upload.discard()
        form.evidence.errors = [*form.evidence.errors, *file_problems]
        return _render_report_form(form, uploads.form_status(upload))
    wait = ratelimit.charge_accepted_report()
    if wait is not None:
        upload.discard()
        return ratelimit.refusal(wait)
    db = get_session()
    submission = form.submission()
    report, submitted = reports.submit_report(
        db,
        submission,
        keyring=keyring(),
        hasher=receipt_hasher(),
        indexer=blind_indexer(),
        reference=upload.reference,
    )
    rows = evidence_service.attach(db, report, upload.accepted, source="report", keyring=keyring())
    linking.link_submission(db, report, submission.answers, submission.urls, rows, upload.accepted)
    token = handoff.stash_receipt(db, report, submitted.receipt, keyring=keyring())
    db.commit()
    session[HANDOFF_KEY] = token
    return redirect(url_for("citizen.receipt"), code=303)


@bp.get("/report/receipt")
def receipt() -> ResponseReturnValue:
    token = session.pop(HANDOFF_KEY, None)
    db = get_session()
    shown = handoff.take_receipt(db, token, keyring=keyring())
    db.commit()
    # A bot's discarded submission gets its one showing too (see portal.web.honeypot).
    shown = shown or honeypot.take_decoy(token)
    if shown is None:
        # Shown once only: a reload or a shared link shows nothing.
        return render_template("citizen/receipt_gone.html"), 410
    return render_template(
        "citizen/receipt.html", reference=shown.reference, receipt=format_receipt(shown.receipt)
    )


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
    report = reports.report_for_followup(db, session.get(FOLLOWUP_KEY))
    if report is not None:
        return _render_followup(report, ReplyForm())

    form = ReceiptForm()
    if request.method == "POST" and form.validate():
        digits = parse_receipt(form.receipt.data)
        found = reports.find_by_receipt(db, digits, receipt_hasher()) if digits else None
        if found is None:
            form.receipt.errors = [str(RECEIPT_NOT_FOUND)]
            return render_template("citizen/followup_login.html", form=form), 400
        token = reports.open_followup_session(
            db, found, minutes=current_app.config["FOLLOWUP_SESSION_MINUTES"]
        )
        db.commit()
        session[FOLLOWUP_KEY] = token
        return redirect(url_for("citizen.follow_up"), code=303)
    status = 400 if request.method == "POST" else 200
    return render_template("citizen/followup_login.html", form=form), status


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
    return (
        render_template(
            "citizen/followup.html",
            report=report,
            timeline=timeline,
            reply_form=reply_form,
            statuses=STATUSES,
            categories=CATEGORIES,
            no_file_categories=NO_FILE_CATEGORIES,
            **extra,
        ),
        status,
    )


@bp.post("/follow-up/reply")
@reporter_required
def follow_up_reply(report: Report) -> ResponseReturnValue:
    db = get_session()
    form = ReplyForm()
    if not form.validate():
        return _render_followup(report, form, 400)
    reports.add_reporter_reply(db, report, form.body.data.strip(), keyring=keyring())
    db.commit()
    flash(_("Your message was sent."), "success")
    return redirect(url_for("citizen.follow_up"), code=303)


@bp.post("/follow-up/evidence")
@limiter.limit(setting("RATELIMIT_EVIDENCE"))
@reporter_required
def follow_up_evidence(report: Report) -> ResponseReturnValue:
    db = get_session()
    upload = uploads.current_upload()
    problems = upload.check(files_allowed=report.category not in NO_FILE_CATEGORIES)
    if not upload.files and not problems:
        problems = [_("Choose at least one file to send.")]
    if problems:
        upload.discard()
        status = uploads.form_status(upload)
        return _render_followup(report, ReplyForm(), status, evidence_errors=problems)
    rows = evidence_service.attach(
        db, report, upload.accepted, source="follow_up", keyring=keyring()
    )
    linking.link_images(db, report, rows, upload.accepted)
    db.commit()
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
    """The quick-exit button without JavaScript: leave for a neutral site at once."""
    return redirect(current_app.config["QUICK_EXIT_URL"], code=303)
