"""Which layout an error page wears: staff pages keep the staff layout, reporters keep theirs.

A 404, 405, 429, 500 or refused CSRF check under ``/officer``, ``/supervisor``, ``/admin`` or
``/staff`` is a staff page like the others (the staff navigation, a way back to the staff home);
everywhere else the error page is the reporter's. The reporter layout never shows who is signed
in to the staff area.
"""

from __future__ import annotations

import contextlib
import logging

from flask import Flask, g, request, url_for

from portal.db import get_session
from portal.web.staff.auth import current_officer

STAFF_PREFIXES = ("/officer", "/supervisor", "/admin", "/staff")
STAFF_LAYOUT = "staff/_layout.html"
REPORTER_LAYOUT = "base.html"

log = logging.getLogger(__name__)


def is_staff_path(path: str) -> bool:
    return any(path == prefix or path.startswith(prefix + "/") for prefix in STAFF_PREFIXES)


def _resolve_staff_quietly() -> None:
    """Look the signed-in staff member up for the layout's navigation, without failing.

    An error page may be answering a database failure: then the page is shown without the
    navigation rather than not at all.
    """
    if "officer" in g:
        return
    try:
        current_officer()
    except Exception:  # the error page must still be shown
        log.warning("staff error page shown without the staff navigation", exc_info=True)
        g.officer = None
        with contextlib.suppress(Exception):
            get_session().rollback()


def error_layout() -> str:
    if is_staff_path(request.path):
        _resolve_staff_quietly()
        return STAFF_LAYOUT
    return REPORTER_LAYOUT


def error_home() -> tuple[str, str]:
    """Where the error page's button leads, and its label key: the staff home or the home page."""
    if not is_staff_path(request.path):
        return url_for("citizen.home"), "home"
    staff = g.get("officer")
    if staff is None:
        return url_for("staff.login"), "login"
    if staff.role == "admin":
        return url_for("admin.accounts"), "staff"
    return url_for("officer.queue"), "staff"


def init_app(app: Flask) -> None:
    app.jinja_env.globals.update(error_layout=error_layout, error_home=error_home)
