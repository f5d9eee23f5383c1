"""Officer pages: sign-in, the queue, the report page and its actions. Thin: parse, call, render."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from flask import (
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import format_timedelta
from flask_babel import gettext as _
from sqlalchemy import select
from werkzeug.exceptions import NotFound

from portal.db import get_session
from portal.domain.categories import (
    CATEGORIES,
    CLOSURE_REASONS,
    PLATFORMS,
    PRIORITIES,
    STAFF_STATUSES,
)
from portal.models import Officer, Report, Unit
from portal.services import casefile, staff_sessions, totp
from portal.services import cases as actions
from portal.services import staff_login as login
from portal.services.queue import Cursor, SlaState, load_queue, sla_state
from portal.services.scope import get_report_for_officer
from portal.web.context import keyring
from portal.web.headers import is_local_path
from portal.web.i18n import current_language
from portal.web.officer.blueprint import bp
from portal.web.officer.forms import (
    AssignForm,
    ClaimForm,
    CodeForm,
    DuplicateForm,
    LoginForm,
    LogoutForm,
    MessageForm,
    NoteForm,
    PriorityForm,
    QueueFilterForm,
    StatusForm,
    TransferForm,
)
from portal.web.staff.auth import (
    PENDING_KEY,
    PENDING_SECONDS,
    STAFF_TOKEN_KEY,
    current_officer,
    home_endpoint,
    role_required,
)

CASE_ROLES = ("officer", "supervisor")
EVIDENCE_ENDPOINT = "officer.download_evidence"


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


# --- sign-in ---------------------------------------------------------------------------------


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
def login_page() -> ResponseReturnValue:
    officer = current_officer()
    if officer is not None:
        return redirect(url_for(home_endpoint(officer)))
    form = LoginForm()
    if request.method == "GET" or not form.validate():
        return _show_form("officer/login.html", form)
    db = get_session()
    found = login.check_password(db, form.username.data, form.password.data, _policy())
    db.commit()
    if found is None:
        return _bad_credentials(form, "officer/login.html")
    target = _safe_next(request.args.get("next"))
    session.clear()
    session[PENDING_KEY] = {"id": found.id, "at": int(time.time()), "next": target}
    if found.totp_enrolled_at is None:
        return redirect(url_for("officer.enrol"), code=303)
    return redirect(url_for("officer.login_code"), code=303)


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
def login_code() -> ResponseReturnValue:
    officer = _pending_officer()
    if officer is None:
        return redirect(url_for("officer.login"), code=303)
    if officer.totp_enrolled_at is None:
        return redirect(url_for("officer.enrol"), code=303)
    form = CodeForm()
    if request.method == "GET" or not form.validate():
        return _show_form("officer/login_code.html", form)
    db = get_session()
    if not login.check_code(db, officer, form.code.data, keyring(), _policy()):
        db.commit()
        return _bad_credentials(form, "officer/login_code.html")
    return _finish_login(officer)


@bp.route("/enrol", methods=["GET", "POST"])
def enrol() -> ResponseReturnValue:
    officer = _pending_officer()
    if officer is None:
        return redirect(url_for("officer.login"), code=303)
    if officer.totp_enrolled_at is not None:
        return redirect(url_for("officer.login_code"), code=303)
    db = get_session()
    secret = login.begin_enrolment(officer, keyring())
    db.commit()
    form = CodeForm()
    context = {
        "qr": totp.qr_data_uri(totp.provisioning_uri(secret, officer.username)),
        "secret": totp.grouped_secret(secret),
    }
    if request.method == "GET" or not form.validate():
        return _show_form("officer/enrol.html", form, **context)
    if not login.confirm_enrolment(db, officer, form.code.data, keyring(), _policy()):
        db.commit()
        return _bad_credentials(form, "officer/enrol.html", **context)
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
    return redirect(url_for("officer.login"), code=303)


def sla_label(sla: SlaState) -> str:
    """The SLA position in words, so that it never relies on colour alone."""
    duration = format_timedelta(abs(sla.delta), granularity="minute", threshold=1)
    if sla.state == "met":
        return _("Resolved in %(time)s, on target", time=duration)
    if sla.state == "missed":
        return _("Resolved in %(time)s, late", time=duration)
    if sla.stage == "first_response":
        if sla.state == "overdue":
            return _("First response overdue by %(time)s", time=duration)
        return _("First response due in %(time)s", time=duration)
    if sla.state == "overdue":
        return _("Resolution overdue by %(time)s", time=duration)
    return _("Resolution due in %(time)s", time=duration)


@bp.app_context_processor
def _staff_context() -> dict[str, object]:
    return {
        "staff_logout_form": LogoutForm,
        "current_staff": current_officer,
        "sla_label": sla_label,
    }


# --- the queue -------------------------------------------------------------------------------


@bp.get("/")
@role_required(*CASE_ROLES)
def queue() -> ResponseReturnValue:
    officer = current_officer()
    assert officer is not None
    form = QueueFilterForm(request.args)
    form.validate()
    page = load_queue(
        get_session(),
        officer,
        form.filters(),
        after=Cursor.decode(request.args.get("after")),
        first_response_hours=current_app.config["SLA_FIRST_RESPONSE_HOURS"],
        resolution_days=current_app.config["SLA_RESOLUTION_DAYS"],
        timezone=current_app.config["BABEL_DEFAULT_TIMEZONE"],
    )
    next_args = {k: v for k, v in request.args.items() if k != "after" and v}
    return render_template(
        "officer/queue.html",
        form=form,
        page=page,
        next_url=url_for("officer.queue", **next_args, after=page.next_cursor)
        if page.next_cursor
        else None,
        first_page_url=url_for("officer.queue", **next_args) if request.args.get("after") else None,
        categories=CATEGORIES,
        priorities=PRIORITIES,
        statuses=STAFF_STATUSES,
        platforms=PLATFORMS,
        officer=officer,
    )


# --- the report page -------------------------------------------------------------------------


def _report_forms(db: Any, report: Report) -> dict[str, Any]:
    status_form = StatusForm(prefix="status", version=report.version)
    status_form.status.choices = [
        (value, STAFF_STATUSES[value]) for value in actions.TRANSITIONS.get(report.status, ())
    ]
    assign_form = AssignForm(prefix="assign", version=report.version)
    assign_form.assignee.choices = _colleague_choices(db, report)
    transfer_form = TransferForm(prefix="transfer", version=report.version)
    transfer_form.unit.choices = _unit_choices(db, exclude=report.unit_id)
    return {
        "claim_form": ClaimForm(prefix="claim", version=report.version),
        "assign_form": assign_form,
        "status_form": status_form,
        "priority_form": PriorityForm(
            prefix="priority", version=report.version, priority=report.priority
        ),
        "transfer_form": transfer_form,
        "duplicate_form": DuplicateForm(prefix="duplicate", version=report.version),
        "note_form": NoteForm(prefix="note"),
        "message_form": MessageForm(prefix="message"),
    }


def _colleague_choices(db: Any, report: Report) -> list[tuple[int, str]]:
    return [(colleague.id, colleague.display_name) for colleague in actions.colleagues(db, report)]


def _unit_choices(db: Any, exclude: int | None = None) -> list[tuple[int, str]]:
    lang = current_language()
    units = db.scalars(select(Unit).where(Unit.active.is_(True)).order_by(Unit.code))
    return [(unit.id, unit.name(lang)) for unit in units if unit.id != exclude]


def _render_report(
    officer: Officer, report: Report, status: int = 200, **overrides: Any
) -> ResponseReturnValue:
    db = get_session()
    forms = _report_forms(db, report)
    forms.update(overrides)
    case = casefile.load_case_file(db, officer, report, keyring())
    return (
        render_template(
            "officer/report.html",
            case=case,
            report=report,
            officer=officer,
            sla=_sla(report),
            categories=CATEGORIES,
            priorities=PRIORITIES,
            statuses=STAFF_STATUSES,
            platforms=PLATFORMS,
            closure_reasons=CLOSURE_REASONS,
            evidence_url=_evidence_url,
            **forms,
        ),
        status,
    )


def _sla(report: Report) -> SlaState:
    return sla_state(
        report,
        current_app.config["SLA_FIRST_RESPONSE_HOURS"],
        current_app.config["SLA_RESOLUTION_DAYS"],
    )


def _evidence_url(reference: str, evidence_id: int) -> str | None:
    if EVIDENCE_ENDPOINT not in current_app.view_functions:
        return None
    return url_for(EVIDENCE_ENDPOINT, ref=reference, evidence_id=evidence_id)


@bp.get("/reports/<ref>")
@role_required(*CASE_ROLES)
def report_page(ref: str) -> ResponseReturnValue:
    officer = current_officer()
    assert officer is not None
    db = get_session()
    report = get_report_for_officer(db, officer, ref)
    actions.record_view(db, officer, report)
    db.commit()
    return _render_report(officer, report)


def _act(
    ref: str,
    form_class: type[Any],
    prefix: str,
    perform: Callable[[Any, Officer, Report, Any], str | None],
    *,
    prepare: Callable[[Any, Any, Report], None] | None = None,
) -> ResponseReturnValue:
    """Common shape of an action POST: scope check, validate, call the service, commit."""
    officer = current_officer()
    assert officer is not None
    db = get_session()
    report = get_report_for_officer(db, officer, ref)
    form = form_class(prefix=prefix)
    if prepare is not None:
        prepare(db, form, report)
    if not form.validate():
        return _render_report(officer, report, 400, **{f"{prefix}_form": form})
    try:
        redirect_to = perform(db, officer, report, form)
    except actions.ActionError as error:
        db.rollback()
        flash(str(error.message), "error")
        report = get_report_for_officer(db, officer, ref)
        return _render_report(officer, report, 409)
    db.commit()
    return redirect(redirect_to or url_for("officer.report_page", ref=ref), code=303)


@bp.post("/reports/<ref>/claim")
@role_required(*CASE_ROLES)
def claim(ref: str) -> ResponseReturnValue:
    def perform(db: Any, officer: Officer, report: Report, form: Any) -> None:
        actions.claim(db, officer, report, form.version.data)
        flash(_("You have claimed this report."), "success")

    return _act(ref, ClaimForm, "claim", perform)


@bp.post("/reports/<ref>/assign")
@role_required(*CASE_ROLES)
def assign(ref: str) -> ResponseReturnValue:
    def prepare(db: Any, form: Any, report: Report) -> None:
        form.assignee.choices = _colleague_choices(db, report)

    def perform(db: Any, officer: Officer, report: Report, form: Any) -> None:
        actions.assign(db, officer, report, form.version.data, form.assignee.data)
        flash(_("The report is assigned."), "success")

    return _act(ref, AssignForm, "assign", perform, prepare=prepare)


@bp.post("/reports/<ref>/status")
@role_required(*CASE_ROLES)
def change_status(ref: str) -> ResponseReturnValue:
    def prepare(db: Any, form: Any, report: Report) -> None:
        form.status.choices = list(STAFF_STATUSES.items())

    def perform(db: Any, officer: Officer, report: Report, form: Any) -> None:
        actions.change_status(
            db,
            officer,
            report,
            form.version.data,
            form.status.data,
            form.closure_reason.data or None,
        )
        flash(_("The status is now: %(status)s.", status=STAFF_STATUSES[report.status]), "success")

    return _act(ref, StatusForm, "status", perform, prepare=prepare)


@bp.post("/reports/<ref>/priority")
@role_required(*CASE_ROLES)
def change_priority(ref: str) -> ResponseReturnValue:
    def perform(db: Any, officer: Officer, report: Report, form: Any) -> None:
        actions.change_priority(db, officer, report, form.version.data, form.priority.data)
        flash(_("The priority is updated."), "success")

    return _act(ref, PriorityForm, "priority", perform)


@bp.post("/reports/<ref>/transfer")
@role_required(*CASE_ROLES)
def transfer(ref: str) -> ResponseReturnValue:
    def prepare(db: Any, form: Any, report: Report) -> None:
        form.unit.choices = _unit_choices(db, exclude=report.unit_id)

    def perform(db: Any, officer: Officer, report: Report, form: Any) -> str | None:
        reference = report.reference
        target = actions.transfer(
            db, officer, report, form.version.data, form.unit.data, form.reason.data, keyring()
        )
        flash(
            _(
                "Report %(reference)s was transferred to %(unit)s.",
                reference=reference,
                unit=target.name(current_language()),
            ),
            "success",
        )
        db.flush()
        try:
            get_report_for_officer(db, officer, reference)
        except NotFound:
            # Out of this officer's scope now: back to the queue.
            return url_for("officer.queue")
        return None

    return _act(ref, TransferForm, "transfer", perform, prepare=prepare)


@bp.post("/reports/<ref>/duplicate")
@role_required(*CASE_ROLES)
def link_duplicate(ref: str) -> ResponseReturnValue:
    def perform(db: Any, officer: Officer, report: Report, form: Any) -> None:
        original = actions.link_duplicate(
            db, officer, report, form.version.data, form.reference.data
        )
        flash(_("Linked as a duplicate of %(reference)s.", reference=original.reference), "success")

    return _act(ref, DuplicateForm, "duplicate", perform)


@bp.post("/reports/<ref>/note")
@role_required(*CASE_ROLES)
def add_note(ref: str) -> ResponseReturnValue:
    def perform(db: Any, officer: Officer, report: Report, form: Any) -> None:
        actions.add_note(db, officer, report, form.body.data, keyring())
        flash(_("Note added."), "success")

    return _act(ref, NoteForm, "note", perform)


@bp.post("/reports/<ref>/message")
@role_required(*CASE_ROLES)
def message_reporter(ref: str) -> ResponseReturnValue:
    def perform(db: Any, officer: Officer, report: Report, form: Any) -> None:
        actions.message_reporter(db, officer, report, form.body.data, keyring())
        flash(_("Message sent to the reporter."), "success")

    return _act(ref, MessageForm, "message", perform)


# Evidence download and manifest (portal.web.officer.evidence_views) on this blueprint.


@bp.get("/reports/<ref>/cluster")
@role_required(*CASE_ROLES)
def cluster_page(ref: str) -> ResponseReturnValue:
    """Every report in scope sharing a URL with this one, a page at a time (keyset)."""
    officer = current_officer()
    assert officer is not None
    db = get_session()
    report = get_report_for_officer(db, officer, ref)
    after = request.args.get("after", "")
    page = casefile.cluster_page(db, officer, report, after=int(after) if after.isdigit() else None)
    return render_template(
        "officer/cluster.html",
        report=report,
        officer=officer,
        page=page,
        statuses=STAFF_STATUSES,
        first_page=bool(after),
    )
