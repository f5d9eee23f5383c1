"""Guidance pages for reporters: advice per kind of harm, and how to browse safely."""

from __future__ import annotations

from flask import abort, render_template
from flask.typing import ResponseReturnValue

from portal.domain.guidance import GENDARMERIE_NUMBER, POLICE_NUMBER, TOPICS, TOPICS_BY_SLUG
from portal.web.citizen.blueprint import bp


@bp.get("/help")
def help_index() -> ResponseReturnValue:
    return render_template("citizen/help_index.html", topics=TOPICS)


@bp.get("/help/safety")
def help_safety() -> ResponseReturnValue:
    return render_template("citizen/help_safety.html")


@bp.get("/help/<slug>")
def help_topic(slug: str) -> ResponseReturnValue:
    topic = TOPICS_BY_SLUG.get(slug)
    if topic is None:
        abort(404)
    return render_template(
        "citizen/help_topic.html",
        topic=topic,
        topics=TOPICS,
        police=POLICE_NUMBER,
        gendarmerie=GENDARMERIE_NUMBER,
    )
