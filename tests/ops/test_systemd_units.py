"""The systemd units under deploy/systemd: valid for systemd, and running the real commands."""

from __future__ import annotations

import configparser
import shutil
import subprocess
from pathlib import Path

import pytest

from portal.config import DefaultConfig
from tests.support.ops import PORTAL, ROOT

UNITS = ROOT / "deploy" / "systemd"


def _unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(UNITS / name)
    return parser


def test_units_start_gunicorn_and_the_worker() -> None:
    web = _unit("portal-web.service")["Service"]
    worker = _unit("portal-worker.service")["Service"]
    assert web["ExecStart"].endswith("gunicorn -c gunicorn.conf.py wsgi:app")
    assert (ROOT / "gunicorn.conf.py").is_file() and (ROOT / "wsgi.py").is_file()
    assert "PROMETHEUS_MULTIPROC_DIR=/run/portal-web/metrics" in web["Environment"]
    assert worker["ExecStart"].endswith("/bin/portal worker")
    # Graceful stop: running jobs finish (Huey's consumer treats SIGINT as graceful).
    assert worker["KillSignal"] == "SIGINT"
    for service in (web, worker):
        assert service["EnvironmentFile"] == "/etc/portal/portal.env"
        assert service["ReadWritePaths"] == "/srv/portal/instance"
        assert service["UMask"] == "0077" and service["ProtectSystem"] == "strict"


def test_the_environment_example_names_real_settings() -> None:
    for line in (UNITS / "portal.env.example").read_text().splitlines():
        if not line or line.startswith("#"):
            continue
        name = line.split("=", 1)[0]
        assert name.startswith("PORTAL_")
        setting = name.removeprefix("PORTAL_")
        assert setting == "INSTANCE_PATH" or hasattr(DefaultConfig, setting), name


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze not installed")
def test_systemd_accepts_the_units(tmp_path: Path) -> None:
    for unit in UNITS.glob("*.service"):
        text = unit.read_text()
        # The same unit with this checkout's paths, so that systemd can check the commands.
        text = text.replace("/srv/portal/venv/bin/", f"{PORTAL.parent}/")
        text = text.replace("/srv/portal/app", str(ROOT))
        (tmp_path / unit.name).write_text(text)
    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *sorted(str(p) for p in tmp_path.iterdir())],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == ""
