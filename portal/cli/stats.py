"""``portal stats``: the dashboard's figures as CSV, and ``portal stats rebuild``."""

from __future__ import annotations

import sys
import time
from datetime import date

import click
from flask import current_app
from flask.cli import with_appcontext
from flask_babel import force_locale

from portal.services.rollups import rebuild
from portal.services.stats import DEFAULT_PERIOD, PERIODS, SLA, Period, compute_dashboard


@click.group("stats", invoke_without_command=True)
@click.option(
    "--period",
    type=click.Choice(list(PERIODS)),
    default=DEFAULT_PERIOD,
    show_default=True,
    help="The last N local days, today included.",
)
@click.option("--from", "first_day", help="First day (YYYY-MM-DD, Africa/Casablanca).")
@click.option("--to", "last_day", help="Last day, included (YYYY-MM-DD).")
@click.option("--region", default=None, help="Region code (e.g. MA-06); national if omitted.")
@click.option("--lang", default="en", show_default=True, help="Language of names and headers.")
@with_appcontext
@click.pass_context
def stats_group(
    ctx: click.Context,
    period: str,
    first_day: str | None,
    last_day: str | None,
    region: str | None,
    lang: str,
) -> None:
    """Print response times per region, unit, category and priority as CSV (from the rollups)."""
    if ctx.invoked_subcommand is not None:
        return
    from portal.db import get_session
    from portal.models import utcnow
    from portal.web.supervisor.export import to_csv
    from portal.web.supervisor.formatting import Names

    if first_day or last_day:
        try:
            chosen = Period.between(
                date.fromisoformat(first_day or ""), date.fromisoformat(last_day or "")
            )
        except ValueError as error:
            raise click.BadParameter("give --from and --to as YYYY-MM-DD, in order") from error
    else:
        chosen = Period.rolling(period, utcnow())
    session = get_session()
    try:
        dashboard = compute_dashboard(
            session,
            period=chosen,
            sla=SLA.from_config(current_app.config),
            region_code=region,
            with_trend=False,
        )
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--region") from error
    with force_locale(lang):
        sys.stdout.write(to_csv(dashboard, Names.load(session, lang)))


@stats_group.command("rebuild")
@with_appcontext
def stats_rebuild_command() -> None:
    """Recompute the statistics rollups and the URL cluster counters from every report (after
    an upgrade or a bulk load).

    The write path keeps them current; nothing needs to run on a schedule."""
    from portal.db import get_session

    session = get_session()
    started = time.perf_counter()
    rows = rebuild(session)
    session.commit()
    click.echo(
        f"Rebuilt {rows} rollup rows and the URL cluster counters"
        f" in {time.perf_counter() - started:.1f} s."
    )
