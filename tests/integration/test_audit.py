"""Invariant 5: the audit chain catches an edited or a deleted entry, from the command line."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text

from portal.cli import COMMANDS
from portal.models import AuditEvent
from portal.services import audit
from tests.support.web import submit_and_get_receipt


@pytest.fixture
def chain(app, client, db) -> list[int]:
    for territory in ("MA-CAS", "MA-RAB", "MA-FES", "MA-MAR"):
        submit_and_get_receipt(client, territory=territory)
    ids = list(db.scalars(select(AuditEvent.id).order_by(AuditEvent.id)))
    assert len(ids) >= 4
    return ids


def _verify_cli(app, *options: str):
    runner = app.test_cli_runner()
    command = next(c for c in COMMANDS if c.name == "audit")
    return runner.invoke(command, ["verify", *options])


def test_intact_chain_verifies(app, chain):
    result = _verify_cli(app)
    assert result.exit_code == 0, result.output
    assert f"{len(chain)} entries verified" in result.output


def test_head_hash_changes_when_the_tail_is_cut_off(app, db, chain):
    before = audit.verify(db)
    last = db.scalars(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(1)).one()
    assert before.head_hash == last.hash
    assert f"Head hash: {last.hash}" in _verify_cli(app).output
    db.execute(text("DELETE FROM audit_events WHERE id = :id"), {"id": chain[-1]})
    db.commit()
    after = audit.verify(db)
    # The shortened chain is still consistent; only a head hash kept elsewhere reveals the cut.
    assert after.ok and after.head_hash != before.head_hash
    cli = _verify_cli(app, "--earlier-head", before.head_hash)
    assert cli.exit_code == 1
    assert "entries were cut off its end" in cli.output


def test_an_earlier_head_still_in_a_longer_chain_verifies(app, client, db, chain):
    earlier = db.scalars(select(AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1)).one()
    submit_and_get_receipt(client, territory="MA-TNG")  # the log goes on growing
    result = _verify_cli(app, "--earlier-head", earlier)
    assert result.exit_code == 0, result.output
    assert f"{len(chain) + 1} entries verified" in result.output
    # A hash that was never the head of this log is not taken on trust.
    assert _verify_cli(app, "--earlier-head", "f" * 64).exit_code == 1


def test_edited_entry_is_reported(app, db, chain):
    target = chain[1]
    db.execute(
        text("UPDATE audit_events SET actor = 'someone-else' WHERE id = :id"), {"id": target}
    )
    db.commit()
    result = audit.verify(db)
    assert not result.ok and result.broken_at_id == target
    cli = _verify_cli(app)
    assert cli.exit_code == 1
    assert f"BROKEN at entry {target}" in cli.output


def test_deleted_middle_entry_is_reported_at_the_next(app, db, chain):
    db.execute(text("DELETE FROM audit_events WHERE id = :id"), {"id": chain[1]})
    db.commit()
    result = audit.verify(db)
    assert not result.ok and result.broken_at_id == chain[2]
    cli = _verify_cli(app)
    assert cli.exit_code == 1
    assert f"BROKEN at entry {chain[2]}" in cli.output


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
