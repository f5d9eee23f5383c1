"""``portal db upgrade | current | downgrade``: the schema, through the alembic migrations.

These commands need only the database URL, so that an operator can inspect and migrate a
database from a machine that holds no keys. A migration that converts data (encrypting
reported URLs, keying the audit chain) also needs the instance secrets: they are used when this
machine has them, and otherwise such a migration refuses before changing anything.
"""

from __future__ import annotations

import os

import click
from sqlalchemy import Engine

from portal.config import instance_path_from_env, load_config
from portal.crypto.blind_index import BlindIndexer
from portal.crypto.instance_secrets import MissingSecret, load_secrets
from portal.crypto.keyring import Keyring, KeyringError
from portal.db import make_engine
from portal.services import schema


def _engine() -> Engine:
    config = load_config(instance_path_from_env())
    return make_engine(config["DATABASE_URL"])


def _secrets() -> schema.MigrationSecrets | None:
    instance = instance_path_from_env()
    try:
        secrets = load_secrets(instance)
        ring = Keyring.load(instance, os.environ)
    except (MissingSecret, KeyringError):
        return None
    return schema.MigrationSecrets(
        keyring=ring, indexer=BlindIndexer(secrets.index_pepper), audit_key=secrets.audit_key
    )


def _describe(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=True)


@click.group("db")
def db_group() -> None:
    """Database schema: upgrade, current revision, downgrade."""


@db_group.command("current")
def current_command() -> None:
    """Print the database's revision and whether it is the newest the code knows."""
    engine = _engine()
    try:
        current = schema.current_revision(engine)
    finally:
        engine.dispose()
    head = schema.head_revision()
    click.echo(f"Database: {_describe(engine)}")
    if current is None:
        click.echo(f"Revision: none (empty database); code head {head}. Run `portal db upgrade`.")
    elif current == head:
        click.echo(f"Revision: {current} (head)")
    else:
        click.echo(f"Revision: {current}; code head {head}. Run `portal db upgrade`.")


@db_group.command("upgrade")
@click.argument("revision", default="head")
def upgrade_command(revision: str) -> None:
    """Apply the migrations up to REVISION (default: head); does nothing when already there."""
    engine = _engine()
    try:
        before = schema.current_revision(engine)
        schema.upgrade(engine, revision, secrets=_secrets())
        after = schema.current_revision(engine)
    finally:
        engine.dispose()
    if before == after:
        click.echo(f"Already at {after}; nothing to do.")
    else:
        click.echo(f"Upgraded {_describe(engine)} from {before or 'empty'} to {after}.")


@db_group.command("downgrade")
@click.argument("revision")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def downgrade_command(revision: str, yes: bool) -> None:
    """Undo migrations down to REVISION (0003, previous, or base). Dropped columns lose data."""
    if revision == "previous":
        revision = "-1"
    engine = _engine()
    try:
        before = schema.current_revision(engine)
        if not yes:
            click.confirm(
                f"Downgrade {_describe(engine)} from {before} to {revision}? Data in dropped "
                "tables and columns is lost; take a backup first (`portal backup`)",
                abort=True,
            )
        schema.downgrade(engine, revision, secrets=_secrets())
        after = schema.current_revision(engine)
    finally:
        engine.dispose()
    click.echo(f"Downgraded {_describe(engine)} from {before} to {after or 'base (empty)'}.")
