"""How statistics read for people: translated names, humanised durations, local times."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from babel.numbers import NumberPattern, parse_pattern
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.domain.categories import CATEGORIES, PRIORITIES
from portal.domain.localtime import local_stamp
from portal.models import Region, Unit
from portal.services.stats import ABROAD, TOTAL
from portal.web.i18n import formatting_locale

BUCKET_LABELS: dict[str, object] = {
    "lt1d": _l("Less than 1 day"),
    "1to3d": _l("1 to 3 days"),
    "3to7d": _l("3 to 7 days"),
    "7to30d": _l("7 to 30 days"),
    "gt30d": _l("More than 30 days"),
}
PERIOD_LABELS: dict[str, object] = {
    "7d": _l("Last 7 days"),
    "30d": _l("Last 30 days"),
    "90d": _l("Last 90 days"),
    "365d": _l("Last 12 months"),
}


_WHOLE: NumberPattern = parse_pattern("#,##0")
_ONE_DECIMAL: NumberPattern = parse_pattern("#,##0.0")


def format_decimal(value: float, format: str) -> str:
    # Numbers read as everywhere else on the site: the Moroccan variant of the language.
    return parse_pattern(format).apply(value, formatting_locale())


class Durations:
    """Minutes under an hour, hours under two days, then days; in the reader's language.

    The locale and the three phrases are looked up once, and each value is written once: a
    dashboard writes thousands, many of them the same (percentiles are read from buckets)."""

    def __init__(self) -> None:
        self.locale = formatting_locale()
        self.minutes = _("%(value)s min", value="\x00")
        self.hours = _("%(value)s h", value="\x00")
        self.days = _("%(value)s days", value="\x00")
        self.written: dict[float, str] = {}

    def __call__(self, seconds: float | None) -> str:
        if seconds is None:
            return "—"
        found = self.written.get(seconds)
        if found is None:
            found = self.written[seconds] = self._write(seconds)
        return found

    def _write(self, seconds: float) -> str:
        if seconds < 3600:
            phrase, number = self.minutes, _WHOLE.apply(round(seconds / 60), self.locale)
        elif seconds < 48 * 3600:
            phrase, number = self.hours, _ONE_DECIMAL.apply(seconds / 3600, self.locale)
        else:
            phrase, number = self.days, _ONE_DECIMAL.apply(seconds / 86400, self.locale)
        return phrase.replace("\x00", number)


def duration(seconds: float | None) -> str:
    """One duration (see :class:`Durations`)."""
    return Durations()(seconds)


def share(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{format_decimal(value * 100, format='#,##0')} %"


def local_time(value: datetime) -> str:
    """A moment on Morocco's clock, the same conversion as every other page's."""
    return local_stamp(value)


@dataclass
class Names:
    """Display names of regions and units in the reader's language."""

    regions: dict[str, str]
    units: dict[str, str]
    short_regions: dict[str, str]

    @classmethod
    def load(cls, session: Session, lang: str) -> Names:
        regions = {r.code: r.name(lang) for r in session.scalars(select(Region))}
        return cls(
            regions=regions,
            units={u.code: u.name(lang) for u in session.scalars(select(Unit))},
            # The part before the first dash is the region's best-known city or area.
            short_regions={code: name.split("-")[0].strip() for code, name in regions.items()},
        )

    def region(self, key: str) -> str:
        if key == ABROAD:
            return _("Abroad (national unit)")
        if key == TOTAL:
            return _("National")
        return self.regions.get(key, key)

    def unit(self, key: str) -> str:
        return self.units.get(key, key)

    @staticmethod
    def category(key: str) -> str:
        return str(CATEGORIES.get(key, key))

    @staticmethod
    def priority(key: str) -> str:
        return str(PRIORITIES.get(key, key))
