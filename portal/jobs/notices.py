"""The opt-in, content-free e-mail notice to a reporter: "there is news; come back"."""

from __future__ import annotations

from portal.jobs.registry import JobContext, job
from portal.services import notices


@job("notices.news", retries=5, retry_delay=300)
def send_news(ctx: JobContext, report_id: int) -> bool:
    """Sent when an officer writes to the reporter or changes what the reporter sees; a relay
    failure raises, so the queue tries again later."""
    relay = notices.SmtpRelay.from_config(ctx.config)
    if relay is None:
        return False
    return notices.send_news_notice(ctx.session, report_id, keyring=ctx.keyring, relay=relay)
