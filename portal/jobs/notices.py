"""The opt-in, content-free e-mail notice to a reporter: "there is news; come back".

``connect(app)`` puts the dispatcher in the app's session factory: after a commit that gave a
reporter news (``portal.services.notices.news``), one ``notices.news`` job is queued.
"""

from __future__ import annotations

from flask import Flask

from portal.jobs.queue import enqueue, install_dispatch
from portal.jobs.registry import JobContext, job
from portal.services import notices

NEWS = "notices.news"


def connect(app: Flask) -> None:
    """Sessions of ``app`` hand their reporters' news, after commit, to the queue; without a
    relay there is nothing to send, so nothing is queued."""

    def dispatch(report_id: int) -> None:
        if app.config.get("SMTP_HOST"):
            # One id per notice: every attempt sends the same message (same Message-ID).
            enqueue(app, NEWS, report_id, notices.notice_id())

    install_dispatch(app, notices.DISPATCH_INFO, dispatch)


@job(NEWS, retries=5, retry_delay=300)
def send_news(ctx: JobContext, report_id: int, notice: str | None = None) -> bool:
    """Sent when an officer writes to the reporter or changes what the reporter sees; a relay
    failure raises, so the queue tries again later."""
    relay = notices.relay(ctx.config)
    if relay is None:
        return False
    return notices.send_news_notice(
        ctx.session, report_id, keyring=ctx.keyring, relay=relay, notice=notice
    )
