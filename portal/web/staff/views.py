"""Staff sign-in for every role: password, second-factor code or enrolment, sign-out."""

from __future__ import annotations

import time
from typing import Any

from flask import current_app, flash, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from portal.db import get_session
from portal.models import Officer
from portal.services import staff_login as login
from portal.services import staff_sessions, totp
from portal.web.context import keyring, password_hasher
from portal.web.headers import is_local_path
from portal.web.ratelimit import LOGIN_ACCOUNT, account_key, failed_attempt, limiter, setting
from portal.web.staff.auth import (
    PENDING_KEY,
    PENDING_SECONDS,
    STAFF_TOKEN_KEY,
    current_officer,
    home_endpoint,
)
from portal.web.staff.blueprint import bp
from portal.web.staff.forms import CodeForm, LoginForm, LogoutForm


def _policy() -> login.LockoutPolicy:
    return login.LockoutPolicy(
        threshold=int(current_app.config["STAFF_LOCKOUT_THRESHOLD"]),
        minutes=int(current_app.config["STAFF_LOCKOUT_MINUTES"]),
    )


def _safe_next(target: str | None) -> str | None:
    """Only a page of the staff area of this site, never elsewhere (no open redirect)."""
    if target and is_local_path(target) and target.startswith("/officer/"):
        return target
    return None


def _pending_officer() -> Officer | None:
    pending = session.get(PENDING_KEY)
    if not isinstance(pending, dict) or time.time() - pending.get("at", 0) > PENDING_SECONDS:
        return None
    officer = get_session().get(Officer, pending.get("id"))
    if officer is None or not officer.active:
        return None
    return officer


def _show_form(template: str, form: LoginForm | CodeForm, **context: Any) -> ResponseReturnValue:
    status = 400 if request.method == "POST" else 200
    return render_template(template, form=form, **context), status


def _bad_credentials(form: LoginForm | CodeForm, template: str, **context: Any) -> Any:
    # One message for every failure: unknown user, wrong password, locked or inactive account.
    form.form_errors.append(
        _("Sign-in failed. Check your user name, password and code, or try again later.")
    )
    return _show_form(template, form, **context)


@bp.route("/login", methods=["GET", "POST"], endpoint="login")
# Failed attempts only: a station's officers signing in from one address lock nobody out.
@limiter.limit(setting("RATELIMIT_LOGIN_CLIENT"), methods=["POST"], deduct_when=failed_attempt)
@limiter.shared_limit(
    setting("RATELIMIT_LOGIN_ACCOUNT"),
    scope=LOGIN_ACCOUNT,
    key_func=account_key,
    methods=["POST"],
    deduct_when=failed_attempt,
)
def login_page() -> ResponseReturnValue:
    officer = current_officer()
    if officer is not None:
        return redirect(url_for(home_endpoint(officer)))
    form = LoginForm()
    if request.method == "GET" or not form.validate():
        return _show_form("staff/login.html", form)
    db = get_session()
    found = login.check_password(
        db,
        form.username.data,
        form.password.data,
        _policy(),
        password_hasher=password_hasher(),
    )
    db.commit()
    if found is None:
        return _bad_credentials(form, "staff/login.html")
    target = _safe_next(request.args.get("next"))
    session.clear()
    session[PENDING_KEY] = {"id": found.id, "at": int(time.time()), "next": target}
    if found.totp_enrolled_at is None:
        return redirect(url_for("staff.enrol"), code=303)
    return redirect(url_for("staff.login_code"), code=303)


def _finish_login(officer: Officer) -> ResponseReturnValue:
    db = get_session()
    target = (session.get(PENDING_KEY) or {}).get("next")
    login.complete_login(db, officer)
    # A fresh server-side session and a cleared cookie session: nothing from before survives.
    session.clear()
    session[STAFF_TOKEN_KEY] = staff_sessions.open_session(db, officer)
    staff_sessions.purge_expired(
        db, absolute_hours=int(current_app.config["STAFF_ABSOLUTE_LIFETIME_HOURS"])
    )
    db.commit()
    return redirect(_safe_next(target) or url_for(home_endpoint(officer)), code=303)


@bp.route("/login/code", methods=["GET", "POST"])
# Failed attempts only: a station's officers signing in from one address lock nobody out.
@limiter.limit(setting("RATELIMIT_LOGIN_CLIENT"), methods=["POST"], deduct_when=failed_attempt)
@limiter.shared_limit(
    setting("RATELIMIT_LOGIN_ACCOUNT"),
    scope=LOGIN_ACCOUNT,
    key_func=account_key,
    methods=["POST"],
    deduct_when=failed_attempt,
)
def login_code() -> ResponseReturnValue:
    officer = _pending_officer()
    if officer is None:
        return redirect(url_for("staff.login"), code=303)
    if officer.totp_enrolled_at is None:
        return redirect(url_for("staff.enrol"), code=303)
    form = CodeForm()
    if request.method == "GET" or not form.validate():
        return _show_form("staff/login_code.html", form)
    db = get_session()
    if not login.check_code(db, officer, form.code.data, keyring(), _policy()):
        db.commit()
        return _bad_credentials(form, "staff/login_code.html")
    return _finish_login(officer)


@bp.route("/enrol", methods=["GET", "POST"])
def enrol() -> ResponseReturnValue:
    officer = _pending_officer()
    if officer is None:
        return redirect(url_for("staff.login"), code=303)
    if officer.totp_enrolled_at is not None:
        return redirect(url_for("staff.login_code"), code=303)
    db = get_session()
    secret = login.begin_enrolment(officer, keyring())
    db.commit()
    form = CodeForm()
    context = {
        "qr": totp.qr_data_uri(totp.provisioning_uri(secret, officer.username)),
        "secret": totp.grouped_secret(secret),
    }
    if request.method == "GET" or not form.validate():
        return _show_form("staff/enrol.html", form, **context)
    if not login.confirm_enrolment(db, officer, form.code.data, keyring(), _policy()):
        db.commit()
        return _bad_credentials(form, "staff/enrol.html", **context)
    return _finish_login(officer)


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    officer = current_officer()
    form = LogoutForm()
    if form.validate() and officer is not None:
        db = get_session()
        login.sign_out(db, officer, session.get(STAFF_TOKEN_KEY))
        db.commit()
    session.clear()
    flash(_("You are signed out."), "info")
    return redirect(url_for("staff.login"), code=303)


@bp.app_context_processor
def _staff_context() -> dict[str, object]:
    return {"staff_logout_form": LogoutForm, "current_staff": current_officer}
