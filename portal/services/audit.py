"""Append-only audit log, chained by MACs under a key that is never in the database.

Each entry carries ``mac`` = HMAC-SHA-256 under the audit key (the instance secret
``audit_key``) over a version tag, the previous entry's MAC, and the entry's own time, actor,
action, subject and details. Whoever can write to the database but does not hold the key cannot
produce a valid MAC, so editing, inserting, reordering or deleting entries, even with every later
MAC "recomputed", breaks the chain at the first entry touched; ``verify`` names it. Cutting
entries off the end leaves a shorter chain that is consistent by itself: anchors catch that.
``write_anchor`` appends the head (id, MAC, time) to a file outside the database and logs it;
``verify`` requires every anchored entry to still be in the chain with the same MAC.

Chains written before the chain was keyed (plain SHA-256 links) were re-keyed once by the
migration that introduced the key: each old entry got a MAC under a distinct tag, and an
``audit.rekeyed`` entry was appended saying how many and which entries that covers, and the old
unkeyed head. ``verify`` accepts the distinct tag only for entries that entry covers.

The unique constraint on ``prev_mac`` means two concurrent writers can never both extend the
same tail; appends wait for each other (an advisory lock on PostgreSQL, the database's write
lock on SQLite), so that a concurrent append never fails either.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from portal.db import AUDIT_KEY_INFO
from portal.models import AuditEvent, Officer, utcnow

log = logging.getLogger(__name__)

GENESIS_MAC = "0" * 64
MAC_TAG = "portal-audit-v1"
# Entries written before the chain was keyed, MACed afterwards by the re-keying.
REKEYED_TAG = "portal-audit-rekeyed-v1"
REKEYED_ACTION = "audit.rekeyed"

# Arbitrary constant naming the PostgreSQL advisory lock that serialises appends.
_ADVISORY_LOCK_ID = 7_402_615


class MissingAuditKey(RuntimeError):
    """A session without the audit key tried to write or check the chain."""


def officer_name(officer: Officer) -> str:
    """How the audit chain names a staff account: by id, never by name (names change)."""
    return f"officer:{officer.id}"


def session_key(session: Session, key: bytes | None = None) -> bytes:
    """The audit key: given explicitly, or carried by the session.

    Sessions made by the app's factory carry it in ``session.info`` (``portal.db``), so the many
    services that record an action need neither Flask globals nor an extra argument threaded
    through every call, and a session made without it (a script, a migration) cannot write an
    entry that would later fail verification: it fails now, loudly.
    """
    found = key if key is not None else session.info.get(AUDIT_KEY_INFO)
    if not found:
        raise MissingAuditKey(
            "The audit key is missing: run `portal init` or set PORTAL_AUDIT_KEY, and open "
            "sessions from the app's session factory."
        )
    return bytes(found)


def entry_mac(
    key: bytes,
    prev_mac: str,
    at: datetime,
    actor: str,
    action: str,
    subject: str,
    details: str,
    *,
    tag: str = MAC_TAG,
) -> str:
    payload = json.dumps(
        [
            tag,
            prev_mac,
            at.astimezone(UTC).isoformat(timespec="microseconds"),
            actor,
            action,
            subject,
            details,
        ],
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hmac.new(key, payload.encode("utf-8"), hashlib.sha256).hexdigest()


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    subject: str,
    details: Mapping[str, Any] | None = None,
    at: datetime | None = None,
    key: bytes | None = None,
) -> AuditEvent:
    """Append an entry in the caller's transaction (committed with the change it describes)."""
    audit_key = session_key(session, key)
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _ADVISORY_LOCK_ID})
    else:
        # SQLite has one write lock for the whole database, taken by a transaction's first write
        # and kept to its commit. A write that changes nothing takes it now (waiting for another
        # writer's commit), so that no one can append between our reading the tail and ours.
        session.execute(text("UPDATE audit_events SET id = id WHERE 0"))
    session.flush()
    tail = session.execute(
        select(AuditEvent.mac).order_by(AuditEvent.id.desc()).limit(1)
    ).scalar_one_or_none()
    prev_mac = tail or GENESIS_MAC
    # Microseconds are what both databases keep: the MAC covers what will be read back.
    moment = (at or utcnow()).astimezone(UTC)
    details_json = json.dumps(dict(details or {}), ensure_ascii=False, sort_keys=True)
    entry = AuditEvent(
        at=moment,
        actor=actor,
        action=action,
        subject=subject,
        details=details_json,
        prev_mac=prev_mac,
        mac=entry_mac(audit_key, prev_mac, moment, actor, action, subject, details_json),
    )
    session.add(entry)
    session.flush()
    return entry


# --- anchors ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Anchor:
    entry_id: int
    mac: str
    at: datetime


def write_anchor(
    session: Session, path: Path | str, *, now: datetime | None = None
) -> Anchor | None:
    """Append the chain's head to ``path`` (created 0600, opened append-only) and log it.

    Returns the anchor, or None while the chain is empty. Meant to run periodically: every
    entry anchored must still be in the chain, unchanged, when ``verify`` runs later.
    """
    head = session.execute(
        select(AuditEvent.id, AuditEvent.mac).order_by(AuditEvent.id.desc()).limit(1)
    ).one_or_none()
    if head is None:
        return None
    anchor = Anchor(entry_id=int(head.id), mac=head.mac, at=(now or utcnow()).astimezone(UTC))
    line = json.dumps(
        {"id": anchor.entry_id, "mac": anchor.mac, "at": anchor.at.isoformat()},
        separators=(",", ":"),
    )
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags, 0o600)
    try:
        os.write(fd, (line + "\n").encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)
    log.info("audit anchor: entry %s mac %s", anchor.entry_id, anchor.mac)
    return anchor


def read_anchors(path: Path | str) -> list[Anchor]:
    """Anchors in the order written; a missing file is no anchors, an unreadable line an error."""
    try:
        lines = Path(path).read_text("ascii").splitlines()
    except FileNotFoundError:
        return []
    anchors = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            anchors.append(
                Anchor(int(data["id"]), str(data["mac"]), datetime.fromisoformat(data["at"]))
            )
        except (ValueError, KeyError, TypeError) as error:
            raise ValueError(f"{path}, line {number}: not an audit anchor") from error
    return anchors


# --- verification -----------------------------------------------------------------------------


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    checked: int
    broken_at_id: int | None = None
    problem: str | None = None
    # The MAC of the last entry: kept outside the database (the anchors), it exposes the one
    # edit a chain cannot show by itself, cutting entries off its end.
    head_mac: str = GENESIS_MAC
    head_id: int | None = None
    anchors_checked: int = 0
    # (entries covered, when) if the chain was re-keyed from an unkeyed one.
    rekeyed: tuple[int, datetime] | None = None
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _RekeyCover:
    marker_id: int
    first_id: int
    last_id: int
    entries: int


def _rekey_cover(session: Session) -> _RekeyCover | None:
    """What the chain's latest re-keying entry says it covers, if there is one.

    Read before the walk reaches that entry; the walk then checks its MAC and its claims. (A
    chain downgraded and upgraded again is re-keyed again: the latest re-keying covers all.)
    """
    row = session.execute(
        select(AuditEvent.id, AuditEvent.details)
        .where(AuditEvent.action == REKEYED_ACTION)
        .order_by(AuditEvent.id.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    try:
        data = json.loads(row.details)
        return _RekeyCover(
            row.id, int(data["first_id"]), int(data["last_id"]), int(data["entries"])
        )
    except (ValueError, KeyError, TypeError):
        return None


def verify(
    session: Session,
    batch_size: int = 5000,
    *,
    key: bytes | None = None,
    anchors: list[Anchor] | None = None,
    earlier_head: str | None = None,
) -> VerifyResult:
    """Walk the chain in id order and report the first entry that does not fit.

    Every anchor (and ``earlier_head``, a head MAC kept elsewhere) must name an entry still in
    the chain with the same MAC: entries may have been added since, none cut off or changed.
    """
    audit_key = session_key(session, key)
    wanted = {anchor.entry_id: anchor.mac for anchor in anchors or []}
    cover = _rekey_cover(session)
    expected_prev = GENESIS_MAC
    earlier_seen = earlier_head in (None, GENESIS_MAC)
    rekeyed_seen = 0
    rekeyed: tuple[int, datetime] | None = None
    checked = 0
    last_id = 0
    head_id: int | None = None

    def broken(entry_id: int | None, problem: str) -> VerifyResult:
        return VerifyResult(False, checked, entry_id, problem, expected_prev, head_id)

    while True:
        rows = (
            session.execute(
                select(AuditEvent)
                .where(AuditEvent.id > last_id)
                .order_by(AuditEvent.id)
                .limit(batch_size)
                # What the database holds now, not what this session loaded earlier.
                .execution_options(populate_existing=True)
            )
            .scalars()
            .all()
        )
        if not rows:
            break
        for entry in rows:
            if entry.prev_mac != expected_prev:
                return broken(
                    entry.id,
                    "it does not follow the entry before it (one was deleted, inserted or moved)",
                )
            fields = (entry.prev_mac, entry.at, entry.actor, entry.action, entry.subject)
            tagged_rekeyed = False
            if hmac.compare_digest(entry_mac(audit_key, *fields, entry.details), entry.mac):
                pass
            elif hmac.compare_digest(
                entry_mac(audit_key, *fields, entry.details, tag=REKEYED_TAG), entry.mac
            ):
                if cover is None or not (
                    cover.first_id <= entry.id <= cover.last_id < cover.marker_id
                ):
                    return broken(
                        entry.id,
                        "it is marked as re-keyed from the unkeyed chain, but no re-keying "
                        "entry covers it",
                    )
                rekeyed_seen += 1
                tagged_rekeyed = True
            else:
                return broken(
                    entry.id,
                    "its MAC does not match its content (altered, or forged without the audit key)",
                )
            if cover is not None and entry.id == cover.marker_id:
                if tagged_rekeyed or not cover.entries == rekeyed_seen == checked:
                    return broken(
                        entry.id, "the re-keying entry does not match the entries before it"
                    )
                rekeyed = (rekeyed_seen, entry.at)
            if entry.id in wanted and not hmac.compare_digest(wanted.pop(entry.id), entry.mac):
                return broken(entry.id, "it differs from the anchor recorded outside the database")
            earlier_seen = earlier_seen or entry.mac == earlier_head
            expected_prev = entry.mac
            head_id = entry.id
            checked += 1
            last_id = entry.id
        session.expunge_all()
    if wanted:
        missing = min(wanted)
        return broken(
            missing,
            f"the anchored entry {missing} is no longer in the chain: entries were cut off its end",
        )
    if not earlier_seen:
        return broken(
            None, "the recorded head is no longer in the chain: entries were cut off its end"
        )
    return VerifyResult(
        ok=True,
        checked=checked,
        head_mac=expected_prev,
        head_id=head_id,
        anchors_checked=len(anchors or []),
        rekeyed=rekeyed,
    )
