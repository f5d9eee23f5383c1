"""Takedown and preservation requests, and cross-border referrals, from the case page.

Thin: scope check through the report, parse, call the service, commit, render. A request or a
referral is reached through its report, so an officer outside the report's units gets 404.
"""

from __future__ import annotations

from typing import Any

from babel import Locale
from flask import Response, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy.orm import Session
from werkzeug.exceptions import NotFound

from portal.db import get_session
from portal.domain.categories import CATEGORIES
from portal.domain.platforms import load_platforms
from portal.models import Officer, Referral, Report, TakedownRequest, utcnow
from portal.services import content_access, hosting, mailer, referrals, takedowns
from portal.services.scope import get_report_for_officer
from portal.web.context import keyring
from portal.web.documents import render_pdf
from portal.web.i18n import current_language
from portal.web.officer.blueprint import bp
from portal.web.officer.takedown_forms import (
    LANGUAGE_NAMES,
    OUTCOME_LABELS,
    REQUEST_KINDS,
    AcknowledgedForm,
    OutcomeForm,
    ReferralForm,
    SendForm,
    TakedownForm,
)
from portal.web.staff.auth import staff_required

CASE_ROLES = ("officer", "supervisor")
PDF_CSP = "default-src 'none'; sandbox"


def _legal_bases() -> dict[str, dict[str, str]]:
    return dict(current_app.config["TAKEDOWN_LEGAL_BASES"])


def _legal_text(code: str, language: str) -> str:
    texts = _legal_bases().get(code) or {}
    return texts.get(language) or next(iter(texts.values()), code)


def _platform_name(code: str) -> str:
    platform = load_platforms().get(code)
    return platform.name if platform else _("Other website")


def _load_request(db: Session, officer: Officer, request_id: int) -> TakedownRequest:
    row = db.get(TakedownRequest, request_id)
    if row is None:
        raise NotFound()
    # Scope goes through the report: outside the officer's units this is a 404 like the report;
    # a supervisor reads a request (it quotes the content) only with a break-glass grant.
    report = get_report_for_officer(db, officer, row.report.reference)
    if content_access.require_content(db, officer, report, "takedown request").grant:
        db.commit()
    return row


def _load_referral(db: Session, officer: Officer, referral_id: int) -> Referral:
    row = db.get(Referral, referral_id)
    if row is None:
        raise NotFound()
    report = get_report_for_officer(db, officer, row.report.reference)
    if content_access.require_content(db, officer, report, "referral").grant:
        db.commit()
    return row


def _takedown_form(report: Report, form: TakedownForm | None = None) -> TakedownForm:
    form = form or TakedownForm()
    lang = current_language()
    form.urls.choices = [
        (c.id, f"{c.url} — {_platform_name(c.platform)}")
        for c in takedowns.candidate_urls(report, keyring())
    ]
    form.legal_basis.choices = [(code, _legal_text(code, lang)) for code in _legal_bases()]
    if not form.is_submitted():
        form.language.data = "fr" if lang == "fr" else "en"
        form.preservation_days.data = current_app.config["PRESERVATION_DEFAULT_DAYS"]
        if request.args.get("kind") in takedowns.KINDS:
            form.kind.data = request.args["kind"]
    return form


@bp.route("/reports/<ref>/takedowns/new", methods=["GET", "POST"])
@staff_required("officer")
def new_takedown(ref: str, *, staff: Officer) -> ResponseReturnValue:
    officer, db = staff, get_session()
    report = get_report_for_officer(db, officer, ref)
    form = _takedown_form(report, TakedownForm())
    status = 200
    if form.validate_on_submit():
        draft = takedowns.TakedownDraft(
            kind=form.kind.data,
            url_ids=form.urls.data or [],
            legal_basis=form.legal_basis.data,
            explanation=form.explanation.data or "",
            preservation_days=form.preservation_days.data,
            language=form.language.data,
        )
        try:
            created = takedowns.create_request(
                db,
                officer=officer,
                report=report,
                draft=draft,
                keyring=keyring(),
                channels=current_app.config["TAKEDOWN_CHANNELS"],
                legal_bases=_legal_bases(),
                now=utcnow(),
            )
        except takedowns.TakedownError as error:
            db.rollback()
            form.form_errors.append(str(error.message))
            report = get_report_for_officer(db, officer, ref)
            status = 400
        else:
            db.commit()
            return redirect(url_for("officer.takedown", request_id=created.id), code=303)
    elif form.is_submitted():
        status = 400
    return (render_template("officer/takedown_new.html", report=report, form=form), status)


def _unit_contact(unit_code: str) -> dict[str, str]:
    """The issuing unit's contact as requests and referrals give it."""
    config = current_app.config
    return dict(config["TAKEDOWN_CONTACTS"].get(unit_code) or config["TAKEDOWN_DEFAULT_CONTACT"])


def _document_context(row: TakedownRequest) -> dict[str, Any]:
    contacts = _unit_contact(row.unit.code)
    return {
        "row": row,
        "platform": load_platforms().get(row.platform),
        "platform_name": _platform_name(row.platform),
        "urls": [takedowns.report_url_text(keyring(), item.report_url) for item in row.items],
        "legal_basis": _legal_text(row.legal_basis, row.language),
        "explanation": takedowns.explanation(keyring(), row),
        "unit_name": row.unit.name(row.language),
        "contact": contacts,
        "issued_at": row.sent_at or row.created_at,
    }


def _render_document(row: TakedownRequest, *, for_pdf: bool = False) -> str:
    """The request in the language the platform accepts, whatever the officer's language."""
    with force_locale(row.language):
        return render_template(
            "officer/takedown_document.html", for_pdf=for_pdf, **_document_context(row)
        )


def _document_text(row: TakedownRequest) -> tuple[str, str]:
    with force_locale(row.language):
        context = _document_context(row)
        subject = render_template("officer/takedown_subject.txt", **context).strip()
        body = render_template("officer/takedown_document.txt", **context)
    return subject, body


def _takedown_page(row: TakedownRequest, status: int = 200, **forms: Any) -> ResponseReturnValue:
    outcome_form = forms.get("outcome_form") or OutcomeForm(prefix="outcome")
    outcome_form.items.choices = [
        (item.id, takedowns.report_url_text(keyring(), item.report_url))
        for item in row.items
        if item.outcome is None
    ]
    smtp = mailer.SmtpSettings.from_config(current_app.config)
    return (
        render_template(
            "officer/takedown.html",
            row=row,
            report=row.report,
            platform_name=_platform_name(row.platform),
            kinds=REQUEST_KINDS,
            outcomes=OUTCOME_LABELS,
            languages=LANGUAGE_NAMES,
            url_text=lambda row: takedowns.report_url_text(keyring(), row),
            can_email=row.channel == "email" and smtp.configured,
            send_form=forms.get("send_form") or SendForm(prefix="send"),
            acknowledged_form=AcknowledgedForm(prefix="ack"),
            outcome_form=outcome_form,
        ),
        status,
    )


@bp.get("/takedowns/<int:request_id>")
@staff_required(*CASE_ROLES)
def takedown(request_id: int, *, staff: Officer) -> ResponseReturnValue:
    return _takedown_page(_load_request(get_session(), staff, request_id))


@bp.get("/takedowns/<int:request_id>/document")
@staff_required(*CASE_ROLES)
def takedown_document(request_id: int, *, staff: Officer) -> ResponseReturnValue:
    db = get_session()
    row = _load_request(db, staff, request_id)
    page = _render_document(row)
    takedowns.record_document_export(db, officer=staff, request=row, how="printed", now=utcnow())
    db.commit()
    return page


@bp.get("/takedowns/<int:request_id>/document.pdf")
@staff_required(*CASE_ROLES)
def takedown_pdf(request_id: int, *, staff: Officer) -> ResponseReturnValue:
    officer, db = staff, get_session()
    row = _load_request(db, officer, request_id)
    pdf = render_pdf(_render_document(row, for_pdf=True))
    takedowns.record_document_export(db, officer=officer, request=row, how="pdf", now=utcnow())
    db.commit()
    response = Response(pdf, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'attachment; filename="request-{row.id}.pdf"'
    response.headers["Content-Security-Policy"] = PDF_CSP
    return response


@bp.post("/takedowns/<int:request_id>/send")
@staff_required("officer")
def send_takedown(request_id: int, *, staff: Officer) -> ResponseReturnValue:
    officer, db = staff, get_session()
    row = _load_request(db, officer, request_id)
    form = SendForm(prefix="send")
    if not form.validate():
        return _takedown_page(row, 400, send_form=form)
    try:
        takedowns.hold_unsent(db, row)
    except takedowns.TakedownError as error:
        db.rollback()
        flash(str(error.message), "error")
        return redirect(url_for("officer.takedown", request_id=request_id), code=303)
    smtp = mailer.SmtpSettings.from_config(current_app.config)
    message_id = None
    refused: list[str] = []
    if form.how.data == "email":
        if row.channel != "email" or not smtp.configured or not row.recipient:
            form.how.errors = [_("No e-mail channel is configured for this platform.")]
            return _takedown_page(row, 400, send_form=form)
        subject, body = _document_text(row)
        attachment = mailer.Attachment(
            f"request-{row.id}.pdf",
            render_pdf(_render_document(row, for_pdf=True)),
            "application",
            "pdf",
        )
        try:
            message_id = mailer.send(
                smtp,
                mailer.build_message(
                    smtp, to=row.recipient, subject=subject, body=body, attachments=[attachment]
                ),
            )
        except mailer.RecipientsRefused as refusal:
            if not refusal.accepted:
                return _relay_refused(row, form)
            # It left for the platform's other addresses: sent (a second send would reach
            # them twice), and the officer is told which address refused it.
            message_id, refused = refusal.message_id, sorted(refusal.refused)
            current_app.logger.warning(
                "takedown request %s: the SMTP relay refused %d of its addresses",
                row.id,
                len(refused),
            )
        except mailer.MailError:
            return _relay_refused(row, form)
    try:
        takedowns.mark_sent(
            db,
            officer=officer,
            request=row,
            now=utcnow(),
            how=form.how.data,
            message_id=message_id,
            refused=refused,
        )
    except takedowns.TakedownError as error:
        db.rollback()
        flash(str(error.message), "error")
        return redirect(url_for("officer.takedown", request_id=request_id), code=303)
    db.commit()
    if refused:
        flash(
            _(
                "The request is recorded as sent, but the mail relay refused %(addresses)s: "
                "send it to the platform another way.",
                addresses=", ".join(refused),
            ),
            "error",
        )
    else:
        flash(_("The request is recorded as sent."), "success")
    return redirect(url_for("officer.takedown", request_id=request_id), code=303)


def _relay_refused(row: TakedownRequest, form: SendForm) -> ResponseReturnValue:
    current_app.logger.warning("takedown request %s: the SMTP relay refused it", row.id)
    form.how.errors = [_("The mail relay did not accept the request. Try again later.")]
    return _takedown_page(row, 502, send_form=form)


@bp.post("/takedowns/<int:request_id>/acknowledged")
@staff_required("officer")
def acknowledge_takedown(request_id: int, *, staff: Officer) -> ResponseReturnValue:
    officer, db = staff, get_session()
    row = _load_request(db, officer, request_id)
    if AcknowledgedForm(prefix="ack").validate():
        try:
            takedowns.record_acknowledged(db, officer=officer, request=row, now=utcnow())
        except takedowns.TakedownError as error:
            db.rollback()
            flash(str(error.message), "error")
        else:
            db.commit()
    return redirect(url_for("officer.takedown", request_id=request_id), code=303)


@bp.post("/takedowns/<int:request_id>/outcome")
@staff_required("officer")
def takedown_outcome(request_id: int, *, staff: Officer) -> ResponseReturnValue:
    officer, db = staff, get_session()
    row = _load_request(db, officer, request_id)
    form = OutcomeForm(prefix="outcome")
    form.items.choices = [(item.id, "") for item in row.items if item.outcome is None]
    if not form.validate():
        return _takedown_page(row, 400, outcome_form=form)
    try:
        takedowns.record_outcome(
            db,
            officer=officer,
            request=row,
            item_ids=form.items.data or [],
            outcome=form.outcome.data,
            now=utcnow(),
        )
    except takedowns.TakedownError as error:
        db.rollback()
        form.form_errors.append(str(error.message))
        return _takedown_page(_load_request(db, officer, request_id), 400, outcome_form=form)
    db.commit()
    flash(_("Outcome recorded."), "success")
    return redirect(url_for("officer.takedown", request_id=request_id), code=303)


# --- cross-border referrals --------------------------------------------------------------------


def _countries() -> dict[str, str]:
    names = Locale.parse(current_language()).territories
    return {code: name for code, name in names.items() if len(code) == 2 and code.isalpha()}


def _lookup() -> hosting.CountryLookup | None:
    server = current_app.config.get("HOSTING_WHOIS_SERVER")
    return hosting.WhoisLookup(server) if server else None


def _hosting_guesses(report: Report) -> list[tuple[str, hosting.HostingGuess]]:
    overrides = current_app.config["HOSTING_COUNTRY_OVERRIDES"]
    lookup = _lookup()
    return [
        (
            takedowns.report_url_text(keyring(), row),
            hosting.hosting_country(
                takedowns.report_url_host(keyring(), row), overrides=overrides, lookup=lookup
            ),
        )
        for row in report.urls
    ]


def _referral_form(
    report: Report, guesses: list[tuple[str, hosting.HostingGuess]], form: ReferralForm
) -> ReferralForm:
    countries = _countries()
    home = current_app.config["HOME_COUNTRY"]
    abroad = sorted(
        ((code, name) for code, name in countries.items() if code != home),
        key=lambda pair: pair[1],
    )
    form.destination.choices = [("", "—"), *abroad]
    form.urls.choices = [(row.id, takedowns.report_url_text(keyring(), row)) for row in report.urls]
    form.evidence.choices = [
        (row.id, f"SHA-256 {row.sha256[:16]}… ({row.sniffed_type})") for row in report.evidence
    ]
    if not form.is_submitted():
        hosted_abroad = [g.country for _url, g in guesses if g.country not in (None, home)]
        if hosted_abroad:
            form.destination.data = hosted_abroad[0]
        form.language.data = "fr" if current_language() == "fr" else "en"
    return form


def _summary(report: Report, language: str) -> str:
    with force_locale(language):
        category = str(CATEGORIES.get(report.category, report.category))
        return _(
            "Referral from the Moroccan police: a report of %(category)s received on "
            "%(date)s (reference %(reference)s). The content identified below appears to be "
            "hosted in your jurisdiction. Please take the action your law allows and tell the "
            "issuing unit what was done.",
            category=category,
            date=report.submitted_at.date().isoformat(),
            reference=report.reference,
        )


@bp.route("/reports/<ref>/referrals/new", methods=["GET", "POST"])
@staff_required("officer")
def new_referral(ref: str, *, staff: Officer) -> ResponseReturnValue:
    officer, db = staff, get_session()
    report = get_report_for_officer(db, officer, ref)
    guesses = _hosting_guesses(report)
    form = _referral_form(report, guesses, ReferralForm())
    status = 200
    if form.validate_on_submit():
        contacts = _unit_contact(report.unit.code)
        draft = referrals.ReferralDraft(
            destination=form.destination.data or "",
            url_ids=form.urls.data or [],
            evidence_ids=form.evidence.data or [],
            language=form.language.data,
            note=form.note.data or "",
        )
        try:
            created = referrals.create_referral(
                db,
                officer=officer,
                report=report,
                draft=draft,
                issuer=referrals.Issuer(
                    report.unit.name("en"), contacts.get("email", ""), contacts.get("phone", "")
                ),
                summary=_summary(report, form.language.data),
                keyring=keyring(),
                home_country=current_app.config["HOME_COUNTRY"],
                countries=_countries(),
                now=utcnow(),
            )
        except referrals.ReferralError as error:
            db.rollback()
            form.form_errors.append(str(error.message))
            report = get_report_for_officer(db, officer, ref)
            status = 400
        else:
            db.commit()
            return redirect(url_for("officer.referral", referral_id=created.id), code=303)
    elif form.is_submitted():
        status = 400
    return (
        render_template(
            "officer/referral_new.html",
            report=report,
            form=form,
            guesses=guesses,
            countries=_countries(),
        ),
        status,
    )


@bp.get("/referrals/<int:referral_id>")
@staff_required(*CASE_ROLES)
def referral(referral_id: int, *, staff: Officer) -> ResponseReturnValue:
    officer, db = staff, get_session()
    row = _load_referral(db, officer, referral_id)
    page = render_template(
        "officer/referral.html",
        row=row,
        report=row.report,
        objects=referrals.bundle_objects(keyring(), row),
        country=_countries().get(row.destination, row.destination),
    )
    # The page shows the bundle's contents: an export, like the bundle's download.
    referrals.record_view(db, officer=officer, referral=row, now=utcnow())
    db.commit()
    return page


@bp.get("/referrals/<int:referral_id>/bundle.json")
@staff_required(*CASE_ROLES)
def referral_bundle(referral_id: int, *, staff: Officer) -> ResponseReturnValue:
    officer, db = staff, get_session()
    row = _load_referral(db, officer, referral_id)
    body = referrals.bundle_json(keyring(), row)
    referrals.record_download(db, officer=officer, referral=row, now=utcnow())
    db.commit()
    response = Response(body, mimetype="application/stix+json;version=2.1")
    response.headers["Content-Disposition"] = (
        f'attachment; filename="referral-{row.report.reference}-{row.destination}.json"'
    )
    return response
