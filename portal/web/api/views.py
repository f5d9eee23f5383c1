"""The partner API, ``/api/v1/``: thin views over ``portal.services.partners``.

A partner reads and acts only on reports it holds a live mandate for; any other reference, a
withdrawn mandate included, answers 404 exactly like a reference that does not exist.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import Blueprint, Flask, current_app, g, jsonify, request
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from flask_limiter import ExemptionScope
from werkzeug.exceptions import ClientDisconnected, RequestEntityTooLarge

from portal.db import get_session
from portal.domain.categories import NO_FILE_CATEGORIES
from portal.domain.receipts import format_receipt
from portal.evidence.intake import DRAIN_PIECE, FIELD_NAME, Intake, Limits
from portal.extensions import csrf
from portal.models import Mandate, Partner, Report, utcnow
from portal.services import evidence as evidence_service
from portal.services import partners as partner_service
from portal.services import webhooks
from portal.web import linking, uploads
from portal.web.api import auth
from portal.web.api.auth import requires
from portal.web.api.problems import ApiProblem, api_language
from portal.web.api.schemas import (
    CreateHeaders,
    EvidenceList,
    EvidenceOut,
    EvidenceQuery,
    ListQuery,
    MessageCreate,
    MessageList,
    MessageOut,
    ReportCreate,
    ReportCreated,
    ReportList,
    ReportStatus,
    Timeline,
    TimelineEntry,
    WebhookOut,
    WebhookSet,
    Withdrawal,
)
from portal.web.api.schemas import Mandate as MandateOut
from portal.web.api.spec import BINARY_BODIES, document, responses, spec
from portal.web.api.validation import SCHEMA_ERRORS, to_submission
from portal.web.context import blind_indexer, blob_store, keyring, receipt_hasher
from portal.web.ratelimit import limiter

bp = Blueprint("api", __name__, url_prefix="/api/v1")

JSON_BODY_LIMIT = 1024 * 1024
NO_FILE = _l("Choose at least one file to send.")
WEBHOOK_URL_ERROR = _l(
    "Give an https address on the public internet, without user name or password."
)
TAGS_REPORTS = ["reports"]
TAGS_MESSAGES = ["messages"]
TAGS_WEBHOOKS = ["webhooks"]


@bp.before_request
def _guard() -> None:
    if request.endpoint == "api.openapi":
        return
    auth.require_principal()
    if request.endpoint == "api.upload_evidence":
        return
    request.max_content_length = JSON_BODY_LIMIT
    if request.method in ("POST", "PUT", "PATCH") and (
        request.content_length or request.headers.get("Transfer-Encoding")
    ):
        if not request.is_json:
            raise ApiProblem(415, "unsupported_media_type")
        try:
            parsed = request.get_json(silent=True)
        except RecursionError:
            # Nesting deeper than the parser goes: never a real report.
            parsed = None
        if parsed is None:
            raise ApiProblem(400, "invalid", detail=_l("The body is not valid JSON."))


bp.after_request(auth.audit_call)


def _report(reference: str) -> Report:
    principal = auth.require_principal()
    report = partner_service.report_for_partner(get_session(), principal.partner_id, reference)
    if report is None:
        raise ApiProblem(404, "not_found")
    return report


def _status(report: Report, mandate: Mandate) -> dict[str, Any]:
    return {
        "reference": report.reference,
        "category": report.category,
        "status": report.status,
        "closure_reason": report.closure_reason,
        "submitted_at": report.submitted_at,
        "updated_at": report.updated_at,
        "evidence_count": len(report.evidence),
        "mandate": MandateOut(origin=mandate.origin, granted_at=mandate.granted_at),  # type: ignore[arg-type]
    }


def _lane_policy() -> partner_service.LanePolicy:
    config = current_app.config
    minimum = config.get("PARTNER_LANE_MIN_ACCURACY")
    return partner_service.LanePolicy(
        min_accuracy=None if minimum in (None, "") else float(minimum),
        min_closed=int(config.get("PARTNER_LANE_MIN_CLOSED", 20)),
    )


@bp.get("/openapi.json")
def openapi() -> Any:
    """The OpenAPI 3.1 document of this API."""
    return jsonify(document())


@bp.post("/reports")
@requires("file")
@spec.validate(
    json=ReportCreate,
    headers=CreateHeaders,
    resp=responses({"HTTP_201": ReportCreated, "HTTP_200": ReportCreated}, 400, 413, 415, 422),
    tags=TAGS_REPORTS,
)
def create_report(json: ReportCreate, headers: CreateHeaders) -> Any:
    """File a report for a victim.

    The answer carries the victim's receipt once. With an `Idempotency-Key`, a retry (or a
    concurrent duplicate) creates nothing and answers 200 with the same report.
    """
    principal = auth.require_principal()
    with force_locale(api_language()):
        submission, errors = to_submission(
            json, allowed_categories=principal.categories, today=date.today()
        )
    if submission is None:
        raise ApiProblem(422, "invalid", errors=errors)
    db = get_session()
    try:
        filing = partner_service.file_report(
            db,
            principal,
            submission,
            keyring=keyring(),
            hasher=receipt_hasher(),
            indexer=blind_indexer(),
            idempotency_key=headers.idempotency_key,
            fingerprint=partner_service.request_fingerprint(json.model_dump(mode="json")),
            lane=_lane_policy(),
        )
    except partner_service.IdempotencyMismatch as error:
        raise ApiProblem(422, "idempotency_conflict") from error
    except partner_service.PartnerError as error:
        # The first request with this key failed and left nothing: a retry will go through.
        raise ApiProblem(409, "conflict") from error
    if not filing.replayed:
        # A partner's filing joins the campaigns its traces link it to, like the form's.
        linking.link_submission(db, filing.report, submission.answers, submission.urls, [], [])
    db.commit()
    mandate = partner_service.mandate_for(db, principal.partner_id, filing.report)
    if mandate is None:  # withdrawn since: the report is no longer the partner's to read
        raise ApiProblem(404, "not_found")
    body = ReportCreated(
        **_status(filing.report, mandate),
        victim_receipt=format_receipt(filing.submitted.receipt) if filing.submitted else None,
        replayed=filing.replayed,
    )
    location = {"Location": f"{bp.url_prefix}/reports/{filing.report.reference}"}
    return body, (200 if filing.replayed else 201), location


@bp.get("/reports")
@requires("read")
@spec.validate(query=ListQuery, resp=responses({"HTTP_200": ReportList}, 422), tags=TAGS_REPORTS)
def list_reports(query: ListQuery) -> Any:
    """The partner's own filings, newest first."""
    principal = auth.require_principal()
    rows = partner_service.list_filings(
        get_session(), principal.partner_id, limit=query.limit, before_id=query.before
    )
    items = [ReportStatus(**_status(report, mandate)) for report, mandate in rows]
    next_before = rows[-1][0].id if len(rows) == query.limit else None
    return ReportList(items=items, next_before=next_before)


@bp.get("/reports/<reference>")
@requires("read")
@spec.validate(resp=responses({"HTTP_200": ReportStatus}), tags=TAGS_REPORTS)
def get_report(reference: str) -> Any:
    """Status of one of the partner's filings."""
    report = _report(reference)
    mandate = partner_service.mandate_for(
        get_session(), auth.require_principal().partner_id, report
    )
    assert mandate is not None
    return ReportStatus(**_status(report, mandate))


@bp.get("/reports/<reference>/timeline")
@requires("read")
@spec.validate(resp=responses({"HTTP_200": Timeline}), tags=TAGS_REPORTS)
def get_timeline(reference: str) -> Any:
    """What happened to the report: status changes and the partner's exchange with officers."""
    report = _report(reference)
    entries = partner_service.partner_timeline(report, keyring())
    return Timeline(
        reference=report.reference,
        status=report.status,
        items=[TimelineEntry(**entry.__dict__) for entry in entries],
    )


@bp.get("/reports/<reference>/messages")
@requires("read")
@spec.validate(resp=responses({"HTTP_200": MessageList}), tags=TAGS_MESSAGES)
def list_messages(reference: str) -> Any:
    """Messages between the partner and the officers."""
    report = _report(reference)
    items = [
        MessageOut(
            id=message.id,
            at=message.created_at,
            author="officer" if message.kind == "to_partner" else "partner",
            body=partner_service.read_message(message, report, keyring()),
        )
        for message in partner_service.partner_messages(report)
    ]
    return MessageList(items=items)


@bp.post("/reports/<reference>/messages")
@requires("message")
@spec.validate(
    json=MessageCreate,
    resp=responses({"HTTP_201": MessageOut}, 400, 413, 415, 422),
    tags=TAGS_MESSAGES,
)
def post_message(reference: str, json: MessageCreate) -> Any:
    """Send a message to the officers handling the report."""
    report = _report(reference)
    body = json.body.strip()
    if not body:
        raise ApiProblem(422, "invalid", errors=[("/body", SCHEMA_ERRORS["missing"])])
    db = get_session()
    message = partner_service.partner_message(
        db, auth.require_principal(), report, body, keyring=keyring()
    )
    db.commit()
    return MessageOut(id=message.id, at=message.created_at, author="partner", body=body), 201


@bp.post("/reports/<reference>/withdraw")
@requires("file")
@spec.validate(
    json=Withdrawal, resp=responses({"HTTP_204": None}, 400, 413, 415, 422), tags=TAGS_REPORTS
)
def withdraw(reference: str, json: Withdrawal) -> Any:
    """Stop acting for the victim on this report.

    The report stays with the police and the victim keeps her access with her receipt; the
    partner sees nothing more of it (404 from now on).
    """
    report = _report(reference)
    principal = auth.require_principal()
    db = get_session()
    mandate = partner_service.mandate_for(db, principal.partner_id, report)
    assert mandate is not None
    partner_service.withdraw_mandate(
        db, mandate, by="partner", actor=f"partner:{principal.partner_id}"
    )
    db.commit()
    return "", 204


def _raw_upload(report: Report, filename: str) -> uploads.Upload:
    """The body is the file: streamed into one staged file, as the form parser would."""
    intake = Intake(
        Limits.from_config(current_app.config),
        store=blob_store(),
        keyring=keyring(),
        reference_for_request=lambda: report.reference,
    )
    # The request's teardown deletes whatever is not committed (see portal.web.uploads).
    request.evidence_intake = intake  # type: ignore[attr-defined]
    staged = intake.open(FIELD_NAME, filename)
    stream = request.stream
    try:
        while chunk := stream.read(DRAIN_PIECE):
            staged.write(chunk)
    except RequestEntityTooLarge as error:
        staged.refuse("too_large")
        raise ApiProblem(413, "too_large") from error
    except ClientDisconnected as error:
        staged.refuse("discarded")
        raise ApiProblem(400, "invalid") from error
    return uploads.Upload(intake, [staged])


def _multipart_upload(report: Report) -> uploads.Upload:
    """Files in the ``evidence`` field, parsed by the encrypting request class of the form."""
    g.api_evidence_reference = report.reference
    try:
        return uploads.current_upload()
    except RequestEntityTooLarge as error:
        raise ApiProblem(413, "too_large") from error


# Multipart parts are bound to the report the view found for this partner (see _guard order:
# the token is checked, then the view resolves the report, then the body is parsed).
uploads.UPLOAD_ENDPOINTS["api.upload_evidence"] = lambda: g.get("api_evidence_reference")


@bp.post("/reports/<reference>/evidence")
@requires("file")
@spec.validate(
    query=EvidenceQuery,
    resp=responses({"HTTP_201": EvidenceList}, 400, 413, 422),
    tags=TAGS_REPORTS,
)
def upload_evidence(reference: str, query: EvidenceQuery) -> Any:
    """Add evidence: the body is one file itself, or a multipart form with files in `evidence`.

    The first bytes decide each file's type, as on the public form; files are hashed and
    encrypted while they stream in and never reach a disk in clear. The form's limits apply.
    """
    report = _report(reference)
    if request.mimetype == "multipart/form-data":
        upload = _multipart_upload(report)
    else:
        upload = _raw_upload(report, query.filename or "evidence")
    with force_locale(api_language()):
        problems = upload.check(files_allowed=report.category not in NO_FILE_CATEGORIES)
        if not upload.files and not problems:
            problems = [str(NO_FILE)]
    if problems:
        upload.discard()
        status = 413 if upload.over_limit else 422
        raise ApiProblem(status, "evidence_refused", errors=[("", problem) for problem in problems])
    db = get_session()
    rows = evidence_service.attach(db, report, upload.accepted, source="partner", keyring=keyring())
    linking.link_images(db, report, rows, upload.accepted)
    report.last_reporter_activity_at = utcnow()
    db.commit()
    items = [
        EvidenceOut(id=row.id, sha256=row.sha256, size=row.size, media_type=row.sniffed_type)
        for row in rows
    ]
    return EvidenceList(items=items), 201


BINARY_BODIES.add(("/api/v1/reports/{reference}/evidence", "post"))


def _partner() -> Partner:
    partner = get_session().get(Partner, auth.require_principal().partner_id)
    assert partner is not None
    return partner


@bp.get("/webhook")
@requires("read")
@spec.validate(resp=responses({"HTTP_200": WebhookOut}), tags=TAGS_WEBHOOKS)
def get_webhook() -> Any:
    """The endpoint that receives the partner's events."""
    return WebhookOut(url=_partner().webhook_url)


@bp.put("/webhook")
@requires("read")
@spec.validate(
    json=WebhookSet,
    resp=responses({"HTTP_200": WebhookOut}, 400, 413, 415, 422),
    tags=TAGS_WEBHOOKS,
)
def set_webhook(json: WebhookSet) -> Any:
    """Register the https endpoint for events; the answer gives its signing secret once."""
    partner = _partner()
    db = get_session()
    try:
        secret = webhooks.set_endpoint(
            db,
            partner,
            json.url,
            keyring=keyring(),
            actor=f"partner:{partner.id}",
            allow_local_http=bool(current_app.config.get("WEBHOOK_ALLOW_LOCAL_HTTP")),
        )
    except webhooks.WebhookError as error:
        raise ApiProblem(422, "invalid", errors=[("/url", WEBHOOK_URL_ERROR)]) from error
    db.commit()
    return WebhookOut(url=partner.webhook_url, secret=secret)


@bp.delete("/webhook")
@requires("read")
@spec.validate(resp=responses({"HTTP_204": None}), tags=TAGS_WEBHOOKS)
def delete_webhook() -> Any:
    """Stop receiving events."""
    partner = _partner()
    db = get_session()
    webhooks.set_endpoint(db, partner, None, keyring=keyring(), actor=f"partner:{partner.id}")
    db.commit()
    return "", 204


# Token routes: no CSRF (no cookie is ever read), and one limit per partner instead of the
# per-client default for POSTs. The limiter is one object per process: declared once here.
csrf.exempt(bp)
limiter.exempt(bp, flags=ExemptionScope.DEFAULT)
limiter.limit(auth.api_limit, key_func=auth.partner_key)(bp)


def init_app(app: Flask) -> None:
    auth.init_app(app)
    app.register_blueprint(bp)
