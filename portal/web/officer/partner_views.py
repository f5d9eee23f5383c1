"""The partner side of a case page: which organisation filed or acts for the victim, and a
message to the partner, the victim, or both (the exchange is in the case timeline).

The panel is a partial template (``officer/_partner.html``) filled by ``case_partners``; its
form posts like the page's other actions (``act_on_report``): bad input comes back next to its
field with what was typed (422).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import flash, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from portal.db import get_session
from portal.models import Mandate, Officer, Report
from portal.services import partners as partner_service
from portal.web.context import keyring
from portal.web.officer.blueprint import bp
from portal.web.officer.forms import PartnerMessageForm
from portal.web.officer.views import FieldProblem, act_on_report
from portal.web.staff.auth import staff_required


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
    def perform(db: Any, officer: Officer, report: Report, form: Any) -> str:
        try:
            partner_service.officer_message(
                db, officer, report, form.body.data, form.audience.data, keyring=keyring()
            )
        except partner_service.PartnerError as error:
            form.audience.errors = [
                _("No organisation acts for the victim on this report any more.")
            ]
            raise FieldProblem() from error
        flash(_("Message sent."), "success")
        return url_for("officer.report_page", ref=ref) + "#partner"

    return act_on_report(ref, staff, PartnerMessageForm, "partner", perform)
