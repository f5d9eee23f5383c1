"""Browser tests: fixtures from browser_fixtures (live server, Chromium, pages).

``live_server`` (``.url``, ``.app``, ``.session()``), ``browser``, ``new_context(viewport=...,
locale_cookie=..., java_script_enabled=...)``, ``page`` (1280 px) and ``phone_page`` (360 px).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.browser_fixtures import browser, live_server, new_context, page, phone_page

__all__ = ["browser", "live_server", "new_context", "page", "phone_page"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test under tests/browser is a browser test, whether or not it says so."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)
