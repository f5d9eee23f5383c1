"""Invariant 5: the audit chain is keyed by a secret outside the database.

An attacker here has full write access to the database (raw SQL, every column) but not the
instance secrets: whatever they edit, insert, reorder, delete or cut off, recomputing every
later link as best they can, ``portal audit verify`` fails and names the entry.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import stat
from pathlib import Path

import pytest
from sqlalchemy import select, text

from portal.cli import COMMANDS
from portal.db import make_session_factory
from portal.models import AuditEvent, utcnow
from portal.services import audit
from tests.support.web import submit_and_get_receipt


@pytest.fixture
def chain(app, client, db) -> list[int]:
    for territory in ("MA-CAS", "MA-RAB", "MA-FES", "MA-MAR", "MA-TNG"):
        submit_and_get_receipt(client, territory=territory)
    ids = list(db.scalars(select(AuditEvent.id).order_by(AuditEvent.id)))
    assert len(ids) >= 5
    return ids


def _cli(app, *args: str):
    runner = app.test_cli_runner()
    command = next(c for c in COMMANDS if c.name == "audit")
    return runner.invoke(command, list(args))


def _rows(db) -> list[AuditEvent]:
    db.expire_all()
    return list(db.scalars(select(AuditEvent).order_by(AuditEvent.id)))


def _plain_link(prev: str, entry: AuditEvent) -> str:
    """What the chain used to be: SHA-256 over public fields, recomputable by anyone."""
    payload = json.dumps(
        [
            prev,
            entry.at.isoformat(timespec="microseconds"),
            entry.actor,
            entry.action,
            entry.subject,
            entry.details,
        ],
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def _relink_from(db, start_id: int, link) -> None:  # type: ignore[no-untyped-def]
    """The attacker's step: recompute every link from ``start_id`` on and write it back."""
    rows = _rows(db)
    prev = audit.GENESIS_MAC
    for entry in rows:
        if entry.id >= start_id:
            mac = link(prev, entry)
            db.execute(
                text("UPDATE audit_events SET prev_mac = :p, mac = :m WHERE id = :id"),
                {"p": prev, "m": mac, "id": entry.id},
            )
            prev = mac
        else:
            prev = entry.mac
    db.commit()


def test_intact_chain_verifies_and_prints_its_head(app, db, chain):
    result = _cli(app, "verify")
    assert result.exit_code == 0, result.output
    assert f"{len(chain)} entries verified" in result.output
    head = _rows(db)[-1]
    assert f"Head: entry {head.id}, MAC {head.mac}" in result.output


@pytest.mark.parametrize(
    "relink",
    [
        pytest.param(_plain_link, id="plain-sha256"),
        pytest.param(
            lambda prev, entry: hmac.new(
                os.urandom(32),
                json.dumps([audit.MAC_TAG, prev, entry.actor]).encode(),
                hashlib.sha256,
            ).hexdigest(),
            id="hmac-under-a-guessed-key",
        ),
        pytest.param(
            lambda prev, entry: audit.entry_mac(
                b"\x00" * 32,
                prev,
                entry.at,
                entry.actor,
                entry.action,
                entry.subject,
                entry.details,
            ),
            id="our-formula-under-another-key",
        ),
    ],
)
def test_rewritten_entry_with_recomputed_links_is_caught(app, db, chain, relink):
    target = chain[2]
    db.execute(text("UPDATE audit_events SET actor = 'officer:999' WHERE id = :id"), {"id": target})
    db.commit()
    _relink_from(db, target, relink)
    result = audit.verify(db)
    assert not result.ok and result.broken_at_id == target
    assert "MAC does not match" in (result.problem or "")
    cli = _cli(app, "verify")
    assert cli.exit_code == 1
    assert f"BROKEN at entry {target}" in cli.output


def test_edited_entry_without_relinking_is_caught(app, db, chain):
    db.execute(text("UPDATE audit_events SET details = '{}' WHERE id = :id"), {"id": chain[1]})
    db.commit()
    result = audit.verify(db)
    assert not result.ok and result.broken_at_id == chain[1]


def test_deleted_middle_entry_is_reported_at_the_next(app, db, chain):
    db.execute(text("DELETE FROM audit_events WHERE id = :id"), {"id": chain[1]})
    db.commit()
    result = audit.verify(db)
    assert not result.ok and result.broken_at_id == chain[2]
    cli = _cli(app, "verify")
    assert cli.exit_code == 1
    assert f"BROKEN at entry {chain[2]}" in cli.output
    assert "does not follow the entry before it" in cli.output


def test_reordered_entries_are_caught(app, db, chain):
    first, second = chain[1], chain[2]
    rows = {row.id: row for row in _rows(db)}
    a, b = rows[first], rows[second]
    columns = ("at", "actor", "action", "subject", "details", "prev_mac", "mac")
    assignments = ", ".join(f"{name} = :{name}" for name in columns)

    def put(entry_id: int, values: dict[str, object]) -> None:
        db.execute(
            text(f"UPDATE audit_events SET {assignments} WHERE id = :id"),
            {**values, "id": entry_id},
        )

    def values_of(entry: AuditEvent) -> dict[str, object]:
        values = {name: getattr(entry, name) for name in columns}
        values["at"] = entry.at.replace(tzinfo=None)
        return values

    old_a, old_b = values_of(a), values_of(b)
    put(first, {**old_b, "prev_mac": "1" * 64, "mac": "2" * 64})  # out of the unique keys' way
    put(second, old_a)
    put(first, old_b)
    db.commit()
    result = audit.verify(db)
    assert not result.ok and result.broken_at_id == first


def test_forged_entry_appended_is_caught(app, db, chain):
    head = _rows(db)[-1]
    forged = AuditEvent(
        at=utcnow(),
        actor="officer:1",
        action="report.viewed",
        subject="report:ABCD",
        details="{}",
        prev_mac=head.mac,
        mac=hashlib.sha256(b"anything").hexdigest(),
    )
    db.add(forged)
    db.commit()
    result = audit.verify(db)
    assert not result.ok and result.broken_at_id == forged.id


def test_a_session_without_the_audit_key_cannot_write(app, db):
    keyless = make_session_factory(app.extensions["db_engine"])
    with keyless() as session, pytest.raises(audit.MissingAuditKey):
        audit.record(session, actor="system", action="x", subject="y")
    # An explicit key is enough: the chain still verifies under the app's key.
    with keyless() as session:
        audit.record(session, actor="system", action="x", subject="y", key=app.config["AUDIT_KEY"])
        session.commit()
    assert audit.verify(db).ok


# --- anchors ----------------------------------------------------------------------------------


def test_anchor_is_appended_to_a_private_file_and_logged(app, db, chain, caplog):
    path = app.config["AUDIT_ANCHOR_FILE"]
    assert os.path.dirname(path) == app.instance_path
    with caplog.at_level(logging.INFO, logger="portal.services.audit"):
        first = audit.write_anchor(db, path)
    assert first is not None
    assert f"audit anchor: entry {first.entry_id} mac {first.mac}" in caplog.text
    result = _cli(app, "anchor")
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    lines = Path(path).read_text().splitlines()
    assert len(lines) == 2  # appended, never rewritten
    assert json.loads(lines[0])["mac"] == _rows(db)[-1].mac
    assert [a.entry_id for a in audit.read_anchors(path)] == [first.entry_id] * 2


def test_tail_cut_after_an_anchor_is_caught_automatically(app, db, chain):
    audit.write_anchor(db, app.config["AUDIT_ANCHOR_FILE"])
    before = _cli(app, "verify")
    assert before.exit_code == 0 and "Anchors checked: 1" in before.output
    db.execute(text("DELETE FROM audit_events WHERE id >= :id"), {"id": chain[-2]})
    db.commit()
    # The shortened chain is consistent by itself; the anchor outside the database is not.
    assert audit.verify(db).ok
    cli = _cli(app, "verify")
    assert cli.exit_code == 1
    assert f"the anchored entry {chain[-1]} is no longer in the chain" in cli.output


def test_entries_added_after_an_anchor_verify(app, client, db, chain):
    audit.write_anchor(db, app.config["AUDIT_ANCHOR_FILE"])
    submit_and_get_receipt(client, territory="MA-AGD")
    result = _cli(app, "verify")
    assert result.exit_code == 0, result.output
    assert f"{len(chain) + 1} entries verified" in result.output


def test_anchored_entry_replaced_is_caught(app, db, chain):
    anchors = [audit.write_anchor(db, app.config["AUDIT_ANCHOR_FILE"])]
    # Replace the anchored head by an entry whose MAC differs (whatever its content).
    head = _rows(db)[-1]
    db.execute(
        text("UPDATE audit_events SET mac = :m WHERE id = :id"), {"m": "f" * 64, "id": head.id}
    )
    db.commit()
    result = audit.verify(db, anchors=[a for a in anchors if a])
    assert not result.ok and result.broken_at_id == head.id


def test_earlier_head_kept_elsewhere_still_works(app, client, db, chain):
    earlier = _rows(db)[-1].mac
    submit_and_get_receipt(client, territory="MA-TNG")
    assert _cli(app, "verify", "--earlier-head", earlier).exit_code == 0
    assert _cli(app, "verify", "--earlier-head", "f" * 64).exit_code == 1


def test_officer_views_extend_the_same_chain(app, client, db):
    from tests.support.staff import make_officer, sign_in

    reference, _ = submit_and_get_receipt(client, territory="MA-CAS")
    _, secret = make_officer(app, db, "amina")
    staff = app.test_client()
    sign_in(staff, "amina", secret)
    assert staff.get(f"/officer/reports/{reference}").status_code == 200
    assert audit.verify(db).ok
    viewed = db.scalar(
        select(AuditEvent).where(
            AuditEvent.action == "report.viewed", AuditEvent.subject == f"report:{reference}"
        )
    )
    assert viewed is not None and viewed.actor.startswith("officer:")


def test_concurrent_appends_all_land_in_one_chain(app, db):
    """Officers act at the same moment (threads of one server, as `portal run` serves, or
    gunicorn's workers): every audited action is recorded, none fails for want of the tail it
    read, and the chain still verifies. On SQLite, before appends took the write lock, about one
    in fifteen failed on the unique previous link."""
    import threading

    factory = app.extensions["db_sessionmaker"]
    threads, rounds = 4, 25
    start = threading.Barrier(threads)
    failures: list[str] = []

    def officer(number: int) -> None:
        for round_ in range(rounds):
            start.wait(timeout=10)
            try:
                with factory() as session:
                    # A page reads before it writes; the append must not rely on what it read.
                    session.scalars(select(AuditEvent.id).order_by(AuditEvent.id.desc()).limit(1))
                    audit.record(session, actor=f"officer:{number}", action="report.view",
                                 subject=f"EB-{number}-{round_}")  # fmt: skip
                    session.commit()
            except Exception as error:  # every failure is the finding
                failures.append(f"{type(error).__name__}: {error}")

    workers = [threading.Thread(target=officer, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()

    assert failures == []
    assert len(_rows(db)) == threads * rounds
    assert audit.verify(db).ok
