"""Fixtures of the partner API tests; officer helpers come from the integration tests."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "integration"))

from tests.support.partners import PartnerFixture, make_partner


@pytest.fixture
def partner_a(db: Session) -> PartnerFixture:
    return make_partner(db, "centre-a")


@pytest.fixture
def partner_b(db: Session) -> PartnerFixture:
    return make_partner(db, "centre-b")
