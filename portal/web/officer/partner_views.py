"""The partner side of a case page: which organisation filed or acts for the victim, and a
message to the partner, the victim, or both (the exchange is in the case timeline).

The panel is a partial template (``officer/_partner.html``) filled by ``case_partners``.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import flash, redirect, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from portal.db import get_session
from portal.models import Mandate, Officer, Report
from portal.services import cases
from portal.services import partners as partner_service
from portal.services.scope import get_report_for_officer
from portal.web.context import keyring
from portal.web.officer.blueprint import bp
from portal.web.staff.auth import staff_required

AUDIENCES = ("partner", "reporter", "both")
MAX_MESSAGE = 5000


@dataclass(frozen=True)
class CasePartners:
    mandates: list[Mandate]
    live: list[Mandate]


@bp.app_template_global("case_partners")
def case_partners(report: Report) -> CasePartners:
    mandates = partner_service.all_mandates(get_session(), report)
    live = [mandate for mandate in mandates if mandate.withdrawn_at is None]
    return CasePartners(mandates=mandates, live=live)


@bp.post("/reports/<ref>/partner-message")
@staff_required("officer")
def message_partner(ref: str, *, staff: Officer) -> ResponseReturnValue:
    officer = staff
    assert officer is not None
    db = get_session()
    report = get_report_for_officer(db, officer, ref)
    body = (request.form.get("body") or "").strip()
    audience = request.form.get("audience", "partner")
    target = url_for("officer.report_page", ref=ref) + "#partner"
    if not body or len(body) > MAX_MESSAGE or audience not in AUDIENCES:
        flash(_("Write a message (at most 5,000 characters) and choose who receives it."), "error")
        return redirect(target, code=303)
    try:
        if audience in ("partner", "both"):
            partner_service.officer_message_partner(db, officer, report, body, keyring=keyring())
        if audience in ("reporter", "both"):
            cases.message_reporter(db, officer, report, body, keyring())
    except partner_service.PartnerError:
        db.rollback()
        flash(_("No organisation acts for the victim on this report any more."), "error")
        return redirect(target, code=303)
    db.commit()
    flash(_("Message sent."), "success")
    return redirect(target, code=303)
