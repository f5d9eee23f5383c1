"""The production shape (tests/production/deployment.py): the project built and installed as
an operator would, behind the checked-in nginx recipe. Slow: marked so."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "browser"))

from browser_fixtures import browser
from deployment import Installed, build_and_install, missing

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
