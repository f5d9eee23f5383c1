"""``portal audit verify`` and ``portal audit anchor``: check the audit chain, record its head."""

from __future__ import annotations

import sys

import click
from flask import current_app
from flask.cli import with_appcontext

from portal.db import get_session
from portal.services import audit


@click.group("audit")
def audit_group() -> None:
    """The MAC-chained audit log."""


@audit_group.command("verify")
@click.option(
    "--earlier-head",
    metavar="MAC",
    help="A head MAC printed by an earlier run and kept outside the database: it must still "
    "be in the chain.",
)
@with_appcontext
def audit_verify_command(earlier_head: str | None) -> None:
    """Check every link of the audit chain and every anchor; exit 1 at the first broken one."""

    anchor_file = current_app.config["AUDIT_ANCHOR_FILE"]
    try:
        anchors = audit.read_anchors(anchor_file)
    except ValueError as error:
        click.echo(f"Audit anchors unreadable: {error}.", err=True)
        sys.exit(1)
    result = audit.verify(get_session(), anchors=anchors, earlier_head=earlier_head)
    if result.ok:
        click.echo(f"Audit chain intact: {result.checked} entries verified.")
        if result.rekeyed:
            count, at = result.rekeyed
            click.echo(
                f"The first {count} entries were written before the chain was keyed and were "
                f"re-keyed on {at:%Y-%m-%d %H:%M} UTC: before then they had only unkeyed hashes."
            )
        click.echo(f"Anchors checked: {result.anchors_checked} (from {anchor_file}).")
        if result.head_id is not None:
            click.echo(f"Head: entry {result.head_id}, MAC {result.head_mac}")
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


@audit_group.command("anchor")
@with_appcontext
def audit_anchor_command() -> None:
    """Append the chain's head to the anchor file (run it periodically, e.g. hourly)."""

    anchor_file = current_app.config["AUDIT_ANCHOR_FILE"]
    anchor = audit.write_anchor(get_session(), anchor_file)
    if anchor is None:
        click.echo("The audit chain is empty: nothing to anchor.")
        return
    click.echo(f"Anchored entry {anchor.entry_id} (MAC {anchor.mac}) in {anchor_file}.")
