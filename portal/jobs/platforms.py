"""Work with outside platforms: partner webhooks, and the re-check of URLs under removal."""

from __future__ import annotations

import logging
from typing import Any

from portal.jobs.registry import JobContext, periodic
from portal.services import takedowns, webhooks
from portal.services.url_check import http_status

log = logging.getLogger("portal.jobs")


@periodic("webhooks.deliver", default_seconds=60)
def deliver_webhooks(ctx: JobContext) -> dict[str, Any]:
    """Send the partner events that are due; each attempt commits on its own."""
    run = webhooks.deliver_due_webhooks(
        ctx.session,
        ctx.now,
        keyring=ctx.keyring,
        allow_local_http=bool(ctx.config["WEBHOOK_ALLOW_LOCAL_HTTP"]),
    )
    return {"run": str(run)}


@periodic("takedowns.recheck", default_seconds=6 * 3600)
def recheck_takedowns(ctx: JobContext) -> dict[str, int]:
    """Record whether URLs under a sent removal request still answer (status only)."""
    timeout = float(ctx.config["TAKEDOWN_RECHECK_TIMEOUT_SECONDS"])
    allow_private = bool(ctx.config.get("TAKEDOWN_RECHECK_ALLOW_PRIVATE", False))
    checked = takedowns.recheck_waiting(
        ctx.session,
        keyring=ctx.keyring,
        check=lambda url: http_status(url, timeout=timeout, allow_private=allow_private),
        now=ctx.now,
    )
    log.info("Takedown re-check: %d URL(s) checked", checked)
    return {"checked": checked}
