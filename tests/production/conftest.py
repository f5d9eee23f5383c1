"""The production shape (tests/support/deployment.py): the project built and installed as
an operator would, behind the checked-in nginx recipe. Slow: marked so."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from tests.support.browser_fixtures import browser
from tests.support.deployment import Installed, build_and_install, missing

__all__ = ["browser"]


@pytest.fixture(scope="session")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """The wheel, built from a copy of the checkout, installed in a fresh virtualenv."""
    if importlib.util.find_spec("build") is None:
        missing("the 'build' package is not installed (pip install -e '.[dev]')")
    return build_and_install(tmp_path_factory.mktemp("installed"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.slow)
