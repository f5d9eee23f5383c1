"""Morocco's territorial division and the police units that serve it.

Two read-only data files ship with the package:

* ``data/territories.json``: the 12 regions of the 2015 division (decree 2-15-40) and their
  75 prefectures and provinces, keyed by ISO 3166-2:MA codes, named in Arabic, French and
  English, and in Spanish where Spanish has a name of its own (``name_es``: Tánger, Fez,
  Mequinez, Alhucemas...); elsewhere Spanish writes the French name.
* ``data/units.json``: the police units that own report queues, the subdivision -> unit
  routing table, and the units for reporters abroad, for "outside my local area" requests and
  for categories handled nationally.

Units are deliberately not derived from regions: a region can be served by several units and
a unit can serve subdivisions of more than one region, so routing is a table, never a rule.
Both files are parsed once per process and cached.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache, cached_property
from importlib import resources
from types import MappingProxyType
from typing import Any

ABROAD = "ABROAD"
"""Value of the grouped-select option meaning "I live outside Morocco"."""

LANGUAGES = ("ar", "fr", "en", "es")
DEFAULT_LANGUAGE = "ar"
# Languages whose names are optional in the data, and the language that stands in for a missing
# one: Spanish writes most Moroccan places as French does, so the data gives only its exonyms.
NAME_FALLBACKS = {"es": "fr"}


class UnknownTerritory(LookupError):
    """A subdivision code that is not one of Morocco's prefectures or provinces."""

    def __init__(self, code: object) -> None:
        super().__init__(f"unknown prefecture or province code: {code!r}")
        self.code = code


def _language(lang: str) -> str:
    """Reduce a locale such as ``fr_FR`` to a supported language, defaulting to Arabic."""
    short = lang.replace("-", "_").split("_", 1)[0].lower()
    return short if short in LANGUAGES else DEFAULT_LANGUAGE


@dataclass(frozen=True, kw_only=True)
class Named:
    name_ar: str
    name_fr: str
    name_en: str
    name_es: str | None = None  # only where Spanish usage differs from the French name

    def name(self, lang: str) -> str:
        """The name in ``lang`` (``ar``, ``fr``, ``en``, ``es`` or a locale of one); Arabic
        otherwise. A Spanish name missing from the data is the French one."""
        short = _language(lang)
        name = getattr(self, f"name_{short}")
        if name is None:
            name = getattr(self, f"name_{NAME_FALLBACKS[short]}")
        return str(name)


@dataclass(frozen=True, kw_only=True)
class Subdivision(Named):
    code: str
    kind: str  # "prefecture" (urban) or "province"
    region_code: str


@dataclass(frozen=True, kw_only=True)
class Region(Named):
    code: str
    subdivisions: tuple[Subdivision, ...]


@dataclass(frozen=True, kw_only=True)
class Territories:
    regions: tuple[Region, ...]
    # Derived indexes: equality and hashing go by ``regions`` alone.
    subdivision_by_code: Mapping[str, Subdivision] = field(compare=False, repr=False)
    region_by_code: Mapping[str, Region] = field(compare=False, repr=False)

    def subdivision(self, code: str) -> Subdivision:
        try:
            return self.subdivision_by_code[code]
        except KeyError:
            raise UnknownTerritory(code) from None

    def region_of(self, subdivision_code: str) -> Region:
        return self.region_by_code[self.subdivision(subdivision_code).region_code]


@dataclass(frozen=True, kw_only=True)
class Unit(Named):
    code: str
    region: str | None  # home region; None for national units
    national: bool
    specialty: str | None  # None, "child_protection" or "counter_terrorism"


@dataclass(frozen=True, kw_only=True)
class UnitData:
    units: tuple[Unit, ...]
    routing: Mapping[str, str] = field(compare=False)  # subdivision code -> unit code
    abroad_unit: str
    outside_local_unit: str
    category_units: Mapping[str, str] = field(compare=False)  # category -> unit code

    @cached_property
    def unit_by_code(self) -> Mapping[str, Unit]:
        return MappingProxyType({unit.code: unit for unit in self.units})


def _names(raw: Mapping[str, Any]) -> dict[str, str | None]:
    return {
        f"name_{lang}": raw.get(f"name_{lang}") if lang in NAME_FALLBACKS else raw[f"name_{lang}"]
        for lang in LANGUAGES
    }


def _read_json(name: str) -> Any:
    resource = resources.files("portal") / "data" / name
    return json.loads(resource.read_text(encoding="utf-8"))


@cache
def load_territories() -> Territories:
    raw = _read_json("territories.json")
    regions = tuple(
        Region(
            code=region["code"],
            **_names(region),
            subdivisions=tuple(
                Subdivision(
                    code=sub["code"],
                    kind=sub["kind"],
                    region_code=region["code"],
                    **_names(sub),
                )
                for sub in region["subdivisions"]
            ),
        )
        for region in raw["regions"]
    )
    return Territories(
        regions=regions,
        subdivision_by_code=MappingProxyType(
            {sub.code: sub for region in regions for sub in region.subdivisions}
        ),
        region_by_code=MappingProxyType({region.code: region for region in regions}),
    )


@cache
def load_unit_data() -> UnitData:
    raw = _read_json("units.json")
    return UnitData(
        units=tuple(
            Unit(
                code=unit["code"],
                **_names(unit),
                region=unit["region"],
                national=bool(unit["national"]),
                specialty=unit["specialty"],
            )
            for unit in raw["units"]
        ),
        routing=MappingProxyType(dict(raw["routing"])),
        abroad_unit=raw["abroad_unit"],
        outside_local_unit=raw["outside_local_unit"],
        category_units=MappingProxyType(dict(raw["category_units"])),
    )


def _sort_key(name: str) -> str:
    # Drop accents and hamza/madda marks so that "Béni" sorts with "Be" and "أ"/"إ"/"آ" with "ا".
    decomposed = unicodedata.normalize("NFKD", name)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()


def grouped_choices(
    lang: str, *, abroad_group: str, abroad_label: str
) -> list[tuple[str, list[tuple[str, str]]]]:
    """Choices for a grouped ``<select>`` of the reporter's prefecture or province.

    One group per region, ordered by region code, labelled with the region's name in ``lang``;
    inside a group, ``(subdivision code, name)`` pairs sorted by name. A last group, labelled
    ``abroad_group``, holds the single option ``(ABROAD, abroad_label)``. Both labels are passed
    in already translated, so this module stays free of the web layer.
    """
    groups: list[tuple[str, list[tuple[str, str]]]] = []
    for region in sorted(load_territories().regions, key=lambda r: r.code):
        options = [(sub.code, sub.name(lang)) for sub in region.subdivisions]
        options.sort(key=lambda option: _sort_key(option[1]))
        groups.append((region.name(lang), options))
    groups.append((abroad_group, [(ABROAD, abroad_label)]))
    return groups
