"""The reporter's follow-up session: the names of its tokens, and the view decorator that needs it.

The signed session holds only random tokens; each finds a server-side row by its hash, and none
is ever a receipt. A follow-up session ends after ``FOLLOWUP_SESSION_MINUTES`` without a
request, and in any case ``FOLLOWUP_SESSION_MAX_MINUTES`` after the receipt was entered.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast, overload

from flask import current_app, session
from werkzeug.exceptions import NotFound

from portal.db import get_session
from portal.models import Report
from portal.services.reports import report_for_followup, touch_followup_session

FOLLOWUP_KEY = "followup"
# Files kept for a report form sent back for correction (portal.services.evidence).
PENDING_KEY = "pending_upload"
# The new receipt waiting for its page (portal.services.handoff).
HANDOFF_KEY = "receipt_handoff"

F = TypeVar("F", bound=Callable[..., Any])


def followup_minutes() -> tuple[int, int]:
    """(idle minutes, absolute cap in minutes) of a follow-up session."""
    config = current_app.config
    return int(config["FOLLOWUP_SESSION_MINUTES"]), int(config["FOLLOWUP_SESSION_MAX_MINUTES"])


def current_followup_report() -> Report | None:
    """The report of the live follow-up session, its idle time extended (within its cap)."""
    db = get_session()
    token = session.get(FOLLOWUP_KEY)
    report = report_for_followup(db, token)
    if report is None:
        return None
    idle, cap = followup_minutes()
    touch_followup_session(db, token, minutes=idle, max_minutes=cap)
    db.commit()
    return report


@overload
def reporter_required(view: F) -> F: ...
@overload
def reporter_required(*, ended: Callable[[], Any]) -> Callable[[F], F]: ...
def reporter_required(
    view: F | None = None, *, ended: Callable[[], Any] | None = None
) -> F | Callable[[F], F]:
    """Pass the report of the live follow-up session to the view as ``report``.

    Without a live session: ``ended()`` when given (so that what the reporter typed or chose
    is not lost), otherwise 404.
    """

    def decorator(inner: F) -> F:
        @wraps(inner)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            report = current_followup_report()
            if report is None:
                if ended is not None:
                    return ended()
                raise NotFound()
            return inner(*args, report=report, **kwargs)

        return cast(F, wrapped)

    return decorator(view) if view is not None else decorator
