"""Each officer's alerts page: what reaches them about their units' queues, and where."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from portal.db import get_session
from portal.models import Officer, utcnow
from portal.services import alerts
from portal.web.i18n import current_language
from portal.web.officer.alert_forms import AlertSettingsForm
from portal.web.officer.blueprint import bp
from portal.web.staff.auth import staff_required


@bp.route("/alerts", methods=["GET", "POST"])
@staff_required("officer", "supervisor")
def alert_settings(*, staff: Officer) -> ResponseReturnValue:
    db = get_session()
    current = alerts.settings_for(db, staff, language=current_language())
    form = AlertSettingsForm(obj=current if request.method == "GET" else None)
    if request.method == "GET" or not form.validate():
        status = 400 if request.method == "POST" else 200
        return render_template("officer/alerts.html", form=form, units=staff.units), status
    alerts.save_settings(
        db,
        staff,
        on_duty=form.on_duty.data,
        email=form.email.data,
        language=form.language.data,
        kinds=form.kinds(),
        now=utcnow(),
    )
    db.commit()
    flash(_("Your alert settings are saved."), "success")
    return redirect(url_for("officer.alert_settings"), code=303)
