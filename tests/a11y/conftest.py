"""Accessibility tests run in the browser: they reuse the browser tests' fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.browser_fixtures import browser, live_server, new_context, page

__all__ = ["browser", "live_server", "new_context", "page"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)
