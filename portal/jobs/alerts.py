"""Content-free alerts to on-duty officers: delivery, the deadline scan, the daily digest.

``connect(app)`` puts the dispatcher in the app's session factory: after a commit that raised
alerts (``portal.services.alerts``), one ``alerts.deliver`` job per alert and channel is queued.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from flask import Flask

from portal.jobs.queue import enqueue, install_dispatch
from portal.jobs.registry import JobContext, job, periodic
from portal.services import alerts

log = logging.getLogger("portal.jobs")

DELIVER = "alerts.deliver"
RETRIES = 5


def connect(app: Flask) -> None:
    """Sessions of ``app`` hand their alerts, after commit, to the queue."""

    def dispatch(kind: str, unit_id: int) -> None:
        # One id per alert: a retry finds what its earlier attempts already sent.
        alert_id = uuid.uuid4().hex
        for channel in alerts.AlertSettings.from_config(app.config).channels():
            enqueue(app, DELIVER, kind, unit_id, channel, alert_id)

    install_dispatch(app, alerts.DISPATCH_INFO, dispatch)


@job(DELIVER, retries=RETRIES, retry_delay=120)
def deliver(
    ctx: JobContext, kind: str, unit_id: int, channel: str, alert_id: str | None = None
) -> dict[str, Any]:
    """Send one alert on one channel; a failure is audited (with what went out before it, which
    the retry skips), then raised so the queue retries."""
    settings = alerts.AlertSettings.from_config(ctx.config)
    try:
        sent = alerts.deliver(
            ctx.session, kind, unit_id, channel, settings=settings, now=ctx.now, alert_id=alert_id
        )
    except alerts.AlertFailed as failure:
        ctx.session.rollback()
        alerts.record_failure(
            ctx.session, kind, unit_id, channel, failure, now=ctx.now, alert_id=alert_id
        )
        ctx.session.commit()
        log.warning("Alert %s on %s for unit %s failed: %s", kind, channel, unit_id, failure)
        raise
    return {"kind": kind, "unit": sent.unit_code, "channel": channel, "recipients": sent.recipients}


@periodic("alerts.deadlines", default_seconds=300)
def warn_deadlines(ctx: JobContext) -> dict[str, int]:
    """Queue an alert for each unit holding an unanswered report whose deadline is near."""
    settings = alerts.AlertSettings.from_config(ctx.config)
    found = alerts.scan_deadlines(
        ctx.session,
        first_response_hours=settings.first_response_hours,
        warning=settings.sla_warning,
        now=ctx.now,
    )
    return {"units": len(found), "reports": sum(found.values())}


@periodic("alerts.digest", default_seconds=900)
def daily_digest(ctx: JobContext) -> dict[str, int]:
    """From the configured local hour on, each unit's digest once a day."""
    settings = alerts.AlertSettings.from_config(ctx.config)
    units = alerts.take_digests(ctx.session, hour=settings.digest_hour, now=ctx.now)
    return {"units": len(units)}
