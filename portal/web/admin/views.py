"""Admin pages: staff accounts, units and the routing table. Admins never see report content."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from sqlalchemy.orm import Session

from portal.db import get_session
from portal.domain.categories import CATEGORIES
from portal.models import Officer
from portal.services import account_admin as accounts
from portal.services.accounts import AccountError
from portal.web import ratelimit
from portal.web.admin.forms import (
    ROLE_LABELS,
    AccountForm,
    ActionForm,
    CreateAccountForm,
)
from portal.web.context import keyring, password_hasher
from portal.web.i18n import current_language
from portal.web.staff.auth import staff_required

bp = Blueprint("admin", __name__, url_prefix="/admin")


def _fill_choices(db: Session, form: AccountForm) -> None:
    lang = current_language()
    form.units.choices = accounts.unit_choices(db, lang)
    form.region.choices = [("", _("National")), *accounts.region_choices(db, lang)]


@bp.route("/", methods=["GET", "POST"], endpoint="accounts")
@staff_required("admin")
def accounts_page(*, staff: Officer) -> ResponseReturnValue:
    db = get_session()
    form = CreateAccountForm()
    _fill_choices(db, form)
    status = 200
    if request.method == "POST":
        if form.validate():
            try:
                created = accounts.create_account(
                    db,
                    staff,
                    username=form.username.data,
                    display_name=form.display_name.data,
                    password=form.password.data,
                    role=form.role.data,
                    unit_ids=list(form.units.data or []),
                    region_id=int(form.region.data) if form.region.data else None,
                    keyring=keyring(),
                    password_hasher=password_hasher(),
                )
            except AccountError as error:
                db.rollback()
                form.username.errors = [str(error)]
            else:
                db.commit()
                flash(
                    _(
                        "Account %(username)s created. The second factor is set up at first "
                        "sign-in.",
                        username=created.username,
                    ),
                    "success",
                )
                return redirect(url_for("admin.accounts"), code=303)
        status = 400
    officers, sessions = accounts.accounts_with_live_sessions(db)
    return (
        render_template(
            "admin/accounts.html",
            form=form,
            officers=officers,
            sessions=sessions,
            lang=current_language(),
        ),
        status,
    )


def _account(db: Session, officer_id: int) -> Officer:
    officer = db.get(Officer, officer_id)
    if officer is None:
        abort(404)
    return officer


@bp.route("/accounts/<int:officer_id>", methods=["GET", "POST"])
@staff_required("admin")
def account(officer_id: int, *, staff: Officer) -> ResponseReturnValue:
    db = get_session()
    officer = _account(db, officer_id)
    form = AccountForm(
        role=officer.role,
        units=[unit.id for unit in officer.units],
        region=str(officer.region_id or ""),
    )
    _fill_choices(db, form)
    status = 200
    if request.method == "POST":
        if form.validate():
            try:
                accounts.update_account(
                    db,
                    staff,
                    officer,
                    role=form.role.data,
                    unit_ids=list(form.units.data or []),
                    region_id=int(form.region.data) if form.region.data else None,
                )
            except AccountError as error:
                db.rollback()
                flash(str(error), "error")
            else:
                db.commit()
                flash(_("Account updated; its open sessions were closed."), "success")
                return redirect(url_for("admin.account", officer_id=officer.id), code=303)
        status = 400
    return (
        render_template(
            "admin/account.html",
            officer=officer,
            form=form,
            action_form=ActionForm(),
            lang=current_language(),
        ),
        status,
    )


def _account_action(
    officer_id: int, staff: Officer, perform: Any, message: str
) -> ResponseReturnValue:
    db = get_session()
    officer = _account(db, officer_id)
    if not ActionForm().validate():
        abort(400)
    try:
        perform(db, staff, officer)
    except AccountError as error:
        db.rollback()
        flash(str(error), "error")
    else:
        db.commit()
        flash(message, "success")
    return redirect(url_for("admin.account", officer_id=officer_id), code=303)


@bp.post("/accounts/<int:officer_id>/deactivate")
@staff_required("admin")
def deactivate(officer_id: int, *, staff: Officer) -> ResponseReturnValue:
    return _account_action(
        officer_id,
        staff,
        lambda db, admin, officer: accounts.set_active(db, admin, officer, False),
        _("Account deactivated and signed out everywhere."),
    )


@bp.post("/accounts/<int:officer_id>/activate")
@staff_required("admin")
def activate(officer_id: int, *, staff: Officer) -> ResponseReturnValue:
    return _account_action(
        officer_id,
        staff,
        lambda db, admin, officer: accounts.set_active(db, admin, officer, True),
        _("Account reactivated."),
    )


@bp.post("/accounts/<int:officer_id>/revoke-sessions")
@staff_required("admin")
def revoke_sessions(officer_id: int, *, staff: Officer) -> ResponseReturnValue:
    return _account_action(
        officer_id, staff, accounts.revoke_sessions, _("All sessions of this account are closed.")
    )


@bp.post("/accounts/<int:officer_id>/unlock")
@staff_required("admin")
def unlock(officer_id: int, *, staff: Officer) -> ResponseReturnValue:
    def perform(db: Session, admin: Officer, officer: Officer) -> None:
        accounts.lift_lockout(db, admin, officer)
        ratelimit.clear_account_limits(officer.username, officer.id)

    return _account_action(
        officer_id, staff, perform, _("The sign-in lockout is lifted; the account may sign in.")
    )


@bp.post("/accounts/<int:officer_id>/reset-second-factor")
@staff_required("admin")
def reset_second_factor(officer_id: int, *, staff: Officer) -> ResponseReturnValue:
    return _account_action(
        officer_id,
        staff,
        accounts.reset_second_factor,
        _("The second factor is reset; it will be set up again at the next sign-in."),
    )


@bp.get("/units")
@staff_required("admin")
def units(*, staff: Officer) -> ResponseReturnValue:
    db = get_session()
    all_units, members = accounts.units_with_member_counts(db)
    return render_template(
        "admin/units.html",
        units=all_units,
        members=members,
        unstaffed=accounts.units_without_officers(db),
        lang=current_language(),
    )


ROUTE_FIELD = "unit"


def _route_field(kind: str, key: str) -> str:
    """The name of a row's select: ``unit:territory:MA-CAS``, ``unit:abroad:``."""
    return f"{ROUTE_FIELD}:{kind}:{key}"


def _posted_routes() -> dict[tuple[str, str], str]:
    wanted = {}
    for name, value in request.form.items():
        prefix, _sep, route = name.partition(":")
        kind, sep, key = route.partition(":")
        if prefix == ROUTE_FIELD and sep:
            wanted[(kind, key)] = value
    return wanted


ROUTING_LABELS = {
    "national": _l("Reporters abroad, outside their area, and national categories"),
    "abroad": _l("Reporters living abroad"),
    "outside_local": _l("Reporters asking not to be handled locally"),
}


@bp.route("/routing", methods=["GET", "POST"])
@staff_required("admin")
def routing(*, staff: Officer) -> ResponseReturnValue:
    db = get_session()
    lang = current_language()
    posted: dict[tuple[str, str], str] = {}
    errors: dict[tuple[str, str], str] = {}
    status = 200
    if request.method == "POST":
        if not ActionForm().validate():
            abort(400)
        posted = _posted_routes()
        if not posted:
            abort(400)
        changed, errors = accounts.set_routes(db, staff, posted)
        if not errors:
            db.commit()
            if changed:
                flash(
                    ngettext(
                        "%(num)d row of the routing table changed. New reports follow it at once.",
                        "%(num)d rows of the routing table changed. New reports follow them at "
                        "once.",
                        len(changed),
                    ),
                    "success",
                )
            else:
                flash(_("Nothing changed in the routing table."), "success")
            group = request.form.get("group", "")
            anchor = f"#group-{group}" if group.replace("-", "").isalnum() else ""
            return redirect(url_for("admin.routing") + anchor, code=303)
        db.rollback()
        status = 400
    labels = {code: str(label) for code, label in ROUTING_LABELS.items()}
    groups = accounts.routing_groups(db, lang, labels, CATEGORIES)
    unstaffed = accounts.units_without_officers(db)
    units = accounts.active_units(db)
    waiting_rows = sum(1 for g in groups for row in g.rows if row.unit_id in unstaffed)
    return (
        render_template(
            "admin/routing.html",
            groups=groups,
            units=units,
            unstaffed=unstaffed,
            unstaffed_units=[unit for unit in units if unit.id in unstaffed],
            waiting_rows=waiting_rows,
            posted=posted,
            errors=errors,
            field_name=_route_field,
            action_form=ActionForm(),
            lang=lang,
        ),
        status,
    )


@bp.app_template_filter("role_label")
def role_label(role: str) -> str:
    """A staff role in the reader's language (officer, supervisor, administrator)."""
    return str(ROLE_LABELS.get(role, role))
