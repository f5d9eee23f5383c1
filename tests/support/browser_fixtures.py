"""Browser fixtures: the portal served on a free local port, and headless Chromium driving it.

The live server runs ``create_app`` in a Werkzeug thread with its own instance directory (SQLite,
reference data, demo staff accounts), independent of the per-test database of the Flask-client
tests: the embedded mode, whatever ``PORTAL_TEST_DATABASE_URL`` says, so CI runs these tests in
its SQLite pass only (.ci/run); were the live server to follow that variable, the PostgreSQL pass
would have to run them too. Browser tests are skipped when Chromium is missing, unless
``PORTAL_REQUIRE_BROWSER=1`` makes that a failure (CI). Imported by the conftest of each folder
of browser tests.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import BaseWSGIServer, make_server

from portal import create_app
from portal.cli.i18n_tools import compile_catalogues
from portal.crypto.instance_secrets import ensure_secrets
from portal.crypto.keyring import create_master_key
from portal.services.demo import ensure_accounts
from tests.support.browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    DESKTOP,
    PHONE,
    LiveServer,
    NewContext,
    browser_required,
)
from tests.support.staff import CHEAP_PASSWORD_HASHING


@pytest.fixture(scope="session")
def live_server(
    tmp_path_factory: pytest.TempPathFactory, template_sqlite: Path
) -> Iterator[LiveServer]:
    compile_catalogues()
    instance = tmp_path_factory.mktemp("live") / "instance"
    instance.mkdir(mode=0o700)
    ensure_secrets(instance)
    create_master_key(instance)
    database = instance / "portal.sqlite3"
    shutil.copyfile(template_sqlite, database)
    app = create_app(
        {
            "TESTING": True,
            "INSTANCE_PATH": str(instance),
            "DATABASE_URL": f"sqlite:///{database}",
            "EVIDENCE_STORE": f"file://{instance / 'evidence'}",
            "RATELIMIT_STORAGE_URI": "memory://",
            "RATELIMIT_ENABLED": False,
            "RECEIPT_ARGON2_TIME_COST": 1,
            "RECEIPT_ARGON2_MEMORY_KIB": 256,
            **CHEAP_PASSWORD_HASHING,
            # Keep the quick exit inside the sandbox: no request ever leaves 127.0.0.1.
            "QUICK_EXIT_URL": "/static/img/logo.svg",
        }
    )
    with app.app_context(), app.extensions["db_sessionmaker"]() as session:
        ensure_accounts(session, app.extensions["keyring"], app.extensions["password_hasher"])
        session.commit()
    server: BaseWSGIServer = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield LiveServer(
            app=app, url=f"http://127.0.0.1:{server.server_port}", instance_path=instance
        )
    finally:
        server.shutdown()
        thread.join(timeout=10)
        app.extensions["db_engine"].dispose()


BROWSER_LOCALES = {"ar": "ar-MA", "fr": "fr-MA", "en": "en-GB", "es": "es-ES"}


class _SharedChromium:
    """One Playwright driver and one Chromium per test process.

    Several test folders register these fixtures; Playwright's sync API allows a single driver
    per thread, so they share it and the last user closes it.
    """

    users = 0
    playwright: Any = None
    chromium: Any = None

    @classmethod
    def acquire(cls) -> Any:
        if cls.chromium is None:
            from playwright.sync_api import sync_playwright

            cls.playwright = sync_playwright().start()
            cls.chromium = cls.playwright.chromium.launch(
                executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
            )
        cls.users += 1
        return cls.chromium

    @classmethod
    def release(cls) -> None:
        cls.users -= 1
        if cls.users == 0:
            cls.chromium.close()
            cls.playwright.stop()
            cls.chromium = cls.playwright = None


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        message = f"Chromium not found at {CHROMIUM}"
        if browser_required():
            pytest.fail(message)
        pytest.skip(message)
    chromium = _SharedChromium.acquire()
    try:
        yield chromium
    finally:
        _SharedChromium.release()


@pytest.fixture
def new_context(browser: Any, live_server: LiveServer) -> Iterator[NewContext]:
    """Open browser contexts (closed after the test): ``new_context(viewport=PHONE, ...)``.

    Every context starts with no cookies, so the portal shows Arabic until a language is chosen;
    pass ``locale_cookie="fr"`` to start in another language.
    """
    opened: list[Any] = []

    def factory(*, locale_cookie: str | None = None, **options: Any) -> Any:
        options.setdefault("viewport", DESKTOP)
        options.setdefault("base_url", live_server.url)
        # The browser's own widgets (date picker, file chooser) speak the reporter's language.
        options.setdefault("locale", BROWSER_LOCALES.get(locale_cookie or "ar", "ar-MA"))
        context = browser.new_context(**options)
        context.set_default_timeout(15_000)
        if locale_cookie:
            context.add_cookies([{"name": "lang", "value": locale_cookie, "url": live_server.url}])
        opened.append(context)
        return context

    yield factory
    for context in opened:
        context.close()


@pytest.fixture
def page(new_context: NewContext) -> Any:
    """A desktop-sized page in a fresh context, with relative URLs resolved on the live server."""
    return new_context().new_page()


@pytest.fixture
def phone_page(new_context: NewContext) -> Any:
    """A 360 px wide page (a small phone), touch enabled."""
    return new_context(viewport=PHONE, has_touch=True, is_mobile=True).new_page()
