"""The ``portal`` command line (the same commands as ``flask --app portal``)."""

from __future__ import annotations

import getpass
import os
import sys

import click
from flask import Flask
from flask.cli import FlaskGroup, with_appcontext

from portal.accounts import ROLES
from portal.config import instance_path_from_env
from portal.keys import keys_group
from portal.retention import retention_group
from portal.stats_cli import stats_group


def _make_app() -> Flask:
    from portal import create_app

    return create_app()


@click.command("init")
def init_command() -> None:
    """Create the instance directory, its secrets and master key, and migrate to head."""
    from portal import create_app, migrate
    from portal.crypto import Keyring, MissingMasterKey, create_master_key
    from portal.db import get_session
    from portal.instance_secrets import ensure_secrets
    from portal.reference_data import sync_reference_data

    instance = instance_path_from_env()
    instance.mkdir(mode=0o700, parents=True, exist_ok=True)
    click.echo(f"Instance directory: {instance}")
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
        migrate.upgrade(engine)
        click.echo(f"  database migrated to {migrate.current_revision(engine)}")
        if engine.url.get_backend_name() == "sqlite" and engine.url.database:
            # SQLite gives its -wal and -shm files the database file's permissions.
            os.chmod(engine.url.database, 0o600)
        session = get_session()
        summary = sync_reference_data(session)
        session.commit()
        click.echo(f"  reference data: {summary}")
    click.echo("Ready.")


@click.command("demo")
@click.option("--reports", default=400, show_default=True, help="Demo reports to create.")
@with_appcontext
def demo_command(reports: int) -> None:
    """Create demo accounts and months of demo reports (skipped if already there)."""
    from portal.context import keyring, receipt_hasher
    from portal.db import get_session
    from portal.demo import DEMO_ACCOUNTS, run_demo

    session = get_session()
    summary = run_demo(session, keyring(), receipt_hasher(), count=reports)
    session.commit()
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
        scope = ", ".join(account.units) or ("national" if account.role == "supervisor" else "-")
        click.echo(
            f"  {account.role:<10} user {account.username:<11} password {account.password:<22}"
            f" TOTP secret {account.totp_secret}  ({scope})"
        )
    if summary.sample_receipt:
        click.echo("")
        click.echo(
            f"A demo reporter's receipt, for /follow-up: {summary.sample_receipt} "
            f"(report {summary.sample_reference}, first in the casablanca officer's queue)"
        )


@click.command("demo-code")
@click.argument("username")
def demo_code_command(username: str) -> None:
    """Print the current TOTP code of a demo account (demo accounts only)."""
    import pyotp

    from portal.demo import DEMO_ACCOUNTS

    for account in DEMO_ACCOUNTS:
        if account.username == username:
            click.echo(pyotp.TOTP(account.totp_secret).now())
            return
    raise click.ClickException(f"{username!r} is not a demo account")


@click.group("officers")
def officers_group() -> None:
    """Manage staff accounts."""


@officers_group.command("create")
@click.argument("username")
@click.option("--name", "display_name", required=True, help="Name shown to colleagues.")
@click.option(
    "--role",
    type=click.Choice(ROLES),
    default="officer",
    show_default=True,
)
@click.option("--unit", "units", multiple=True, help="Unit code (repeatable).")
@click.option("--region", default=None, help="Region code for a regional supervisor.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@with_appcontext
def officers_create_command(
    username: str,
    display_name: str,
    role: str,
    units: tuple[str, ...],
    region: str | None,
    password_stdin: bool,
) -> None:
    """Create a staff account; the second factor is enrolled at first login."""
    from portal.accounts import AccountError, create_officer
    from portal.context import keyring
    from portal.db import get_session

    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("Password: ")
        if password != getpass.getpass("Again: "):
            raise click.ClickException("the two passwords differ")
    session = get_session()
    try:
        officer = create_officer(
            session,
            username=username,
            display_name=display_name,
            password=password,
            role=role,
            keyring=keyring(),
            unit_codes=list(units),
            region_code=region,
        )
    except AccountError as error:
        raise click.ClickException(str(error)) from error
    session.commit()
    click.echo(
        f"Created {role} {officer.username} (id {officer.id}); TOTP enrolment at first login."
    )


@click.group("audit")
def audit_group() -> None:
    """The hash-chained audit log."""


@audit_group.command("verify")
@click.option(
    "--earlier-head",
    metavar="HASH",
    help="A head hash printed by an earlier run and kept outside the database: it must still "
    "be in the chain.",
)
@with_appcontext
def audit_verify_command(earlier_head: str | None) -> None:
    """Check every link of the audit chain; exit 1 at the first broken one."""
    from portal import audit
    from portal.db import get_session

    result = audit.verify(get_session(), earlier_head=earlier_head)
    if result.ok:
        click.echo(f"Audit chain intact: {result.checked} entries verified.")
        click.echo(f"Head hash: {result.head_hash} (keep it elsewhere to detect a cut-off tail)")
        return
    if result.broken_at_id is None:
        click.echo(f"Audit chain BROKEN: {result.problem}.", err=True)
    else:
        click.echo(
            f"Audit chain BROKEN at entry {result.broken_at_id}: {result.problem} "
            f"({result.checked} entries verified before it).",
            err=True,
        )
    sys.exit(1)


COMMANDS = [
    init_command,
    demo_command,
    demo_code_command,
    officers_group,
    audit_group,
    stats_group,
    keys_group,
    retention_group,
]


def register(app: Flask) -> None:
    for command in COMMANDS:
        app.cli.add_command(command)


def main() -> None:
    group = FlaskGroup(create_app=_make_app, add_version_option=False, load_dotenv=False)
    group.help = "The citizen reporting portal."
    for command in COMMANDS:
        group.add_command(command)
    group.main(prog_name="portal")
