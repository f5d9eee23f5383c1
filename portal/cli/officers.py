"""``portal officers create``: staff accounts from the command line."""

from __future__ import annotations

import getpass
import sys

import click
from flask.cli import with_appcontext

from portal.db import get_session
from portal.services.accounts import ROLES, AccountError, create_officer
from portal.web.context import keyring, password_hasher


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
            password_hasher=password_hasher(),
            unit_codes=list(units),
            region_code=region,
        )
    except AccountError as error:
        raise click.ClickException(str(error)) from error
    session.commit()
    click.echo(
        f"Created {role} {officer.username} (id {officer.id}); TOTP enrolment at first login."
    )
