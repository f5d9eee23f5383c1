"""The keys file of ``portal backup`` is encrypted under the operator's passphrase: copied off
the backup host it reads as nothing; a wrong passphrase, an altered file or another backup's
keys file restores nothing; the passphrase never passes through the command line; keys files
written before encryption still restore, with a warning."""

from __future__ import annotations

import base64
import json
import re
import stat
import tarfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import inspect

from portal import create_app
from portal.db import make_engine
from tests.support.ops import (
    BACKUP_PASSPHRASE,
    arrange_reports_with_evidence,
    portal_env,
    run_portal,
    run_portal_on_terminal,
)

PASSPHRASE_ENV = ("--passphrase-env", "PORTAL_BACKUP_PASSPHRASE")


@dataclass
class Backup:
    archive: Path
    keys: Path
    # Every secret and master key of the backed-up instance, as stored: name -> base64url text.
    stored_secrets: dict[str, str]


@dataclass
class Target:
    """A new instance, an empty database and an empty store to restore into."""

    instance: Path
    evidence: Path
    database_url: str
    env: dict[str, str]

    def restore(
        self, backup: Backup, keys: Path | None = None, *options: str, stdin: str = ""
    ) -> tuple[int, str, str]:
        result = run_portal(
            self.env,
            "restore",
            str(backup.archive),
            "--keys",
            str(keys or backup.keys),
            *options,
            check=False,
            stdin=stdin,
        )
        return result.returncode, result.stdout, result.stderr

    def assert_nothing_restored(self) -> None:
        assert not any((self.instance / name).exists() for name in ("keys", "secrets"))
        assert not self.evidence.exists() or not any(self.evidence.rglob("*"))
        engine = make_engine(self.database_url)
        try:
            assert inspect(engine).get_table_names() == []  # not even the schema
        finally:
            engine.dispose()


def _stored_secrets(instance: Path) -> dict[str, str]:
    files = [*(instance / "secrets").iterdir(), *(instance / "keys").glob("*.key")]
    return {path.name: path.read_text().strip() for path in files}


def _env(instance: Path, database_url: str, evidence: Path) -> dict[str, str]:
    return portal_env(
        instance,
        database_url,
        PORTAL_EVIDENCE_STORE=f"file://{evidence}",
        PORTAL_BACKUP_PASSPHRASE=BACKUP_PASSPHRASE,
    )


def _back_up(tmp_path: Path, instance: Path, database_url: str, *, reports: int = 1) -> Backup:
    evidence = tmp_path / "source-evidence"
    if reports:
        app = create_app(
            {
                "TESTING": True,
                "INSTANCE_PATH": str(instance),
                "DATABASE_URL": database_url,
                "EVIDENCE_STORE": f"file://{evidence}",
                "RATELIMIT_ENABLED": False,
                "RECEIPT_ARGON2_TIME_COST": 1,
                "RECEIPT_ARGON2_MEMORY_KIB": 256,
            }
        )
        try:
            with app.extensions["db_sessionmaker"]() as db:
                arrange_reports_with_evidence(app, db, reports=reports)
        finally:
            app.extensions["db_engine"].dispose()
    backups, vault = tmp_path / "backups", tmp_path / "vault"
    backups.mkdir()
    vault.mkdir(mode=0o700)
    backup = Backup(backups / "portal.tar", vault / "portal-keys.json", _stored_secrets(instance))
    run_portal(
        _env(instance, database_url, evidence),
        "backup",
        "--output",
        str(backup.archive),
        "--keys-output",
        str(backup.keys),
        *PASSPHRASE_ENV,
    )
    return backup


def _target(tmp_path: Path, database_url: str) -> Target:
    instance = tmp_path / "elsewhere" / "instance"
    evidence = tmp_path / "restored-evidence"
    return Target(instance, evidence, database_url, _env(instance, database_url, evidence))


def _flip(source: Path, target: Path, position: int) -> Path:
    data = bytearray(source.read_bytes())
    data[position] ^= 0x01
    target.write_bytes(bytes(data))
    return target


def _windows(data: bytes, size: int = 8) -> set[bytes]:
    return {data[i : i + size] for i in range(len(data) - size + 1)}


def _spellings(text: str) -> list[bytes]:
    """A stored secret as text, as raw bytes, and in the other usual encodings of those bytes."""
    raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    assert len(raw) == 32
    return [
        text.encode(),
        text.rstrip("=").encode(),
        raw,
        base64.b64encode(raw),
        base64.b64encode(raw).rstrip(b"="),
        raw.hex().encode(),
        base64.b64encode(text.encode()).rstrip(b"="),
    ]


@pytest.mark.slow
def test_the_keys_file_holds_no_secret_in_clear_and_its_header_matches_the_archive(
    tmp_path: Path, instance_path: Path, database_url: str
) -> None:
    backup = _back_up(tmp_path, instance_path, database_url)
    assert stat.S_IMODE(backup.keys.stat().st_mode) == 0o600
    written = backup.keys.read_bytes()
    document = json.loads(written)
    sealed = base64.b64decode(document["ciphertext"])
    assert len(backup.stored_secrets) == 6  # five instance secrets and one master key
    for name, text in backup.stored_secrets.items():
        for spelling in _spellings(text):
            assert spelling not in written, name
            # Not merely wrapped in base64: the ciphertext shares no 8 bytes with the secret.
            assert not _windows(spelling) & _windows(sealed), name

    assert document["format"] == "eblagh-keys/2"
    assert (
        document["kdf"]["name"] == "argon2id"
        and len(base64.b64decode(document["kdf"]["salt"])) == 16
    )
    assert document["kdf"]["memory_kib"] >= 64 * 1024 and document["kdf"]["iterations"] >= 3
    assert document["cipher"]["name"] == "aes-256-gcm"
    with tarfile.open(backup.archive) as tar:
        manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
    assert document["fingerprints"] == manifest["fingerprints"]
    assert set(document["fingerprints"]["master_keys"]) >= set(manifest["key_ids"])

    # A second backup draws a new salt and nonce: the same keys never seal the same way.
    again = tmp_path / "vault" / "again.json"
    run_portal(
        _env(instance_path, database_url, tmp_path / "source-evidence"),
        "backup",
        "--output",
        str(tmp_path / "backups" / "again.tar"),
        "--keys-output",
        str(again),
        *PASSPHRASE_ENV,
    )
    other = json.loads(again.read_bytes())
    assert other["kdf"]["salt"] != document["kdf"]["salt"]
    assert other["cipher"]["nonce"] != document["cipher"]["nonce"]
    assert other["ciphertext"] != document["ciphertext"]


@pytest.mark.slow
def test_a_wrong_passphrase_or_an_altered_keys_file_restores_nothing(
    tmp_path: Path, instance_path: Path, database_url: str, second_empty_database: str
) -> None:
    backup = _back_up(tmp_path, instance_path, database_url)
    target = _target(tmp_path, second_empty_database)
    vault = backup.keys.parent

    target.env["WRONG_PASSPHRASE"] = BACKUP_PASSPHRASE.replace("lime", "lemon")
    code, _, stderr = target.restore(backup, None, "--passphrase-env", "WRONG_PASSPHRASE")
    assert code == 1 and "the passphrase is wrong, or the file was altered" in stderr
    assert "Nothing was restored" in stderr
    target.assert_nothing_restored()

    text = backup.keys.read_text()
    document = json.loads(text)
    altered = {
        "ciphertext": text.index(document["ciphertext"]) + len(document["ciphertext"]) // 2,
        "salt": text.index(document["kdf"]["salt"]) + 3,
        "kdf cost": text.index('"iterations": ') + len('"iterations": '),
        "date": text.index(document["created_at"]) + 3,
    }
    for what, position in altered.items():
        changed = _flip(backup.keys, vault / f"altered-{what}.json", position)
        assert changed.read_bytes() != backup.keys.read_bytes()
        code, _, stderr = target.restore(backup, changed, *PASSPHRASE_ENV)
        assert code == 1, what
        # A flipped bit may also leave a value unreadable (a base64 character out of range).
        assert "the file was altered" in stderr or "was altered or damaged" in stderr, what
        assert "Nothing was restored" in stderr, what
        target.assert_nothing_restored()

    cut = vault / "cut.json"
    cut.write_bytes(backup.keys.read_bytes()[:-40])
    code, _, stderr = target.restore(backup, cut, *PASSPHRASE_ENV)
    assert code == 1 and "is not a keys file written by `portal backup`" in stderr
    target.assert_nothing_restored()

    # The refusals left the target untouched: the right passphrase restores into it.
    code, stdout, stderr = target.restore(backup, None, *PASSPHRASE_ENV)
    assert code == 0, stderr
    assert "Verified 2 of 2 evidence file(s)" in stdout and "Audit chain intact" in stdout
    assert "UNENCRYPTED" not in stderr


@pytest.mark.slow
def test_a_keys_file_of_another_backup_is_refused_before_the_passphrase_is_asked(
    tmp_path: Path,
    instance_path: Path,
    database_url: str,
    empty_database: str,
    second_empty_database: str,
) -> None:
    backup = _back_up(tmp_path, instance_path, database_url)
    target = _target(tmp_path, second_empty_database)
    # Another instance, with its own keys, backed up with the same passphrase.
    other = tmp_path / "other" / "instance"
    other_env = _env(other, empty_database, tmp_path / "other-evidence")
    run_portal(other_env, "init")
    other_keys = tmp_path / "vault" / "other-keys.json"
    run_portal(
        other_env,
        "backup",
        "--output",
        str(tmp_path / "backups" / "other.tar"),
        "--keys-output",
        str(other_keys),
        *PASSPHRASE_ENV,
    )
    # No passphrase at hand (no variable, no terminal): the header alone is enough to refuse.
    code, _, stderr = target.restore(backup, other_keys)
    assert code == 1
    assert "These keys cannot read this backup" in stderr and "is missing" in stderr
    assert "Nothing was restored" in stderr
    assert "passphrase" not in stderr
    target.assert_nothing_restored()

    # With the passphrase, the same refusal: the passphrase opens keys, not another's backup.
    code, _, stderr = target.restore(backup, other_keys, *PASSPHRASE_ENV)
    assert code == 1 and "These keys cannot read this backup" in stderr
    target.assert_nothing_restored()


@pytest.mark.slow
def test_a_keys_file_written_before_encryption_still_restores_with_a_warning(
    tmp_path: Path, instance_path: Path, database_url: str, second_empty_database: str
) -> None:
    backup = _back_up(tmp_path, instance_path, database_url)
    target = _target(tmp_path, second_empty_database)
    secrets_dir, keys_dir = instance_path / "secrets", instance_path / "keys"
    # Exactly what `portal backup` wrote before keys files were encrypted.
    plain = {
        "format": "eblagh-keys/1",
        "backup_id": "0" * 32,
        "created_at": "2025-06-01T09:00:00+00:00",
        "secrets": {path.name: path.read_text().strip() for path in secrets_dir.iterdir()},
        "master_keys": {path.stem: path.read_text().strip() for path in keys_dir.glob("*.key")},
        "active_key_id": (keys_dir / "ACTIVE").read_text().strip(),
    }
    old_keys = backup.keys.parent / "old-plain-keys.json"
    old_keys.write_text(json.dumps(plain, indent=2, sort_keys=True) + "\n")
    old_keys.chmod(0o600)

    # No passphrase is given or asked for (no terminal): the file has none.
    code, stdout, stderr = target.restore(backup, old_keys)
    assert code == 0, stderr
    assert f"WARNING: {old_keys} is an UNENCRYPTED keys file (eblagh-keys/1" in stderr
    assert "take a new\nbackup" in stderr and "destroy every copy of this file" in stderr
    assert "Verified 2 of 2 evidence file(s)" in stdout and "Audit chain intact" in stdout
    assert _stored_secrets(target.instance) == backup.stored_secrets


@pytest.mark.slow
def test_the_passphrase_is_never_taken_from_the_command_line(
    tmp_path: Path, instance_path: Path, database_url: str
) -> None:
    env = _env(instance_path, database_url, tmp_path / "evidence")
    backups, vault = tmp_path / "backups", tmp_path / "vault"
    backups.mkdir()
    vault.mkdir()
    paths = ("--output", str(backups / "p.tar"), "--keys-output", str(vault / "k.json"))

    usage = " ".join(run_portal(env, "backup", "--help").stdout.split())
    assert set(re.findall(r"--[a-z-]+", usage)) == {
        "--output",
        "--keys-output",
        "--passphrase-env",
        "--help",
    }
    assert "at least 16 characters" in usage and "never taken from the command line" in usage
    restore_usage = run_portal(env, "restore", "--help").stdout
    assert "--passphrase-env" in restore_usage and "--passphrase " not in restore_usage

    for command in (("backup", *paths), ("restore", str(backups / "p.tar"))):
        given = run_portal(env, *command, "--passphrase", BACKUP_PASSPHRASE, check=False)
        assert given.returncode == 2 and "No such option '--passphrase'" in given.stderr
        assert BACKUP_PASSPHRASE not in given.stdout + given.stderr

    # The passphrase itself where the variable's name belongs: refused, and not repeated.
    given = run_portal(env, "backup", *paths, "--passphrase-env", BACKUP_PASSPHRASE, check=False)
    assert given.returncode == 1 and "takes the NAME of an environment variable" in given.stderr
    assert BACKUP_PASSPHRASE not in given.stdout + given.stderr

    unset = run_portal(env, "backup", *paths, "--passphrase-env", "NO_SUCH_VARIABLE", check=False)
    assert (
        unset.returncode == 1 and "NO_SUCH_VARIABLE (--passphrase-env) is not set" in unset.stderr
    )

    # Neither a variable nor a terminal (a cron job): refused at once, not left waiting.
    blind = run_portal(env, "backup", *paths, check=False, stdin="")
    assert blind.returncode == 1 and "run this on a terminal" in blind.stderr

    env["SHORT_PASSPHRASE"] = "fifteen chars.."
    short = run_portal(env, "backup", *paths, "--passphrase-env", "SHORT_PASSPHRASE", check=False)
    assert short.returncode == 1
    assert "The passphrase is too short: it needs at least 16 characters" in short.stderr
    assert "Nothing was written" in short.stderr

    assert list(backups.iterdir()) == [] and list(vault.iterdir()) == []


@pytest.mark.slow
def test_on_a_terminal_the_passphrase_is_asked_twice_at_backup_and_once_at_restore(
    tmp_path: Path, instance_path: Path, database_url: str, second_empty_database: str
) -> None:
    env = _env(instance_path, database_url, tmp_path / "evidence")
    del env["PORTAL_BACKUP_PASSPHRASE"]
    backups, vault = tmp_path / "backups", tmp_path / "vault"
    backups.mkdir()
    vault.mkdir()
    archive, keys = backups / "portal.tar", vault / "keys.json"
    command = ("backup", "--output", str(archive), "--keys-output", str(keys))
    passphrase = "a quiet harbour at dawn"

    code, shown = run_portal_on_terminal(env, *command, answers=["too short"])
    assert code == 1 and "too short: it needs at least 16 characters" in shown
    assert "again" not in shown
    code, shown = run_portal_on_terminal(env, *command, answers=[passphrase, passphrase + "!"])
    assert code == 1 and "The two passphrases differ. Nothing was written." in shown
    assert list(backups.iterdir()) == [] and list(vault.iterdir()) == []

    code, shown = run_portal_on_terminal(env, *command, answers=[passphrase, passphrase])
    assert code == 0, shown
    assert "Passphrase for the keys file: \nThe same passphrase again: \n" in shown
    assert passphrase not in shown  # not echoed
    assert keys.is_file() and archive.is_file()

    target = _target(tmp_path, second_empty_database)
    restore = ("restore", str(archive), "--keys", str(keys))
    code, shown = run_portal_on_terminal(target.env, *restore, answers=["a loud harbour at dusk"])
    assert code == 1 and "the passphrase is wrong" in shown
    target.assert_nothing_restored()
    code, shown = run_portal_on_terminal(target.env, *restore, answers=[passphrase])
    assert code == 0, shown
    assert shown.count("Passphrase of the keys file: ") == 1
    assert "Audit chain intact" in shown
