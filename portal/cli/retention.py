"""``portal retention purge``: delete what has outlived its retention period."""

from __future__ import annotations

from collections.abc import Mapping

import click
from flask import current_app
from flask.cli import with_appcontext

from portal.db import get_session
from portal.evidence import orphans
from portal.services import evidence as evidence_service
from portal.services.retention import PurgeResult, purge
from portal.web.context import blob_store


def _describe(result: PurgeResult, retention_days: Mapping[str, int | None]) -> list[str]:
    policy = ", ".join(
        f"{status}: {'kept' if days is None else f'{days} days'}"
        for status, days in retention_days.items()
    )
    verb = "Would delete" if result.dry_run else "Deleted"
    lines = [f"Retention policy: {policy}"]
    for item in result.reports:
        lines.append(
            f"  {verb} {item.reference} ({item.status} on {item.closed_at:%Y-%m-%d}, "
            f"{len(item.blob_keys)} evidence file(s))"
        )
    files = sum(len(item.blob_keys) for item in result.reports)
    lines.append(f"{verb} {len(result.reports)} report(s) and {files} evidence file(s).")
    if not result.dry_run:
        lines.append(
            f"Evidence blobs deleted: {result.blobs_deleted}; wrapped keys destroyed: {files}; "
            f"used proof-of-work tokens cleared: {result.pow_tokens_deleted}."
        )
        for key in result.blob_failures:
            lines.append(f"  blob {key} could not be deleted (its key is destroyed)")
    return lines


@click.group("retention")
def retention_group() -> None:
    """Data retention."""


@retention_group.command("purge")
@click.option("--dry-run", is_flag=True, help="Show what would be deleted; change nothing.")
@with_appcontext
def purge_command(dry_run: bool) -> None:
    """Delete reports past their retention period and crypto-shred their evidence.

    Also removes evidence blobs and partial uploads that no report points to (left by a crash).
    """
    retention_days = current_app.config["RETENTION_DAYS"]
    session, store = get_session(), blob_store()
    result = purge(session, store, retention_days, dry_run=dry_run)
    for line in _describe(result, retention_days):
        click.echo(line)
    if not dry_run:
        # Files held for a report form that never came back: rows first, then their blobs.
        held = evidence_service.purge_expired_pending(session, store=store)
        session.commit()
        click.echo(f"Expired files held for unsent report forms removed: {held}")
    grace = float(current_app.config["EVIDENCE_ORPHAN_GRACE_HOURS"]) * 3600
    click.echo(orphans.describe(orphans.sweep(session, store, grace, dry_run=dry_run)))
    if result.blob_failures:
        raise SystemExit(1)
