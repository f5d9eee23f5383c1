"""RFC 9457 problem details for the partner API, with titles in the caller's language.

The language comes from ``Accept-Language`` (ar, fr, en; English when none matches): API
callers send no cookies.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from flask import Response, current_app, request
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from werkzeug.exceptions import HTTPException

PROBLEM_TYPE = "https://portal.invalid/problems/"
MEDIA_TYPE = "application/problem+json"

TITLES: dict[str, Any] = {
    "unauthorized": _l("A valid API token is needed."),
    "forbidden": _l("This token does not allow this action."),
    "not_found": _l("Not found."),
    "method_not_allowed": _l("This method is not allowed here."),
    "invalid": _l("The request has errors."),
    "unsupported_media_type": _l("Send the body as JSON."),
    "too_large": _l("The request is too large."),
    "too_many_requests": _l("Too many requests: wait before trying again."),
    "idempotency_conflict": _l("This Idempotency-Key was used with a different request."),
    "evidence_refused": _l("The file was not accepted."),
    "conflict": _l("The request conflicts with the current state."),
    "server_error": _l("Something went wrong on our side."),
}

_BY_STATUS = {
    400: "invalid",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid",
    429: "too_many_requests",
}


def api_language() -> str:
    languages = list(current_app.config["LANGUAGES"])
    return request.accept_languages.best_match(languages) or "en"


def problem_response(
    status: int,
    kind: str | None = None,
    *,
    detail: Any = None,
    errors: Sequence[tuple[str, Any]] = (),
    headers: dict[str, str] | None = None,
) -> Response:
    kind = kind or _BY_STATUS.get(status, "server_error")
    with force_locale(api_language()):
        body: dict[str, Any] = {
            "type": PROBLEM_TYPE + kind,
            "title": str(TITLES[kind]),
            "status": status,
            "errors": [{"pointer": pointer, "detail": str(text)} for pointer, text in errors],
        }
        if detail is not None:
            body["detail"] = str(detail)
    response = Response(json.dumps(body, ensure_ascii=False), status=status, mimetype=MEDIA_TYPE)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


class ApiProblem(HTTPException):
    """Raised anywhere in an API view: answered as problem details."""

    def __init__(
        self,
        status: int,
        kind: str | None = None,
        *,
        detail: Any = None,
        errors: Sequence[tuple[str, Any]] = (),
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__()
        self.code = status
        self.kind = kind
        self.problem_detail = detail
        self.errors = list(errors)
        self.extra_headers = headers

    def get_response(self, environ: Any = None, scope: Any = None) -> Response:  # type: ignore[override]
        return problem_response(
            self.code or 500,
            self.kind,
            detail=self.problem_detail,
            errors=self.errors,
            headers=self.extra_headers,
        )


def from_http_error(error: HTTPException) -> Response:
    """Any HTTP error under /api/ as problem details (unknown paths, 405, 413, 429...)."""
    if isinstance(error, ApiProblem):
        return error.get_response()
    status = error.code or 500
    headers = {}
    if status == 429:
        retry = getattr(error, "retry_after", None)
        headers["Retry-After"] = str(retry or 60)
    if status == 405 and error.get_headers():
        allow = dict(error.get_headers()).get("Allow")
        if allow:
            headers["Allow"] = allow
    return problem_response(status, headers=headers)
