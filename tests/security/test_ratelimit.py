"""Rate limits as an attacker meets them: floods and guessing end in a translated 429."""

from __future__ import annotations

import logging
import os
import socket
import threading
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.models import Report
from portal.web import pow as proof_of_work
from portal.web.ratelimit import hashed_account, hashed_client, network_of
from tests.support.web import csrf_token, open_follow_up, submit_report

REDIS_URL = os.environ.get("PORTAL_TEST_REDIS_URL")
ADDR = {"REMOTE_ADDR": "198.51.100.23"}


@pytest.fixture
def app_config(app_config: dict[str, object]) -> dict[str, object]:
    app_config.update(
        RATELIMIT_ENABLED=True,
        RATELIMIT_REPORT="3/hour",
        RATELIMIT_REPORT_WITHOUT_POW="2/hour",
        RATELIMIT_FOLLOWUP="4/hour",
        RATELIMIT_FOLLOWUP_GLOBAL="1000/hour",
        POW_DIFFICULTY_BITS=4,
    )
    return app_config


def _submit(client: FlaskClient, *, pow_solved: bool, env: dict[str, str] | None = None) -> int:
    page = client.get("/report", environ_base=env or ADDR).get_data(as_text=True)
    token = csrf_token(client, "/report")
    data: dict[str, str] = {"csrf_token": token}
    if pow_solved:
        start = page.index('name="pow_challenge"')
        value_at = page.index('value="', start) + len('value="')
        challenge = page[value_at : page.index('"', value_at)]
        data["pow_challenge"] = challenge
        data["pow_solution"] = proof_of_work.solve(challenge)
    response = submit_report(client, **data) if env is None else _post_report(client, data, env)
    return response.status_code


def _post_report(client: FlaskClient, data: dict[str, str], env: dict[str, str]) -> object:
    from tests.support.web import valid_report

    return client.post(
        "/report",
        data=valid_report(**data),
        content_type="multipart/form-data",
        environ_base=env,
    )


def _count_reports(db: Session) -> int:
    db.expire_all()
    return int(db.scalar(select(func.count()).select_from(Report)) or 0)


def test_reports_without_proof_of_work_hit_the_stricter_limit(
    client: FlaskClient, db: Session
) -> None:
    client.set_cookie("lang", "en")
    assert _submit(client, pow_solved=False) == 303
    assert _submit(client, pow_solved=False) == 303
    response = submit_report(client, csrf_token=csrf_token(client, "/report"))
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) > 0
    page = response.get_data(as_text=True)
    assert "Too many attempts" in page and "Your report was not sent" in page
    assert _count_reports(db) == 2


def test_a_form_sent_back_for_correction_uses_up_nothing(client: FlaskClient, db: Session) -> None:
    # Four tries with the description missing: each comes back with its error, none counts.
    for _ in range(4):
        response = _post_report(
            client, {"csrf_token": csrf_token(client, "/report"), "description": ""}, ADDR
        )
        assert response.status_code == 400
    assert [_submit(client, pow_solved=False) for _ in range(3)] == [303, 303, 429]
    assert _count_reports(db) == 2


def test_every_attempt_counts_towards_a_looser_limit(app_config: dict[str, object]) -> None:
    from portal import create_app

    app = create_app(dict(app_config, RATELIMIT_REPORT_ATTEMPTS="5/hour"))
    client = app.test_client()
    statuses = [
        _post_report(
            client, {"csrf_token": csrf_token(client, "/report"), "urls": ""}, ADDR
        ).status_code
        for _ in range(6)
    ]
    app.extensions["db_engine"].dispose()
    assert statuses == [400] * 5 + [429]


def test_concurrent_submissions_cannot_slip_past_the_limit(app: Flask, db: Session) -> None:
    # Eight browsers on one connection send at the same instant: the limit is charged
    # atomically as each report is accepted, so exactly two get in.
    clients = [app.test_client() for _ in range(8)]
    tokens = [csrf_token(each, "/report") for each in clients]
    start = threading.Barrier(len(clients))
    statuses: list[int] = []

    def send(each: FlaskClient, token: str) -> None:
        start.wait()
        statuses.append(_post_report(each, {"csrf_token": token}, ADDR).status_code)

    threads = [
        threading.Thread(target=send, args=pair) for pair in zip(clients, tokens, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [303, 303] + [429] * 6
    assert _count_reports(db) == 2


def test_solved_proof_of_work_allows_more_but_not_unlimited(
    client: FlaskClient, db: Session
) -> None:
    assert [_submit(client, pow_solved=True) for _ in range(3)] == [303, 303, 303]
    assert _submit(client, pow_solved=True) == 429
    assert _count_reports(db) == 3


def test_a_proof_of_work_solution_counts_once(app_config: dict[str, object]) -> None:
    from portal import create_app

    app = create_app(dict(app_config, RATELIMIT_REPORT="10/hour"))
    client = app.test_client()
    page = client.get("/report").get_data(as_text=True)
    start = page.index('name="pow_challenge"')
    value_at = page.index('value="', start) + len('value="')
    challenge = page[value_at : page.index('"', value_at)]
    solution = proof_of_work.solve(challenge)
    statuses = [
        submit_report(client, pow_challenge=challenge, pow_solution=solution).status_code
        for _ in range(4)
    ]
    app.extensions["db_engine"].dispose()
    # Replays count as no solution: two more under the stricter limit, then 429.
    assert statuses == [303, 303, 303, 429]


def test_limits_are_per_client(client: FlaskClient) -> None:
    for _ in range(2):
        assert _submit(client, pow_solved=False) == 303
    assert _submit(client, pow_solved=False) == 429
    other = {"REMOTE_ADDR": "198.51.100.99"}
    assert _submit(client, pow_solved=False, env=other) == 303


def test_ipv6_clients_are_limited_per_64(client: FlaskClient) -> None:
    first = {"REMOTE_ADDR": "2001:db8:1:2::10"}
    same_64 = {"REMOTE_ADDR": "2001:db8:1:2:ffff::99"}
    other_64 = {"REMOTE_ADDR": "2001:db8:1:3::10"}
    assert _submit(client, pow_solved=False, env=first) == 303
    assert _submit(client, pow_solved=False, env=same_64) == 303
    assert _submit(client, pow_solved=False, env=same_64) == 429
    assert _submit(client, pow_solved=False, env=other_64) == 303


def test_receipt_brute_force_reaches_429(client: FlaskClient) -> None:
    statuses = [open_follow_up(client, f"{n:016d}").status_code for n in range(6)]
    assert statuses[:4] == [400, 400, 400, 400]
    assert statuses[4] == 429
    token = csrf_token(client, "/follow-up")
    refused = client.post("/follow-up", data={"csrf_token": token, "receipt": "1" * 16})
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0


@pytest.mark.parametrize(
    ("language", "words"),
    [
        ("en", ("1 hour", "60 minutes")),
        ("fr", ("1 heure", "60 minutes")),
        ("es", ("1 hora", "60 minutos")),
    ],
)
def test_the_refusal_page_says_the_real_wait_in_the_readers_language(
    client: FlaskClient, language: str, words: tuple[str, str]
) -> None:
    client.set_cookie("lang", language)
    for n in range(5):
        open_follow_up(client, f"{n:016d}")
    token = csrf_token(client, "/follow-up")
    refused = client.post("/follow-up", data={"csrf_token": token, "receipt": "1" * 16})
    assert refused.status_code == 429
    wait = int(refused.headers["Retry-After"])
    assert 3000 < wait <= 3600
    # French writes "1 heure" with a no-break space.
    page = refused.get_data(as_text=True).replace("\u00a0", " ").replace("\u202f", " ")
    # The wait in words, to the minute: an hour, or its last minutes.
    assert any(word in page for word in words)
    assert "wait a little" not in page


def test_receipt_guessing_is_capped_for_the_whole_portal(
    app_config: dict[str, object],
) -> None:
    from portal import create_app

    config = dict(app_config, RATELIMIT_FOLLOWUP="100/hour", RATELIMIT_FOLLOWUP_GLOBAL="5/hour")
    app = create_app(config)
    client = app.test_client()
    statuses = []
    for n in range(7):
        # Every guess from a different address: only the global limit can stop this.
        env = {"REMOTE_ADDR": f"203.0.113.{n + 1}"}
        token = csrf_token(client, "/follow-up")
        statuses.append(
            client.post(
                "/follow-up", data={"csrf_token": token, "receipt": f"{n:016d}"}, environ_base=env
            ).status_code
        )
    app.extensions["db_engine"].dispose()
    assert statuses[:5] == [400] * 5
    assert statuses[5:] == [429, 429]


def test_spoofed_forwarded_for_is_ignored_without_trusted_proxies(
    app_config: dict[str, object],
) -> None:
    from portal import create_app

    client = create_app(dict(app_config, RATELIMIT_REPORT_ATTEMPTS="2/hour")).test_client()
    statuses = []
    for n in range(3):
        statuses.append(
            client.post(
                "/report",
                data={"csrf_token": csrf_token(client, "/report")},
                content_type="multipart/form-data",
                headers={"X-Forwarded-For": f"192.0.2.{n + 1}"},
            ).status_code
        )
    assert statuses[-1] == 429


@pytest.mark.parametrize("spoofed_first", [True])
def test_only_the_last_hop_counts_behind_one_proxy(
    app_config: dict[str, object], spoofed_first: bool
) -> None:
    from portal import create_app

    app = create_app(dict(app_config, TRUSTED_PROXY_HOPS=1, RATELIMIT_REPORT_ATTEMPTS="2/hour"))
    client = app.test_client()

    def post(forwarded: str) -> int:
        return client.post(
            "/report",
            data={"csrf_token": csrf_token(client, "/report")},
            content_type="multipart/form-data",
            headers={"X-Forwarded-For": forwarded},
        ).status_code

    # The client prepends whatever it likes; the proxy appends the real address.
    statuses = [post(f"10.9.9.{n}, 192.0.2.50") for n in range(3)]
    assert statuses == [400, 400, 429]
    # A different real address (as the proxy saw it) has its own budget.
    assert post("10.9.9.1, 192.0.2.51") == 400
    app.extensions["db_engine"].dispose()


def test_keys_are_keyed_hashes() -> None:
    key = hashed_client("203.0.113.77")
    assert "203.0.113.77" not in key and len(key) == 32
    assert hashed_client("2001:db8::1") == hashed_client("2001:db8::ffff:1")
    assert network_of("::ffff:192.0.2.1") == "192.0.2.1"
    assert hashed_account(" Officer.A ") == hashed_account("officer.a")
    assert hashed_account("officer.a") != hashed_client("officer.a")


def test_keys_rotate_every_day() -> None:
    from datetime import UTC, datetime

    monday = datetime(2026, 11, 23, 23, 59, tzinfo=UTC)
    same_day = hashed_client("203.0.113.77", now=monday - timedelta(hours=5))
    assert hashed_client("203.0.113.77", now=monday) == same_day
    # Yesterday's keys cannot be linked with today's: a new secret every UTC day.
    assert hashed_client("203.0.113.77", now=monday + timedelta(minutes=2)) != same_day


def _dead_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_dead_redis_falls_back_to_memory_limits(
    app_config: dict[str, object], caplog: pytest.LogCaptureFixture
) -> None:
    from portal import create_app

    uri = f"redis://127.0.0.1:{_dead_port()}/0"
    app = create_app(dict(app_config, RATELIMIT_STORAGE_URI=uri))
    client = app.test_client()
    with caplog.at_level(logging.WARNING):
        assert client.get("/").status_code == 200
        statuses = [_submit(client, pow_solved=False) for _ in range(5)]
    app.extensions["db_engine"].dispose()
    # Still serving, still limited (per process, in memory) and the log says why.
    assert statuses == [303, 303, 429, 429, 429]
    assert any("falling back to in-memory" in r.getMessage() for r in caplog.records)
    assert any("per-process secret" in r.getMessage() for r in caplog.records)


@pytest.mark.redis
@pytest.mark.skipif(not REDIS_URL, reason="PORTAL_TEST_REDIS_URL not set")
def test_limits_are_shared_through_redis(app_config: dict[str, object]) -> None:
    import redis

    from portal import create_app

    uri = str(REDIS_URL)
    store = redis.Redis.from_url(uri)
    store.flushdb()
    config = dict(app_config, RATELIMIT_STORAGE_URI=uri)
    # Two apps stand for two workers: they share counters and the daily secret.
    first, second = create_app(config), create_app(config)
    a, b = first.test_client(), second.test_client()
    statuses = [
        _submit(a, pow_solved=False),
        _submit(b, pow_solved=False),
        _submit(a, pow_solved=False),
    ]
    keys = [k.decode() for k in store.keys("*")]
    strings = [k for k in store.keys("portal*") if store.type(k) == b"string"]
    values = b"".join(store.get(k) or b"" for k in strings)
    for app in (first, second):
        app.extensions["db_engine"].dispose()
    assert statuses[2] == 429, statuses
    assert keys, "no keys in Redis"
    assert not any("198.51.100.23" in key for key in keys)
    assert b"198.51.100.23" not in values
    assert any(key.startswith("portal:ratelimit:daily-key:") for key in keys)
    store.flushdb()


def test_a_client_over_the_limit_is_refused_before_its_form_is_read(client: FlaskClient) -> None:
    assert [_submit(client, pow_solved=True) for _ in range(3)] == [303, 303, 303]
    # No CSRF token, not even a form: refused as over the limit, not parsed at all.
    response = client.post("/report", data=b"\x00" * 64, content_type="application/octet-stream")
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) > 0
    # Another client is unaffected.
    assert _submit(client, pow_solved=True, env={"REMOTE_ADDR": "198.51.100.200"}) == 303


def _over_the_limit(client: FlaskClient, address: str) -> None:
    env = {"REMOTE_ADDR": address}
    statuses = [_submit(client, pow_solved=False, env=env) for _ in range(3)]
    assert statuses == [303, 303, 429]


def _refused_page(client: FlaskClient, address: str, *, waiting_message: str = "") -> str:
    token = csrf_token(client, "/report")
    if waiting_message:
        with client.session_transaction() as session:
            session["_flashes"] = [("info", waiting_message)]
    response = _post_report(client, {"csrf_token": token}, {"REMOTE_ADDR": address})
    assert response.status_code == 429
    return response.get_data(as_text=True)


def test_refusal_pages_speak_each_readers_language_and_keep_their_own_messages(
    app: Flask,
) -> None:
    arabic, french = app.test_client(), app.test_client()
    french.set_cookie("lang", "fr")
    _over_the_limit(arabic, "198.51.100.31")
    _over_the_limit(french, "198.51.100.32")
    assert 'lang="ar"' in _refused_page(arabic, "198.51.100.31")
    page = _refused_page(french, "198.51.100.32")
    assert 'lang="fr"' in page and "Trop de tentatives" in page

    # A message waiting for this reader is shown to them, and to nobody refused after them.
    waiting = "Votre message a été envoyé."
    assert waiting in _refused_page(french, "198.51.100.32", waiting_message=waiting)
    other = app.test_client()
    other.set_cookie("lang", "fr")
    _over_the_limit(other, "198.51.100.33")
    assert "Votre message a été envoyé." not in _refused_page(other, "198.51.100.33")


def test_a_bot_wave_from_many_addresses_without_proof_of_work_is_capped_for_the_portal(
    app_config: dict[str, object], db: Session
) -> None:
    from portal import create_app

    app = create_app(dict(app_config, RATELIMIT_REPORT_WITHOUT_POW_GLOBAL="4/hour"))
    client = app.test_client()
    before = _count_reports(db)
    # Every bot from its own address, each well under its own limit: only the portal-wide cap
    # on submissions without proof of work can stop the wave.
    wave = [
        _submit(client, pow_solved=False, env={"REMOTE_ADDR": f"203.0.113.{n + 1}"})
        for n in range(7)
    ]
    # A reporter whose browser solved the proof of work still gets through.
    solved = _submit(client, pow_solved=True, env={"REMOTE_ADDR": "203.0.113.100"})
    app.extensions["db_engine"].dispose()
    assert wave == [303] * 4 + [429] * 3
    assert solved == 303
    assert _count_reports(db) - before == 5


def test_a_refusal_before_the_form_is_read_is_hardened_like_every_page(
    client: FlaskClient,
) -> None:
    assert [_submit(client, pow_solved=True) for _ in range(3)] == [303, 303, 303]
    refused = client.post("/report", data=b"", content_type="application/octet-stream")
    assert refused.status_code == 429
    # Answered from a before-request hook with a page rendered earlier: the headers of every
    # page must still be there, and nobody may keep a copy of it.
    assert refused.headers["Cache-Control"] == "no-store"
    assert "default-src 'self'" in refused.headers["Content-Security-Policy"]
    assert refused.headers["X-Content-Type-Options"] == "nosniff"
    assert refused.headers["Referrer-Policy"] == "same-origin"


def test_a_bot_filling_the_honeypot_meets_the_same_limits(client: FlaskClient, db: Session) -> None:
    # Discarded quietly, yet charged like a report: the limits answer it as they would anyone.
    statuses = [submit_report(client, website="http://spam.example").status_code for _ in range(3)]
    assert statuses == [303, 303, 429]
    assert _count_reports(db) == 0


def test_only_flooded_paths_keep_a_rendered_refusal(app_config: dict[str, object]) -> None:
    from portal import create_app

    app = create_app(dict(app_config, RATELIMIT_LOGIN_CLIENT="1/hour"))
    client = app.test_client()
    _over_the_limit(client, "198.51.100.41")
    logins = [
        client.post(
            "/officer/login",
            data={"csrf_token": csrf_token(client, "/officer/login"), "username": "x"},
        ).status_code
        for _ in range(2)
    ]
    app.extensions["db_engine"].dispose()
    assert logins[-1] == 429
    # A client cannot grow the kept pages by choosing where it gets refused.
    kept_paths = {path for _language, path in app.extensions["portal.refusal_pages"]}
    assert kept_paths == {"/report"}


def _limits_listing(app: Flask) -> dict[str, list[str]]:
    from portal.cli.limits import limits_command

    output = app.test_cli_runner().invoke(limits_command).output
    routes: dict[str, list[str]] = {}
    current: list[str] = []
    for line in output.splitlines():
        if line.startswith("    "):
            current.append(line.strip())
        else:
            current = routes.setdefault(line, [])
    return routes


def test_portal_limits_lists_every_route_with_the_limits_it_enforces(
    app_config: dict[str, object],
) -> None:
    from portal import create_app

    app = create_app(
        dict(app_config, RATELIMIT_REPORT="7/hour;21/day", RATELIMIT_EVIDENCE="9/hour")
    )
    routes = _limits_listing(app)
    app.extensions["db_engine"].dispose()
    report = routes["POST /report"]
    accepted = "7 per 1 hour; 21 per 1 day, per client, shared counter 'report-accepted',"
    assert any(line.startswith(accepted) for line in report)
    assert any(
        line.startswith("2 per 1 hour") and "not with a solved proof" in line for line in report
    )
    assert routes["POST /follow-up/evidence"] == ["9 per 1 hour, per client"]
    assert any("per staff account" in line for line in routes["GET,POST /officer/login"])
    assert any("failed attempts only" in line for line in routes["GET,POST /follow-up"])
    # Every route that takes a POST is limited; the listing shows where and how.
    unlimited = [
        route for route, lines in routes.items() if "POST" in route and lines == ["no limit"]
    ]
    assert unlimited == []


def test_the_listed_limit_is_the_one_enforced(app_config: dict[str, object]) -> None:
    from portal import create_app

    app = create_app(dict(app_config, RATELIMIT_EVIDENCE="2/hour"))
    assert _limits_listing(app)["POST /follow-up/evidence"] == ["2 per 1 hour, per client"]
    client = app.test_client()
    # Without a follow-up session the uploads are refused (401: the receipt is asked for
    # again), yet each one counts.
    token = csrf_token(client, "/follow-up")
    statuses = [
        client.post("/follow-up/evidence", data={"csrf_token": token}).status_code for _ in range(3)
    ]
    app.extensions["db_engine"].dispose()
    assert statuses == [401, 401, 429]


def _receipt_attempt(
    client: FlaskClient, receipt: str, address: str, *, solve: bool
) -> tuple[int, str]:
    env = {"REMOTE_ADDR": address}
    page = client.get("/follow-up", environ_base=env).get_data(as_text=True)
    token = csrf_token(client, "/follow-up")
    data = {"csrf_token": token, "receipt": receipt}
    if solve:
        start = page.index('name="pow_challenge"')
        value_at = page.index('value="', start) + len('value="')
        challenge = page[value_at : page.index('"', value_at)]
        data.update(pow_challenge=challenge, pow_solution=proof_of_work.solve(challenge))
    response = client.post("/follow-up", data=data, environ_base=env)
    return response.status_code, response.get_data(as_text=True)


def test_a_guessing_wave_from_many_addresses_never_locks_out_a_real_receipt(
    app_config: dict[str, object],
) -> None:
    from portal import create_app
    from tests.support.web import submit_and_get_receipt

    app = create_app(
        dict(
            app_config,
            RATELIMIT_FOLLOWUP="3/hour",
            RATELIMIT_FOLLOWUP_NETWORK="100/hour",
            RATELIMIT_FOLLOWUP_GLOBAL="5/hour",
        )
    )
    victim = app.test_client()
    victim.set_cookie("lang", "en")
    _reference, receipt = submit_and_get_receipt(victim)
    attacker = app.test_client()
    attacker.set_cookie("lang", "en")
    # Ten addresses, four wrong guesses each, none solving the proof of work.
    wave = [
        [
            _receipt_attempt(attacker, f"{n:02d}{k:014d}", f"203.0.113.{n + 1}", solve=False)[0]
            for k in range(4)
        ]
        for n in range(10)
    ]
    # Each address is refused once its own wrong guesses are used up...
    assert all(statuses[3] == 429 for statuses in wave)
    # ...and once five wrong guesses were made portal-wide, a guess needs a solved check.
    later_status, later_page = _receipt_attempt(attacker, "1" * 16, "203.0.113.200", solve=False)
    assert later_status == 429 and "short check" in later_page
    # Solving it gives an attacker its own three guesses per address, no more.
    solved = [
        _receipt_attempt(attacker, f"9{k:015d}", "203.0.113.201", solve=True)[0] for k in range(4)
    ]
    assert solved == [400, 400, 400, 429]
    # The reporter's browser solved the check while they typed: the receipt opens the report.
    status, _page = _receipt_attempt(victim, receipt, "198.51.100.77", solve=True)
    assert status == 303
    page = victim.get("/follow-up", environ_base={"REMOTE_ADDR": "198.51.100.77"})
    app.extensions["db_engine"].dispose()
    assert page.status_code == 200 and "Your report" in page.get_data(as_text=True)


def test_receipt_guesses_are_limited_per_ipv6_56_too(app_config: dict[str, object]) -> None:
    from portal import create_app

    app = create_app(
        dict(app_config, RATELIMIT_FOLLOWUP="100/hour", RATELIMIT_FOLLOWUP_NETWORK="4/hour")
    )
    client = app.test_client()
    # Six /64s of one /56: one allocation, one budget.
    statuses = [
        _receipt_attempt(client, f"{n:016d}", f"2001:db8:1:{n:02x}::1", solve=True)[0]
        for n in range(6)
    ]
    other = _receipt_attempt(client, "7" * 16, "2001:db8:2::1", solve=True)[0]
    app.extensions["db_engine"].dispose()
    assert statuses == [400, 400, 400, 400, 429, 429]
    assert other == 400


def _station_officer(app: Flask, username: str) -> str:
    from tests.support.staff import make_officer

    with app.extensions["db_sessionmaker"]() as db:
        role = "admin" if username == "chief" else "officer"
        units = () if role == "admin" else ("CASABLANCA",)
        return make_officer(app, db, username, role=role, units=units)[1]


STATION = {"REMOTE_ADDR": "192.0.2.80"}


def _password_step(client: FlaskClient, username: str, password: str) -> object:
    token = csrf_token(client, "/officer/login")
    return client.post(
        "/officer/login",
        data={"csrf_token": token, "username": username, "password": password},
        environ_base=STATION,
    )


def _sign_in(client: FlaskClient, username: str, secret: str, step: int) -> int:
    from tests.support.staff import PASSWORD, code_for

    first = _password_step(client, username, PASSWORD)
    if first.status_code != 303:  # type: ignore[attr-defined]
        return int(first.status_code)  # type: ignore[attr-defined]
    code = code_for(secret, step)
    token = csrf_token(client, "/officer/login/code")
    response = client.post(
        "/officer/login/code", data={"csrf_token": token, "code": code}, environ_base=STATION
    )
    return response.status_code


def test_a_stations_morning_of_sign_ins_locks_nobody_out(app_config: dict[str, object]) -> None:
    from portal import create_app

    app = create_app(dict(app_config, RATELIMIT_LOGIN_CLIENT="3/hour"))
    secrets_ = {name: _station_officer(app, name) for name in ("amal", "brahim", "chief")}
    statuses = []
    # Three people behind one address sign in, out and in again: six successes, no failure.
    for step in range(2):
        for name, secret in secrets_.items():
            client = app.test_client()
            statuses.append(_sign_in(client, name, secret, step))
    assert statuses == [303] * 6
    # Wrong passwords do count: the fourth failure from the address is refused.
    client = app.test_client()
    client.set_cookie("lang", "en")
    failures = [_password_step(client, "amal", "wrong").status_code for _ in range(4)]  # type: ignore[attr-defined]
    assert failures == [400, 400, 400, 429]
    app.extensions["db_engine"].dispose()


def test_a_refused_sign_in_says_how_long_to_wait_and_retries_do_not_extend_it(
    app_config: dict[str, object],
) -> None:
    import re
    import time

    from portal import create_app

    app = create_app(dict(app_config, RATELIMIT_LOGIN_CLIENT="2/hour"))
    english, french = app.test_client(), app.test_client()
    english.set_cookie("lang", "en")
    french.set_cookie("lang", "fr")
    for _ in range(2):
        _password_step(english, "nobody", "wrong")
    first = _password_step(english, "nobody", "wrong")
    time.sleep(1.1)
    second = _password_step(english, "nobody", "wrong")
    in_french = _password_step(french, "nobody", "wrong")
    app.extensions["db_engine"].dispose()
    waits = [int(each.headers["Retry-After"]) for each in (first, second)]  # type: ignore[attr-defined]
    assert [first.status_code, second.status_code] == [429, 429]  # type: ignore[attr-defined]
    # A fixed window: the retry a second later is told to wait less, not longer.
    assert 3500 < waits[1] < waits[0] <= 3601
    page = first.get_data(as_text=True)  # type: ignore[attr-defined]
    stated = re.search(r"try again in about (\d+) (minutes|hour)", page)
    assert stated, page
    unit = 60 if stated.group(2) == "minutes" else 3600
    assert abs(int(stated.group(1)) * unit - waits[0]) <= 60
    assert "environ" in in_french.get_data(as_text=True)  # type: ignore[attr-defined]
