"""The one place that decides which reports and figures a staff member may see.

Every officer query for reports starts from ``reports_in_scope``; every supervisor dashboard
from ``supervisor_region`` (and, for figures read from rollups, ``rollup_scope``). Anything
outside answers 404, never 403, so a reference from another unit does not even confirm that the
report exists.
"""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import Select, false, select
from sqlalchemy.orm import Session
from werkzeug.exceptions import NotFound

from portal.models import Officer, Region, Report, Unit
from portal.services.rollups import NATIONAL_SCOPE


def scope_unit_ids(officer: Officer) -> Select[tuple[int]] | list[int] | None:
    """The units whose reports ``officer`` may read: a list, a subquery, or None for all.

    Officers: their own units. Supervisors: the units of their region, or every unit when
    national. Admins: none (they manage accounts and routing, never report content).
    """
    if not officer.active:
        return []
    if officer.role == "officer":
        return [unit.id for unit in officer.units]
    if officer.role == "supervisor":
        if officer.region_id is None:
            return None
        return select(Unit.id).where(Unit.region_id == officer.region_id)
    return []


def reports_in_scope(officer: Officer) -> Select[tuple[Report]]:
    query = select(Report)
    units = scope_unit_ids(officer)
    if units is None:
        return query
    if isinstance(units, list) and not units:
        return query.where(false())
    return query.where(Report.unit_id.in_(units))


def get_report_for_officer(session: Session, officer: Officer, reference: str) -> Report:
    """The report named ``reference`` if it is in scope; NotFound otherwise."""
    report = session.scalar(reports_in_scope(officer).where(Report.reference == reference))
    if report is None:
        raise NotFound()
    return report


def supervisor_region(
    officer: Officer, wanted: str | None, known_regions: Collection[str]
) -> str | None:
    """The region code whose figures ``officer`` sees; None means the whole country.

    A regional supervisor always sees their own region, whatever is asked; a national one sees
    the region asked for when it exists, else the whole country.
    """
    if officer.region is not None:
        return officer.region.code
    return wanted if wanted in known_regions else None


def rollup_scope(session: Session, region_code: str | None) -> int:
    """The rollup scope holding the figures of ``region_code`` (as ``supervisor_region`` gives
    it): the region's id, or ``NATIONAL_SCOPE`` for the whole country. A region that does not
    exist raises ``LookupError``: it is never read as the whole country."""
    if region_code is None:
        return NATIONAL_SCOPE
    region_id = session.scalar(select(Region.id).where(Region.code == region_code))
    if region_id is None:
        raise LookupError(f"unknown region {region_code!r}")
    return region_id
