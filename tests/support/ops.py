"""Running the ``portal`` command as an operator would, against one instance directory."""

from __future__ import annotations

import io
import os
import pty
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from http.cookiejar import Cookie, CookieJar
from pathlib import Path
from select import select as wait_readable

import pyotp
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.models import Report
from portal.services.accounts import create_officer
from tests.support.web import submit_and_get_receipt

ROOT = Path(__file__).resolve().parents[2]
PORTAL = Path(sys.executable).with_name("portal")


def portal_env(instance: Path, database_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
    env.update(
        PORTAL_INSTANCE_PATH=str(instance),
        PORTAL_DATABASE_URL=database_url,
        PORTAL_RECEIPT_ARGON2_TIME_COST="1",
        PORTAL_RECEIPT_ARGON2_MEMORY_KIB="256",
    )
    env.update(extra)
    return env


def run_portal(
    env: dict[str, str],
    *args: str,
    check: bool = True,
    cwd: Path | None = None,
    stdin: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run the installed ``portal`` command as an operator would."""
    result = subprocess.run(
        [str(PORTAL), *args],
        env=env,
        cwd=cwd or ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if check:
        assert result.returncode == 0, f"portal {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    return result


def run_portal_on_terminal(
    env: dict[str, str], *args: str, answers: list[str], timeout: float = 300
) -> tuple[int, str]:
    """Run ``portal`` on a terminal of its own (a pseudo-terminal, its controlling terminal, so
    ``getpass`` prompts there), typing each answer once a prompt (``...: ``) is shown.
    Returns the exit code and everything the terminal showed."""
    pid, fd = pty.fork()
    if pid == 0:  # the child becomes the command (exit status 127 if it cannot)
        try:
            os.chdir(ROOT)
            os.execve(str(PORTAL), [str(PORTAL), *args], env)
        finally:
            os._exit(127)
    shown, pending = b"", list(answers)
    deadline = time.monotonic() + timeout
    try:
        while wait_readable([fd], [], [], max(0.0, deadline - time.monotonic()))[0]:
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # EIO: the command exited and closed the terminal
                break
            if not chunk:
                break
            shown += chunk
            if pending and shown.endswith(b": "):
                os.write(fd, pending.pop(0).encode() + b"\n")
        else:
            os.kill(pid, signal.SIGKILL)
            raise AssertionError(f"portal {' '.join(args)} did not finish:\n{shown.decode()}")
    finally:
        os.close(fd)
        _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), shown.decode().replace("\r\n", "\n")


class Browser:
    """A cookie-keeping HTTP client for a live server (English pages, no redirects followed)."""

    def __init__(self, base: str, forwarded_for: str | None = None) -> None:
        self.base = base
        self.jar = CookieJar()
        self.jar.set_cookie(_cookie("lang", "en"))
        self.forwarded_for = forwarded_for
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.jar), _NoRedirect()
        )

    def request(
        self, path: str, data: dict[str, str] | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, bytes]:
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        all_headers = dict(headers or {})
        if self.forwarded_for:
            all_headers["X-Forwarded-For"] = self.forwarded_for
        req = urllib.request.Request(self.base + path, data=body, headers=all_headers)
        try:
            with self.opener.open(req, timeout=30) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    def csrf(self, path: str) -> str:
        status, page = self.request(path)
        match = re.search(rb'name="csrf_token" type="hidden" value="([^"]+)"', page)
        assert status == 200 and match, page[:500]
        return match.group(1).decode()

    def sign_in(self, username: str, password: str, totp_secret: str) -> None:
        token = self.csrf("/officer/login")
        status, page = self.request(
            "/officer/login", {"csrf_token": token, "username": username, "password": password}
        )
        assert status == 303, page[:500]
        token = self.csrf("/officer/login/code")
        code = pyotp.TOTP(totp_secret).now()
        status, page = self.request("/officer/login/code", {"csrf_token": token, "code": code})
        assert status == 303, page[:500]


def _cookie(name: str, value: str) -> Cookie:
    return Cookie(
        0, name, value, None, False, "127.0.0.1", False, False, "/", True, False, None,
        False, None, None, {},
    )  # fmt: skip


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def wait_until_up(base: str, server: subprocess.Popen[bytes], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            urllib.request.urlopen(base + "/healthz", timeout=2).close()
            return
        except OSError:
            assert server.poll() is None, "the server exited"
            assert time.monotonic() < deadline, "the server did not come up"
            time.sleep(0.2)


def stop(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is None:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


OFFICER = "amina"
OFFICER_PASSWORD = "correct horse battery staple"
# What an operator gives `portal backup` through PORTAL_BACKUP_PASSPHRASE (--passphrase-env).
BACKUP_PASSPHRASE = "seven sealed envelopes under the lime tree"


@dataclass
class Arranged:
    totp_secret: str
    # reference -> [(evidence id, original bytes)]
    evidence: dict[str, list[tuple[int, bytes]]] = field(default_factory=dict)
    descriptions: dict[str, str] = field(default_factory=dict)
    receipts: dict[str, str] = field(default_factory=dict)


def _jpeg(size: int) -> bytes:
    head = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    return head + os.urandom(size - len(head) - 2) + b"\xff\xd9"


def arrange_reports_with_evidence(app: Flask, db: Session, reports: int = 2) -> Arranged:
    """An officer of Casablanca and reports with evidence files, submitted through the form."""
    secret = pyotp.random_base32()
    create_officer(
        db,
        username=OFFICER,
        display_name="Amina",
        password=OFFICER_PASSWORD,
        role="officer",
        keyring=app.extensions["keyring"],
        password_hasher=app.extensions["password_hasher"],
        unit_codes=["CASABLANCA"],
        region_code=None,
        totp_secret=secret,
    )
    db.commit()
    arranged = Arranged(totp_secret=secret)
    client = app.test_client()
    for number in range(reports):
        description = f"Report {number}: someone threatens to publish my photos."
        photos = [_jpeg(150_000 + 1000 * number), _jpeg(3000)]
        uploads = [(io.BytesIO(content), f"photo{i}.jpg") for i, content in enumerate(photos)]
        reference, receipt = submit_and_get_receipt(
            client, description=description, evidence=uploads
        )
        arranged.receipts[reference] = receipt
        report = db.scalars(select(Report).where(Report.reference == reference)).one()
        rows = sorted(report.evidence, key=lambda row: row.id)
        assert [row.size for row in rows] == [len(p) for p in photos]
        arranged.evidence[reference] = [
            (row.id, content) for row, content in zip(rows, photos, strict=True)
        ]
        arranged.descriptions[reference] = description
    return arranged
