"""The signed-in staff member for this request, and the decorators that require one."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from flask import current_app, g, redirect, request, session, url_for
from werkzeug.exceptions import NotFound

from portal.db import get_session, limit_statements
from portal.models import Officer
from portal.services import staff_sessions

STAFF_TOKEN_KEY = "staff_sid"  # noqa: S105 (a session key name, not a secret)
# Between the password and the code: which account, and when the password was accepted.
PENDING_KEY = "staff_pending"
PENDING_SECONDS = 300

F = TypeVar("F", bound=Callable[..., Any])


def current_officer() -> Officer | None:
    """The staff account of a live server-side session, or None (loaded once per request)."""
    if "officer" not in g:
        db = get_session()
        row = staff_sessions.resolve(
            db,
            session.get(STAFF_TOKEN_KEY),
            idle_minutes=int(current_app.config["STAFF_IDLE_TIMEOUT_MINUTES"]),
            absolute_hours=int(current_app.config["STAFF_ABSOLUTE_LIFETIME_HOURS"]),
        )
        if row is None:
            session.pop(STAFF_TOKEN_KEY, None)
            g.officer = None
        else:
            db.commit()
            g.officer = row.officer
    return cast(Officer | None, g.officer)


def _to_login() -> Any:
    # Only a GET is worth coming back to: a POST's form data is gone by then.
    target = request.full_path if request.method == "GET" else None
    return redirect(url_for("staff.login", next=target), code=303)


def staff_required(*roles: str) -> Callable[[F], F]:
    """Pass the signed-in staff member to the view as ``staff``.

    Without a session: the sign-in page. With a role not in ``roles`` (when given): 404, as for
    an unknown page, so that a page of another role is not even confirmed to exist.
    """

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            staff = current_officer()
            if staff is None:
                return _to_login()
            if roles and staff.role not in roles:
                raise NotFound()
            limit_statements(get_session(), int(current_app.config["STAFF_STATEMENT_TIMEOUT_MS"]))
            return view(*args, staff=staff, **kwargs)

        return cast(F, wrapped)

    return decorator


def home_endpoint(officer: Officer) -> str:
    return "admin.accounts" if officer.role == "admin" else "officer.queue"
