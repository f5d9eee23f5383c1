"""Translation tests need the compiled catalogues that ``make translations`` would build."""

from __future__ import annotations

import pytest

from portal.cli.i18n_tools import compile_catalogues


@pytest.fixture(scope="session", autouse=True)
def compiled_catalogues() -> None:
    compile_catalogues()
