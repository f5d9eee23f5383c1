"""Server-side staff sessions.

The browser holds only a random token (inside the signed Flask session cookie); the database
holds its SHA-256, when it was created and last used, and whether an admin revoked it. A new
token is issued at every login, so a token planted before login is worthless afterwards.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, update
from sqlalchemy.orm import Session

from portal.crypto.tokens import token_hash
from portal.models import Officer, StaffSession, utcnow

# Writing last_seen_at on every request would turn each page view into a write; a minute of
# slack on a 30-minute idle timeout is harmless.
_TOUCH_INTERVAL = timedelta(seconds=60)


def open_session(session: Session, officer: Officer, *, now: datetime | None = None) -> str:
    now = now or utcnow()
    token = secrets.token_urlsafe(32)
    session.add(
        StaffSession(
            id_hash=token_hash(token), officer_id=officer.id, created_at=now, last_seen_at=now
        )
    )
    return token


def resolve(
    session: Session,
    token: str | None,
    *,
    idle_minutes: int,
    absolute_hours: int,
    now: datetime | None = None,
) -> StaffSession | None:
    """The live session for ``token``, touched; None if unknown, revoked, idle or too old."""
    if not token:
        return None
    now = now or utcnow()
    row = session.get(StaffSession, token_hash(token))
    if row is None or row.revoked_at is not None:
        return None
    if now - row.last_seen_at > timedelta(minutes=idle_minutes):
        return None
    if now - row.created_at > timedelta(hours=absolute_hours):
        return None
    if not row.officer.active:
        return None
    if now - row.last_seen_at > _TOUCH_INTERVAL:
        row.last_seen_at = now
    return row


def close_session(session: Session, token: str | None) -> None:
    if token:
        session.execute(delete(StaffSession).where(StaffSession.id_hash == token_hash(token)))


def revoke_all(session: Session, officer_id: int, *, now: datetime | None = None) -> int:
    """Revoke every live session of an account; returns how many were live."""
    now = now or utcnow()
    result = session.execute(
        update(StaffSession)
        .where(StaffSession.officer_id == officer_id, StaffSession.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def purge_expired(session: Session, *, absolute_hours: int, now: datetime | None = None) -> None:
    now = now or utcnow()
    session.execute(
        delete(StaffSession).where(StaffSession.created_at < now - timedelta(hours=absolute_hours))
    )
