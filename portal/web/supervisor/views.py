"""Supervisor pages: the response-time dashboard and its CSV, for the supervisor's scope."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from flask import Blueprint, Response, current_app, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import ngettext
from werkzeug.datastructures import MultiDict

from portal.db import get_session
from portal.models import Officer, utcnow
from portal.services.scope import supervisor_region
from portal.services.stats import (
    ABROAD,
    DEFAULT_PERIOD,
    PERIODS,
    SLA,
    TOTAL,
    Dashboard,
    Period,
    compute_dashboard,
)
from portal.web import charts
from portal.web.i18n import current_language, format_date
from portal.web.staff.auth import staff_required
from portal.web.supervisor import export
from portal.web.supervisor.formatting import (
    BUCKET_LABELS,
    PERIOD_LABELS,
    Durations,
    Names,
    local_time,
    share,
)
from portal.web.supervisor.guard import Busy, dashboard_slot

bp = Blueprint("supervisor", __name__, url_prefix="/supervisor")

# Map shading: median time to first response, upper bounds in hours.
MAP_THRESHOLDS_HOURS = (12, 24, 48, 72)
# A custom period longer than this is refused (two years: a trend of 27 four-week steps).
MAX_CUSTOM_DAYS = 731
# Seconds a supervisor is asked to wait when every dashboard slot is taken.
RETRY_AFTER_SECONDS = 5


@dataclass(frozen=True)
class Request:
    period: Period
    region_code: str | None
    error: str | None
    args: dict[str, str]


def parse_request(args: MultiDict[str, str], officer: Officer, region_codes: list[str]) -> Request:
    """Period and scope from the query string; a regional supervisor is held to their region
    (``supervisor_region``). Shared by every supervisor page."""
    now = utcnow()
    error = None
    region_code = supervisor_region(officer, args.get("region"), region_codes)
    key = args.get("period", DEFAULT_PERIOD)
    period = Period.rolling(key if key in PERIODS else DEFAULT_PERIOD, now)
    first, last = args.get("from", ""), args.get("to", "")
    if first or last:
        try:
            custom = Period.between(date.fromisoformat(first), date.fromisoformat(last))
        except ValueError:
            error = _("Enter both dates of the period, the first one before the second.")
        else:
            if custom.end - custom.start > timedelta(days=MAX_CUSTOM_DAYS):
                error = _("Choose a period of at most two years.")
            else:
                period = custom
    kept = {"period": period.key} if period.key else {"from": first, "to": last}
    if officer.region is None and region_code:
        kept["region"] = region_code
    return Request(period=period, region_code=region_code, error=error, args=kept)


def _dashboard(parsed: Request, *, with_trend: bool = True) -> Dashboard:
    """Raises ``Busy`` when the dashboards' share of the database is in use."""
    config = current_app.config
    session = get_session()
    with dashboard_slot(session, config):
        return compute_dashboard(
            session,
            period=parsed.period,
            sla=SLA.from_config(config),
            region_code=parsed.region_code,
            with_trend=with_trend,
        )


def _busy() -> ResponseReturnValue:
    body = render_template("supervisor/busy.html", retry_after=RETRY_AFTER_SECONDS)
    return body, 503, {"Retry-After": str(RETRY_AFTER_SECONDS)}


def _pictures(
    dashboard: Dashboard, names: Names, parsed: Request, duration: Durations
) -> dict[str, Any]:
    thresholds = [hours * 3600 for hours in MAP_THRESHOLDS_HOURS]
    national = parsed.region_code is None
    tiles = []
    for row in dashboard.regions:
        if row.key == ABROAD:
            continue
        href = None
        if national:
            href = url_for("supervisor.dashboard", **{**parsed.args, "region": row.key})
        so_far = row.first_response_so_far.p50
        waiting = row.waiting_in_period.count
        # A median that counts reports still waiting can only grow: say so.
        value = duration(so_far)
        if waiting and so_far is not None:
            value = f"≥ {value}"
        tiles.append(
            charts.Tile(
                code=row.key,
                name=names.short_regions.get(row.key, row.key),
                title=names.region(row.key),
                value=value,
                shade=charts.shade_index(so_far, thresholds),
                href=href,
                note=ngettext("%(num)d waiting", "%(num)d waiting", waiting) if waiting else "",
            )
        )
    legend = []
    lows, highs = (0, *MAP_THRESHOLDS_HOURS), (*MAP_THRESHOLDS_HOURS, None)
    for index, (low, high) in enumerate(zip(lows, highs, strict=True)):
        text = (
            _("%(low)s to %(high)s h", low=low, high=high)
            if high is not None
            else _("%(low)s h or more", low=low)
        )
        legend.append((charts.legend_swatch(index), text))
    legend.append((charts.legend_swatch(None), _("No report in the period")))

    national_line = dashboard.trend.get(TOTAL)
    first_step = format_date(dashboard.steps[0], "d MMM") if dashboard.steps else ""
    last_step = format_date(dashboard.steps[-1], "d MMM") if dashboard.steps else ""
    trend = []
    for row in dashboard.regions:
        series = dashboard.trend.get(row.key)
        if series is None:
            continue
        reference = national_line if national else None
        top = max(
            (v for v in (*series, *(reference or ())) if v is not None),
            default=0.0,
        )
        latest = next((v for v in reversed(series) if v is not None), None)
        trend.append(
            {
                "name": names.region(row.key),
                "latest": duration(latest),
                "svg": charts.sparkline(
                    series,
                    top=top,
                    top_label=duration(top) if top else "",
                    first_label=first_step,
                    last_label=last_step,
                    reference=reference,
                    label=_trend_label(
                        dashboard.weekly_trend,
                        region=names.region(row.key),
                        top=duration(top) if top else "—",
                        first=first_step,
                        last=last_step,
                    ),
                ),
            }
        )
    buckets = [(str(BUCKET_LABELS[name]), count) for name, count in dashboard.backlog_buckets]
    return {
        "map_svg": charts.region_map(
            tiles, label=_("Median time to first response so far, by region")
        ),
        "map_legend": legend,
        "trend": trend,
        "backlog_svg": charts.horizontal_bars(buckets, label=_("Open reports by age")),
        "backlog_rows": buckets,
    }


def _trend_label(weekly: bool, **values: str) -> str:
    """What a screen reader says of a region's trend line."""
    if weekly:
        return _(
            "Weekly median time to first response, %(region)s, "
            "from 0 to %(top)s, weeks of %(first)s to %(last)s",
            **values,
        )
    return _(
        "Median time to first response four weeks at a time, %(region)s, "
        "from 0 to %(top)s, from the four weeks of %(first)s to those of %(last)s",
        **values,
    )


def _region_href(parsed: Request) -> Any:
    """A region's own dashboard, for a national supervisor; nothing for a regional one."""
    if parsed.region_code is not None:
        return lambda code: None
    return lambda code: url_for("supervisor.dashboard", **{**parsed.args, "region": code})


@bp.get("/", endpoint="dashboard")
@staff_required("supervisor")
def dashboard_page(staff: Officer) -> ResponseReturnValue:
    names = Names.load(get_session(), current_language())
    regions = sorted(names.regions)
    parsed = parse_request(request.args, staff, regions)
    try:
        dashboard = _dashboard(parsed)
    except Busy:
        return _busy()
    duration = Durations()
    return render_template(
        "supervisor/dashboard.html",
        officer=staff,
        d=dashboard,
        names=names,
        parsed=parsed,
        regions=regions,
        periods=PERIOD_LABELS,
        duration=duration,
        share=share,
        local_time=local_time,
        period_last_day=(dashboard.period_end - timedelta(microseconds=1)),
        csv_url=url_for("supervisor.response_times_csv", **parsed.args),
        csv_other_url=url_for(
            "supervisor.response_times_csv",
            **parsed.args,
            dialect=export.other_dialect(current_language()),
        ),
        region_href=_region_href(parsed),
        **_pictures(dashboard, names, parsed, duration),
    )


@bp.get("/response-times.csv", endpoint="response_times_csv")
@staff_required("supervisor")
def response_times_csv(staff: Officer) -> ResponseReturnValue:
    """The dashboard's figures for a spreadsheet, in the reader's convention (see
    :mod:`portal.web.supervisor.export`); ``?dialect=comma|semicolon`` chooses another."""
    language = current_language()
    names = Names.load(get_session(), language)
    parsed = parse_request(request.args, staff, sorted(names.regions))
    try:
        dashboard = _dashboard(parsed, with_trend=False)
    except Busy:
        return _busy()
    dialect = export.dialect_for(language, request.args.get("dialect"))
    body = export.to_csv(dashboard, names, dialect)
    start = local_time(dashboard.period_start)[:10]
    end = local_time(dashboard.period_end - timedelta(microseconds=1))[:10]
    filename = f"response-times-{dashboard.scope}-{start}-{end}.csv"
    return Response(
        "\ufeff" + body,  # a byte-order mark, so spreadsheets read Arabic names as UTF-8
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
