"""A server killed in the middle of an upload leaves nothing: no blob, no partial file, no row."""

from __future__ import annotations

import http.client
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import func, select

from portal.db import make_engine, make_session_factory
from portal.models import Evidence, Report
from portal.storage.blobs import INCOMING_DIRNAME, FileBlobStore
from tests.support.evidence import jpeg
from tests.support.web import free_port, valid_report

BOUNDARY = "----portal-crash-test"


def _multipart_head(fields: dict[str, str]) -> bytes:
    return b"".join(
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    )


def _file_part(name: str) -> bytes:
    return (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="evidence"; '
        f'filename="{name}"\r\nContent-Type: image/jpeg\r\n\r\n'
    ).encode()


def _wait_until_up(port: int, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/healthz")
            if connection.getresponse().status == 200:
                return
        except OSError:
            pass
        assert time.monotonic() < deadline and server.poll() is None, "server did not start"
        time.sleep(0.2)


def _form_token(port: int) -> tuple[str, str]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("GET", "/report")
    response = connection.getresponse()
    page = response.read().decode()
    cookie = (response.getheader("Set-Cookie") or "").split(";", 1)[0]
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    assert match and cookie
    return match.group(1), cookie


def test_killing_the_server_mid_upload_leaves_nothing_behind(
    instance_path: Path, database_url: str, tmp_path: Path
) -> None:
    port = free_port()
    env = dict(
        os.environ,
        PORTAL_INSTANCE_PATH=str(instance_path),
        PORTAL_DATABASE_URL=database_url,
        PORTAL_EVIDENCE_STORE=f"file://{instance_path / 'evidence'}",
    )
    log = (tmp_path / "server.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "portal", "run", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        _wait_until_up(port, server)
        token, cookie = _form_token(port)
        # The first file arrives whole; the second is cut off half-way when the server dies.
        head = _multipart_head(valid_report(csrf_token=token))
        first = _file_part("first.jpg") + jpeg(2 * 1024 * 1024) + b"\r\n"
        second_head, second = _file_part("second.jpg"), jpeg(4 * 1024 * 1024)
        tail = f"\r\n--{BOUNDARY}--\r\n".encode()
        length = len(head) + len(first) + len(second_head) + len(second) + len(tail)
        upload = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        upload.putrequest("POST", "/report")
        upload.putheader("Content-Type", f"multipart/form-data; boundary={BOUNDARY}")
        upload.putheader("Content-Length", str(length))
        upload.putheader("Cookie", cookie)
        upload.endheaders()
        upload.send(head + first + second_head + second[: len(second) // 2])
        time.sleep(1.5)  # the server has received, checked and sealed the first file
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=10)
        upload.close()
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=10)
        log.close()

    store = FileBlobStore(instance_path / "evidence")
    assert list(store.keys()) == []
    assert list((store.root / INCOMING_DIRNAME).iterdir()) == []
    engine = make_engine(database_url)
    try:
        with make_session_factory(engine)() as session:
            assert session.scalar(select(func.count()).select_from(Report)) == 0
            assert session.scalar(select(func.count()).select_from(Evidence)) == 0
    finally:
        engine.dispose()
