"""``portal audit verify``: check the audit chain."""

from __future__ import annotations

import sys

import click
from flask.cli import with_appcontext

from portal.db import get_session
from portal.services import audit


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
