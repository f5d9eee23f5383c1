"""The partner API's request and response bodies (pydantic models).

These models validate requests and generate the OpenAPI document: there is no other copy of
the API's shape. Rules that need the domain (URLs, territories, category questions) are
checked after, by ``portal.web.api.validation``, with the same functions as the report form.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from portal.domain.categories import CATEGORIES, PLATFORMS, STATUSES, all_questions
from portal.domain.territories import ABROAD, load_territories

Category = Literal[tuple(CATEGORIES)]  # type: ignore[valid-type]
Platform = Literal[tuple(PLATFORMS)]  # type: ignore[valid-type]
Status = Literal[tuple(STATUSES)]  # type: ignore[valid-type]
Territory = Literal[(*sorted(load_territories().subdivision_by_code), ABROAD)]  # type: ignore[valid-type]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _answer_type(kind: str) -> Any:
    if kind == "yesno":
        return Literal["yes", "no", "unknown"] | None
    if kind == "amount":
        return Annotated[str, Field(pattern=r"^[0-9]{1,12}(\.[0-9]{1,2})?$")] | None
    if kind == "date":
        return date | None
    return Annotated[str, Field(max_length=300)] | None


Answers = create_model(  # type: ignore[call-overload]
    "Answers",
    __config__=ConfigDict(extra="forbid"),
    **{
        name: (_answer_type(question.kind), None)
        for name, question in sorted(all_questions().items())
    },
)


class Contact(Strict):
    """How the police may reach the victim (encrypted at rest); all optional."""

    name: str | None = Field(None, max_length=120)
    phone: str | None = Field(None, max_length=40)
    email: str | None = Field(None, max_length=200)
    safe_time: str | None = Field(None, max_length=200)


class ReportCreate(Strict):
    """A report filed for a victim: the same fields as the public form."""

    category: Category
    platform: Platform
    description: str = Field(min_length=1, max_length=10_000)
    urls: list[Annotated[str, Field(max_length=2048, pattern=r"^\s*[Hh][Tt][Tt][Pp][Ss]?://")]] = (
        Field(
            min_length=1, max_length=20, description="Web addresses of the content (http or https)."
        )
    )
    territory: Territory = Field(
        description="ISO 3166-2:MA code of the victim's prefecture or province, or ABROAD.",
        examples=["MA-CAS"],
    )
    handle_outside_local: bool = False
    seen_on: date | None = None
    answers: Answers = Field(
        default_factory=lambda: Answers(),
        description="Answers to the questions the category asks (see each category's "
        "questions on the public form); a question the category does not ask is refused.",
    )
    contact: Contact | None = None
    good_faith: Literal[True] = Field(
        description="The partner declares in good faith that the report is true, as the "
        "victim told it."
    )


class CreateHeaders(BaseModel):
    idempotency_key: str | None = Field(
        None,
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        pattern=r"^[\x21-\x7e]+$",
        description="Send the same key again to retry safely: at most one report is created.",
    )


class Mandate(BaseModel):
    origin: Literal["partner_filed", "victim_granted"]
    granted_at: datetime


class ReportStatus(BaseModel):
    reference: str
    category: Category
    status: Status
    closure_reason: str | None
    submitted_at: datetime
    updated_at: datetime
    evidence_count: int
    mandate: Mandate


class ReportCreated(ReportStatus):
    victim_receipt: str | None = Field(
        description="The victim's 16-digit receipt for /follow-up. Given once, in the answer "
        "that created the report; null when an Idempotency-Key request is replayed. Pass it "
        "to the victim: with it she keeps her own access and can withdraw the mandate."
    )
    replayed: bool


class ReportList(BaseModel):
    items: list[ReportStatus]
    next_before: int | None = Field(description="Pass as ?before= for the next page.")


class ListQuery(Strict):
    limit: int = Field(50, ge=1, le=200)
    before: int | None = Field(None, ge=1, le=2**31 - 1)


class TimelineEntry(BaseModel):
    at: datetime
    kind: Literal["event", "message"]
    event: str | None = None
    status: Status | None = None
    message_id: int | None = None
    author: Literal["officer", "partner"] | None = None
    body: str | None = None


class Timeline(BaseModel):
    reference: str
    status: Status
    items: list[TimelineEntry]


class MessageCreate(Strict):
    body: str = Field(min_length=1, max_length=5000)


class MessageOut(BaseModel):
    id: int
    at: datetime
    author: Literal["officer", "partner"]
    body: str


class MessageList(BaseModel):
    items: list[MessageOut]


class Withdrawal(Strict):
    reason: str | None = Field(None, max_length=500)


class EvidenceQuery(Strict):
    filename: str | None = Field(None, max_length=255)


class EvidenceOut(BaseModel):
    id: int
    sha256: str
    size: int
    media_type: str


class EvidenceList(BaseModel):
    items: list[EvidenceOut]


class WebhookSet(Strict):
    url: str = Field(max_length=500, description="An https URL that accepts POSTed events.")


class WebhookOut(BaseModel):
    url: str | None
    secret: str | None = Field(
        None, description="The signing secret: given once, when the endpoint is set."
    )


class FieldError(BaseModel):
    pointer: str = Field(description="JSON pointer (RFC 6901) into the request body.")
    detail: str


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str
    title: str
    status: int
    detail: str | None = None
    errors: list[FieldError] = Field(default_factory=list)
