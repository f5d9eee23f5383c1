"""The portal's one clock for people: Morocco's legal time, Africa/Casablanca.

Every layer that shows a moment to a person or cuts time into local days (officer, reporter and
supervisor pages, CSV exports, the case file, e-mails, statistics rollups) converts through this
module, so that the same instant reads the same everywhere. Morocco's offset changes (UTC+1 with a
return to UTC+0 around Ramadan, and whatever the government decides next): the rules are those
of the IANA time-zone database shipped in the ``tzdata`` Python package, a dependency of the
portal, read directly rather than from the host's ``/usr/share/zoneinfo``. A host whose system
package lags behind would otherwise put one page an hour away from another; updating the
``tzdata`` package updates every page at once.

Moments are stored as UTC; a naive value is taken to be UTC.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from importlib import resources
from zoneinfo import ZoneInfo

LOCAL_TZ_NAME = "Africa/Casablanca"


def _load(name: str) -> ZoneInfo:
    """The zone from the ``tzdata`` package (the system's copy only if the package is missing)."""
    try:
        source = resources.files("tzdata.zoneinfo").joinpath(*name.split("/"))
        with source.open("rb") as data:
            return ZoneInfo.from_file(data, key=name)
    except (ModuleNotFoundError, FileNotFoundError):  # pragma: no cover - tzdata is required
        return ZoneInfo(name)


LOCAL_TZ = _load(LOCAL_TZ_NAME)


def zone_named(name: str) -> ZoneInfo:
    """A zone by name, read like ``LOCAL_TZ`` from the ``tzdata`` package (never the host's)."""
    return LOCAL_TZ if name == LOCAL_TZ_NAME else _load(name)


def to_local(moment: datetime) -> datetime:
    """The same instant on Morocco's clock (aware)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(LOCAL_TZ)


def local_date(moment: datetime) -> date:
    """The calendar day in Morocco at that instant."""
    return to_local(moment).date()


def local_stamp(moment: datetime) -> str:
    """``YYYY-MM-DD HH:MM`` on Morocco's clock, for exports and file names."""
    return to_local(moment).strftime("%Y-%m-%d %H:%M")
