"""Installable as software: the wheel and the sdist carry templates, static files, migrations
and compiled catalogues; installed in a fresh virtualenv, `portal init` and gunicorn serve every
page from a directory that has nothing of the source tree."""

from __future__ import annotations

import tarfile
import urllib.request
import zipfile
from pathlib import Path

from tests.support.deployment import (
    ROOT,
    Installed,
    free_port,
    gunicorn_serving,
    portal_environment,
    run_portal,
)

PAGES = [
    "/",
    "/report",
    "/follow-up",
    "/help",
    "/officer/login",
    "/healthz",
    "/readyz",
    "/static/css/portal.css",
    "/static/js/pow.js",
]


def _expected(prefix: str) -> set[str]:
    """The files the repository keeps at its top level, under the name they get installed."""
    expected = set()
    for folder in ("templates", "static", "migrations"):
        for path in (ROOT / folder).rglob("*"):
            relative = path.relative_to(ROOT)
            if path.is_file() and "__pycache__" not in relative.parts:
                if relative.parts[:2] == ("static", "vendor"):
                    continue  # test tooling (axe-core), never loaded by a page
                expected.add(f"{prefix}{relative}")
    for language in ("ar", "fr", "en"):
        expected.add(f"portal/translations/{language}/LC_MESSAGES/messages.mo")
    expected |= {"portal/data/territories.json", "portal/data/units.json"}
    return expected


def test_the_wheel_and_the_sdist_carry_everything_the_portal_reads(installed: Installed) -> None:
    wheel = next(installed.dist.glob("*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    bundled = {
        name.replace("portal/bundled/", "", 1) if name.startswith("portal/bundled/") else name
        for name in names
    }
    missing = _expected("") - bundled
    assert not missing, f"not in the wheel: {sorted(missing)}"
    assert not [n for n in names if "/vendor/" in n or n.startswith("tests/")]

    sdist = next(installed.dist.glob("*.tar.gz"))
    with tarfile.open(sdist) as archive:
        top = archive.getnames()[0].split("/")[0]
        members = {name.removeprefix(f"{top}/") for name in archive.getnames()}
    missing = _expected("") - members
    assert not missing, f"not in the sdist: {sorted(missing)}"


def test_installed_portal_initialises_and_serves_every_page(
    installed: Installed, tmp_path: Path
) -> None:
    site = installed.venv / "lib"
    assert list(site.glob("python3*/site-packages/portal/bundled/templates/base.html"))
    # The installed package, not the checkout, is what runs.
    static = installed.static_dir()
    assert installed.venv in static.parents
    workdir = tmp_path / "elsewhere"
    workdir.mkdir()
    bind = f"127.0.0.1:{free_port()}"
    env = portal_environment(
        workdir,
        database_url=f"sqlite:///{workdir / 'instance' / 'portal.sqlite3'}",
        redis_url=None,
        bind=bind,
        hops=0,
    )
    output = run_portal(installed, workdir, env, "init")
    assert "database migrated to" in output and "Ready." in output
    assert str(static) in output  # where the proxy's static files are
    demo = run_portal(installed, workdir, env, "demo", "--reports", "5")
    assert "receipt, for /follow-up" in demo
    with gunicorn_serving(installed, workdir, env) as portal:
        for path in PAGES:
            with urllib.request.urlopen(f"http://{bind}{path}", timeout=20) as response:
                assert response.status == 200, path
                body = response.read()
                assert body, path
    log = portal.log.read_text()
    assert "TemplateNotFound" not in log and "Traceback" not in log
    assert not list(workdir.glob("*.py")), "nothing of the source tree is needed"
