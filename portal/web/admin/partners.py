"""Admin pages for partners: accreditation, categories, tokens (shown once), figures of the
trusted-partner lane and the webhook delivery log. No report content is shown here."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from sqlalchemy import select

from portal.db import get_session
from portal.domain.categories import CATEGORIES
from portal.models import Officer, Partner, PartnerToken, WebhookDelivery
from portal.services import audit
from portal.services import partners as service
from portal.web.admin.views import bp
from portal.web.staff.auth import staff_required

DELIVERY_LOG_ROWS = 200


def _partner(partner_id: int) -> Partner:
    partner = get_session().get(Partner, partner_id)
    if partner is None:
        abort(404)
    return partner


def _render_list(status: int = 200, **context: Any) -> ResponseReturnValue:
    db = get_session()
    return (
        render_template(
            "admin/partners.html",
            figures=service.partner_figures(db),
            categories=CATEGORIES,
            kinds=service.KINDS,
            accreditations=service.ACCREDITATIONS,
            **context,
        ),
        status,
    )


@bp.get("/partners", endpoint="partners")
@staff_required("admin")
def partners_page(*, staff: Officer) -> ResponseReturnValue:
    return _render_list()


@bp.post("/partners")
@staff_required("admin")
def create_partner(*, staff: Officer) -> ResponseReturnValue:
    db = get_session()
    form = request.form
    try:
        partner = service.create_partner(
            db,
            slug=form.get("slug", "").strip(),
            name=form.get("name", ""),
            kind=form.get("kind", ""),
            contact_email=form.get("contact_email", ""),
            categories=form.getlist("categories"),
            accreditation=form.get("accreditation", "pending"),
            actor=audit.officer_name(staff),
        )
    except service.PartnerError as error:
        db.rollback()
        return _render_list(400, error=str(error), entered=form)
    db.commit()
    flash(_("Partner %(name)s created.", name=partner.name), "success")
    return redirect(url_for("admin.partner", partner_id=partner.id), code=303)


def _render_partner(partner: Partner, status: int = 200, **context: Any) -> ResponseReturnValue:
    return (
        render_template(
            "admin/partner.html",
            partner=partner,
            categories=CATEGORIES,
            accreditations=service.ACCREDITATIONS,
            scopes=service.SCOPES,
            **context,
        ),
        status,
    )


@bp.get("/partners/<int:partner_id>", endpoint="partner")
@staff_required("admin")
def partner_page(partner_id: int, *, staff: Officer) -> ResponseReturnValue:
    return _render_partner(_partner(partner_id))


@bp.post("/partners/<int:partner_id>/settings")
@staff_required("admin")
def partner_settings(partner_id: int, *, staff: Officer) -> ResponseReturnValue:
    partner = _partner(partner_id)
    db = get_session()
    try:
        accreditation = request.form.get("accreditation", partner.accreditation)
        if accreditation != partner.accreditation:
            service.set_accreditation(db, partner, accreditation, actor=audit.officer_name(staff))
        service.set_categories(
            db, partner, request.form.getlist("categories"), actor=audit.officer_name(staff)
        )
    except service.PartnerError as error:
        db.rollback()
        return _render_partner(partner, 400, error=str(error))
    db.commit()
    flash(_("Saved."), "success")
    return redirect(url_for("admin.partner", partner_id=partner.id), code=303)


@bp.post("/partners/<int:partner_id>/tokens")
@staff_required("admin")
def issue_token(partner_id: int, *, staff: Officer) -> ResponseReturnValue:
    partner = _partner(partner_id)
    db = get_session()
    try:
        days = int(request.form.get("days", "365"))
        token, clear = service.issue_token(
            db,
            partner,
            scopes=request.form.getlist("scopes"),
            days=days,
            label=request.form.get("label", ""),
            actor=audit.officer_name(staff),
        )
    except (ValueError, service.PartnerError) as error:
        db.rollback()
        return _render_partner(partner, 400, error=str(error))
    db.commit()
    # Rendered, not redirected: the token is in this one answer (no-store) and nowhere else.
    return _render_partner(partner, 201, new_token=clear, new_token_id=token.public_id)


@bp.post("/partners/<int:partner_id>/tokens/<int:token_id>/revoke")
@staff_required("admin")
def revoke_token(partner_id: int, token_id: int, *, staff: Officer) -> ResponseReturnValue:
    partner = _partner(partner_id)
    db = get_session()
    token = db.get(PartnerToken, token_id)
    if token is None or token.partner_id != partner.id:
        abort(404)
    service.revoke_token(db, token, actor=audit.officer_name(staff))
    db.commit()
    flash(_("Token %(id)s revoked.", id=token.public_id), "success")
    return redirect(url_for("admin.partner", partner_id=partner.id), code=303)


@bp.get("/partners/deliveries", endpoint="webhook_deliveries")
@staff_required("admin")
def deliveries_page(*, staff: Officer) -> ResponseReturnValue:
    rows = get_session().scalars(
        select(WebhookDelivery).order_by(WebhookDelivery.id.desc()).limit(DELIVERY_LOG_ROWS)
    )
    return render_template("admin/webhook_deliveries.html", deliveries=list(rows))
