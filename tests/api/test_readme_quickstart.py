"""The README's partner quick start, run line for line with curl against a live server, and
its webhook verification snippet run against a real signed delivery."""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from werkzeug.serving import make_server

from portal.models import Evidence, Report, utcnow
from portal.services import cases
from portal.services import partners as service
from portal.services.webhooks import deliver_due_webhooks
from tests.support.partners import Receiver, make_partner
from tests.support.staff import make_officer
from tests.support.web import free_port

README = Path(__file__).resolve().parents[2] / "README.md"


def _block(marker: str, language: str) -> str:
    text = README.read_text()
    match = re.search(rf"<!-- {marker} -->\n```{language}\n(.*?)\n```", text, re.S)
    assert match, f"README has no {marker} block"
    return match.group(1)


@pytest.fixture
def app_config(app_config: dict[str, object]) -> dict[str, object]:
    return {**app_config, "WEBHOOK_ALLOW_LOCAL_HTTP": True}


@pytest.fixture
def live_portal(app: Any) -> Iterator[str]:
    port = free_port()
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    server.shutdown()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.server.shutdown()
    server.server.server_close()


def test_quick_start_runs_as_written(app, db, keyring, live_portal, receiver, tmp_path):
    partner = make_partner(db, "centre-amane")
    (tmp_path / "screenshot.png").write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(4000))
    env = {
        "PATH": os.environ["PATH"],
        "PORTAL": live_portal,
        "TOKEN": partner.token,
        "HOOK_URL": receiver.url,
    }
    script = "set -euo pipefail\n" + _block("partner-quickstart", "sh")
    result = subprocess.run(
        ["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr + result.stdout

    document = json.loads((tmp_path / "openapi.json").read_text())
    assert document["openapi"].startswith("3.1")
    filed = json.loads((tmp_path / "filed.json").read_text())
    assert len(filed["victim_receipt"].replace(" ", "")) == 16
    report = db.scalar(select(Report).where(Report.reference == filed["reference"]))
    assert db.scalar(select(Evidence.sniffed_type).where(Evidence.report_id == report.id)) == (
        "image/png"
    )
    assert "She can be called after 6 pm." in result.stdout
    # The last line withdrew the mandate: the partner sees nothing more.
    assert service.mandate_for(db, partner.id, report) is None

    secret = json.loads((tmp_path / "webhook.json").read_text())["secret"]
    # An officer's status change, while a mandate is live, reaches the endpoint signed.
    victim_granted = service.grant_mandate(db, report, partner.id)
    db.commit()
    assert victim_granted.origin == "victim_granted"
    officer, _ = make_officer(app, db, "casa1", units=("CASABLANCA",))
    cases.change_status(db, officer, report, report.version, "in_review")
    db.commit()
    assert deliver_due_webhooks(db, utcnow(), keyring=keyring, allow_local_http=True).delivered == 1
    [request] = receiver.received

    namespace: dict[str, Any] = {}
    exec(_block("webhook-verify", "python"), namespace)
    verify = namespace["verify"]
    assert verify(secret, request["headers"]["Portal-Signature"], request["body"])
    assert not verify(secret, request["headers"]["Portal-Signature"], request["body"] + b"x")
    assert not verify("whsec_other", request["headers"]["Portal-Signature"], request["body"])
