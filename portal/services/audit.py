"""Append-only, hash-chained audit log.

Each entry's hash covers its own fields and the previous entry's hash, so editing or deleting
any row breaks the chain from that point on; ``verify`` finds the first broken link. The unique
constraint on ``prev_hash`` means two concurrent writers can never both extend the same tail.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from portal.models import AuditEvent, Officer, utcnow

GENESIS_HASH = "0" * 64


def officer_name(officer: Officer) -> str:
    """How the audit chain names a staff account: by id, never by name (names change)."""
    return f"officer:{officer.id}"


# Arbitrary constant naming the PostgreSQL advisory lock that serialises appends.
_ADVISORY_LOCK_ID = 7_402_615


def _entry_hash(
    prev_hash: str, at: datetime, actor: str, action: str, subject: str, details: str
) -> str:
    payload = json.dumps(
        [prev_hash, at.isoformat(timespec="microseconds"), actor, action, subject, details],
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    subject: str,
    details: Mapping[str, Any] | None = None,
    at: datetime | None = None,
) -> AuditEvent:
    """Append an entry in the caller's transaction (committed with the change it describes)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _ADVISORY_LOCK_ID})
    session.flush()
    tail = session.execute(
        select(AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1)
    ).scalar_one_or_none()
    prev_hash = tail or GENESIS_HASH
    moment = at or utcnow()
    details_json = json.dumps(dict(details or {}), ensure_ascii=False, sort_keys=True)
    entry = AuditEvent(
        at=moment,
        actor=actor,
        action=action,
        subject=subject,
        details=details_json,
        prev_hash=prev_hash,
        hash=_entry_hash(prev_hash, moment, actor, action, subject, details_json),
    )
    session.add(entry)
    session.flush()
    return entry


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    checked: int
    broken_at_id: int | None = None
    problem: str | None = None
    # The hash of the last entry: recorded outside the database (a daily note, a ticket), it
    # also exposes the one edit a chain cannot show by itself, cutting entries off its end.
    head_hash: str = GENESIS_HASH


def verify(
    session: Session, batch_size: int = 5000, *, earlier_head: str | None = None
) -> VerifyResult:
    """Walk the chain in id order and report the first entry that does not fit.

    With ``earlier_head`` (a head hash recorded outside the database), the chain must still
    contain that entry: entries may have been added since, none may have been cut off.
    """
    expected_prev = GENESIS_HASH
    anchor_seen = earlier_head in (None, GENESIS_HASH)
    checked = 0
    last_id = 0
    while True:
        rows = (
            session.execute(
                select(AuditEvent)
                .where(AuditEvent.id > last_id)
                .order_by(AuditEvent.id)
                .limit(batch_size)
            )
            .scalars()
            .all()
        )
        if not rows:
            break
        for entry in rows:
            if entry.prev_hash != expected_prev:
                return VerifyResult(False, checked, entry.id, "previous entry missing or changed")
            recomputed = _entry_hash(
                entry.prev_hash, entry.at, entry.actor, entry.action, entry.subject, entry.details
            )
            if recomputed != entry.hash:
                return VerifyResult(False, checked, entry.id, "entry content was altered")
            anchor_seen = anchor_seen or entry.hash == earlier_head
            expected_prev = entry.hash
            checked += 1
            last_id = entry.id
        session.expunge_all()
    if not anchor_seen:
        problem = "the recorded head is no longer in the chain: entries were cut off its end"
        return VerifyResult(False, checked, None, problem, expected_prev)
    return VerifyResult(ok=True, checked=checked, head_hash=expected_prev)
