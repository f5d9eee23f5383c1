"""From a validated body to a report submission, with the rules of the public form.

Every refusal names its field by a JSON pointer and says what is wrong in the caller's
language; the messages are the report form's own.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from flask_babel import lazy_gettext as _l

from portal.domain.categories import QUESTIONS
from portal.domain.territories import ABROAD, load_territories
from portal.domain.urlnorm import InvalidURL, NormalizedURL, normalize_url
from portal.services.reports import ReportSubmission
from portal.web.api.schemas import ReportCreate

URL_ERRORS = {
    "empty": _l("This line is empty."),
    "too_long": _l("This address is too long."),
    "scheme": _l("Only web addresses starting with http:// or https:// can be reported."),
    "host": _l("This address has no valid site name."),
    "port": _l("This address has an invalid port number."),
    "credentials": _l("Please remove the user name or password from this address."),
    "malformed": _l("This does not look like a web address."),
}

# Messages for what the schema refuses, by pydantic error type.
SCHEMA_ERRORS: dict[str, Any] = {
    "missing": _l("This field is required."),
    "extra_forbidden": _l("This field is not part of the API."),
    "string_too_long": _l("This is too long."),
    "string_too_short": _l("This field is required."),
    "too_long": _l("Too many items."),
    "too_short": _l("This field is required."),
    "literal_error": _l("This value is not one of the allowed values."),
    "enum": _l("This value is not one of the allowed values."),
}
WRONG_TYPE = _l("This value has the wrong type.")


def pointer(loc: tuple[Any, ...] | list[Any]) -> str:
    """A JSON pointer (RFC 6901) from a pydantic error location."""
    parts = [str(part).replace("~", "~0").replace("/", "~1") for part in loc]
    return "/" + "/".join(parts) if parts else ""


def schema_errors(errors: list[dict[str, Any]]) -> list[tuple[str, Any]]:
    found = []
    for error in errors:
        loc = [part for part in error.get("loc", ()) if part not in ("body", "__root__")]
        message = SCHEMA_ERRORS.get(str(error.get("type", "")), WRONG_TYPE)
        found.append((pointer(loc), message))
    return found


def to_submission(
    body: ReportCreate, *, allowed_categories: frozenset[str], today: date
) -> tuple[ReportSubmission | None, list[tuple[str, Any]]]:
    errors: list[tuple[str, Any]] = []
    if body.category not in allowed_categories:
        errors.append(("/category", _l("This organisation may not file reports of this kind.")))
    urls: list[NormalizedURL] = []
    for index, raw in enumerate(body.urls):
        try:
            urls.append(normalize_url(raw))
        except InvalidURL as error:
            errors.append((f"/urls/{index}", URL_ERRORS.get(error.reason, URL_ERRORS["malformed"])))
    territory = body.territory.strip()
    if territory != ABROAD and territory not in load_territories().subdivision_by_code:
        errors.append(("/territory", _l("Choose your prefecture or province.")))
    if body.seen_on and body.seen_on > today:
        errors.append(("/seen_on", _l("This date is in the future.")))
    if not body.description.strip():
        errors.append(("/description", _l("Please describe briefly what happened.")))
    asked = {question.name for question in QUESTIONS.get(body.category, ())}
    answers: dict[str, str] = {}
    for name, value in body.answers.model_dump(exclude_none=True).items():
        if name not in asked:
            errors.append((f"/answers/{name}", _l("This category does not ask this question.")))
        elif value not in ("", "unknown"):
            answers[name] = str(value)
    if errors:
        return None, errors
    contact = None
    if body.contact is not None:
        contact = {
            key: value.strip()
            for key, value in body.contact.model_dump().items()
            if value and value.strip()
        } or None
    return (
        ReportSubmission(
            category=body.category,
            platform=body.platform,
            description=body.description.strip(),
            urls=urls,
            subdivision_code=None if territory == ABROAD else territory,
            handle_outside_local=body.handle_outside_local,
            seen_on=body.seen_on,
            answers=answers,
            contact=contact,
        ),
        [],
    )
