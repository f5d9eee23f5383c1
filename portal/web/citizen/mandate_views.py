"""The victim's mandates on /follow-up: let an accredited partner act on her report, see what it
and the officers wrote to each other, withdraw the mandate at any time.

The panel is a partial template (``citizen/_mandates.html``) filled by ``partner_mandates``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import abort, flash, redirect, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from portal.db import get_session
from portal.models import Mandate, Partner, Report
from portal.services import partners as partner_service
from portal.web.citizen.blueprint import bp
from portal.web.citizen.followup_session import reporter_required
from portal.web.context import keyring


@dataclass(frozen=True)
class PartnerMessage:
    at: Any
    author: str  # "officer" or "partner"
    body: str


@dataclass(frozen=True)
class MandatePanel:
    live: list[Mandate]
    choices: list[Partner]
    messages: list[PartnerMessage]


@bp.app_template_global("partner_mandates")
def partner_mandates(report: Report) -> MandatePanel:
    db = get_session()
    live = partner_service.live_mandates(db, report)
    taken = {mandate.partner_id for mandate in live}
    choices = [
        partner
        for partner in partner_service.accredited_partners(db, report.category)
        if partner.id not in taken
    ]
    messages = [
        PartnerMessage(
            at=message.created_at,
            author="officer" if message.kind == "to_partner" else "partner",
            body=partner_service.read_message(message, report, keyring()),
        )
        for message in partner_service.partner_messages(report)
    ]
    return MandatePanel(live=live, choices=choices, messages=messages)


@bp.post("/follow-up/mandates")
@reporter_required
def grant_mandate(*, report: Report) -> ResponseReturnValue:
    db = get_session()
    try:
        partner_id = int(request.form.get("partner", ""))
        partner_service.grant_mandate(db, report, partner_id)
    except (ValueError, partner_service.PartnerError):
        flash(_("Choose one of the organisations in the list."), "error")
        return redirect(url_for("citizen.follow_up") + "#mandates", code=303)
    db.commit()
    flash(_("The organisation can now follow your report and write to the police."), "success")
    return redirect(url_for("citizen.follow_up") + "#mandates", code=303)


@bp.post("/follow-up/mandates/<int:mandate_id>/withdraw")
@reporter_required
def withdraw_mandate(mandate_id: int, *, report: Report) -> ResponseReturnValue:
    db = get_session()
    mandate = db.get(Mandate, mandate_id)
    if mandate is None or mandate.report_id != report.id:
        abort(404)
    partner_service.withdraw_mandate(db, mandate, by="victim", actor="reporter")
    db.commit()
    flash(_("The organisation no longer has access to your report."), "success")
    return redirect(url_for("citizen.follow_up") + "#mandates", code=303)
