"""Response headers on every page, and CSRF on every state-changing route."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, func, select, table, text
from sqlalchemy import inspect as sa_inspect

from tests.support.web import submit_and_get_receipt

PAGES = ["/", "/report", "/follow-up", "/officer/login", "/help", "/no-such-page"]


def _table_counts(engine: Engine) -> dict[str, int]:
    counts = {}
    with engine.connect() as connection:
        for name in sa_inspect(engine).get_table_names():
            counts[name] = int(
                connection.execute(select(func.count()).select_from(table(name))).scalar() or 0
            )
    return counts


@pytest.mark.parametrize("path", PAGES)
def test_every_page_has_the_hardening_headers(client: FlaskClient, path: str) -> None:
    response = client.get(path)
    headers = response.headers
    csp = headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "frame-ancestors 'none'" in csp and "form-action 'self'" in csp
    assert headers["Cache-Control"] == "no-store"
    assert headers["Referrer-Policy"] == "same-origin"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert "camera=()" in headers["Permissions-Policy"]
    assert headers["Cross-Origin-Opener-Policy"] == "same-origin"
    assert headers["Cross-Origin-Resource-Policy"] == "same-origin"
    assert "Strict-Transport-Security" not in headers  # plain http: HSTS would be ignored


def test_hsts_only_over_https(client: FlaskClient) -> None:
    response = client.get("/", base_url="https://portal.example")
    assert "max-age=" in response.headers["Strict-Transport-Security"]


def test_static_files_may_be_cached(client: FlaskClient) -> None:
    response = client.get("/static/css/portal.css")
    assert response.status_code == 200
    assert response.headers.get("Cache-Control") != "no-store"


def test_pages_have_no_inline_script_or_style(client: FlaskClient) -> None:
    for path in PAGES:
        page = client.get(path).get_data(as_text=True)
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page), path
        assert " style=" not in page and "<style" not in page, path
        assert not re.search(r'(src|href)="(https?:)?//', page), path


def test_static_assets_load_nothing_from_elsewhere(app: Flask) -> None:
    static = Path(app.static_folder or "")
    for path in [*static.rglob("*.css"), *static.glob("js/*.js")]:
        text = path.read_text(encoding="utf-8")
        # No web fonts, images or scripts fetched from another origin, no network calls out.
        assert not re.search(r"url\(\s*['\"]?(https?:)?//", text), path
        assert not re.search(r"(fetch|XMLHttpRequest|importScripts)\([^)]*https?://", text), path
        assert "@import" not in text, path


def _sample_path(rule: str) -> str:
    path = re.sub(r"<int:[^>]+>", "1", rule)
    return re.sub(r"<(?:[^:>]+:)?([^>]+)>", "x", path).replace("/reports/x", "/reports/EB-X")


def test_every_post_route_refuses_a_request_without_csrf_token(
    app: Flask, officer_client: FlaskClient
) -> None:
    # Something to act upon, and a staff session so that login checks are not what refuses.
    anonymous = app.test_client()
    reference, _receipt = submit_and_get_receipt(anonymous)
    engine: Engine = app.extensions["db_engine"]
    before = _table_counts(engine)
    post_rules = [r for r in app.url_map.iter_rules() if "POST" in (r.methods or set())]
    assert len(post_rules) >= 5
    for rule in post_rules:
        path = _sample_path(rule.rule).replace("EB-X", reference)
        # Token routes of the partner API take no cookie, hence no CSRF token: a browser's
        # cookies alone are refused there as not signed in (401).
        expected = 401 if rule.rule.startswith("/api/") else 400
        for client in (anonymous, officer_client):
            response = client.post(path, data={"body": "x", "receipt": "1" * 16})
            assert response.status_code == expected, (rule.rule, response.status_code)
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))
    after = _table_counts(engine)
    # Nothing changed (sessions of staff may be touched by reads, never created by these posts).
    assert {k: v for k, v in after.items() if k != "staff_sessions"} == {
        k: v for k, v in before.items() if k != "staff_sessions"
    }
