"""The officer queue and its bulk actions. Thin: parse, call the services, render."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from babel.dates import format_timedelta
from flask import current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import get_locale, ngettext
from flask_babel import gettext as _
from sqlalchemy import select

from portal.db import get_session
from portal.domain.categories import CATEGORIES, PLATFORMS, PRIORITIES, STAFF_STATUSES
from portal.models import Officer, Unit, utcnow
from portal.services import bulk_actions, content_access
from portal.services.queue import Cursor, load_queue
from portal.web.context import blind_indexer, keyring
from portal.web.i18n import current_language
from portal.web.officer.blueprint import bp
from portal.web.officer.forms import BulkActionForm, QueueFilterForm
from portal.web.staff.auth import staff_required

CASE_ROLES = ("officer", "supervisor")
# Query-string keys of the queue that a bulk action keeps, so the officer lands where they were.
QUEUE_ARGS = (
    "status",
    "category",
    "priority",
    "platform",
    "assigned",
    "date_from",
    "date_to",
    "reference",
    "q",
    "sort",
    "after",
)


def _queue_args(args: Any, *, drop: tuple[str, ...] = ()) -> dict[str, str]:
    return {key: args[key] for key in QUEUE_ARGS if args.get(key) and key not in drop}


def _age(now: datetime, since: datetime) -> str:
    """How long ago, short ("3 h", "2 days"), in the reader's language."""
    return format_timedelta(
        now - since, granularity="minute", threshold=1, format="short", locale=get_locale()
    )


def _bulk_form(db: Any, officer: Officer, **kwargs: Any) -> BulkActionForm:
    form = BulkActionForm(**kwargs)
    form.assignee.choices = [(None, _("Choose a colleague"))] + [
        (colleague.id, colleague.display_name)
        for colleague in bulk_actions.colleague_choices(db, officer)
    ]
    lang = current_language()
    units = db.scalars(select(Unit).where(Unit.active.is_(True)).order_by(Unit.code))
    form.unit.choices = [(None, _("Choose a unit"))] + [
        (unit.id, unit.name(lang)) for unit in units
    ]
    return form


def _render_queue(
    officer: Officer,
    *,
    bulk_form: BulkActionForm | None = None,
    selected: tuple[str, ...] = (),
    refs_error: str | None = None,
    status: int = 200,
) -> ResponseReturnValue:
    db = get_session()
    args = request.args
    form = QueueFilterForm(args)
    form.validate()
    filters = form.filters()
    now = utcnow()
    page = load_queue(
        db,
        officer,
        filters,
        after=Cursor.decode(args.get("after"), filters.sort),
        first_response_hours=current_app.config["SLA_FIRST_RESPONSE_HOURS"],
        resolution_days=current_app.config["SLA_RESOLUTION_DAYS"],
        timezone=current_app.config["BABEL_DEFAULT_TIMEZONE"],
        # A search by URL, site or identifier tells whether that trace was reported: content,
        # so only for those who read content (supervisors search by reference).
        indexer=blind_indexer() if content_access.reads_content_by_role(officer) else None,
        now=now,
        count=True,
    )
    kept = _queue_args(args, drop=("after",))
    # Bulk actions are for officers: a supervisor's queue has no bulk form, built or shown.
    can_act = content_access.may_act(officer)
    if can_act and bulk_form is None:
        bulk_form = _bulk_form(db, officer)
    views = [
        (value, label, url_for("officer.queue", **{**kept, "assigned": value}))
        for value, label in (
            ("all", _("All cases")),
            ("me", _("My cases")),
            ("unassigned", _("Unassigned")),
        )
    ]
    return (
        render_template(
            "officer/queue.html",
            form=form,
            filters=filters,
            page=page,
            views=views,
            bulk_form=bulk_form if can_act else None,
            bulk_url=url_for("officer.bulk_action", **_queue_args(args)) if can_act else None,
            selected=set(selected),
            refs_error=refs_error,
            next_url=url_for("officer.queue", **kept, after=page.next_cursor)
            if page.next_cursor
            else None,
            first_page_url=url_for("officer.queue", **kept) if args.get("after") else None,
            age=lambda since: _age(now, since),
            categories=CATEGORIES,
            priorities=PRIORITIES,
            statuses=STAFF_STATUSES,
            platforms=PLATFORMS,
            officer=officer,
            can_act=can_act,
        ),
        status,
    )


@bp.get("/")
@staff_required(*CASE_ROLES)
def queue(*, staff: Officer) -> ResponseReturnValue:
    return _render_queue(staff)


@bp.post("/bulk")
@staff_required("officer")
def bulk_action(*, staff: Officer) -> ResponseReturnValue:
    """The action chosen for the ticked reports; each row succeeds or is reported with why."""
    db = get_session()
    form = _bulk_form(db, staff)
    references = bulk_actions.unique_references(request.form.getlist("refs"))
    valid = form.validate()
    refs_error = None
    if not references:
        refs_error = _("Tick at least one report.")
    elif len(references) > bulk_actions.MAX_REFERENCES:
        refs_error = _("Tick at most %(num)d reports at a time.", num=bulk_actions.MAX_REFERENCES)
    if not valid or refs_error:
        return _render_queue(
            staff, bulk_form=form, selected=tuple(references), refs_error=refs_error, status=400
        )
    result = bulk_actions.run(
        db,
        staff,
        bulk_actions.BulkRequest(
            action=form.action.data,
            references=tuple(references),
            assignee_id=form.assignee.data,
            unit_id=form.unit.data,
            reason=form.reason.data,
            original=form.original.data,
        ),
        keyring=keyring(),
    )
    db.commit()
    if result.done:
        flash(
            ngettext(
                "Done for %(num)d report: %(refs)s.",
                "Done for %(num)d reports: %(refs)s.",
                len(result.done),
                refs=", ".join(result.done),
            ),
            "success",
        )
    for row in result.failed:
        flash(_("%(ref)s: %(reason)s", ref=row.reference, reason=row.message), "error")
    return redirect(url_for("officer.queue", **_queue_args(request.args)), code=303)
