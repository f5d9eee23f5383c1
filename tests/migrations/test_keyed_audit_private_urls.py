"""Migration 0005 on a database that already holds an unkeyed audit chain and URLs in clear:
the chain is re-keyed from its first entry and says so; URLs are encrypted, indexed with the
pepper and normalised again as browsers read them; nothing is converted without the secrets."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from sqlalchemy import Engine, text

from portal import create_app
from portal.cli.setup import init_command
from portal.crypto.blind_index import BlindIndexer
from portal.crypto.keyring import Keyring
from portal.db import make_engine, make_session_factory
from portal.models import AuditEvent, Report, ReportURL
from portal.services import audit, schema
from portal.services.reports import report_urls
from tests.support.migration_engines import empty_database

BEFORE = "0004_queue_category"
T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


@pytest.fixture
def engine(tmp_path) -> Iterator[Engine]:
    with empty_database("rekey_test", tmp_path) as engine:
        yield engine


@pytest.fixture
def secrets(instance_path) -> schema.MigrationSecrets:
    return schema.MigrationSecrets(
        keyring=Keyring.load(instance_path, {}),
        indexer=BlindIndexer(os.urandom(32)),
        audit_key=os.urandom(32),
    )


def _plain(prev: str, at: datetime, actor: str, action: str, subject: str, details: str) -> str:
    payload = json.dumps(
        [prev, at.isoformat(timespec="microseconds"), actor, action, subject, details],
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(payload.encode()).hexdigest()


LEGACY_URLS = [
    # (typed, normalised then, host then): IDNA 2003 named other sites than browsers open.
    ("https://faßbook.com/profile", "https://fassbook.com/profile", "fassbook.com"),
    ("ς.gr/x", "https://xn--4xa.gr/x", "xn--4xa.gr"),
    ("https://a\u200db.com/", "https://ab.com/", "ab.com"),
]


@pytest.fixture
def legacy(engine) -> dict[str, object]:
    return _fill_legacy(engine)


def _fill_legacy(engine: Engine) -> dict[str, object]:
    """A database at 0004 with one report, its URLs in clear and a three-entry plain chain."""
    schema.upgrade(engine, BEFORE)
    naive = T0.replace(tzinfo=None)
    with engine.begin() as connection:
        # The unit in SQL as the tables stood at 0004: the models describe the head's schema.
        connection.execute(
            text(
                "INSERT INTO units (code, name_ar, name_fr, name_en, national, active) "
                "VALUES ('NATIONAL-CYBER', 'x', 'x', 'x', true, true)"
            )
        )
        unit_id = connection.execute(text("SELECT min(id) FROM units")).scalar_one()
        connection.execute(
            text(
                "INSERT INTO reports (id, reference, receipt_hash, category, platform, "
                "description_enc, minor_involved, threat_to_life, abroad, handle_outside_local, "
                "routing_reason, unit_id, priority, priority_rank, status, submitted_at, "
                "updated_at, version) VALUES (1, 'EB-TEST-0001', :receipt, 'fraud', 'website', "
                ":description, false, false, false, false, 'territory', :unit, 'normal', 2, "
                "'received', :at, :at, 1)"
            ),
            {"receipt": b"r" * 32, "description": b"x", "unit": unit_id, "at": naive},
        )
        for position, (typed, normalized, host) in enumerate(LEGACY_URLS):
            connection.execute(
                text(
                    "INSERT INTO report_urls (report_id, position, original, normalized, host, "
                    "digest) VALUES (1, :p, :o, :n, :h, :d)"
                ),
                {
                    "p": position,
                    "o": typed,
                    "n": normalized,
                    "h": host,
                    "d": hashlib.sha256(normalized.encode()).hexdigest(),
                },
            )
        prev = "0" * 64
        for n, action in enumerate(("report.submitted", "report.viewed", "report.claimed")):
            at = T0 + timedelta(minutes=n)
            fields = (f"officer:{n}", action, "report:EB-TEST-0001", "{}")
            digest = _plain(prev, at, *fields)
            connection.execute(
                text(
                    "INSERT INTO audit_events (at, actor, action, subject, details, prev_hash, "
                    "hash) VALUES (:at, :actor, :action, :subject, :details, :prev, :hash)"
                ),
                dict(
                    zip(("actor", "action", "subject", "details"), fields, strict=True),
                    at=at.replace(tzinfo=None),
                    prev=prev,
                    hash=digest,
                ),
            )
            prev = digest
    return {"unkeyed_head": prev}


def test_refuses_without_the_secrets_and_changes_nothing(engine, legacy):
    with pytest.raises(RuntimeError, match="portal init"):
        schema.upgrade(engine)
    assert schema.current_revision(engine) == BEFORE
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM report_urls")).scalar_one() == 3
        assert (
            "faßbook"
            in connection.execute(
                text("SELECT original FROM report_urls WHERE position = 0")
            ).scalar_one()
        )


def test_upgrade_rekeys_the_chain_and_encrypts_the_urls(engine, legacy, secrets):
    schema.upgrade(engine, secrets=secrets)
    factory = make_session_factory(engine, audit_key=secrets.audit_key)
    with factory() as session:
        result = audit.verify(session)
        assert result.ok, result.problem
        assert result.checked == 4
        assert result.rekeyed is not None and result.rekeyed[0] == 3
        marker = session.scalars(select_last()).one()
        assert marker.action == audit.REKEYED_ACTION
        details = json.loads(marker.details)
        assert details["entries"] == 3 and details["unkeyed_head"] == legacy["unkeyed_head"]

        report = session.get(Report, 1)
        urls = report_urls(report, secrets.keyring)
        assert [(u.normalized, u.host) for u in urls] == [
            ("https://xn--fabook-cta.com/profile", "xn--fabook-cta.com"),
            ("https://xn--3xa.gr/x", "xn--3xa.gr"),
            # Refused by today's rules (a browser opens nothing): kept as it was.
            ("https://ab.com/", "ab.com"),
        ]
        assert urls[0].original == "https://faßbook.com/profile"
        rows = session.scalars(sa.select(ReportURL).order_by(ReportURL.position)).all()
        assert rows[0].url_index == secrets.indexer.index("url", urls[0].normalized)
        assert rows[1].host_index == secrets.indexer.index("host", "xn--3xa.gr")
        for row in rows:
            assert b"fabook" not in row.normalized_enc and b"gr" not in row.host_enc

        # New entries extend the re-keyed chain.
        audit.record(session, actor="system", action="test.after", subject="x")
        session.commit()
        assert audit.verify(session).ok


def test_rewriting_a_rekeyed_entry_is_caught(engine, legacy, secrets):
    schema.upgrade(engine, secrets=secrets)
    with engine.begin() as connection:
        connection.execute(text("UPDATE audit_events SET actor = 'officer:9' WHERE id = 2"))
    with make_session_factory(engine, audit_key=secrets.audit_key)() as session:
        result = audit.verify(session)
        assert not result.ok and result.broken_at_id == 2


def test_the_rekeying_tag_is_accepted_only_where_the_rekeying_entry_says(engine, legacy, secrets):
    schema.upgrade(engine, secrets=secrets)
    with make_session_factory(engine, audit_key=secrets.audit_key)() as session:
        head = session.scalars(select_last()).one()
        at = datetime.now(UTC)
        fields = ("officer:1", "report.viewed", "report:EB-TEST-0001", "{}")
        # Even made with the real key, an entry claiming to predate the key after the
        # re-keying is refused: the tag is not a second way in.
        mac = audit.entry_mac(secrets.audit_key, head.mac, at, *fields, tag=audit.REKEYED_TAG)
        entry = AuditEvent(
            at=at,
            actor=fields[0],
            action=fields[1],
            subject=fields[2],
            details=fields[3],
            prev_mac=head.mac,
            mac=mac,
        )
        session.add(entry)
        session.commit()
        result = audit.verify(session)
        assert not result.ok and result.broken_at_id == entry.id
        assert "no re-keying entry covers it" in (result.problem or "")


def test_downgrade_restores_the_plain_columns(engine, legacy, secrets):
    schema.upgrade(engine, secrets=secrets)
    schema.downgrade(engine, BEFORE, secrets=secrets)
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT original, normalized, host, digest FROM report_urls ORDER BY position")
        ).all()
        assert rows[0].normalized == "https://xn--fabook-cta.com/profile"
        assert rows[0].digest == hashlib.sha256(rows[0].normalized.encode()).hexdigest()
        chain = connection.execute(
            text("SELECT prev_hash, hash FROM audit_events ORDER BY id")
        ).all()
    assert len(chain) == 4 and chain[1].prev_hash == chain[0].hash
    schema.upgrade(engine, secrets=secrets)


def test_portal_init_converts_an_existing_instance(instance_path, tmp_path, monkeypatch):
    database = tmp_path / "existing.sqlite3"
    engine = make_engine(f"sqlite:///{database}")
    _fill_legacy(engine)
    monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(instance_path))
    monkeypatch.setenv("PORTAL_DATABASE_URL", f"sqlite:///{database}")
    result = CliRunner().invoke(init_command)
    assert result.exit_code == 0, result.output
    assert "database migrated to " in result.output  # the head, through 0005
    app = create_app()
    try:
        verified = app.test_cli_runner().invoke(args=["audit", "verify"])
        assert verified.exit_code == 0, verified.output
        assert "The first 3 entries were written before the chain was keyed" in verified.output
        with app.app_context():
            session = app.extensions["db_sessionmaker"]()
            report = session.get(Report, 1)
            urls = report_urls(report, app.extensions["keyring"])
            assert urls[0].host == "xn--fabook-cta.com"
            session.close()
    finally:
        app.extensions["db_engine"].dispose()
        engine.dispose()


def select_last() -> sa.Select[tuple[AuditEvent]]:
    return sa.select(AuditEvent).order_by(AuditEvent.id.desc()).limit(1)
