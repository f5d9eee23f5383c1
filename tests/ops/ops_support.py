"""Running the ``portal`` command as an operator would, against one instance directory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

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
