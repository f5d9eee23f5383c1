"""Which police unit receives a report: a pure decision over a routing table.

The table maps each prefecture or province (ISO 3166-2:MA code) to a unit, and names the units
for reporters abroad, for "handle my report outside my local area" requests and for categories
handled by a national specialised unit. Precedence, first match wins:

1. ``category``: a category with a national specialised unit (child sexual exploitation,
   terrorism) goes there whatever else the reporter chose, because only that unit may handle it.
2. ``outside_local_request``: the reporter asked not to be handled locally (for instance, they
   know officers in their town); the report goes to the designated national unit.
3. ``abroad``: no subdivision (``subdivision_code is None``) means the reporter lives abroad.
4. ``territory``: the unit serving the reporter's prefecture or province.

A subdivision code, when given, is checked before any rule applies: an unknown code raises
``UnknownTerritory`` even if a category rule would have decided, so a tampered form value is
never stored against a report. Categories without a rule of their own route by territory.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from portal.domain.territories import UnitData, UnknownTerritory

__all__ = ["REASONS", "RoutingDecision", "RoutingTable", "UnknownTerritory", "route"]

REASONS = ("category", "outside_local_request", "abroad", "territory")


@dataclass(frozen=True)
class RoutingTable:
    routes: Mapping[str, str]  # subdivision code -> unit code
    abroad_unit: str
    outside_local_unit: str
    category_units: Mapping[str, str]  # category code -> unit code

    @classmethod
    def from_unit_data(cls, data: UnitData) -> RoutingTable:
        return cls(
            routes=MappingProxyType(dict(data.routing)),
            abroad_unit=data.abroad_unit,
            outside_local_unit=data.outside_local_unit,
            category_units=MappingProxyType(dict(data.category_units)),
        )


@dataclass(frozen=True)
class RoutingDecision:
    unit_code: str
    reason: str  # one of REASONS


def route(
    table: RoutingTable, *, subdivision_code: str | None, category: str, outside_local: bool
) -> RoutingDecision:
    """Pick the unit for a report; see the module docstring for the precedence."""
    territory_unit = None
    if subdivision_code is not None:
        territory_unit = table.routes.get(subdivision_code)
        if territory_unit is None:
            raise UnknownTerritory(subdivision_code)

    category_unit = table.category_units.get(category)
    if category_unit is not None:
        return RoutingDecision(category_unit, "category")
    if outside_local:
        return RoutingDecision(table.outside_local_unit, "outside_local_request")
    if territory_unit is None:
        return RoutingDecision(table.abroad_unit, "abroad")
    return RoutingDecision(territory_unit, "territory")
