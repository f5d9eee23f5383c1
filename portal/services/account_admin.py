"""Account administration services: membership, role, deactivation, sessions, routing."""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field

from argon2 import PasswordHasher
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from portal.crypto.keyring import Keyring
from portal.models import (
    Officer,
    Region,
    RoutingRule,
    StaffSession,
    Subdivision,
    Unit,
    officer_units,
)
from portal.services import audit, staff_sessions
from portal.services.accounts import ROLES, AccountError, create_officer


def _record(
    session: Session,
    admin: Officer,
    officer: Officer,
    action: str,
    details: dict[str, object] | None = None,
) -> None:
    audit.record(
        session,
        actor=audit.officer_name(admin),
        action=action,
        subject=audit.officer_name(officer),
        details=details,
    )


def update_account(
    session: Session,
    admin: Officer,
    officer: Officer,
    *,
    role: str,
    unit_ids: list[int],
    region_id: int | None,
) -> None:
    if role not in ROLES:
        raise AccountError(_l("Unknown role."))
    if officer.id == admin.id and role != "admin":
        raise AccountError(_l("You cannot remove your own administrator role."))
    units = list(session.scalars(select(Unit).where(Unit.id.in_(unit_ids)))) if unit_ids else []
    if region_id is not None and session.get(Region, region_id) is None:
        raise AccountError(_l("Unknown region."))
    officer.role = role
    officer.units = units if role == "officer" else []
    officer.region_id = region_id if role == "supervisor" else None
    # A change of scope must not leave sessions open under the old one.
    staff_sessions.revoke_all(session, officer.id)
    _record(
        session,
        admin,
        officer,
        "account.updated",
        {"role": role, "units": sorted(u.code for u in units), "region_id": region_id},
    )


def set_active(session: Session, admin: Officer, officer: Officer, active: bool) -> None:
    if officer.id == admin.id and not active:
        raise AccountError(_l("You cannot deactivate your own account."))
    officer.active = active
    if not active:
        staff_sessions.revoke_all(session, officer.id)
    _record(session, admin, officer, "account.activated" if active else "account.deactivated")


def revoke_sessions(session: Session, admin: Officer, officer: Officer) -> int:
    count = staff_sessions.revoke_all(session, officer.id)
    _record(session, admin, officer, "account.sessions_revoked", {"sessions": count})
    return count


def reset_second_factor(session: Session, admin: Officer, officer: Officer) -> None:
    """The account enrols a new authenticator at its next sign-in (a lost phone)."""
    officer.totp_secret_enc = None
    officer.totp_enrolled_at = None
    officer.totp_last_counter = None
    staff_sessions.revoke_all(session, officer.id)
    _record(session, admin, officer, "account.totp_reset")


def lift_lockout(session: Session, admin: Officer, officer: Officer) -> None:
    """Forget the account's failed sign-ins, so that it may sign in again at once."""
    _record(
        session,
        admin,
        officer,
        "account.unlocked",
        {"failed_logins": officer.failed_logins, "was_locked": officer.locked_until is not None},
    )
    officer.failed_logins = 0
    officer.locked_until = None


def set_route(session: Session, admin: Officer, rule: RoutingRule, unit_id: int) -> None:
    unit = session.get(Unit, unit_id)
    if unit is None or not unit.active:
        raise AccountError(_l("Unknown unit."))
    _change_route(session, admin, rule, unit)


def _change_route(session: Session, admin: Officer, rule: RoutingRule, unit: Unit) -> None:
    previous = rule.unit.code
    rule.unit = unit
    audit.record(
        session,
        actor=audit.officer_name(admin),
        action="routing.changed",
        subject=f"route:{rule.kind}:{rule.key}",
        details={"from": previous, "to": unit.code},
    )


RouteKey = tuple[str, str]


def set_routes(
    session: Session, admin: Officer, wanted: Mapping[RouteKey, str]
) -> tuple[list[RouteKey], dict[RouteKey, str]]:
    """Apply several rows of the routing table at once: all of them, or none.

    ``wanted`` maps ``(kind, key)`` to the unit id as the form sent it. Returns the rows that
    changed (each audited on its own) and, when a row is refused, nothing changed and an error
    per refused row. The caller commits: one transaction for the whole form.
    """
    rules = {(rule.kind, rule.key): rule for rule in session.scalars(select(RoutingRule))}
    units = {unit.id: unit for unit in session.scalars(select(Unit).where(Unit.active))}
    errors: dict[RouteKey, str] = {}
    targets: dict[RouteKey, Unit] = {}
    for route, raw in wanted.items():
        if route not in rules:
            errors[route] = str(_l("This row is not in the routing table."))
            continue
        unit = units.get(int(raw)) if raw.strip().isdigit() else None
        if unit is None:
            errors[route] = str(_l("Choose an active unit."))
            continue
        targets[route] = unit
    if errors:
        return [], errors
    changed = []
    for route, unit in sorted(targets.items()):
        rule = rules[route]
        if rule.unit_id != unit.id:
            _change_route(session, admin, rule, unit)
            changed.append(route)
    session.flush()
    return changed, {}


def units_without_officers(session: Session) -> set[int]:
    """Active units that no active officer account belongs to: their queue waits for nobody."""
    staffed = (
        select(officer_units.c.unit_id)
        .join(Officer, Officer.id == officer_units.c.officer_id)
        .where(Officer.active, Officer.role == "officer")
    )
    query = select(Unit.id).where(Unit.active, Unit.id.not_in(staffed))
    return set(session.scalars(query))


@dataclass(frozen=True)
class RouteRow:
    kind: str
    key: str
    label: str
    unit_id: int

    @property
    def route(self) -> RouteKey:
        return (self.kind, self.key)


@dataclass
class RouteGroup:
    """The rows of one region (its prefectures and provinces), or the national rows."""

    code: str
    title: str
    rows: list[RouteRow] = field(default_factory=list)


def _sort_name(name: str) -> str:
    decomposed = unicodedata.normalize("NFKD", name)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()


NATIONAL_GROUP = "national"


def routing_groups(
    session: Session, lang: str, labels: Mapping[str, str], categories: Mapping[str, object]
) -> list[RouteGroup]:
    """The routing table as the admin reads it: place names in ``lang``, one group per region.

    ``labels`` names the rows without a place (``abroad``, ``outside_local``) and the national
    group (``national``); ``categories`` names the categories handled by national units.
    """
    rules = routing_rules(session)
    subdivisions = {
        sub.code: sub
        for sub in session.scalars(select(Subdivision).options(selectinload(Subdivision.region)))
    }
    regions = {region.id: region for region in session.scalars(select(Region))}
    groups: dict[str, RouteGroup] = {
        region.code: RouteGroup(region.code, region.name(lang))
        for region in sorted(regions.values(), key=lambda region: region.code)
    }
    national = RouteGroup(NATIONAL_GROUP, labels[NATIONAL_GROUP])
    for rule in rules:
        if rule.kind == "territory" and rule.key in subdivisions:
            sub = subdivisions[rule.key]
            row = RouteRow(rule.kind, rule.key, sub.name(lang), rule.unit_id)
            groups[sub.region.code].rows.append(row)
        elif rule.kind == "category":
            label = str(categories.get(rule.key, rule.key))
            national.rows.append(RouteRow(rule.kind, rule.key, label, rule.unit_id))
        else:
            label = labels.get(rule.kind, f"{rule.kind} {rule.key}".strip())
            national.rows.append(RouteRow(rule.kind, rule.key, label, rule.unit_id))
    for group in groups.values():
        group.rows.sort(key=lambda row: _sort_name(row.label))
    order = {"abroad": 0, "outside_local": 1, "category": 2}
    national.rows.sort(key=lambda row: (order.get(row.kind, 3), _sort_name(row.label)))
    return [group for group in groups.values() if group.rows] + [national]


# --- what the admin pages list ----------------------------------------------------------------


def unit_choices(
    session: Session, lang: str, *, active_only: bool = False
) -> list[tuple[int, str]]:
    query = select(Unit).order_by(Unit.code)
    if active_only:
        query = query.where(Unit.active.is_(True))
    return [(unit.id, f"{unit.code} · {unit.name(lang)}") for unit in session.scalars(query)]


def active_units(session: Session) -> list[Unit]:
    return list(session.scalars(select(Unit).where(Unit.active).order_by(Unit.code)))


def region_choices(session: Session, lang: str) -> list[tuple[str, str]]:
    regions = session.scalars(select(Region).order_by(Region.code))
    return [(str(region.id), region.name(lang)) for region in regions]


def accounts_with_live_sessions(session: Session) -> tuple[list[Officer], dict[int, int]]:
    """Every account, and how many sessions each still has open."""
    live = (
        select(StaffSession.officer_id, func.count())
        .where(StaffSession.revoked_at.is_(None))
        .group_by(StaffSession.officer_id)
    )
    counts = {officer_id: int(count) for officer_id, count in session.execute(live).all()}
    # The list shows every account's units and region: load them in one go, not per row.
    officers = select(Officer).options(selectinload(Officer.units), selectinload(Officer.region))
    return list(session.scalars(officers.order_by(Officer.username))), counts


def units_with_member_counts(session: Session) -> tuple[list[Unit], dict[int, int]]:
    members = select(officer_units.c.unit_id, func.count()).group_by(officer_units.c.unit_id)
    counts = {unit_id: int(count) for unit_id, count in session.execute(members).all()}
    units = select(Unit).options(selectinload(Unit.region)).order_by(Unit.code)
    return list(session.scalars(units)), counts


def routing_rules(session: Session) -> list[RoutingRule]:
    return list(session.scalars(select(RoutingRule).order_by(RoutingRule.kind, RoutingRule.key)))


def create_account(
    session: Session,
    admin: Officer,
    *,
    username: str,
    display_name: str,
    password: str,
    role: str,
    unit_ids: list[int],
    region_id: int | None,
    keyring: Keyring,
    password_hasher: PasswordHasher,
) -> Officer:
    """Create a staff account from the admin form: units for officers, a region for supervisors."""
    if session.scalar(select(Officer.id).where(Officer.username == username)) is not None:
        raise AccountError(_l("This user name is already taken."))
    unit_codes = list(session.scalars(select(Unit.code).where(Unit.id.in_(unit_ids))))
    region_code = session.scalar(select(Region.code).where(Region.id == region_id))
    return create_officer(
        session,
        username=username,
        display_name=display_name,
        password=password,
        role=role,
        keyring=keyring,
        password_hasher=password_hasher,
        unit_codes=unit_codes if role == "officer" else [],
        region_code=region_code if role == "supervisor" else None,
        actor=audit.officer_name(admin),
    )
