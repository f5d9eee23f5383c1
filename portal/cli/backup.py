"""``portal backup`` and ``portal restore``: data and keys, written to two separate places."""

from __future__ import annotations

import getpass
import os
import re
import sys
from pathlib import Path

import click
from sqlalchemy import select

from portal.config import instance_path_from_env, load_config
from portal.crypto.instance_secrets import SECRET_NAMES, SECRETS_DIRNAME
from portal.crypto.keyring import (
    Keyring,
    KeyringError,
    MissingMasterKey,
    export_master_keys,
    import_master_keys,
    write_new_private_file,
)
from portal.crypto.passphrase_seal import PASSPHRASE_RULE
from portal.db import make_engine
from portal.models import utcnow
from portal.services.backup import (
    BackupError,
    check_keys,
    create_backup,
    read_archive_manifest,
    restore_backup,
)
from portal.services.keys_file import (
    PLAIN_KEYS_FORMAT,
    KeyMaterial,
    KeysFileError,
    check_new_passphrase,
    read_keys_file,
)
from portal.storage.blobs import open_store

KEYS_WARNING = """\
KEEP THE TWO FILES, AND THE PASSPHRASE, APART.
  {archive}
      the database and every evidence file, encrypted: useless without the keys file.
  {keys}
      the master keys and secrets that decrypt them, encrypted under the passphrase: whoever
      holds it, the passphrase AND the archive reads every report and every piece of evidence.
Store the keys file on another medium, under other custodians (a secrets vault, an offline
encrypted drive in a safe), never next to the archive or in the same backup job, and the
passphrase somewhere else again. Without the keys file or its passphrase the archive cannot be
restored: keep at least two copies of each. Keys change with `portal keys rotate`: take a new
backup (and keep its keys file) after every rotation."""

PLAIN_KEYS_WARNING = """\
WARNING: {keys} is an UNENCRYPTED keys file ({format}, written before keys files were
encrypted): whoever copied it can read every report in this backup. Once restored, take a new
backup (its keys file is encrypted under a passphrase) and destroy every copy of this file."""

# The passphrase is read from the environment or the terminal, never from the command line:
# arguments are visible to every user of the host (``ps``) and stay in shell histories.
FROM_ENV_HELP = (
    "The NAME of an environment variable holding the keys file's passphrase (for scripts); "
    "without it the passphrase is asked on the terminal. Never the passphrase itself."
)
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _open_store(config: dict[str, object]):  # type: ignore[no-untyped-def]
    return open_store(
        str(config["EVIDENCE_STORE"]),
        s3_endpoint_url=config.get("S3_ENDPOINT_URL"),  # type: ignore[arg-type]
        s3_region=config.get("S3_REGION"),  # type: ignore[arg-type]
    )


def _current_keys(instance: Path) -> KeyMaterial:
    secrets: dict[str, str] = {}
    for name, variable in SECRET_NAMES.items():
        if os.environ.get(variable):
            secrets[name] = os.environ[variable]
            continue
        path = instance / SECRETS_DIRNAME / name
        if not path.is_file():
            raise click.ClickException(f"Secret {name} is missing ({path}); nothing to back up.")
        secrets[name] = path.read_text("ascii").strip()
    try:
        master_keys, active = export_master_keys(instance, os.environ)
    except KeyringError as error:
        raise click.ClickException(str(error)) from error
    return KeyMaterial(secrets=secrets, master_keys=master_keys, active_id=active)


BACKUP_HELP = f"""Back up the database, the evidence store and, separately, the keys that read them.

The keys file is encrypted under a passphrase of {PASSPHRASE_RULE}, read from the
environment variable named by --passphrase-env, or else asked twice on the terminal. It is
never taken from the command line. Keep the passphrase apart from both files: a restore needs it.
"""


@click.command("backup", help=BACKUP_HELP)
@click.option(
    "--output",
    "archive",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The archive to write (database and encrypted evidence).",
)
@click.option(
    "--keys-output",
    "keys_file",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The keys file to write: in another directory, kept apart from the archive.",
)
@click.option("--passphrase-env", "passphrase_env", metavar="NAME", help=FROM_ENV_HELP)
def backup_command(archive: Path, keys_file: Path, passphrase_env: str | None) -> None:
    instance = instance_path_from_env()
    keys = _current_keys(instance)
    passphrase = _new_passphrase(passphrase_env)
    config = load_config(instance)
    engine = make_engine(str(config["DATABASE_URL"]))
    try:
        summary = create_backup(
            engine,
            _open_store(config),
            keys,
            archive,
            keys_file,
            passphrase=passphrase,
            now=utcnow(),
        )
    except (BackupError, KeysFileError) as error:
        raise click.ClickException(str(error)) from error
    finally:
        engine.dispose()
    rows = sum(summary.tables.values())
    click.echo(
        f"Backed up {rows} rows of {len(summary.tables)} tables (revision {summary.revision}) "
        f"and {summary.evidence_files} evidence file(s), {summary.evidence_bytes} bytes, "
        f"to {summary.archive} (0600)."
    )
    if summary.missing_blobs:
        click.echo(
            f"  {len(summary.missing_blobs)} evidence blob(s) named by the database were no "
            "longer in the store (purged while the backup ran)."
        )
    click.echo(
        f"Wrote the keys ({', '.join(summary.key_ids) or 'none used yet'}) "
        f"to {summary.keys_file} (0600), encrypted under the passphrase."
    )
    click.echo("")
    click.echo(KEYS_WARNING.format(archive=summary.archive, keys=summary.keys_file))


@click.command("restore")
@click.argument("archive", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--keys",
    "keys_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The keys file written with the backup (or after a later rotation).",
)
@click.option("--passphrase-env", "passphrase_env", metavar="NAME", help=FROM_ENV_HELP)
def restore_command(archive: Path, keys_file: Path | None, passphrase_env: str | None) -> None:
    """Restore a backup into a new instance: empty database, empty store, no keys yet.

    The keys file's passphrase is read from the environment variable named by
    --passphrase-env, or else asked on the terminal, once the keys file is known to match
    the archive. A keys file written before keys files were encrypted is still read, with a
    warning.
    """
    instance = instance_path_from_env()
    if keys_file is None:
        raise click.ClickException(
            "A restore needs the keys file written with the backup (--keys): without it no "
            "evidence, field or receipt can be read. Nothing was restored."
        )
    try:
        stored = read_keys_file(keys_file)
    except KeysFileError as error:
        raise click.ClickException(f"{error} Nothing was restored.") from error
    if not stored.encrypted:
        click.echo(PLAIN_KEYS_WARNING.format(keys=keys_file, format=PLAIN_KEYS_FORMAT), err=True)
    _refuse_existing_keys(instance)
    try:
        # Before the passphrase: a keys file of another backup is refused from its header.
        check_keys(read_archive_manifest(archive), stored.fingerprints, stored.active_id)
        keys = stored.open(_passphrase(passphrase_env) if stored.encrypted else None)
    except (BackupError, KeysFileError) as error:
        message = str(error)
        if "Nothing was restored" not in message:
            message += " Nothing was restored."
        raise click.ClickException(message) from error
    config = load_config(instance)
    engine = make_engine(str(config["DATABASE_URL"]))
    try:
        summary = restore_backup(engine, _open_store(config), archive, keys)
    except BackupError as error:
        raise click.ClickException(str(error)) from error
    finally:
        engine.dispose()
    _write_keys(instance, keys)
    rows = sum(summary.tables.values())
    click.echo(
        f"Restored {rows} rows of {len(summary.tables)} tables and {summary.evidence_files} "
        f"evidence file(s); database at {summary.revision}."
    )
    click.echo(f"Wrote the secrets and master keys into {instance} (0600).")
    _verify(instance)


def _passphrase(env_name: str | None, *, prompt: str = "Passphrase of the keys file: ") -> str:
    """The passphrase from the variable named ``env_name``, or else from the terminal."""
    if env_name is not None:
        if not _ENV_NAME.fullmatch(env_name):
            # Not echoed: it may be the passphrase itself, typed where the name belongs.
            raise click.ClickException(
                "--passphrase-env takes the NAME of an environment variable that holds the "
                "passphrase, never the passphrase itself."
            )
        # Taken out of the environment: nothing this command starts inherits it.
        value = os.environ.pop(env_name, "")
        if not value:
            raise click.ClickException(
                f"The environment variable {env_name} (--passphrase-env) is not set or empty."
            )
        return value
    if not sys.stdin.isatty():
        raise click.ClickException(
            "The keys file's passphrase is needed: run this on a terminal to be asked for it, "
            "or put it in an environment variable and name it with --passphrase-env NAME."
        )
    return getpass.getpass(prompt)


def _new_passphrase(env_name: str | None) -> str:
    """A passphrase for a new keys file, checked against the rule (and typed twice)."""
    passphrase = _passphrase(env_name, prompt="Passphrase for the keys file: ")
    try:
        check_new_passphrase(passphrase)
    except KeysFileError as error:
        raise click.ClickException(f"{error} Nothing was written.") from error
    if env_name is None and getpass.getpass("The same passphrase again: ") != passphrase:
        raise click.ClickException("The two passphrases differ. Nothing was written.")
    return passphrase


def _refuse_existing_keys(instance: Path) -> None:
    existing = [name for name in SECRET_NAMES if (instance / SECRETS_DIRNAME / name).exists()]
    try:
        Keyring.load(instance, {})
        existing.append("master keys")
    except MissingMasterKey:
        pass
    if existing:
        raise click.ClickException(
            f"{instance} already has {', '.join(existing)}: restore into a new instance "
            "directory (do not run `portal init` first). Nothing was restored."
        )


def _write_keys(instance: Path, keys: KeyMaterial) -> None:
    instance.mkdir(mode=0o700, parents=True, exist_ok=True)
    directory = instance / SECRETS_DIRNAME
    directory.mkdir(mode=0o700, exist_ok=True)
    for name, value in keys.secrets.items():
        write_new_private_file(directory / name, value.encode("ascii"))
    import_master_keys(instance, keys.master_keys, keys.active_id)


def _verify(instance: Path) -> None:
    """Read back what was restored: every evidence file decrypted and hashed, the audit chain."""
    from portal import create_app
    from portal.evidence import custody
    from portal.evidence.intake import IntegrityFailure
    from portal.models import Evidence
    from portal.services import audit

    app = create_app()
    try:
        factory = app.extensions["db_sessionmaker"]
        with factory() as session:
            failures = 0
            rows = session.scalars(select(Evidence).order_by(Evidence.id)).all()
            for row in rows:
                try:
                    custody.verify(
                        app.extensions["blob_store"], app.extensions["keyring"], row.report, row
                    )
                except IntegrityFailure as error:
                    failures += 1
                    click.echo(f"  evidence {row.id}: {error}", err=True)
            chain = audit.verify(session)
    finally:
        app.extensions["db_engine"].dispose()
    click.echo(
        f"Verified {len(rows) - failures} of {len(rows)} evidence file(s): "
        "decrypted, SHA-256 intact."
    )
    if chain.ok:
        click.echo(f"Audit chain intact: {chain.checked} entries verified.")
    else:
        click.echo(f"Audit chain BROKEN: {chain.problem}.", err=True)
    if failures or not chain.ok:
        raise SystemExit(1)
