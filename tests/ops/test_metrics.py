"""``/metrics``: who may read it, what it counts (across gunicorn workers), what it never shows;
and the request id carried by every log line of a request."""

from __future__ import annotations

import io
import json
import logging
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from portal import create_app
from portal.logging_setup import file_handler
from tests.support.ops import ROOT, Browser, portal_env, stop, wait_until_up
from tests.support.web import free_port, submit_and_get_receipt, valid_report

OUTSIDE = "203.0.113.7"


def _metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample (0 when absent)."""
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if all(f'{key}="{value}"' in line for key, value in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


@pytest.fixture
def make_app(app_config: dict[str, object]) -> Iterator[object]:
    built: list[Flask] = []

    def make(**overrides: object) -> Flask:
        application = create_app({**app_config, **overrides})
        built.append(application)
        return application

    yield make
    for application in built:
        application.extensions["db_engine"].dispose()


def _scrape(client: FlaskClient, address: str = "127.0.0.1", **headers: str) -> int:
    response = client.get("/metrics", headers=headers, environ_base={"REMOTE_ADDR": address})
    return response.status_code


def test_only_loopback_reads_metrics_by_default(make_app) -> None:  # type: ignore[no-untyped-def]
    client = make_app().test_client()
    assert _scrape(client) == 200
    assert _scrape(client, "::1") == 200
    assert _scrape(client, OUTSIDE) == 404
    assert _scrape(client, OUTSIDE, Authorization="Bearer anything") == 404
    # Relayed by a proxy the configuration does not trust: judged as a stranger.
    assert _scrape(client, **{"X-Forwarded-For": "127.0.0.1"}) == 404


def test_behind_a_trusted_proxy_the_forwarded_client_decides(make_app) -> None:  # type: ignore[no-untyped-def]
    client = make_app(TRUSTED_PROXY_HOPS=1).test_client()
    # The public, through the proxy on loopback.
    assert _scrape(client, **{"X-Forwarded-For": OUTSIDE}) == 404
    # A client's forged entry on the left is not believed either.
    assert _scrape(client, **{"X-Forwarded-For": f"127.0.0.1, {OUTSIDE}"}) == 404
    # The scraper on the host itself, straight to gunicorn.
    assert _scrape(client) == 200


def test_an_allow_list_or_a_bearer_token_opens_it_to_others(make_app) -> None:  # type: ignore[no-untyped-def]
    client = make_app(
        METRICS_ALLOW=["10.0.0.0/8"], METRICS_TOKEN="s3cret-token-value"
    ).test_client()
    assert _scrape(client, "10.20.30.40") == 200
    assert _scrape(client) == 404  # loopback is no longer listed
    assert _scrape(client, OUTSIDE) == 404
    assert _scrape(client, OUTSIDE, Authorization="Bearer wrong") == 404
    assert _scrape(client, OUTSIDE, Authorization="Bearer s3cret-token-value") == 200


def test_uploads_are_counted(make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app()
    client = app.test_client()
    before = client.get("/metrics").get_data(as_text=True)
    photo = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + bytes(5000)
    evidence = [
        (io.BytesIO(photo + b"\xff\xd9"), "a.jpg"),
        (io.BytesIO(photo + b"\xff\xd9"), "b.jpg"),
    ]
    submit_and_get_receipt(client, evidence=evidence)
    after = client.get("/metrics").get_data(as_text=True)
    kept = "portal_evidence_files_total"
    assert _metric(after, kept, outcome="kept") - _metric(before, kept, outcome="kept") == 2
    grown = _metric(after, "portal_evidence_bytes_total") - _metric(
        before, "portal_evidence_bytes_total"
    )
    assert grown == 2 * (len(photo) + 2)


def test_every_log_line_of_a_request_carries_its_id(make_app, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    app = make_app()
    logger = logging.getLogger("portal.tests.request")

    @app.get("/tests/logs-twice")
    def logs_twice() -> str:
        logger.warning("first line from 192.0.2.44")
        logger.warning("second line")
        return "ok"

    handler = file_handler(str(tmp_path / "log.jsonl"))
    logger.addHandler(handler)
    try:
        client = app.test_client()
        # A server closes every response before the next one; the id is forgotten then.
        first = client.get("/tests/logs-twice")
        first.close()
        second = client.get("/tests/logs-twice", headers={"X-Request-ID": "chosen-by-client"})
        second.close()
        logger.warning("outside any request")
    finally:
        logger.removeHandler(handler)
        handler.close()
    lines = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    ids = [first.headers["X-Request-ID"], second.headers["X-Request-ID"]]
    assert ids[0] != ids[1] and "chosen-by-client" not in ids  # no proxy is trusted here
    assert [line.get("request_id") for line in lines] == [ids[0], ids[0], ids[1], ids[1], None]
    assert lines[0]["message"] == "first line from [addr]"


@pytest.mark.slow
def test_metrics_across_gunicorn_workers_after_a_report_a_429_and_a_404(
    instance_path: Path, database_url: str, tmp_path: Path
) -> None:
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    port = free_port()
    env = portal_env(
        instance_path,
        database_url,
        PORTAL_EVIDENCE_STORE=f"file://{instance_path / 'evidence'}",
        PORTAL_BIND=f"127.0.0.1:{port}",
        PORTAL_WORKERS="2",
        PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
    )
    log = (tmp_path / "gunicorn.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(base, server)
        reporter = Browser(base)
        status, _ = reporter.request("/report", valid_report(csrf_token=reporter.csrf("/report")))
        assert status == 303
        status, page = reporter.request("/report/receipt")
        reference = re.search(rb'class="reference"[^>]*>(EB-[0-9A-Z-]+)<', page)
        receipt = re.search(rb'id="receipt">([\d ]+)<', page)
        assert status == 200 and reference and receipt

        for _ in range(3):
            assert Browser(base).request(f"/officer/reports/{reference.group(1).decode()}x")[0] in (
                302,
                303,
                404,
            )
            assert Browser(base).request("/no-such-page/EB-ABCD-EFGH")[0] == 404
        guesser = Browser(base)
        statuses = []
        while 429 not in statuses:
            assert len(statuses) < 80, statuses
            token = guesser.csrf("/follow-up")
            statuses.append(
                guesser.request(
                    "/follow-up", {"csrf_token": token, "receipt": "1234 5678 9012 3456"}
                )[0]
            )
        refused_from_outside = reporter.request("/metrics", headers={"X-Forwarded-For": OUTSIDE})
        assert refused_from_outside[0] == 404

        status, body = reporter.request("/metrics")
        assert status == 200
    finally:
        stop(server)
        log.close()
    text = body.decode()
    counted = _metric(text, "portal_http_requests_total", endpoint="none", status="404")
    assert counted == 3  # every worker's requests, summed
    assert _metric(text, "portal_http_requests_total", method="POST", status="303") >= 1
    assert _metric(text, "portal_http_requests_total", status="429") >= 1
    assert _metric(text, "portal_http_rate_limited_total") >= 1
    assert _metric(text, "portal_http_request_duration_seconds_count") > 0
    assert "portal_job_queue_depth 0.0" in text
    for needle in (reference.group(1), receipt.group(1), b"EB-", b"127.0.0.1", OUTSIDE.encode()):
        assert needle.decode() not in text
    assert not re.search(r"\d+\.\d+\.\d+\.\d+", text.replace("0.0", ""))

    lines = [json.loads(line) for line in (tmp_path / "gunicorn.log").read_text().splitlines()]
    access = [line for line in lines if line["logger"] == "gunicorn.access"]
    assert access and all(re.fullmatch(r"[0-9a-f]{16}", line["request_id"]) for line in access)
