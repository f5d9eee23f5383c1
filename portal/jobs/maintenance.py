"""Periodic upkeep that used to need cron: retention and the audit head anchor.

Statistics need no periodic work: their rollups are written with every change.
"""

from __future__ import annotations

import logging
from typing import Any

from portal.evidence import orphans
from portal.jobs.registry import JobContext, periodic
from portal.services import audit
from portal.services.retention import purge

log = logging.getLogger("portal.jobs")


class AuditChainBroken(RuntimeError):
    """The audit chain failed verification (the job fails so that it is seen and alerted on)."""


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


@periodic("audit.anchor", default_seconds=3600)
def anchor_audit_head(ctx: JobContext) -> dict[str, Any]:
    """Verify the chain against every anchor written so far, then anchor the new head.

    The head goes to the anchor file (append-only) and to the log, which ships elsewhere: an
    entry cut off the end of the chain, or changed, is caught by the next run.
    """
    path = ctx.config["AUDIT_ANCHOR_FILE"]
    result = audit.verify(ctx.session, anchors=audit.read_anchors(path))
    if not result.ok:
        log.error("Audit chain BROKEN at entry %s: %s", result.broken_at_id, result.problem)
        raise AuditChainBroken(result.problem or "audit chain broken")
    anchor = audit.write_anchor(ctx.session, path, now=ctx.now)
    return {
        "entries": result.checked,
        "head": anchor.entry_id if anchor is not None else None,
    }
