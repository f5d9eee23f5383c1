"""Load the territory list, the units and the routing table into the database (idempotent).

The data files in ``portal/data`` seed the database; from then on the database is the routing
table that admins maintain, so a re-sync only adds what is missing and never overwrites a rule
an admin changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.domain.routing import RoutingTable
from portal.domain.territories import Named, load_territories, load_unit_data
from portal.models import Region, RoutingRule, Subdivision, Unit


@dataclass
class SyncSummary:
    regions: int = 0
    subdivisions: int = 0
    units: int = 0
    rules: int = 0

    def __str__(self) -> str:
        return (
            f"added {self.regions} regions, {self.subdivisions} prefectures/provinces, "
            f"{self.units} units, {self.rules} routing rules"
        )


_Row = TypeVar("_Row", Region, Subdivision, Unit)


def _named_row(
    session: Session, rows: dict[str, _Row], model: type[_Row], source: Named
) -> tuple[_Row, bool]:
    """The row for ``source.code`` with its names refreshed, added when missing (True)."""
    row = rows.get(source.code)
    added = row is None
    if row is None:
        row = model(code=source.code)
        session.add(row)
        rows[source.code] = row
    row.name_ar, row.name_fr, row.name_en = source.name_ar, source.name_fr, source.name_en
    row.name_es = source.name_es
    return row, added


def sync_reference_data(session: Session) -> SyncSummary:
    summary = SyncSummary()
    territories = load_territories()
    regions = {r.code: r for r in session.scalars(select(Region))}
    for region in territories.regions:
        _row, added = _named_row(session, regions, Region, region)
        summary.regions += added
    session.flush()

    subdivisions = {s.code: s for s in session.scalars(select(Subdivision))}
    for region in territories.regions:
        for sub in region.subdivisions:
            row, added = _named_row(session, subdivisions, Subdivision, sub)
            summary.subdivisions += added
            row.region_id = regions[region.code].id
            row.kind = sub.kind
    session.flush()

    unit_data = load_unit_data()
    units = {u.code: u for u in session.scalars(select(Unit))}
    for unit in unit_data.units:
        row, added = _named_row(session, units, Unit, unit)
        summary.units += added
        row.region_id = regions[unit.region].id if unit.region else None
        row.national = unit.national
        row.specialty = unit.specialty
    session.flush()

    existing = {(r.kind, r.key) for r in session.scalars(select(RoutingRule))}
    wanted: list[tuple[str, str, str]] = [
        ("territory", code, unit_code) for code, unit_code in unit_data.routing.items()
    ]
    wanted.append(("abroad", "", unit_data.abroad_unit))
    wanted.append(("outside_local", "", unit_data.outside_local_unit))
    wanted.extend(
        ("category", category, unit_code)
        for category, unit_code in unit_data.category_units.items()
    )
    for kind, key, unit_code in wanted:
        if (kind, key) not in existing:
            session.add(RoutingRule(kind=kind, key=key, unit_id=units[unit_code].id))
            summary.rules += 1
    session.flush()
    return summary


def load_routing_table(session: Session) -> RoutingTable:
    """The routing table as the pure routing function wants it, read from the database."""
    rows = session.execute(select(RoutingRule.kind, RoutingRule.key, Unit.code).join(Unit)).all()
    routes: dict[str, str] = {}
    categories: dict[str, str] = {}
    abroad = outside_local = ""
    for kind, key, unit_code in rows:
        if kind == "territory":
            routes[key] = unit_code
        elif kind == "category":
            categories[key] = unit_code
        elif kind == "abroad":
            abroad = unit_code
        elif kind == "outside_local":
            outside_local = unit_code
    return RoutingTable(
        routes=routes,
        abroad_unit=abroad,
        outside_local_unit=outside_local,
        category_units=categories,
    )
