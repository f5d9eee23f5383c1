"""``portal init``, ``portal demo`` and ``portal demo-code``: an instance from nothing."""

from __future__ import annotations

import os
from pathlib import Path

import click
import pyotp
from flask.cli import with_appcontext
from sqlalchemy.engine import make_url

from portal.config import instance_path_from_env, load_config
from portal.crypto.instance_secrets import SECRET_NAMES, SECRETS_DIRNAME, ensure_secrets
from portal.crypto.keyring import Keyring, MissingMasterKey, create_master_key
from portal.db import get_session, make_engine
from portal.domain.receipts import format_receipt
from portal.services import schema
from portal.services.demo import (
    DEMO_ACCOUNTS,
    DEMO_ON_DUTY_EMAIL,
    DEMO_ON_DUTY_OFFICER,
    ensure_on_duty_officer,
    run_demo,
)
from portal.services.reference_data import sync_reference_data
from portal.web.context import (
    blind_indexer,
    blob_store,
    keyring,
    password_hasher,
    receipt_hasher,
)


@click.command("init")
def init_command() -> None:
    """Create the instance directory, its secrets and master key, and migrate to head."""
    # The app factory registers these commands: imported here, at call time, to avoid a cycle.
    from portal import create_app

    instance = instance_path_from_env()
    click.echo(f"Instance directory: {instance}")
    _refuse_new_keys_beside_existing_data(instance)
    instance.mkdir(mode=0o700, parents=True, exist_ok=True)
    for name in ensure_secrets(instance):
        click.echo(f"  created secret {name} (0600)")
    try:
        Keyring.load(instance, {})
    except MissingMasterKey:
        if not os.environ.get("PORTAL_MASTER_KEYS"):
            kid = create_master_key(instance)
            click.echo(f"  created master key {kid} (0600)")
    app = create_app()
    with app.app_context():
        engine = app.extensions["db_engine"]
        # Migrations that convert data (encrypting reported URLs, keying the audit chain) need
        # the instance secrets, which never live in the database.
        schema.upgrade(
            engine,
            secrets=schema.MigrationSecrets(
                keyring=keyring(), indexer=blind_indexer(), audit_key=app.config["AUDIT_KEY"]
            ),
        )
        click.echo(f"  database migrated to {schema.current_revision(engine)}")
        if engine.url.get_backend_name() == "sqlite" and engine.url.database:
            # SQLite gives its -wal and -shm files the database file's permissions.
            os.chmod(engine.url.database, 0o600)
        session = get_session()
        summary = sync_reference_data(session)
        session.commit()
        click.echo(f"  reference data: {summary}")
    click.echo(f"Static files, for the reverse proxy's /static/: {app.static_folder}")
    click.echo("Ready.")


def _missing_key_material(instance: Path) -> list[str]:
    """What ``init`` would create: secrets or master key absent from instance and environment."""
    missing = [
        name
        for name, variable in SECRET_NAMES.items()
        if not os.environ.get(variable) and not (instance / SECRETS_DIRNAME / name).exists()
    ]
    try:
        Keyring.load(instance, os.environ)
    except MissingMasterKey:
        missing.append("master key")
    return missing


def _refuse_new_keys_beside_existing_data(instance: Path) -> None:
    """Stop before inventing keys for a database whose data was sealed under other keys.

    Run from the wrong directory, ``init`` would otherwise create a new master key and peppers
    next to a database it cannot read: receipts stop matching and evidence stops decrypting.
    """
    missing = _missing_key_material(instance)
    if not missing:
        return
    url = make_url(load_config(instance)["DATABASE_URL"])
    if url.get_backend_name() == "sqlite" and not Path(url.database or "").is_file():
        return  # connecting would create the file
    engine = make_engine(url.render_as_string(hide_password=False))
    try:
        counts = schema.data_counts(engine)
    finally:
        engine.dispose()
    if not any(counts.values()):
        return
    held = ", ".join(f"{count} {table}" for table, count in counts.items() if count)
    raise click.ClickException(
        f"The database {engine.url.render_as_string(hide_password=True)} already holds data "
        f"({held}), but {instance} has no {', '.join(missing)}. New keys would not read it, "
        "so nothing was created. Run from the instance directory that belongs to this database "
        "(or set PORTAL_INSTANCE_PATH), give the keys by environment, or restore them with "
        "`portal restore`."
    )


@click.command("demo")
@click.option("--reports", default=400, show_default=True, help="Demo reports to create.")
@with_appcontext
def demo_command(reports: int) -> None:
    """Create demo accounts and months of demo reports (skipped if already there)."""

    session = get_session()
    summary = run_demo(
        session,
        keyring(),
        receipt_hasher(),
        blind_indexer(),
        count=reports,
        store=blob_store(),
        password_hasher=password_hasher(),
    )
    session.commit()
    if ensure_on_duty_officer(session):
        session.commit()
        click.echo(
            f"{DEMO_ON_DUTY_OFFICER} is on duty for alerts at {DEMO_ON_DUTY_EMAIL} "
            "(sent when PORTAL_SMTP_HOST names a relay)."
        )
    if summary.accounts_created:
        click.echo(f"Created demo accounts: {', '.join(summary.accounts_created)}")
    if summary.reports_created:
        click.echo(f"Created {summary.reports_created} demo reports.")
    else:
        click.echo("Demo reports already present; nothing added.")
    click.echo("")
    click.echo("Demo staff accounts (password, then the 6-digit code from an authenticator app")
    click.echo("set up with the TOTP secret, or from `portal demo-code USERNAME`):")
    for account in DEMO_ACCOUNTS:
        region = f"region {account.region}" if account.region else "national"
        scope = ", ".join(account.units) or (region if account.role == "supervisor" else "-")
        click.echo(
            f"  {account.role:<10} user {account.username:<11} password {account.password:<22}"
            f" TOTP secret {account.totp_secret}  ({scope})"
        )
    if summary.sample_receipt:
        click.echo("")
        click.echo(
            f"A demo reporter's receipt, for /follow-up: {format_receipt(summary.sample_receipt)} "
            f"(report {summary.sample_reference}, first in the casablanca officer's queue)"
        )


@click.command("demo-code")
@click.argument("username")
def demo_code_command(username: str) -> None:
    """Print the current TOTP code of a demo account (demo accounts only)."""

    for account in DEMO_ACCOUNTS:
        if account.username == username:
            click.echo(pyotp.TOTP(account.totp_secret).now())
            return
    raise click.ClickException(f"{username!r} is not a demo account")
