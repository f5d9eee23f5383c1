"""Officer pages: the queue, the report page and its actions. Thin: parse, call, render."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import (
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import format_datetime, format_timedelta
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
from portal.evidence import thumbnails
from portal.models import Officer, Report, Unit
from portal.services import casefile, closing, content_access
from portal.services import cases as actions
from portal.services.queue import SlaState, sla_state
from portal.services.scope import get_report_for_officer
from portal.web.context import keyring
from portal.web.i18n import current_language
from portal.web.officer.blueprint import bp
from portal.web.officer.forms import (
    AssignForm,
    BreakGlassForm,
    ClaimForm,
    DuplicateForm,
    MessageForm,
    NoteForm,
    PartnerMessageForm,
    PriorityForm,
    StatusForm,
    TransferForm,
)
from portal.web.staff.auth import (
    staff_required,
)

CASE_ROLES = ("officer", "supervisor")
ACTION_ROLES = ("officer",)
EVIDENCE_ENDPOINT = "officer.download_evidence"


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
def _officer_context() -> dict[str, object]:
    return {"sla_label": sla_label}


# The queue and its bulk actions: portal.web.officer.queue_views, on this blueprint.


# --- the report page -------------------------------------------------------------------------


def _report_forms(db: Any, report: Report) -> dict[str, Any]:
    status_form = StatusForm(prefix="status", version=report.version)
    status_form.status.choices = _status_choices(report)
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
        "partner_form": PartnerMessageForm(prefix="partner"),
    }


def _status_choices(report: Report) -> list[tuple[str, str]]:
    return [(value, STAFF_STATUSES[value]) for value in actions.TRANSITIONS.get(report.status, ())]


def _colleague_choices(db: Any, report: Report) -> list[tuple[int, str]]:
    return [(colleague.id, colleague.display_name) for colleague in actions.colleagues(db, report)]


def _unit_choices(db: Any, exclude: int | None = None) -> list[tuple[int, str]]:
    lang = current_language()
    units = db.scalars(select(Unit).where(Unit.active.is_(True)).order_by(Unit.code))
    return [(unit.id, unit.name(lang)) for unit in units if unit.id != exclude]


def _common(report: Report) -> dict[str, Any]:
    return {
        "report": report,
        "sla": _sla(report),
        "categories": CATEGORIES,
        "priorities": PRIORITIES,
        "statuses": STAFF_STATUSES,
        "platforms": PLATFORMS,
        "closure_reasons": CLOSURE_REASONS,
    }


def _render_report(
    officer: Officer,
    report: Report,
    status: int = 200,
    *,
    confirm: list[closing.ClosingWarning] | None = None,
    **overrides: Any,
) -> ResponseReturnValue:
    """The whole case, for someone allowed to read its content (checked by the caller)."""
    db = get_session()
    can_act = content_access.may_act(officer)
    forms = _report_forms(db, report) if can_act else {}
    forms.update(overrides)
    case = casefile.load_case_file(db, officer, report, keyring())
    return (
        render_template(
            "officer/report.html",
            case=case,
            officer=officer,
            content=True,
            can_act=can_act,
            grant=content_access.live_grant(db, officer, report),
            confirm=confirm,
            evidence_url=_evidence_url,
            preview_url=_preview_url,
            previewable=thumbnails.previewable,
            **_common(report),
            **forms,
        ),
        status,
    )


def _render_metadata(
    officer: Officer, report: Report, status: int = 200, form: BreakGlassForm | None = None
) -> ResponseReturnValue:
    """What a supervisor sees without a break-glass grant: the case's metadata and counts."""
    db = get_session()
    duplicate_of = (
        db.scalar(select(Report.reference).where(Report.id == report.duplicate_of_id))
        if report.duplicate_of_id
        else None
    )
    kinds = [message.kind for message in report.messages]
    return (
        render_template(
            "officer/report.html",
            case=None,
            officer=officer,
            content=False,
            can_act=False,
            grant=None,
            confirm=None,
            duplicate_of=duplicate_of,
            counts={
                "urls": len(report.urls),
                "evidence": len(report.evidence),
                "to_reporter": kinds.count("to_reporter"),
                "from_reporter": kinds.count("from_reporter"),
                "notes": kinds.count("internal_note"),
            },
            break_glass_form=form or BreakGlassForm(prefix="glass"),
            grant_minutes=content_access.GRANT_MINUTES,
            **_common(report),
        ),
        status,
    )


@bp.errorhandler(content_access.ContentLocked)
def _content_locked(error: content_access.ContentLocked) -> ResponseReturnValue:
    """Content asked for without a grant: the metadata page with the break-glass form, 403."""
    db = get_session()
    content_access.metadata_viewed(db, error.officer, error.report)
    db.commit()
    return _render_metadata(error.officer, error.report, 403)


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


def _preview_url(reference: str, evidence_id: int, clear: bool = False) -> str:
    endpoint = "officer.evidence_preview_clear" if clear else "officer.evidence_preview"
    return url_for(endpoint, ref=reference, evidence_id=evidence_id)


@bp.get("/reports/<ref>")
@staff_required(*CASE_ROLES)
def report_page(ref: str, *, staff: Officer) -> ResponseReturnValue:
    db = get_session()
    report = get_report_for_officer(db, staff, ref)
    if content_access.may_act(staff):
        actions.record_view(db, staff, report)
    else:
        try:
            content_access.require_content(db, staff, report, "report page")
        except content_access.ContentLocked:
            # A supervisor without a grant: the case's metadata, and the way to ask for more.
            content_access.metadata_viewed(db, staff, report)
            db.commit()
            return _render_metadata(staff, report)
    db.commit()
    return _render_report(staff, report)


@bp.post("/reports/<ref>/break-glass")
@staff_required("supervisor")
def break_glass(ref: str, *, staff: Officer) -> ResponseReturnValue:
    """A supervisor opens one report's content for a limited time, giving a reason."""
    db = get_session()
    report = get_report_for_officer(db, staff, ref)
    form = BreakGlassForm(prefix="glass")
    if not form.validate():
        return _render_metadata(staff, report, 422, form)
    grant = content_access.break_glass(db, staff, report, form.reason.data or "")
    db.commit()
    flash(
        _(
            "The content of this report is open to you until %(time)s. Every view is recorded"
            " with your reason.",
            time=format_datetime(grant.expires_at, "short"),
        ),
        "success",
    )
    return redirect(url_for("officer.report_page", ref=report.reference), code=303)


class FieldProblem(Exception):
    """A service refused the input of one field: shown next to that field, not at the top."""


def act_on_report(
    ref: str,
    officer: Officer,
    form_class: type[Any],
    prefix: str,
    perform: Callable[[Any, Officer, Report, Any], str | None],
    *,
    prepare: Callable[[Any, Any, Report], None] | None = None,
    confirm: Callable[[Report, Any], list[closing.ClosingWarning]] | None = None,
) -> ResponseReturnValue:
    """Common shape of an action POST on a report's page (this module's and the partner
    panel's): scope check, validate, confirm, call the service, commit.

    A form that fails validation comes back with its errors next to its fields and what the
    officer typed kept (422); an action that needs a second look comes back with the reasons
    and a confirmation form (200) until it is posted again with ``confirm``.
    """
    db = get_session()
    report = get_report_for_officer(db, officer, ref)
    form = form_class(prefix=prefix)
    if prepare is not None:
        prepare(db, form, report)
    if not form.validate():
        return _render_report(officer, report, 422, **{f"{prefix}_form": form})
    if confirm is not None and not form.confirm.data:
        warnings = confirm(report, form)
        if warnings:
            overrides = {f"{prefix}_form": form}
            return _render_report(officer, report, 200, confirm=warnings, **overrides)
    try:
        redirect_to = perform(db, officer, report, form)
    except FieldProblem:
        db.rollback()
        report = get_report_for_officer(db, officer, ref)
        return _render_report(officer, report, 422, **{f"{prefix}_form": form})
    except actions.ActionError as error:
        db.rollback()
        flash(str(error.message), "error")
        report = get_report_for_officer(db, officer, ref)
        return _render_report(officer, report, 409)
    db.commit()
    return redirect(redirect_to or url_for("officer.report_page", ref=ref), code=303)


# Actions are for officers only: a supervisor, even with a break-glass grant, changes nothing
# (any other role gets 404 from the decorator, as for a report out of scope).


@bp.post("/reports/<ref>/claim")
@staff_required(*ACTION_ROLES)
def claim(ref: str, *, staff: Officer) -> ResponseReturnValue:
    def perform(db: Any, officer: Officer, report: Report, form: Any) -> None:
        actions.claim(db, officer, report, form.version.data)
        flash(_("You have claimed this report."), "success")

    return act_on_report(ref, staff, ClaimForm, "claim", perform)


@bp.post("/reports/<ref>/assign")
@staff_required(*ACTION_ROLES)
def assign(ref: str, *, staff: Officer) -> ResponseReturnValue:
    def prepare(db: Any, form: Any, report: Report) -> None:
        form.assignee.choices = _colleague_choices(db, report)

    def perform(db: Any, officer: Officer, report: Report, form: Any) -> None:
        actions.assign(db, officer, report, form.version.data, form.assignee.data)
        flash(_("The report is assigned."), "success")

    return act_on_report(ref, staff, AssignForm, "assign", perform, prepare=prepare)


@bp.post("/reports/<ref>/status")
@staff_required(*ACTION_ROLES)
def change_status(ref: str, *, staff: Officer) -> ResponseReturnValue:
    def prepare(db: Any, form: Any, report: Report) -> None:
        form.status.choices = list(STAFF_STATUSES.items())

    def confirm(report: Report, form: Any) -> list[closing.ClosingWarning]:
        if not closing.needs_confirmation(form.status.data):
            return []
        return closing.closing_warnings(report)

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

    return act_on_report(
        ref, staff, StatusForm, "status", perform, prepare=prepare, confirm=confirm
    )


@bp.post("/reports/<ref>/priority")
@staff_required(*ACTION_ROLES)
def change_priority(ref: str, *, staff: Officer) -> ResponseReturnValue:
    def perform(db: Any, officer: Officer, report: Report, form: Any) -> None:
        actions.change_priority(db, officer, report, form.version.data, form.priority.data)
        flash(_("The priority is updated."), "success")

    return act_on_report(ref, staff, PriorityForm, "priority", perform)


@bp.post("/reports/<ref>/transfer")
@staff_required(*ACTION_ROLES)
def transfer(ref: str, *, staff: Officer) -> ResponseReturnValue:
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

    return act_on_report(ref, staff, TransferForm, "transfer", perform, prepare=prepare)


@bp.post("/reports/<ref>/duplicate")
@staff_required(*ACTION_ROLES)
def link_duplicate(ref: str, *, staff: Officer) -> ResponseReturnValue:
    def perform(db: Any, officer: Officer, report: Report, form: Any) -> None:
        try:
            original = actions.link_duplicate(
                db, officer, report, form.version.data, form.reference.data
            )
        except actions.ActionError as error:
            if error.message is actions.STALE:
                raise
            form.reference.errors = [str(error.message)]
            raise FieldProblem() from error
        flash(_("Linked as a duplicate of %(reference)s.", reference=original.reference), "success")

    return act_on_report(ref, staff, DuplicateForm, "duplicate", perform)


@bp.post("/reports/<ref>/note")
@staff_required(*ACTION_ROLES)
def add_note(ref: str, *, staff: Officer) -> ResponseReturnValue:
    def perform(db: Any, officer: Officer, report: Report, form: Any) -> None:
        actions.add_note(db, officer, report, form.body.data, keyring())
        flash(_("Note added."), "success")

    return act_on_report(ref, staff, NoteForm, "note", perform)


@bp.post("/reports/<ref>/message")
@staff_required(*ACTION_ROLES)
def message_reporter(ref: str, *, staff: Officer) -> ResponseReturnValue:
    def perform(db: Any, officer: Officer, report: Report, form: Any) -> None:
        actions.message_reporter(db, officer, report, form.body.data, keyring())
        flash(_("Message sent to the reporter."), "success")

    return act_on_report(ref, staff, MessageForm, "message", perform)


# Evidence download and manifest (portal.web.officer.evidence_views) on this blueprint.


@bp.get("/reports/<ref>/cluster")
@staff_required(*CASE_ROLES)
def cluster_page(ref: str, *, staff: Officer) -> ResponseReturnValue:
    """Every report in scope sharing a URL with this one, a page at a time (keyset)."""
    officer = staff
    db = get_session()
    report = get_report_for_officer(db, officer, ref)
    content_access.require_content(db, officer, report, "cluster")
    db.commit()
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
