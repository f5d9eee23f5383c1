"""The documented production shape, as deployed (invariant 8): the installed wheel under
gunicorn with the packaged settings, PostgreSQL, Redis, and nginx with the checked-in recipe
terminating TLS with a self-signed certificate. Over https: Chromium submits a report with
evidence, follows it up with the receipt, signs an officer in with TOTP and downloads the
evidence; a phone uploads 20 MiB more slowly than the old worker timeout allowed; /healthz
answers while slow clients hold connections; and nothing of the uploaded file is anywhere on
disk in clear.

Runs with PORTAL_TEST_DATABASE_URL (PostgreSQL) and PORTAL_TEST_REDIS_URL; without nginx,
Chromium or those services it is skipped, and PORTAL_REQUIRE_BROWSER=1 makes that a failure.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import socket
import ssl
import time
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyotp
import pytest
from sqlalchemy import Engine, select, text, update

from portal.models import Evidence, Officer, Report
from portal.services.demo import DEMO_ACCOUNTS
from tests.support.deployment import (
    NGINX,
    Installed,
    Nginx,
    Portal,
    files_containing,
    free_port,
    gunicorn_serving,
    missing,
    nginx_in_front,
    open_files_containing,
    portal_environment,
    process_tree,
    run_portal,
    self_signed_certificate,
)
from tests.support.reporter_flows import (
    fill_sextortion_report,
    open_follow_up,
    send_report,
    write_png,
)
from tests.support.web import valid_report

TEST_DATABASE_URL = os.environ.get("PORTAL_TEST_DATABASE_URL", "")
TEST_REDIS_URL = os.environ.get("PORTAL_TEST_REDIS_URL", "")
OFFICER = next(a for a in DEMO_ACCOUNTS if a.username == "casablanca")
UPLOAD_SIZE = 20 * 1024 * 1024
# Slower than the 60 s after which the old sync workers were killed, fast enough for CI.
UPLOAD_SECONDS = 70
CHUNK = 64 * 1024


@dataclass
class Deployment:
    portal: Portal
    nginx: Nginx
    engine: Engine
    workdir: Path
    started: float

    @property
    def url(self) -> str:
        return self.nginx.url


def _unverified() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


@pytest.fixture(scope="module")
def deployment(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    postgres_engine: Engine | None,
) -> Iterator[Deployment]:
    if not TEST_DATABASE_URL.startswith("postgresql") or postgres_engine is None:
        pytest.skip("the production shape runs on PostgreSQL: set PORTAL_TEST_DATABASE_URL")
    if not TEST_REDIS_URL:
        pytest.skip(
            "the production shape shares its limits through Redis: set PORTAL_TEST_REDIS_URL"
        )
    if not Path(NGINX).exists():
        missing(f"nginx not found at {NGINX} (apt-get install nginx-light)")
    import redis

    try:
        store = redis.Redis.from_url(TEST_REDIS_URL)
        store.flushdb()  # limits counted by earlier runs must not refuse this one
    except redis.RedisError as error:
        missing(f"Redis at {TEST_REDIS_URL} is not reachable: {error}")
    _empty_case_tables(postgres_engine)
    # Built and installed only once everything else is known to be there.
    installed: Installed = request.getfixturevalue("installed")

    started = time.time()
    workdir = tmp_path_factory.mktemp("production")
    cert, key = self_signed_certificate(workdir)
    env = portal_environment(
        workdir,
        database_url=TEST_DATABASE_URL,
        redis_url=TEST_REDIS_URL,
        bind=f"127.0.0.1:{free_port()}",
        hops=1,
    )
    run_portal(installed, workdir, env, "init")
    run_portal(installed, workdir, env, "demo", "--reports", "3")
    with (
        gunicorn_serving(installed, workdir, env) as portal,
        nginx_in_front(
            workdir / "nginx",
            upstream=portal.bind,
            cert=cert,
            key=key,
            static=installed.static_dir(),
        ) as nginx,
    ):
        yield Deployment(portal, nginx, postgres_engine, workdir, started)
    _empty_case_tables(postgres_engine)


def _empty_case_tables(engine: Engine) -> None:
    from sqlalchemy import inspect

    keep = {"regions", "subdivisions", "units", "routing_rules", "alembic_version"}
    tables = [t for t in inspect(engine).get_table_names() if t not in keep]
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))


def _allow_sign_in(engine: Engine) -> None:
    # A TOTP code is accepted once: a second sign-in in the same 30 s needs the counter reset.
    with engine.begin() as connection:
        connection.execute(
            update(Officer)
            .where(Officer.username == OFFICER.username)
            .values(totp_last_counter=None)
        )


# --- 1. a reporter and an officer in Chromium, over https ------------------------------------


def test_reporter_and_officer_in_chromium_over_https(
    deployment: Deployment, browser: Any, tmp_path: Path
) -> None:
    context = browser.new_context(
        base_url=deployment.url, ignore_https_errors=True, locale="en-GB", accept_downloads=True
    )
    context.set_default_timeout(30_000)
    context.add_cookies([{"name": "lang", "value": "en", "url": deployment.url}])
    try:
        reporter = context.new_page()
        response = reporter.goto("/report")
        assert response.status == 200
        assert response.headers["referrer-policy"] == "same-origin"
        assert "max-age=" in response.headers["strict-transport-security"]
        screenshot = write_png(tmp_path / "screenshot.png")
        fill_sextortion_report(reporter, evidence=screenshot)
        reference, receipt = send_report(reporter)
        assert re.fullmatch(r"EB-[0-9A-Z-]+", reference)

        open_follow_up(reporter, receipt)
        assert reference in reporter.content()

        officer = context.browser.new_context(
            base_url=deployment.url, ignore_https_errors=True, accept_downloads=True
        )
        officer.set_default_timeout(30_000)
        officer.add_cookies([{"name": "lang", "value": "en", "url": deployment.url}])
        page = officer.new_page()
        _allow_sign_in(deployment.engine)
        page.goto("/officer/login")
        page.fill("input[name=username]", OFFICER.username)
        page.fill("input[name=password]", OFFICER.password)
        page.locator("main form button[type=submit]").click()
        page.wait_for_selector("input[name=code]")
        page.fill("input[name=code]", pyotp.TOTP(OFFICER.totp_secret).now())
        page.locator("main form button[type=submit]").click()
        page.wait_for_selector("table.queue, .queue-filters")
        # The staff session cookie only ever travels over https.
        cookies = {c["name"]: c for c in officer.cookies()}
        assert cookies["portal_session"]["secure"] is True

        page.goto(f"/officer/reports/{reference}")
        with page.expect_download() as download:
            page.locator("#evidence .evidence-facts a").first.click()
        saved = download.value.path()
        assert Path(saved).read_bytes() == screenshot.read_bytes()
        officer.close()
    finally:
        context.close()
    log = deployment.portal.log.read_text()
    assert "CSRF check refused" not in log


# --- 2. a slow phone: 20 MiB over 70 s, then nothing of it anywhere on disk -------------------


class HttpsClient:
    """Cookies and CSRF tokens over one TLS connection to nginx, as a browser would."""

    def __init__(self, url: str) -> None:
        parsed = urllib.parse.urlsplit(url)
        self.origin = url
        self.host, self.port = parsed.hostname or "", parsed.port or 443
        self.cookies: dict[str, str] = {}
        self.connection = http.client.HTTPSConnection(
            self.host, self.port, context=_unverified(), timeout=120
        )

    def _headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        headers.update(extra or {})
        return headers

    def _keep_cookies(self, response: http.client.HTTPResponse) -> None:
        for value in response.headers.get_all("Set-Cookie") or []:
            name, _, rest = value.partition("=")
            self.cookies[name] = rest.split(";", 1)[0]

    def get(self, path: str) -> tuple[int, bytes, http.client.HTTPResponse]:
        self.connection.request("GET", path, headers=self._headers())
        response = self.connection.getresponse()
        self._keep_cookies(response)
        return response.status, response.read(), response

    def token(self, path: str) -> str:
        _, page, _ = self.get(path)
        match = re.search(rb'name="csrf_token" type="hidden" value="([^"]+)"', page)
        assert match, page[:300]
        return match.group(1).decode()

    def post_form(self, path: str, fields: dict[str, str]) -> http.client.HTTPResponse:
        body = urllib.parse.urlencode(fields).encode()
        headers = self._headers(
            {
                "Content-Type": "application/x-www-form-urlencoded",
                "Referer": f"{self.origin}{path}",
                "Origin": self.origin,
            }
        )
        self.connection.request("POST", path, body=body, headers=headers)
        response = self.connection.getresponse()
        self._keep_cookies(response)
        response.read()
        return response


def _multipart(fields: dict[str, str], boundary: str) -> tuple[bytes, bytes]:
    head = b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    )
    head += (
        f'--{boundary}\r\nContent-Disposition: form-data; name="evidence"; '
        f'filename="video-call.jpg"\r\nContent-Type: image/jpeg\r\n\r\n'
    ).encode()
    return head, f"\r\n--{boundary}--\r\n".encode()


def _throttled_upload(
    client: HttpsClient, payload: bytes, halfway: Callable[[], None]
) -> http.client.HTTPResponse:
    fields = dict(valid_report(), csrf_token=client.token("/report"))
    boundary = "----phone-upload-5f1c"
    head, tail = _multipart(fields, boundary)
    connection = client.connection
    connection.putrequest("POST", "/report")
    for name, value in client._headers(
        {
            "Content-Type": f"multipart/form-data; boundary={boundary}",
            "Content-Length": str(len(head) + len(payload) + len(tail)),
            "Referer": f"{client.origin}/report",
            "Origin": client.origin,
        }
    ).items():
        connection.putheader(name, value)
    connection.endheaders()
    connection.send(head)
    start = time.monotonic()
    rate = len(payload) / UPLOAD_SECONDS
    for offset in range(0, len(payload), CHUNK):
        connection.send(payload[offset : offset + CHUNK])
        if offset <= len(payload) // 2 < offset + CHUNK:
            halfway()
        # Never ahead of a phone sending `rate` bytes a second.
        ahead = (offset + CHUNK) / rate - (time.monotonic() - start)
        if ahead > 0:
            time.sleep(ahead)
    connection.send(tail)
    response = connection.getresponse()
    client._keep_cookies(response)
    response.read()
    return response


def _officer_client(deployment: Deployment) -> HttpsClient:
    _allow_sign_in(deployment.engine)
    client = HttpsClient(deployment.url)
    step = client.post_form(
        "/officer/login",
        {
            "csrf_token": client.token("/officer/login"),
            "username": OFFICER.username,
            "password": OFFICER.password,
        },
    )
    assert step.status == 303
    step = client.post_form(
        "/officer/login/code",
        {
            "csrf_token": client.token("/officer/login/code"),
            "code": pyotp.TOTP(OFFICER.totp_secret).now(),
        },
    )
    assert step.status == 303
    return client


def test_a_slow_phone_uploads_20_mib_and_nothing_of_it_is_on_disk_in_clear(
    deployment: Deployment,
) -> None:
    # Random bytes behind a JPEG header: any 48 bytes of it occur nowhere else.
    payload = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + os.urandom(UPLOAD_SIZE - 13) + b"\xff\xd9"
    needles = [payload[i : i + 48] for i in (4096, UPLOAD_SIZE // 2, UPLOAD_SIZE - 4096)]
    servers = [deployment.nginx.process, deployment.portal.process]
    held: list[str] = []

    def look_at_open_files() -> None:
        # Mid-upload: what nginx and gunicorn hold open, deleted temporary files included.
        time.sleep(1)
        pids = [pid for server in servers if server for pid in process_tree(server.pid)]
        assert len(pids) >= 4  # both masters and their workers
        held.extend(open_files_containing(pids, needles[:1]))

    reporter = HttpsClient(deployment.url)
    started = time.monotonic()
    response = _throttled_upload(reporter, payload, look_at_open_files)
    elapsed = time.monotonic() - started
    assert elapsed > 60  # what a sync worker's timeout would have killed
    assert response.status == 303, response.status
    assert held == []
    status, page, _ = reporter.get("/report/receipt")
    reference = re.search(rb'class="reference"[^>]*>(EB-[0-9A-Z-]+)<', page)
    assert status == 200 and reference and re.search(rb'id="receipt">[\d ]+<', page)

    with deployment.engine.connect() as connection:
        report_id = connection.execute(
            select(Report.id).where(Report.reference == reference.group(1).decode())
        ).scalar_one()
        stored = connection.execute(
            select(Evidence.size, Evidence.sha256).where(Evidence.report_id == report_id)
        ).one()
    assert stored.size == len(payload)
    assert stored.sha256 == hashlib.sha256(payload).hexdigest()

    # The officer downloads it through nginx, reading slowly at first: nginx must hold the
    # decrypted response in memory, never in a temporary file.
    officer = _officer_client(deployment)
    _, case_page, _ = officer.get(f"/officer/reports/{reference.group(1).decode()}")
    link = re.search(rb'href="(/officer/reports/[^"]+/evidence/\d+)"', case_page)
    assert link, case_page[:500]
    officer.connection.request("GET", link.group(1).decode(), headers=officer._headers())
    download = officer.connection.getresponse()
    assert download.status == 200
    time.sleep(3)
    nginx_pids = process_tree(deployment.nginx.process.pid)  # type: ignore[union-attr]
    assert open_files_containing(nginx_pids, needles) == []
    digest = hashlib.sha256()
    while chunk := download.read(1 << 20):
        digest.update(chunk)
    assert digest.hexdigest() == hashlib.sha256(payload).hexdigest()

    # The search finds the file where it is (a control), then nowhere it must not be.
    control = deployment.workdir / "control.bin"
    control.write_bytes(payload[:8192])
    assert files_containing([deployment.workdir], needles) == [str(control)]
    control.unlink()
    places = [
        *deployment.nginx.temp_dirs,
        deployment.nginx.logs,
        deployment.portal.instance,
        deployment.workdir,
        Path("/var/lib/nginx"),
    ]
    assert files_containing(places, needles) == []
    # And anything written anywhere in /tmp and /var/tmp since the deployment started.
    recent = [Path("/tmp"), Path("/var/tmp")]
    assert files_containing(recent, needles, since=deployment.started) == []


# --- 3. slow clients and oversized bodies at the proxy ---------------------------------------


def _tls(deployment: Deployment) -> ssl.SSLSocket:
    raw = socket.create_connection(("127.0.0.1", deployment.nginx.https_port), timeout=30)
    return _unverified().wrap_socket(raw, server_hostname="127.0.0.1")


def _status(sock: ssl.SSLSocket) -> bytes:
    return sock.recv(4096).split(b"\r\n", 1)[0]


def test_slow_clients_cannot_take_the_portal_down(deployment: Deployment) -> None:
    host = f"127.0.0.1:{deployment.nginx.https_port}"
    with ExitStack() as stack:
        # Slow uploads: each announces 10 MiB and trickles; each holds a gunicorn thread.
        uploads = []
        for _ in range(8):
            sock = stack.enter_context(_tls(deployment))
            sock.sendall(
                f"POST /report HTTP/1.1\r\nHost: {host}\r\n"
                "Content-Type: multipart/form-data; boundary=x\r\n"
                f"Content-Length: {10 * 1024 * 1024}\r\n\r\n--x\r\n".encode()
            )
            uploads.append(sock)
        # Slow heads: never finish their request line.
        for _ in range(8):
            sock = stack.enter_context(_tls(deployment))
            sock.sendall(b"GET /report HTTP/1.1\r\nHost: ")
        time.sleep(2)
        probe = HttpsClient(deployment.url)
        for _ in range(3):
            for sock in uploads:
                sock.sendall(b"x")
            status, body, _ = probe.get("/healthz")
            assert status == 200 and b"ok" in body
            status, _, _ = probe.get("/report")
            assert status == 200
            time.sleep(1)

    # A body declared over the limit is refused by nginx before any of it is sent.
    with _tls(deployment) as sock:
        sock.sendall(
            f"POST /report HTTP/1.1\r\nHost: {host}\r\n"
            "Content-Type: multipart/form-data; boundary=x\r\n"
            f"Content-Length: {10**12}\r\n\r\n".encode()
        )
        assert _status(sock).startswith(b"HTTP/1.1 413")

    # The proxy's own access log names no client.
    access = (deployment.nginx.logs / "portal.access.log").read_text()
    assert "127.0.0.1" not in access and "/healthz" in access


def test_plain_http_only_redirects_to_https(deployment: Deployment) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", deployment.nginx.http_port, timeout=20)
    connection.request("GET", "/report?x=1")
    response = connection.getresponse()
    assert response.status == 301
    assert response.headers["Location"].startswith("https://")


def test_static_files_are_served_by_nginx_for_a_year(deployment: Deployment) -> None:
    client = HttpsClient(deployment.url)
    _, page, _ = client.get("/report")
    href = re.search(rb'href="(/static/css/portal\.css\?v=[0-9a-f]+)"', page)
    assert href
    status, body, response = client.get(href.group(1).decode())
    assert status == 200 and body
    assert "max-age=31536000" in response.headers["Cache-Control"]
    assert "no-store" not in response.headers["Cache-Control"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    # Served from disk by nginx: gunicorn never saw the request.
    assert "/static/css/portal.css" not in deployment.portal.log.read_text()
