"""`portal init` and `portal demo`: a newcomer's first commands, safe to run again."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from portal import create_app
from portal.cli.setup import demo_command, init_command
from portal.crypto.instance_secrets import MissingSecret
from portal.db import get_session
from portal.models import (
    AuditEvent,
    Officer,
    OfficerAlertSettings,
    Report,
    RoutingRule,
    Subdivision,
)
from portal.services.demo import DEMO_ACCOUNTS
from portal.services.reports import find_by_receipt


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def fresh_instance(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    instance = tmp_path / "fresh-instance"
    monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(instance))
    # Always the embedded mode here, even when the suite runs on PostgreSQL.
    monkeypatch.setenv("PORTAL_DATABASE_URL", f"sqlite:///{instance / 'portal.sqlite3'}")
    monkeypatch.setenv("PORTAL_RECEIPT_ARGON2_TIME_COST", "1")
    monkeypatch.setenv("PORTAL_RECEIPT_ARGON2_MEMORY_KIB", "256")
    return instance


def test_the_app_refuses_to_start_without_secrets(fresh_instance: Path) -> None:
    fresh_instance.mkdir()
    with pytest.raises(MissingSecret, match="portal init"):
        create_app()


def test_init_creates_private_secrets_keys_and_schema_and_is_idempotent(
    fresh_instance: Path,
) -> None:
    runner = CliRunner()
    first = runner.invoke(init_command)
    assert first.exit_code == 0, first.output
    assert "created secret secret_key" in first.output
    assert "created master key" in first.output

    for private in [
        *(fresh_instance / "secrets").iterdir(),
        *(fresh_instance / "keys").iterdir(),
        fresh_instance / "portal.sqlite3",
    ]:
        assert _mode(private) == 0o600, private
    assert _mode(fresh_instance / "secrets") == 0o700
    assert _mode(fresh_instance / "keys") == 0o700
    secret_before = (fresh_instance / "secrets" / "secret_key").read_bytes()

    second = runner.invoke(init_command)
    assert second.exit_code == 0, second.output
    assert "created" not in second.output
    assert "added 0 regions, 0 prefectures/provinces, 0 units, 0 routing rules" in second.output
    assert (fresh_instance / "secrets" / "secret_key").read_bytes() == secret_before

    app = create_app()
    with app.app_context():
        session = get_session()
        assert session.scalar(select(func.count(Subdivision.id))) == 75
        # 75 territories + abroad + outside-local + 2 category rules.
        assert session.scalar(select(func.count()).select_from(RoutingRule)) == 79


def test_demo_creates_accounts_and_reports_once(fresh_instance: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(init_command).exit_code == 0
    app = create_app()
    first = runner.invoke(demo_command, ["--reports", "30"], obj=_script_info(app))
    assert first.exit_code == 0, first.output
    assert "user casablanca" in first.output and "TOTP secret" in first.output
    assert "user regional" in first.output and "(region MA-06)" in first.output
    receipt_line = re.search(
        r"receipt, for /follow-up: ([\d ]{19}) \(report (EB-[\w-]+)", first.output
    )
    assert receipt_line
    second = runner.invoke(demo_command, ["--reports", "30"], obj=_script_info(app))
    assert second.exit_code == 0, second.output
    assert "nothing added" in second.output
    # Every run (every `make run`) prints the demo reporter's receipt again, and it still works.
    assert receipt_line.group(0) in second.output
    with app.app_context():
        found = find_by_receipt(
            get_session(),
            receipt_line.group(1).replace(" ", ""),
            app.extensions["receipt_hasher"],
        )
        assert found is not None and found.reference == receipt_line.group(2)
    with app.app_context():
        session = get_session()
        assert session.scalar(select(func.count(Officer.id))) == len(DEMO_ACCOUNTS)
        count = session.scalar(select(func.count(Report.id)))
        assert count is not None and count > 30  # the bulk plus the morning queues
        # One demo officer is on duty for alerts, set after the reports so that none alerted.
        duty = session.execute(
            select(Officer.username, OfficerAlertSettings.on_duty, OfficerAlertSettings.email).join(
                Officer, Officer.id == OfficerAlertSettings.officer_id
            )
        ).all()
        assert [tuple(row) for row in duty] == [
            ("casablanca", True, "casablanca.duty@police.example")
        ]
        assert (
            session.scalar(
                select(func.count(AuditEvent.id)).where(AuditEvent.action.like("alert.%"))
            )
            == 0
        )
    assert "casablanca is on duty for alerts" in first.output
    assert "on duty" not in second.output


def _script_info(app):  # type: ignore[no-untyped-def]
    from flask.cli import ScriptInfo

    return ScriptInfo(create_app=lambda: app)
