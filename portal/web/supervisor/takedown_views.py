"""Supervisor figures on requests to platforms: sent, removed, and how fast, per platform and
per kind of harm, for the supervisor's scope and period (from the takedown rollups only)."""

from __future__ import annotations

from flask import render_template, request
from flask.typing import ResponseReturnValue

from portal.db import get_session
from portal.domain.categories import CATEGORIES
from portal.domain.platforms import load_platforms
from portal.models import Officer
from portal.services import takedown_rollups
from portal.services.scope import rollup_scope
from portal.web.i18n import current_language
from portal.web.staff.auth import staff_required
from portal.web.supervisor.formatting import Names, duration, share
from portal.web.supervisor.views import bp, parse_request


@bp.get("/takedowns", endpoint="takedowns")
@staff_required("supervisor")
def takedowns_page(*, staff: Officer) -> ResponseReturnValue:
    officer = staff
    db = get_session()
    names = Names.load(db, current_language())
    parsed = parse_request(request.args, officer, sorted(names.regions))
    first, end = parsed.period.whole_days().days()
    total, by_platform, by_category = takedown_rollups.period_figures(
        db, rollup_scope(db, parsed.region_code), first, end
    )
    return render_template(
        "supervisor/takedowns.html",
        parsed=parsed,
        total=total,
        by_platform=by_platform,
        by_category=by_category,
        platforms={code: p.name for code, p in load_platforms().items()},
        categories=CATEGORIES,
        duration=duration,
        share=share,
    )
