"""``portal case-file``: the public key that signs case files, and the check of a bundle."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from portal.services import case_export


@click.group("case-file")
def case_file_group() -> None:
    """Signed case files for the prosecutor."""


@case_file_group.command("public-key")
@with_appcontext
def public_key_command() -> None:
    """Print the Ed25519 public key that verifies this instance's case files."""
    key = case_export.signing_key(current_app.config["CASEFILE_KEY"])
    click.echo(case_export.public_key_text(key.public_key()))


@case_file_group.command("verify")
@click.argument("bundle", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--public-key",
    "public_key",
    metavar="BASE64",
    help="The key to trust (from `portal case-file public-key`); without it, the key named in "
    "the bundle is used, which proves integrity but not origin.",
)
def verify_command(bundle: Path, public_key: str | None) -> None:
    """Check a case-file bundle's signature and every file's SHA-256; exit 1 on any problem."""
    try:
        key = case_export.parse_public_key(public_key) if public_key else None
    except ValueError as error:
        raise click.ClickException(f"unreadable public key: {error}") from error
    result = case_export.verify_bundle(bundle, key)
    if result.ok:
        click.echo(f"Case file {result.reference}: signature valid, {result.checked} files intact.")
        if key is None:
            click.echo("Origin not checked: give --public-key to check who signed it.")
        return
    click.echo(f"Case file {result.reference or '?'}: NOT intact.", err=True)
    for problem in result.problems:
        click.echo(f"  {problem}", err=True)
    sys.exit(1)
