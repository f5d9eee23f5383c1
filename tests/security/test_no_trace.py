"""After a session of reports and follow-ups, neither the database nor any log holds the
reporter's address, user agent or receipt (invariant 1 and 2)."""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from http.cookiejar import CookieJar
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, inspect, select, table, text

from portal.logging_setup import file_handler
from tests.support.web import (
    csrf_token,
    free_port,
    open_follow_up,
    submit_and_get_receipt,
    valid_report,
)

ROOT = Path(__file__).resolve().parents[2]
IPV4 = "203.0.113.77"
IPV6 = "2001:db8::77"
USER_AGENT = "Mozilla/5.0 (Reporter-Trace-Probe-7f3a9c) Gecko/20100101 Firefox/128.0"


def _needles(receipts: list[str]) -> list[bytes]:
    values = [IPV4, IPV6, "2001:0db8:0000:0000:0000:0000:0000:0077", "Reporter-Trace-Probe-7f3a9c"]
    for receipt in receipts:
        values += [receipt, receipt.replace(" ", "")]
    return [value.encode() for value in values]


def _dump_database(engine: Engine) -> bytes:
    """Every column of every row of every table, as text and bytes."""
    chunks: list[bytes] = []
    with engine.connect() as connection:
        for name in inspect(engine).get_table_names():
            columns = [c["name"] for c in inspect(engine).get_columns(name)]
            query = select(*[text(f'"{c}"') for c in columns]).select_from(table(name))
            for row in connection.execute(query):
                for value in row:
                    if isinstance(value, bytes | bytearray | memoryview):
                        chunks.append(bytes(value))
                    elif value is not None:
                        chunks.append(str(value).encode())
    return b"\n".join(chunks)


def _files_under(path: Path) -> bytes:
    return b"\n".join(p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file())


def _assert_absent(haystack: bytes, needles: list[bytes], where: str) -> None:
    for needle in needles:
        assert needle not in haystack, f"{needle!r} found in {where}"


@pytest.fixture
def app_config(app_config: dict[str, object]) -> dict[str, object]:
    app_config.update(RATELIMIT_ENABLED=True, POW_DIFFICULTY_BITS=4)
    return app_config


@pytest.fixture
def log_file(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "portal.log"
    handler = file_handler(str(path))
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield path
    root.removeHandler(handler)
    root.setLevel(previous)
    handler.close()


def _reporter_session(client: FlaskClient, environ: dict[str, str]) -> str:
    client.environ_base.update(environ)
    _reference, receipt = submit_and_get_receipt(client)
    assert open_follow_up(client, "0000 0000 0000 0000").status_code == 400
    assert open_follow_up(client, receipt).status_code == 303
    token = csrf_token(client, "/follow-up")
    client.post("/follow-up/reply", data={"csrf_token": token, "body": "More details."})
    client.post("/follow-up/end", data={"csrf_token": csrf_token(client, "/follow-up")})
    # A honeypot-filled submission too: discarded, and leaving no trace either.
    client.post(
        "/report",
        data=valid_report(csrf_token=csrf_token(client, "/report"), website="spam"),
        content_type="multipart/form-data",
    )
    return receipt


def test_no_address_user_agent_or_receipt_in_database_or_logs(
    app: Flask, log_file: Path, instance_path: Path
) -> None:
    app.logger.setLevel(logging.DEBUG)
    receipts = []
    for address in (IPV4, IPV6):
        client = app.test_client()
        receipts.append(
            _reporter_session(client, {"REMOTE_ADDR": address, "HTTP_USER_AGENT": USER_AGENT})
        )
    engine: Engine = app.extensions["db_engine"]
    needles = _needles(receipts)
    database = _dump_database(engine)
    assert b"More details." not in database  # encrypted, like every reporter text
    _assert_absent(database, needles, "the database")
    _assert_absent(log_file.read_bytes(), needles, "the application log")
    # The raw files too: the SQLite file and its journal, the evidence store.
    engine.dispose()
    _assert_absent(_files_under(instance_path), needles, "the instance directory")


class _Browser:
    """A minimal cookie-keeping HTTP client that comes through a proxy as ``address``."""

    def __init__(self, base: str, address: str) -> None:
        self.base = base
        self.address = address
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(CookieJar()), _NoRedirect()
        )

    def request(self, path: str, data: dict[str, str] | None = None) -> tuple[int, str]:
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        req = urllib.request.Request(
            self.base + path,
            data=body,
            headers={"User-Agent": USER_AGENT, "X-Forwarded-For": self.address},
        )
        try:
            with self.opener.open(req, timeout=20) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    def token(self, path: str) -> str:
        _, page = self.request(path)
        match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
        assert match, page[:500]
        return match.group(1)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


@pytest.mark.slow
def test_gunicorn_access_log_and_database_hold_no_trace(
    instance_path: Path, database_url: str, tmp_path: Path
) -> None:
    port = free_port()
    env = dict(
        os.environ,
        PORTAL_INSTANCE_PATH=str(instance_path),
        PORTAL_DATABASE_URL=database_url,
        PORTAL_TRUSTED_PROXY_HOPS="1",
        PORTAL_BIND=f"127.0.0.1:{port}",
        PORTAL_WORKERS="2",
        PORTAL_RECEIPT_ARGON2_TIME_COST="1",
        PORTAL_RECEIPT_ARGON2_MEMORY_KIB="256",
        PORTAL_LOG_LEVEL="debug",
    )
    out = (tmp_path / "gunicorn.out").open("wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
        cwd=ROOT,
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    receipts: list[str] = []
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(base + "/healthz", timeout=2)
                break
            except OSError:
                assert time.monotonic() < deadline and server.poll() is None, "gunicorn down"
                time.sleep(0.2)
        for address in (IPV4, IPV6):
            browser = _Browser(base, address)
            data = valid_report(csrf_token=browser.token("/report"))
            status, _ = browser.request("/report", data)
            assert status == 303
            status, page = browser.request("/report/receipt")
            match = re.search(r'id="receipt">([\d ]+)<', page)
            assert status == 200 and match
            receipt = match.group(1)
            receipts.append(receipt)
            token = browser.token("/follow-up")
            entered = browser.request("/follow-up", {"csrf_token": token, "receipt": receipt})
            assert entered[0] == 303
            assert browser.request("/follow-up?next=x")[0] == 200
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
        out.close()
    log = (tmp_path / "gunicorn.out").read_bytes()
    assert b"POST /report HTTP/1.1" in log and b"POST /follow-up HTTP/1.1" in log
    needles = _needles(receipts)
    _assert_absent(log, needles, "the gunicorn log")
    from portal.db import make_engine

    engine = make_engine(database_url)
    try:
        _assert_absent(_dump_database(engine), needles, "the database")
    finally:
        engine.dispose()
