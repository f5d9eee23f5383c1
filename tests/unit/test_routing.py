"""Routing a report to a unit: precedence of the rules, on a hand-made table and on the real one."""

from __future__ import annotations

from types import MappingProxyType

import pytest

from portal.domain.routing import REASONS, RoutingDecision, RoutingTable, UnknownTerritory, route
from portal.domain.territories import load_territories, load_unit_data

CATEGORIES = (
    "sextortion",
    "fraud",
    "child_sexual_exploitation",
    "terrorism",
    "hate_incitement",
    "threats",
    "harassment",
    "defamation_privacy",
    "data_theft_hacking",
    "trafficking",
    "other",
)
NATIONAL_CATEGORIES = {"child_sexual_exploitation": "NATIONAL-CHILD", "terrorism": "NATIONAL-CT"}

# Every rule points at a different unit, so each decision shows which rule won.
TOY = RoutingTable(
    routes={"MA-CAS": "CASA", "MA-NOU": "CASA", "MA-JDI": "JADIDA"},
    abroad_unit="ABROAD-DESK",
    outside_local_unit="ELSEWHERE-DESK",
    category_units={"child_sexual_exploitation": "CHILD", "terrorism": "CT"},
)
REAL = RoutingTable.from_unit_data(load_unit_data())


def decide(
    table: RoutingTable = TOY,
    subdivision_code: str | None = "MA-CAS",
    category: str = "fraud",
    outside_local: bool = False,
) -> RoutingDecision:
    return route(
        table, subdivision_code=subdivision_code, category=category, outside_local=outside_local
    )


# --- each rule on its own -------------------------------------------------------------------


def test_territory_picks_the_unit_of_the_subdivision() -> None:
    assert decide(subdivision_code="MA-NOU") == RoutingDecision("CASA", "territory")
    assert decide(subdivision_code="MA-JDI") == RoutingDecision("JADIDA", "territory")


def test_abroad_when_no_subdivision() -> None:
    assert decide(subdivision_code=None) == RoutingDecision("ABROAD-DESK", "abroad")


def test_outside_local_request() -> None:
    assert decide(outside_local=True) == RoutingDecision("ELSEWHERE-DESK", "outside_local_request")


@pytest.mark.parametrize(
    ("category", "unit"), [("child_sexual_exploitation", "CHILD"), ("terrorism", "CT")]
)
def test_category_rule(category: str, unit: str) -> None:
    assert decide(category=category) == RoutingDecision(unit, "category")


# --- precedence -----------------------------------------------------------------------------


@pytest.mark.parametrize("subdivision_code", ["MA-JDI", None])
@pytest.mark.parametrize("outside_local", [False, True])
def test_category_beats_everything(subdivision_code: str | None, outside_local: bool) -> None:
    decision = decide(
        subdivision_code=subdivision_code, category="terrorism", outside_local=outside_local
    )
    assert decision == RoutingDecision("CT", "category")


def test_outside_local_beats_territory_and_abroad() -> None:
    for subdivision_code in ("MA-JDI", None):
        decision = decide(subdivision_code=subdivision_code, outside_local=True)
        assert decision == RoutingDecision("ELSEWHERE-DESK", "outside_local_request")


# --- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize("code", ["MA-XXX", "MA-06", "", "ABROAD", "ma-cas"])
def test_unknown_subdivision_raises(code: str) -> None:
    with pytest.raises(UnknownTerritory) as excinfo:
        decide(subdivision_code=code)
    assert excinfo.value.code == code


def test_unknown_subdivision_raises_even_when_a_category_rule_applies() -> None:
    with pytest.raises(UnknownTerritory):
        decide(subdivision_code="MA-XXX", category="child_sexual_exploitation", outside_local=True)


def test_unknown_territory_is_a_lookup_error_with_a_clear_message() -> None:
    with pytest.raises(LookupError, match="MA-XXX"):
        decide(subdivision_code="MA-XXX")


# --- the shipped table ----------------------------------------------------------------------


@pytest.mark.parametrize("category", CATEGORIES)
def test_every_category_from_casablanca(category: str) -> None:
    decision = decide(REAL, subdivision_code="MA-CAS", category=category)
    if category in NATIONAL_CATEGORIES:
        assert decision == RoutingDecision(NATIONAL_CATEGORIES[category], "category")
    else:
        assert decision == RoutingDecision("CASABLANCA", "territory")
    assert decision.reason in REASONS


@pytest.mark.parametrize("category", CATEGORIES)
def test_every_category_from_abroad(category: str) -> None:
    decision = decide(REAL, subdivision_code=None, category=category)
    expected = NATIONAL_CATEGORIES.get(category, "NATIONAL-CYBER")
    assert decision.unit_code == expected


def test_real_table_routes_every_subdivision_to_a_known_unit() -> None:
    units = load_unit_data().unit_by_code
    for code in load_territories().subdivision_by_code:
        decision = decide(REAL, subdivision_code=code)
        assert decision.reason == "territory"
        assert decision.unit_code in units


@pytest.mark.parametrize(
    ("code", "unit"),
    [
        ("MA-RAB", "RABAT"),
        ("MA-SKH", "RABAT"),
        ("MA-NOU", "CASABLANCA"),
        ("MA-SIB", "EL-JADIDA"),
        ("MA-BRR", "SETTAT"),
        ("MA-CHT", "AGADIR"),
        ("MA-GUF", "TAZA"),
    ],
)
def test_real_table_examples(code: str, unit: str) -> None:
    assert decide(REAL, subdivision_code=code) == RoutingDecision(unit, "territory")


def test_real_table_outside_local_goes_national() -> None:
    decision = decide(REAL, subdivision_code="MA-RAB", outside_local=True)
    assert decision == RoutingDecision("NATIONAL-CYBER", "outside_local_request")


def test_table_built_from_data_is_read_only() -> None:
    assert isinstance(REAL.routes, MappingProxyType)
    with pytest.raises(TypeError):
        REAL.routes["MA-CAS"] = "RABAT"  # type: ignore[index]
