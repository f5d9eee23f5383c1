"""``portal keys rotate`` while gunicorn serves with several workers: no restart, no failure."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.crypto.keyring import Keyring, create_master_key
from portal.models import Evidence
from tests.support.ops import (
    OFFICER,
    OFFICER_PASSWORD,
    ROOT,
    Browser,
    arrange_reports_with_evidence,
    portal_env,
    run_portal,
    stop,
    wait_until_up,
)
from tests.support.web import free_port


def test_a_keyring_follows_rotation_in_its_instance_directory(tmp_path: Path) -> None:
    first = create_master_key(tmp_path)
    ring = Keyring.load(tmp_path, {}).follow(tmp_path)
    sealed = ring.encrypt_field("before", "ctx")
    assert not ring.reload_if_changed()

    # Another process rotates: this keyring reads what is sealed under the new key at once...
    other = Keyring.load(tmp_path, {})
    second = create_master_key(tmp_path)
    other = Keyring.load(tmp_path, {})
    assert ring.decrypt_field(other.encrypt_field("after", "ctx"), "ctx") == "after"
    # ...and seals new data under it.
    assert Keyring.field_key_id(ring.encrypt_field("new", "ctx")) == second
    assert ring.active_id == second and ring.key_ids == tuple(sorted((first, second)))
    assert ring.decrypt_field(sealed, "ctx") == "before"


def test_a_key_file_caught_half_written_keeps_the_keys_in_use(tmp_path: Path) -> None:
    first = create_master_key(tmp_path)
    ring = Keyring.load(tmp_path, {}).follow(tmp_path)
    (tmp_path / "keys" / "khalf.key").write_text("")
    assert not ring.reload_if_changed()
    assert ring.active_id == first
    (tmp_path / "keys" / "khalf.key").unlink()
    second = create_master_key(tmp_path)
    assert ring.reload_if_changed() and ring.active_id == second


@pytest.mark.slow
def test_downloads_keep_working_while_keys_rotate_under_gunicorn(
    app: Flask, db: Session, instance_path: Path, database_url: str, tmp_path: Path
) -> None:
    arranged = arrange_reports_with_evidence(app, db, reports=2)
    old = app.extensions["keyring"].active_id
    targets = [
        (f"/officer/reports/{reference}/evidence/{evidence_id}", content, True)
        for reference, items in arranged.evidence.items()
        for evidence_id, content in items
    ] + [
        (f"/officer/reports/{reference}", description.encode(), False)
        for reference, description in arranged.descriptions.items()
    ]
    port = free_port()
    env = portal_env(
        instance_path,
        database_url,
        PORTAL_EVIDENCE_STORE=f"file://{instance_path / 'evidence'}",
        PORTAL_BIND=f"127.0.0.1:{port}",
        PORTAL_WORKERS="3",
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
    phase = ["before"]
    served: dict[str, int] = {"before": 0, "during": 0, "after rotation": 0, "after retire": 0}
    failures: list[str] = []
    done = threading.Event()
    lock = threading.Lock()
    # Each download appends to the audit chain, and so does the rotation: PostgreSQL
    # serialises concurrent appends, SQLite makes the later one fail (its unique link). On
    # SQLite the downloads therefore pause while the rotation command writes its entry.
    postgres = database_url.startswith("postgresql")
    gate: Any = contextlib.nullcontext() if postgres else threading.Lock()
    try:
        wait_until_up(base, server)
        officer = Browser(base)
        officer.sign_in(OFFICER, OFFICER_PASSWORD, arranged.totp_secret)

        def download_in_a_loop() -> None:
            browser = Browser(base)
            browser.jar = officer.jar
            browser.opener = officer.opener
            while not done.is_set():
                for path, expected, exact in targets:
                    with gate:
                        current = phase[0]
                        status, body = browser.request(path)
                    ok = status == 200 and (body == expected if exact else expected in body)
                    with lock:
                        if ok:
                            served[current] += 1
                        else:
                            failures.append(f"{current}: {path} -> {status}")

        clients = 3 if postgres else 1
        threads = [threading.Thread(target=download_in_a_loop) for _ in range(clients)]
        for thread in threads:
            thread.start()

        def wait_for(name: str, count: int) -> None:
            while True:
                with lock:
                    if served[name] >= count or failures:
                        return
                assert server.poll() is None
                done.wait(0.05)

        wait_for("before", 30)
        with gate:
            phase[0] = "during"
            rotated = run_portal(env, "keys", "rotate")
        assert "no restart needed" in rotated.stdout
        phase[0] = "after rotation"
        wait_for("after rotation", 60)
        new = Keyring.load(instance_path, {}).active_id
        assert new != old
        # Everything is now sealed under the new key, so the old one can go: the workers
        # never loaded the new key from a restart, only from the instance directory.
        db.expire_all()
        assert set(db.scalars(select(Evidence.key_id))) == {new}
        with gate:
            run_portal(env, "keys", "retire", old)
            phase[0] = "after retire"
        wait_for("after retire", 60)
        done.set()
        for thread in threads:
            thread.join(timeout=60)
    finally:
        done.set()
        stop(server)
        log.close()
    assert failures == []
    assert served["before"] >= 30 and served["after rotation"] >= 60
    assert served["after retire"] >= 60
