"""Signed webhook events for partners, stored first and delivered with retries.

Events are written in the transaction of the change they announce (a status change, an
officer's message to the partner), for every partner with a live mandate on the report, and
delivered later by ``deliver_due_webhooks`` (a periodic job, or ``portal partners
deliver-webhooks``). An event carries no report content: the reference, the new status, or the
id of a message the partner then reads through the API.

Signature (Stripe's scheme): ``Portal-Signature: t=<unix time>,v1=<hex HMAC-SHA-256 of
"<t>.<raw body>" under the endpoint's secret>``. A receiver recomputes it over the raw body,
compares in constant time, and refuses a timestamp more than five minutes old.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import secrets
import socket
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from portal.crypto.keyring import Keyring
from portal.models import Mandate, Message, Partner, Report, ReportEvent, WebhookDelivery, utcnow
from portal.services import audit

SIGNATURE_HEADER = "Portal-Signature"
MAX_ATTEMPTS = 8
BASE_DELAY = timedelta(seconds=30)
MAX_DELAY = timedelta(hours=6)
TIMEOUT_SECONDS = 10.0

# (url, body, headers, timeout) -> HTTP status; raises OSError when nothing answered.
HttpPost = Callable[[str, bytes, dict[str, str], float], int]


class WebhookError(Exception):
    pass


# --- endpoints ----------------------------------------------------------------------------------


def check_endpoint_url(url: str, *, allow_local_http: bool = False) -> str:
    """An https URL with a public host name; plain http only to the loopback, in tests."""
    parts = urlsplit(url.strip())
    if parts.username or parts.password or not parts.hostname or parts.fragment:
        raise WebhookError("the endpoint must be a plain https URL")
    host = parts.hostname
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if parts.scheme == "http" and allow_local_http and address is not None and address.is_loopback:
        return url.strip()
    if parts.scheme != "https":
        raise WebhookError("the endpoint must use https")
    if address is not None and not address.is_global:
        raise WebhookError("the endpoint must be a public address")
    if host == "localhost" or host.endswith((".localhost", ".internal", ".local")):
        raise WebhookError("the endpoint must be a public address")
    return url.strip()


def _secret_context(partner: Partner) -> str:
    return f"partner.webhook_secret:{partner.id}"


def set_endpoint(
    session: Session,
    partner: Partner,
    url: str | None,
    *,
    keyring: Keyring,
    actor: str,
    allow_local_http: bool = False,
) -> str | None:
    """Register (or, with None, remove) the partner's endpoint; returns the new signing secret,
    shown once."""
    if url is None:
        partner.webhook_url = None
        partner.webhook_secret_enc = None
        audit.record(
            session, actor=actor, action="partner.webhook_removed", subject=f"partner:{partner.id}"
        )
        return None
    partner.webhook_url = check_endpoint_url(url, allow_local_http=allow_local_http)
    secret = "whsec_" + secrets.token_urlsafe(32)
    partner.webhook_secret_enc = keyring.encrypt_field(secret, _secret_context(partner))
    audit.record(
        session,
        actor=actor,
        action="partner.webhook_set",
        subject=f"partner:{partner.id}",
        details={"host": urlsplit(partner.webhook_url).hostname},
    )
    return secret


def endpoint_secret(partner: Partner, keyring: Keyring) -> str | None:
    if partner.webhook_secret_enc is None:
        return None
    return keyring.decrypt_field(partner.webhook_secret_enc, _secret_context(partner))


# --- signing ------------------------------------------------------------------------------------


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify_signature(
    secret: str, header: str, body: bytes, *, now: float | None = None, tolerance: int = 300
) -> bool:
    """What a receiver does (the README shows the same steps)."""
    fields = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        timestamp = int(fields["t"])
    except (KeyError, ValueError):
        return False
    if abs((now if now is not None else time.time()) - timestamp) > tolerance:
        return False
    expected = sign(secret, timestamp, body).split(",v1=", 1)[1]
    return hmac.compare_digest(expected, fields.get("v1", ""))


# --- events -------------------------------------------------------------------------------------


def enqueue(
    session: Session, partner_id: int, event_type: str, data: dict[str, Any], now: datetime
) -> WebhookDelivery:
    event_id = f"evt_{uuid.uuid4().hex}"
    payload = {"id": event_id, "type": event_type, "created": now.isoformat(), "data": data}
    delivery = WebhookDelivery(
        partner_id=partner_id,
        event_id=event_id,
        event_type=event_type,
        payload=json.dumps(payload, ensure_ascii=False, separators=(",", ":")),
        created_at=now,
        attempts=0,
        next_attempt_at=now,
    )
    session.add(delivery)
    return delivery


def _partners_with_endpoint(session: Session, report_id: int) -> list[int]:
    return list(
        session.scalars(
            select(Mandate.partner_id)
            .join(Partner, Partner.id == Mandate.partner_id)
            .where(
                Mandate.report_id == report_id,
                Mandate.withdrawn_at.is_(None),
                Partner.webhook_url.is_not(None),
            )
        )
    )


def _report_of(session: Session, obj: ReportEvent | Message) -> Report | None:
    if obj.report is not None:
        return obj.report
    return session.get(Report, obj.report_id) if obj.report_id else None


def _events_for(session: Session, obj: object) -> list[tuple[int, str, dict[str, Any]]]:
    if isinstance(obj, ReportEvent) and obj.kind == "status_changed":
        report = _report_of(session, obj)
        if report is None:
            return []
        details = json.loads(obj.details or "{}")
        data = {"reference": report.reference, "status": details.get("to"), "at": obj.at}
        return [(report.id, "report.status_changed", data)]
    if isinstance(obj, Message) and obj.kind == "to_partner":
        report = _report_of(session, obj)
        if report is None:
            return []
        data = {"reference": report.reference, "message_id": obj.id, "at": obj.created_at}
        return [(report.id, "message.created", data)]
    return []


@event.listens_for(Session, "after_flush")
def _announce(session: Session, _context: Any) -> None:
    """Turn new status changes and officer messages into events, in the same transaction."""
    found = [item for obj in list(session.new) for item in _events_for(session, obj)]
    if not found:
        return
    now = utcnow()
    with session.no_autoflush:
        for report_id, event_type, data in found:
            data = {
                key: (v.isoformat() if isinstance(v, datetime) else v) for key, v in data.items()
            }
            for partner_id in _partners_with_endpoint(session, report_id):
                enqueue(session, partner_id, event_type, data, now)


# --- delivery -----------------------------------------------------------------------------------


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect())


def http_post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> int:
    """POST without following redirects; the status, whatever it is."""
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def resolves_to_public_addresses(url: str) -> bool:
    """Whether every address the endpoint's host name resolves to is on the public internet
    (checked before each delivery: a name registered as public may later point inside)."""
    parts = urlsplit(url)
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or 443, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return False
    addresses = {ipaddress.ip_address(info[4][0].split("%", 1)[0]) for info in infos}
    return bool(addresses) and all(address.is_global for address in addresses)


def backoff(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min, ... capped at 6 hours."""
    return min(BASE_DELAY * (2 ** max(attempts - 1, 0)), MAX_DELAY)


@dataclass
class DeliveryRun:
    delivered: int = 0
    failed: int = 0
    abandoned: int = 0


def deliver_due_webhooks(
    session: Session,
    now: datetime | None = None,
    *,
    keyring: Keyring,
    http_post: HttpPost = http_post,
    limit: int = 100,
    max_attempts: int = MAX_ATTEMPTS,
    allow_local_http: bool = False,
) -> DeliveryRun:
    """Send every event that is due, once each; commits after each attempt.

    Rows are locked with SKIP LOCKED on PostgreSQL, so several workers never send one event
    twice at the same time.
    """
    now = now or utcnow()
    run = DeliveryRun()
    for _ in range(limit):
        # One row at a time, locked until its attempt is committed.
        delivery = session.scalars(
            select(WebhookDelivery)
            .where(
                WebhookDelivery.delivered_at.is_(None),
                WebhookDelivery.abandoned_at.is_(None),
                WebhookDelivery.next_attempt_at <= now,
            )
            .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
            .limit(1)
            .with_for_update(skip_locked=True)
        ).first()
        if delivery is None:
            break
        partner = delivery.partner
        secret = endpoint_secret(partner, keyring)
        status: int | None = None
        error: str | None = None
        if partner.webhook_url is None or secret is None:
            error = "no endpoint registered"
        elif not allow_local_http and not resolves_to_public_addresses(partner.webhook_url):
            error = "endpoint does not resolve to a public address"
        else:
            body = delivery.payload.encode()
            timestamp = int(now.timestamp())
            headers = {
                "Content-Type": "application/json",
                "User-Agent": "portal-webhooks/1",
                "Portal-Event-Id": delivery.event_id,
                SIGNATURE_HEADER: sign(secret, timestamp, body),
            }
            try:
                status = http_post(partner.webhook_url, body, headers, TIMEOUT_SECONDS)
            except (OSError, ValueError) as exc:
                error = type(exc).__name__
        delivery.attempts += 1
        delivery.last_attempt_at = now
        delivery.last_status = status
        if status is not None and 200 <= status < 300:
            delivery.delivered_at = now
            delivery.next_attempt_at = None
            delivery.last_error = None
            run.delivered += 1
        else:
            delivery.last_error = (error or f"HTTP {status}")[:200]
            if delivery.attempts >= max_attempts:
                delivery.abandoned_at = now
                delivery.next_attempt_at = None
                run.abandoned += 1
            else:
                delivery.next_attempt_at = now + backoff(delivery.attempts)
                run.failed += 1
        session.commit()
    return run
