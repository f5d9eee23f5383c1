"""Periodic upkeep that used to need cron: dashboards, retention, the audit head anchor."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from portal.evidence import orphans
from portal.jobs.registry import JobContext, periodic
from portal.services import audit
from portal.services.retention import purge
from portal.services.stats import SLA, refresh_snapshots

log = logging.getLogger("portal.jobs")

ANCHOR_FILENAME = "audit-anchors.jsonl"


class AuditChainBroken(RuntimeError):
    """The audit chain failed verification (the job fails so that it is seen and alerted on)."""


@periodic("stats.refresh", default_seconds=15 * 60)
def refresh_dashboards(ctx: JobContext) -> dict[str, int]:
    done = refresh_snapshots(ctx.session, sla=SLA.from_config(ctx.config), now=ctx.now)
    log.info("Stats refresh: %d dashboards stored", len(done))
    return {"dashboards": len(done)}


@periodic("retention.purge", default_seconds=24 * 3600)
def purge_expired(ctx: JobContext) -> dict[str, int]:
    result = purge(ctx.session, ctx.blob_store, ctx.config["RETENTION_DAYS"], now=ctx.now)
    grace = float(ctx.config["EVIDENCE_ORPHAN_GRACE_HOURS"]) * 3600
    swept = orphans.sweep(ctx.session, ctx.blob_store, grace)
    log.info(
        "Retention purge: %d report(s) deleted, %d blob(s) deleted, %d orphan blob(s) and "
        "%d partial upload(s) removed",
        len(result.reports),
        result.blobs_deleted,
        len(swept.orphan_blobs),
        swept.partial_uploads_removed,
    )
    if result.blob_failures:
        # The rows and keys are gone already; a retry deletes the blobs left behind.
        raise RuntimeError(f"{len(result.blob_failures)} evidence blob(s) could not be deleted")
    return {"reports": len(result.reports), "blobs": result.blobs_deleted}


def anchor_path(config: Any, instance_path: Path) -> Path:
    configured = config.get("AUDIT_ANCHOR_FILE")
    return Path(configured) if configured else instance_path / ANCHOR_FILENAME


def last_anchor(path: Path) -> str | None:
    """The head hash of the last line of the anchor file, if any."""
    try:
        lines = path.read_text("utf-8").splitlines()
    except FileNotFoundError:
        return None
    for line in reversed(lines):
        try:
            return str(json.loads(line)["head"])
        except (ValueError, KeyError, TypeError):
            continue
    return None


def _append_line(path: Path, line: str) -> None:
    # O_APPEND: earlier lines are never rewritten (``chattr +a`` makes the kernel enforce it).
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o600)
    try:
        os.write(fd, (line + "\n").encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)


@periodic("audit.anchor", default_seconds=3600)
def anchor_audit_head(ctx: JobContext) -> dict[str, Any]:
    """Verify the chain against the last recorded head, then record the new head outside it.

    The head goes to the anchor file (append-only) and to the log, which ships elsewhere: an
    entry cut off the end of the chain is then caught by the next run.
    """
    path = anchor_path(ctx.config, ctx.instance_path)
    earlier = last_anchor(path)
    result = audit.verify(ctx.session, earlier_head=earlier)
    record = {
        "at": ctx.now.isoformat(timespec="seconds"),
        "head": result.head_hash,
        "entries": result.checked,
        "intact": result.ok,
    }
    if not result.ok:
        record["problem"] = result.problem
    _append_line(path, json.dumps(record, sort_keys=True))
    if not result.ok:
        log.error("Audit chain BROKEN: %s (head %s)", result.problem, result.head_hash)
        raise AuditChainBroken(result.problem or "audit chain broken")
    log.info("Audit chain head %s after %d entries", result.head_hash, result.checked)
    return record
