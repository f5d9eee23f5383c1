"""The reporter's follow-up session: where its token is kept, and the view decorator that needs it.

The signed session holds only a random token; the report comes from its hash on the server.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from flask import session
from werkzeug.exceptions import NotFound

from portal.db import get_session
from portal.services.reports import report_for_followup

FOLLOWUP_KEY = "followup"

F = TypeVar("F", bound=Callable[..., Any])


def reporter_required(view: F) -> F:
    """Pass the report of the live follow-up session to the view as ``report``; 404 without one."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        report = report_for_followup(get_session(), session.get(FOLLOWUP_KEY))
        if report is None:
            raise NotFound()
        return view(*args, report=report, **kwargs)

    return cast(F, wrapped)
