"""Token authentication, scopes, per-partner rate limits and the audit of every API call.

Only ``Authorization: Bearer ptk_...`` authenticates. A request that carries cookies and no
token is refused like any other without a token: the API never reads a session, so a browser
tricked into calling it cannot act for a signed-in person (and CSRF does not apply).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, current_app, g, request
from flask import Response as FlaskResponse
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError

from portal.db import get_session
from portal.models import utcnow
from portal.services import audit
from portal.services.partners import PartnerPrincipal, authenticate, touch_token
from portal.web.api.problems import ApiProblem
from portal.web.ratelimit import client_key

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])

API_LIMIT_DEFAULT = "120/minute;5000/hour"
AUDIT_ATTEMPTS = 10
_UNSET = object()


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def current_principal() -> PartnerPrincipal | None:
    """The caller, authenticated once per request (the rate limiter asks first)."""
    found = g.get("api_principal", _UNSET)
    if found is _UNSET:
        found = authenticate(get_session(), bearer_token(), now=utcnow())
        g.api_principal = found
    return found  # type: ignore[return-value]


def require_principal() -> PartnerPrincipal:
    principal = current_principal()
    if principal is None:
        detail = None
        if request.cookies and bearer_token() is None:
            detail = _l("Cookies are not accepted by the API: send the token.")
        raise ApiProblem(
            401,
            "unauthorized",
            detail=detail,
            headers={"WWW-Authenticate": 'Bearer realm="partner-api"'},
        )
    return principal


def requires(scope: str) -> Callable[[F], F]:
    def decorate(view: F) -> F:
        @functools.wraps(view)
        def checked(*args: Any, **kwargs: Any) -> Any:
            principal = require_principal()
            if scope not in principal.scopes:
                raise ApiProblem(403, "forbidden")
            return view(*args, **kwargs)

        return checked  # type: ignore[return-value]

    return decorate


def partner_key() -> str:
    """Rate-limit key: the partner, or the (hashed) client for calls without a valid token."""
    principal = current_principal()
    if principal is not None:
        return f"partner:{principal.partner_id}"
    return client_key()


def api_limit() -> str:
    return str(current_app.config.get("RATELIMIT_API", API_LIMIT_DEFAULT))


def audit_call(response: FlaskResponse) -> FlaskResponse:
    """Every authenticated API call goes into the audit chain, in its own transaction."""
    principal = g.get("api_principal")
    if not isinstance(principal, PartnerPrincipal):
        return response
    rule = request.url_rule.rule if request.url_rule else request.path
    details: dict[str, Any] = {"status": response.status_code, "token": principal.token_public_id}
    if request.view_args and "reference" in request.view_args:
        details["reference"] = str(request.view_args["reference"])[:40]
    factory = current_app.extensions["db_sessionmaker"]
    now = utcnow()
    # The chain refuses a second entry on the same tail; a writer that lost the race retries.
    for attempt in range(AUDIT_ATTEMPTS):
        with factory() as session:
            try:
                audit.record(
                    session,
                    actor=f"partner:{principal.partner_id}",
                    action="api.call",
                    subject=f"{request.method} {rule}"[:120],
                    details=details,
                    at=now,
                )
                touch_token(session, principal, now)
                session.commit()
                break
            except IntegrityError:
                session.rollback()
                if attempt == AUDIT_ATTEMPTS - 1:
                    raise
    return response


def init_app(app: Flask) -> None:
    app.config.setdefault("RATELIMIT_API", API_LIMIT_DEFAULT)
