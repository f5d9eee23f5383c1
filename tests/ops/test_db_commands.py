"""``portal db`` on SQLite and PostgreSQL, and ``portal init`` from the wrong directory."""

from __future__ import annotations

from pathlib import Path

from portal.services import schema
from tests.support.ops import portal_env, run_portal


def test_db_upgrade_current_downgrade(tmp_path: Path, empty_database: str) -> None:
    env = portal_env(tmp_path / "no-secrets-here", empty_database)
    head = schema.head_revision()

    current = run_portal(env, "db", "current")
    assert "Revision: none (empty database)" in current.stdout

    upgraded = run_portal(env, "db", "upgrade")
    assert f"from empty to {head}" in upgraded.stdout
    assert f"Revision: {head} (head)" in run_portal(env, "db", "current").stdout
    assert "nothing to do" in run_portal(env, "db", "upgrade").stdout

    refused = run_portal(env, "db", "downgrade", "previous", check=False, cwd=tmp_path)
    assert refused.returncode != 0 and "Aborted" in refused.stderr
    assert f"Revision: {head} (head)" in run_portal(env, "db", "current").stdout

    down = run_portal(env, "db", "downgrade", "previous", "--yes")
    assert f"from {head} to " in down.stdout
    current = run_portal(env, "db", "current").stdout
    assert f"code head {head}" in current and "Run `portal db upgrade`" in current

    run_portal(env, "db", "upgrade")
    assert f"Revision: {head} (head)" in run_portal(env, "db", "current").stdout
    assert "password" not in current


def test_init_from_the_wrong_directory_creates_no_keys_beside_existing_data(
    tmp_path: Path, empty_database: str
) -> None:
    right = tmp_path / "right"
    env = portal_env(right, empty_database)
    run_portal(env, "init")
    run_portal(
        env,
        *("officers", "create", "amina", "--name", "Amina", "--unit", "CASABLANCA"),
        "--password-stdin",
        stdin="a long enough passphrase for amina\n",
    )
    # Run again from its own directory: fine, nothing created.
    again = run_portal(env, "init")
    assert "created" not in again.stdout

    wrong = tmp_path / "wrong"
    refused = run_portal(portal_env(wrong, empty_database), "init", check=False)
    assert refused.returncode == 1
    assert "already holds data (" in refused.stderr and "1 officers" in refused.stderr
    assert "nothing was created" in refused.stderr
    assert not (wrong / "keys").exists() and not (wrong / "secrets").exists()
    # The right instance still serves its database.
    assert "Revision:" in run_portal(env, "db", "current").stdout
