"""The public transparency page: volumes and times per month, no login, no cookies, cached.

Thin: the figures come from ``portal.services.transparency`` (rollups only, small cells
suppressed); they are computed at most once per ``TRANSPARENCY_CACHE_SECONDS`` per process,
and the page, its CSV and its JSON may be cached by browsers and shared caches.
"""

from __future__ import annotations

import csv
import io
import json
import threading
import time
from typing import Any

from flask import Blueprint, Response, abort, current_app, render_template, request
from flask.typing import ResponseReturnValue

from portal.db import get_session
from portal.domain.categories import CATEGORIES
from portal.domain.platforms import load_platforms
from portal.models import utcnow
from portal.services import transparency
from portal.services.distribution import RELATIVE_ERROR
from portal.web.i18n import current_language
from portal.web.supervisor.formatting import Names, duration, share

bp = Blueprint("public", __name__)
_lock = threading.Lock()


def _months() -> list[transparency.Month]:
    cache: dict[str, Any] = current_app.extensions.setdefault("transparency_cache", {})
    ttl = float(current_app.config["TRANSPARENCY_CACHE_SECONDS"])
    with _lock:
        cached = cache.get("months")
        if cached is not None and time.monotonic() - cached[0] < ttl:
            return list(cached[1])
    months = transparency.compute(
        get_session(),
        now=utcnow(),
        months=int(current_app.config["TRANSPARENCY_MONTHS"]),
        categories=CATEGORIES,
        platforms=[*load_platforms(), "other"],
        threshold=int(current_app.config["TRANSPARENCY_MIN_CELL"]),
    )
    with _lock:
        cache["months"] = (time.monotonic(), months)
    return months


def _cacheable(response: Response) -> Response:
    response.headers["Cache-Control"] = (
        f"public, max-age={int(current_app.config['TRANSPARENCY_CACHE_SECONDS'])}"
    )
    response.headers["Vary"] = "Cookie"
    response.public_cache = True  # type: ignore[attr-defined]
    return response


@bp.get("/transparency")
def transparency_page() -> ResponseReturnValue:
    months = _months()
    if not months:
        abort(404)
    wanted = request.args.get("month")
    selected = next((m for m in months if m.key == wanted), months[-1])
    lang = current_language()
    names = Names.load(get_session(), lang)
    page = render_template(
        "public/transparency.html",
        months=months,
        selected=selected,
        categories=CATEGORIES,
        platforms={code: p.name for code, p in load_platforms().items()},
        region_names=names.regions,
        threshold=int(current_app.config["TRANSPARENCY_MIN_CELL"]),
        error_percent=round(RELATIVE_ERROR * 100),
        duration=duration,
        share=share,
    )
    return _cacheable(Response(page))


@bp.get("/transparency.json")
def transparency_json() -> ResponseReturnValue:
    body = {
        "threshold": int(current_app.config["TRANSPARENCY_MIN_CELL"]),
        "percentile": "linear interpolation between closest ranks; exact up to 64 values, "
        f"otherwise within {RELATIVE_ERROR:.0%} relative error",
        "records": transparency.records(_months()),
    }
    return _cacheable(
        Response(json.dumps(body, ensure_ascii=False, indent=1), mimetype="application/json")
    )


@bp.get("/transparency.csv")
def transparency_csv() -> ResponseReturnValue:
    buffer = io.StringIO()
    fields = ["month", "dimension", "key", "measure", "value", "suppressed"]
    writer = csv.DictWriter(buffer, fieldnames=fields, extrasaction="ignore")
    writer.writeheader()
    for record in transparency.records(_months()):
        writer.writerow({**record, "value": "" if record["value"] is None else record["value"]})
    response = Response("\ufeff" + buffer.getvalue(), mimetype="text/csv")
    response.headers["Content-Disposition"] = 'attachment; filename="transparency.csv"'
    return _cacheable(response)
