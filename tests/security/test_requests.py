"""Hostile requests: open redirects, oversized and malformed bodies, sessions and lockout."""

from __future__ import annotations

import io

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.models import Report
from tests.support.staff import code_for, try_sign_in
from tests.support.web import csrf_token, submit_and_get_receipt, valid_report

EVIL_TARGETS = [
    "https://evil.example/",
    "//evil.example/",
    "/\\evil.example/",
    "\\\\evil.example",
    "http:/evil.example",
    "/%2F%2Fevil.example",
    "javascript:alert(1)",
    " //evil.example",
    "/\t/evil.example",
]


def _lands_off_site(location: str) -> bool:
    from urllib.parse import urlsplit

    cleaned = location.replace("\t", "").replace("\\", "/").strip()
    parts = urlsplit(cleaned)
    return (
        bool(parts.netloc) or parts.scheme not in ("", "http", "https") or cleaned.startswith("//")
    )


@pytest.mark.parametrize("target", EVIL_TARGETS)
def test_language_switch_never_redirects_off_site(client: FlaskClient, target: str) -> None:
    response = client.get("/language/fr", query_string={"next": target})
    assert response.status_code in (302, 303)
    assert not _lands_off_site(response.headers["Location"]), response.headers["Location"]


@pytest.mark.parametrize("target", EVIL_TARGETS)
def test_officer_login_never_redirects_off_site(
    app: Flask, officer_name: str, officer_secret: str, target: str
) -> None:
    client = app.test_client()
    token = csrf_token(client, "/officer/login")
    response = client.post(
        "/officer/login",
        query_string={"next": target},
        data={
            "csrf_token": token,
            "username": officer_name,
            "password": "correct horse battery staple",
        },
    )
    assert response.status_code == 303
    response = client.post(
        "/officer/login/code",
        data={
            "csrf_token": csrf_token(client, "/officer/login/code"),
            "code": code_for(officer_secret),
        },
    )
    assert response.status_code == 303
    assert not _lands_off_site(response.headers["Location"]), response.headers["Location"]


def _count(db: Session) -> int:
    db.expire_all()
    return int(db.scalar(select(func.count()).select_from(Report)) or 0)


def test_oversized_body_is_refused_with_413(app: Flask, client: FlaskClient, db: Session) -> None:
    token = csrf_token(client, "/report")
    limit = int(app.config["MAX_FORM_MEMORY_SIZE"])
    response = client.post(
        "/report",
        data=valid_report(csrf_token=token, description="x" * (limit + 10)),
        content_type="multipart/form-data",
    )
    assert response.status_code in (400, 413)
    assert _count(db) == 0


def test_request_over_the_content_length_limit_is_refused(app: Flask, client: FlaskClient) -> None:
    token = csrf_token(client, "/follow-up")
    size = int(app.config.get("MAX_CONTENT_LENGTH") or 400 * 1024 * 1024) + 1
    response = client.post(
        "/follow-up",
        data=b"receipt=1&csrf_token=" + token.encode(),
        content_type="application/x-www-form-urlencoded",
        environ_overrides={"CONTENT_LENGTH": str(size)},
    )
    # Refused from its declared length alone, before the body is read.
    assert response.status_code == 413


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("multipart/form-data; boundary=xyz", b"--xyz\r\nContent-Disposition: form-data\r\n\r\n"),
        ("multipart/form-data; boundary=xyz", b"garbage without any boundary"),
        ("multipart/form-data", b"--x\r\n\r\n--x--"),
        ("multipart/form-data; boundary=" + "a" * 300, b"--" + b"a" * 300 + b"\r\n"),
        (
            "multipart/form-data; boundary=b",
            b'--b\r\nContent-Disposition: form-data; name="evidence"; filename="a.png"\r\n'
            b"Content-Type: image/png\r\n\r\n\x89PNG truncated",
        ),
        ("application/x-www-form-urlencoded", b"%%%%&&&==;;\xff\xfe"),
        ("application/json", b'{"category": "fraud"'),
    ],
)
def test_malformed_bodies_never_cause_a_server_error(
    client: FlaskClient, db: Session, content_type: str, body: bytes
) -> None:
    for path in ("/report", "/follow-up", "/officer/login"):
        response = client.post(path, data=body, content_type=content_type)
        assert 400 <= response.status_code < 500, (path, response.status_code)
    assert _count(db) == 0


def test_ten_thousand_form_parts_are_refused(client: FlaskClient, db: Session) -> None:
    token = csrf_token(client, "/report")
    data = valid_report(csrf_token=token)
    fields = [(key, value) for key, value in data.items()]
    fields += [(f"f{n}", "x") for n in range(10_000)]
    boundary = "partsbound"
    chunks = []
    for name, value in fields:
        chunks.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        )
    chunks.append(f"--{boundary}--\r\n")
    response = client.post(
        "/report",
        data="".join(chunks).encode(),
        content_type=f"multipart/form-data; boundary={boundary}",
    )
    assert response.status_code == 413
    urlencoded = "&".join(f"f{n}=x" for n in range(10_000))
    response = client.post(
        "/follow-up", data=urlencoded, content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code in (400, 413)
    assert _count(db) == 0


def test_a_large_evidence_file_is_refused_without_a_server_error(
    app: Flask, client: FlaskClient
) -> None:
    token = csrf_token(client, "/report")
    too_big = int(app.config["EVIDENCE_MAX_FILE_SIZE"]) // 50 + 1
    app.config["EVIDENCE_MAX_FILE_SIZE"] = too_big - 1
    data = valid_report(csrf_token=token)
    data["evidence"] = (io.BytesIO(b"\x89PNG\r\n\x1a\n" + b"0" * too_big), "big.png")
    response = client.post("/report", data=data, content_type="multipart/form-data")
    assert response.status_code in (303, 400, 413)


def test_officer_lockout_after_repeated_failures(
    app: Flask, officer_name: str, officer_secret: str
) -> None:
    client = app.test_client()
    threshold = int(app.config["STAFF_LOCKOUT_THRESHOLD"])
    for _ in range(threshold):
        response = client.post(
            "/officer/login",
            data={
                "csrf_token": csrf_token(client, "/officer/login"),
                "username": officer_name,
                "password": "wrong password, again",
            },
        )
        assert response.status_code == 400
    # Locked: even the right password and code do not get in, and the answer is the same.
    assert try_sign_in(client, officer_name, officer_secret) == 400


def test_session_fixation_a_planted_session_is_not_kept(
    app: Flask, officer_name: str, officer_secret: str
) -> None:
    attacker = app.test_client()
    attacker.get("/officer/login")
    planted = attacker.get_cookie(app.config["SESSION_COOKIE_NAME"])
    victim = app.test_client()
    if planted is not None:
        victim.set_cookie(app.config["SESSION_COOKIE_NAME"], planted.value)
    assert try_sign_in(victim, officer_name, officer_secret) == 303
    signed_in = victim.get_cookie(app.config["SESSION_COOKIE_NAME"])
    assert signed_in is not None
    assert planted is None or signed_in.value != planted.value
    # The attacker's copy of the cookie does not give access to the queue.
    response = attacker.get("/officer/")
    assert response.status_code in (302, 303)


def test_reporter_follow_up_session_is_new_after_entering_a_receipt(client: FlaskClient) -> None:
    _reference, receipt = submit_and_get_receipt(client)
    before = client.get_cookie("portal_session")
    client.post(
        "/follow-up", data={"csrf_token": csrf_token(client, "/follow-up"), "receipt": receipt}
    )
    after = client.get_cookie("portal_session")
    assert after is not None and (before is None or after.value != before.value)
    assert receipt.replace(" ", "") not in after.value
