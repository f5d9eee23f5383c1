"""Campaign pages: links on a case page, the whole campaign, the largest campaigns, the
identifiers an officer adds, and preservation / freeze request letters. Thin: parse, call, render.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import current_app, flash, make_response, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import select
from werkzeug.exceptions import NotFound
from wtforms import SelectField, StringField
from wtforms.validators import InputRequired, Length, Optional, ValidationError

from portal.db import get_session
from portal.domain.categories import CATEGORIES, PLATFORMS
from portal.domain.identifiers import KINDS, Identifier, InvalidIdentifier, normalize
from portal.models import Officer, Report, Trace
from portal.services import campaigns, content_access
from portal.services.scope import get_report_for_officer
from portal.web.context import blind_indexer, keyring
from portal.web.officer.blueprint import bp
from portal.web.staff.auth import staff_required

CASE_ROLES = ("officer", "supervisor")
TRACE_KINDS: dict[str, object] = {
    **KINDS,
    "url": _l("Web address"),
    "image": _l("Near-identical image"),
}
ROLES: dict[str, object] = {"account": _l("Offender's account"), "payee": _l("Payee")}


def trace_kind_label(kind: str) -> str:
    base, _, platform = kind.partition(":")
    label = str(TRACE_KINDS.get(base, base))
    return f"{label} ({PLATFORMS.get(platform, platform)})" if platform else label


class IdentifierForm(FlaskForm):
    kind = SelectField(_l("Kind"), choices=list(KINDS.items()), validators=[InputRequired()])
    platform = SelectField(
        _l("Platform (for an account)"),
        choices=[("", "—"), *((code, label) for code, label in PLATFORMS.items())],
        validators=[Optional()],
    )
    role = SelectField(_l("Role"), choices=list(ROLES.items()), validators=[InputRequired()])
    value = StringField(
        _l("Value found in the evidence"),
        validators=[InputRequired(_l("Give the value.")), Length(max=300)],
        render_kw={"dir": "ltr", "autocomplete": "off"},
    )

    def validate_value(self, field: Any) -> None:
        try:
            self.identifier: Identifier = normalize(
                self.kind.data, field.data, platform=self.platform.data or None
            )
        except InvalidIdentifier as error:
            raise ValidationError(str(error.message)) from error
        except ValueError as error:
            raise ValidationError(str(_l("Choose a kind."))) from error


@bp.app_template_global()
def campaign_links(report: Report, officer: Officer) -> campaigns.CaseLinks:
    """For the case page: the traces other reports share, per unit (no content)."""
    return campaigns.case_links(get_session(), officer, report, keyring())


@bp.app_template_global()
def identifier_form() -> IdentifierForm:
    return IdentifierForm(prefix="identifier")


@bp.app_context_processor
def _campaign_context() -> dict[str, object]:
    return {"trace_kind_label": trace_kind_label, "trace_roles": ROLES}


@bp.route("/reports/<ref>/identifiers", methods=["GET", "POST"])
@staff_required(*CASE_ROLES)
def add_identifier(ref: str, *, staff: Officer) -> ResponseReturnValue:
    officer = staff
    db = get_session()
    report = get_report_for_officer(db, officer, ref)
    if request.method == "POST" and not content_access.may_act(officer):
        raise NotFound()  # supervisors never change a report
    content_access.require_content(db, officer, report, "identifiers")
    db.commit()
    form = IdentifierForm(prefix="identifier")
    traces = campaigns.own_traces(db, report, keyring())
    if request.method == "GET" or not form.validate():
        status = 400 if request.method == "POST" else 200
        return render_template(
            "officer/identifiers.html", report=report, form=form, traces=traces
        ), status
    added = campaigns.add_traces(
        db,
        report,
        [campaigns.identifier_trace(form.identifier, form.role.data)],
        indexer=blind_indexer(),
        keyring=keyring(),
        source="officer",
        officer=officer,
    )
    campaigns.raise_for_repeat(
        db, report, current_app.config["CAMPAIGN_REPEAT_PRIORITY"], now=report.updated_at
    )
    campaigns.record_trace_added(db, officer, report, added)
    db.commit()
    flash(
        _("The identifier is recorded and linked.") if added else _("Already recorded."), "success"
    )
    return redirect(url_for("officer.report_page", ref=ref), code=303)


@bp.get("/reports/<ref>/freeze-letter")
@staff_required(*CASE_ROLES)
def freeze_letter(ref: str, *, staff: Officer) -> ResponseReturnValue:
    """A preservation and freeze request for a payee identifier of this report, to print."""
    officer = staff
    db = get_session()
    report = get_report_for_officer(db, officer, ref)
    content_access.require_content(db, officer, report, "freeze letter")
    try:
        trace_id = int(request.args.get("trace", ""))
    except ValueError:
        raise NotFound() from None
    trace = db.scalar(
        select(Trace).where(
            Trace.id == trace_id,
            Trace.report_id == report.id,
            Trace.kind.in_(campaigns.PAYMENT_KINDS),
        )
    )
    if trace is None or trace.value_enc is None:
        raise NotFound()
    language = request.args.get("lang") if request.args.get("lang") in ("fr", "ar") else "fr"
    value = keyring().decrypt_field(
        trace.value_enc, campaigns.trace_context(report.reference, trace.kind, trace.key)
    )
    member = db.get(campaigns.CampaignMember, report.id)
    campaign = campaigns.resolve(db, member.campaign_id) if member else None
    money = campaigns.campaign_money(db, campaign.id) if campaign else []
    campaigns.record_letter(db, officer, report, trace, language)
    db.commit()
    references = current_app.config["CAMPAIGN_FREEZE_LEGAL_REFERENCE"]
    html = render_template(
        f"officer/freeze_letter_{language}.html",
        report=report,
        trace=trace,
        value=value,
        campaign=campaign,
        money=money,
        legal_reference=references.get(language, ""),
        officer=officer,
    )
    if request.args.get("format") != "pdf":
        return html
    response = make_response(_pdf(html))
    response.headers["Content-Type"] = "application/pdf"
    response.headers["Content-Disposition"] = (
        f'attachment; filename="freeze-request-{report.reference}-{language}.pdf"'
    )
    return response


def _no_fetch(url: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
    # The letter needs nothing from outside: no request leaves the server while rendering.
    raise ValueError(f"not fetched: {url}")


def _pdf(html: str) -> bytes:
    """The letter as PDF (WeasyPrint; Arabic shaped by Pango with the system's Noto fonts)."""
    import weasyprint  # imported here: it loads Pango, which only this page needs

    stylesheet = Path(current_app.static_folder or "static") / "css" / "letter.css"
    document = weasyprint.HTML(string=html, url_fetcher=_no_fetch)
    return bytes(document.write_pdf(stylesheets=[weasyprint.CSS(filename=str(stylesheet))]))


@bp.get("/campaigns/")
@staff_required(*CASE_ROLES)
def campaign_list(*, staff: Officer) -> ResponseReturnValue:
    officer = staff
    if not campaigns.can_view_campaigns(officer):
        raise NotFound()
    db = get_session()
    largest, growing = campaigns.top_campaigns(db, officer)
    db.commit()
    return render_template("officer/campaigns.html", largest=largest, growing=growing)


@bp.get("/campaigns/<int:campaign_id>")
@staff_required(*CASE_ROLES)
def campaign_page(campaign_id: int, *, staff: Officer) -> ResponseReturnValue:
    officer = staff
    db = get_session()
    live = campaigns.resolve(db, campaign_id)
    if live is not None and live.id != campaign_id and campaigns.can_view_campaigns(officer):
        return redirect(url_for("officer.campaign_page", campaign_id=live.id), code=301)
    view = campaigns.load_campaign(db, officer, campaign_id, keyring())
    if view is None:
        raise NotFound()
    db.commit()
    return render_template("officer/campaign.html", view=view, categories=CATEGORIES)
