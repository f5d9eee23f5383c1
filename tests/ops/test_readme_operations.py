"""The README's "Operating the portal" commands, run as written (paths under a temporary root)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
from flask import Flask

from portal import create_app
from tests.support.ops import BACKUP_PASSPHRASE, PORTAL, ROOT, arrange_reports_with_evidence

PREFIXES = ("/srv/", "/var/backups/", "/media/", "/etc/portal/")
RUNNABLE = re.compile(r"^(?:[A-Z_]+=\S+ )*(?:portal|install) ")


def _section() -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index("## Operating the portal")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]


def _commands(section: str) -> list[str]:
    blocks = re.findall(r"```sh\n(.*?)```", section, flags=re.S)
    return [line for block in blocks for line in block.splitlines() if RUNNABLE.match(line)]


def _sandboxed(line: str, root: Path) -> str:
    for prefix in PREFIXES:
        line = line.replace(prefix, f"{root}{prefix}")
    return line


@pytest.mark.slow
def test_the_operating_section_runs_as_written(tmp_path: Path) -> None:
    section = _section()
    commands = _commands(section)
    run = [re.search(r"portal (\S+)", c).group(1) for c in commands if "portal " in c]  # type: ignore[union-attr]
    assert set(run) >= {"init", "db", "backup", "restore", "audit", "worker", "keys"}
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
    env.update(
        PATH=f"{PORTAL.parent}:{env.get('PATH', '')}",
        PORTAL_INSTANCE_PATH=str(tmp_path / "srv/portal/instance"),
        PORTAL_RECEIPT_ARGON2_TIME_COST="1",
        PORTAL_RECEIPT_ARGON2_MEMORY_KIB="256",
        # As the operator sets it before a backup (read -rs), the README's variable.
        PORTAL_BACKUP_PASSPHRASE=BACKUP_PASSPHRASE,
    )
    outputs: list[str] = []
    for command in commands:
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", _sandboxed(command, tmp_path)],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, f"{command}\n{result.stdout}\n{result.stderr}"
        outputs.append(result.stdout)
        if command == "portal init":
            app: Flask = create_app(
                {
                    "INSTANCE_PATH": env["PORTAL_INSTANCE_PATH"],
                    "RATELIMIT_ENABLED": False,
                    "RECEIPT_ARGON2_TIME_COST": 1,
                    "RECEIPT_ARGON2_MEMORY_KIB": 256,
                }
            )
            try:
                with app.extensions["db_sessionmaker"]() as db:
                    arrange_reports_with_evidence(app, db, reports=1)
            finally:
                app.extensions["db_engine"].dispose()
    everything = "\n".join(outputs)
    assert "Ready." in everything and "(head)" in everything
    assert (
        "2 evidence file(s)" in everything
        and "KEEP THE TWO FILES, AND THE PASSPHRASE, APART" in everything
    )
    assert "Verified 2 of 2 evidence file(s)" in everything
    assert everything.count("Audit chain intact") == 2
    assert "Failed jobs: 0" in everything
    assert "Re-wrapped 2 evidence file key(s)" in everything and "(active)" in everything
    assert (tmp_path / "srv/portal-restored/instance/keys/ACTIVE").is_file()
