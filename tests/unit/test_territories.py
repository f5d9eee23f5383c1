"""The shipped territory and unit data: complete, consistent, and routed as a table."""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict

import pytest

from portal.domain.territories import (
    ABROAD,
    UnknownTerritory,
    grouped_choices,
    load_territories,
    load_unit_data,
)

TERRITORIES = load_territories()
UNITS = load_unit_data()
SUBDIVISIONS = [sub for region in TERRITORIES.regions for sub in region.subdivisions]


def _is_arabic_text(text: str) -> bool:
    letters = [ch for ch in text if ch not in " -"]
    return bool(letters) and all("ARABIC" in unicodedata.name(ch, "") for ch in letters)


def _named_things() -> list[object]:
    return [*TERRITORIES.regions, *SUBDIVISIONS, *UNITS.units]


# --- territories ----------------------------------------------------------------------------


def test_twelve_regions_with_iso_codes_in_order() -> None:
    assert [region.code for region in TERRITORIES.regions] == [f"MA-{n:02d}" for n in range(1, 13)]


def test_seventy_five_unique_prefectures_and_provinces() -> None:
    codes = [sub.code for sub in SUBDIVISIONS]
    assert len(codes) == 75
    assert len(set(codes)) == 75
    assert all(re.fullmatch(r"MA-[A-Z]{3}", code) for code in codes), codes
    assert set(TERRITORIES.subdivision_by_code) == set(codes)


def test_thirteen_prefectures_sixty_two_provinces() -> None:
    kinds = [sub.kind for sub in SUBDIVISIONS]
    assert kinds.count("prefecture") == 13
    assert kinds.count("province") == 62


@pytest.mark.parametrize(
    ("code", "region"),
    [
        ("MA-NOU", "MA-06"),  # Nouaceur: Casablanca-Settat
        ("MA-CHT", "MA-09"),  # Chtouka-Aït Baha: Souss-Massa
        ("MA-CAS", "MA-06"),
        ("MA-RAB", "MA-04"),
        ("MA-GUF", "MA-02"),  # Guercif: Oriental, though served from Taza
        ("MA-MID", "MA-08"),  # Midelt: Drâa-Tafilalet
        ("MA-SIF", "MA-10"),  # Sidi Ifni: Guelmim-Oued Noun
    ],
)
def test_subdivision_in_its_region(code: str, region: str) -> None:
    assert TERRITORIES.region_of(code).code == region
    assert TERRITORIES.subdivision(code).region_code == region


def test_unknown_subdivision_is_rejected() -> None:
    with pytest.raises(UnknownTerritory):
        TERRITORIES.region_of("MA-XXX")
    with pytest.raises(UnknownTerritory):
        TERRITORIES.subdivision("MA-06")  # a region is not a prefecture or province


def test_arabic_names_are_in_arabic_script() -> None:
    not_arabic = [thing.name_ar for thing in _named_things() if not _is_arabic_text(thing.name_ar)]
    assert not_arabic == []


def test_latin_names_contain_no_arabic_and_english_is_plain_ascii() -> None:
    for thing in _named_things():
        assert thing.name_fr and thing.name_en
        assert not any("ARABIC" in unicodedata.name(ch, "") for ch in thing.name_fr + thing.name_en)
    for thing in [*TERRITORIES.regions, *SUBDIVISIONS]:
        assert thing.name_en.isascii(), thing.name_en


def test_spanish_names_are_given_only_where_spanish_differs_from_french() -> None:
    spanish = [thing for thing in _named_things() if thing.name_es is not None]
    assert len(spanish) >= 20
    for thing in spanish:
        assert thing.name_es, thing
        assert thing.name_es != thing.name_fr, thing.name_es
        assert not any("ARABIC" in unicodedata.name(ch, "") for ch in thing.name_es)


def test_name_picks_the_language_and_defaults_to_arabic() -> None:
    casablanca = TERRITORIES.subdivision("MA-CAS")
    assert casablanca.name("ar") == "الدار البيضاء"
    assert casablanca.name("fr") == "Casablanca"
    chtouka = TERRITORIES.subdivision("MA-CHT")
    assert chtouka.name("fr") == "Chtouka-Aït Baha"
    assert chtouka.name("fr_FR") == "Chtouka-Aït Baha"
    assert chtouka.name("en") == "Chtouka-Ait Baha"
    assert chtouka.name("de") == chtouka.name_ar


def test_spanish_uses_its_own_names_and_the_french_one_where_it_has_none() -> None:
    assert TERRITORIES.region_by_code["MA-01"].name("es") == "Tánger-Tetuán-Alhucemas"
    assert TERRITORIES.region_by_code["MA-03"].name("es_ES") == "Fez-Mequinez"
    assert TERRITORIES.subdivision("MA-TNG").name("es") == "Tánger-Arcila"
    assert TERRITORIES.subdivision("MA-MEK").name("es") == "Mequinez"
    # Where Spanish has no name of its own it writes the French one, accents included.
    assert TERRITORIES.subdivision("MA-CHT").name("es") == "Chtouka-Aït Baha"
    assert TERRITORIES.region_by_code["MA-06"].name("es") == "Casablanca-Settat"
    # French is untouched.
    assert TERRITORIES.subdivision("MA-TNG").name("fr") == "Tanger-Assilah"


def test_every_unit_has_a_spanish_title_with_the_spanish_place_names() -> None:
    for unit in UNITS.units:
        assert unit.name_es and unit.name_es != unit.name_fr, unit.code
    by_code = UNITS.unit_by_code
    assert by_code["TANGER"].name("es") == "Prefectura de Policía de Tánger"
    assert by_code["LAAYOUNE"].name("es") == "Prefectura de Policía de El Aaiún"
    assert by_code["NATIONAL-CYBER"].name("es_ES").startswith("Brigada Nacional")
    assert by_code["TANGER"].name("fr") == "Préfecture de police de Tanger"


# --- grouped choices ------------------------------------------------------------------------


def test_grouped_choices_cover_every_subdivision_once_then_abroad() -> None:
    groups = grouped_choices("fr", abroad_group="À l'étranger", abroad_label="Hors du Maroc")
    assert len(groups) == 13
    assert groups[0][0] == "Tanger-Tétouan-Al Hoceïma"
    assert groups[5][0] == "Casablanca-Settat"
    assert groups[-1] == ("À l'étranger", [(ABROAD, "Hors du Maroc")])
    values = [value for _, options in groups[:-1] for value, _ in options]
    assert sorted(values) == sorted(TERRITORIES.subdivision_by_code)
    assert ("MA-NOU", "Nouaceur") in groups[5][1]
    assert ("MA-CHT", "Chtouka-Aït Baha") in groups[8][1]


def test_grouped_choices_are_sorted_by_name_ignoring_accents() -> None:
    groups = grouped_choices("fr", abroad_group="x", abroad_label="y")
    rabat_sale_kenitra = [name for _, name in groups[3][1]]
    assert rabat_sale_kenitra == [
        "Kénitra",
        "Khémisset",
        "Rabat",
        "Salé",
        "Sidi Kacem",
        "Sidi Slimane",
        "Skhirate-Témara",
    ]


def test_grouped_choices_in_spanish_are_named_and_sorted_in_spanish() -> None:
    spanish = grouped_choices("es", abroad_group="x", abroad_label="y")
    french = grouped_choices("fr", abroad_group="x", abroad_label="y")
    assert spanish[0][0] == "Tánger-Tetuán-Alhucemas"
    assert ("MA-TNG", "Tánger-Arcila") in spanish[0][1]
    # Laâyoune is El Aaiún in Spanish, so it moves ahead of Es-Semara.
    assert [name for _, name in spanish[10][1]] == ["Boujdour", "El Aaiún", "Es-Semara", "Tarfaya"]
    assert [name for _, name in french[10][1]] == ["Boujdour", "Es-Semara", "Laâyoune", "Tarfaya"]


def test_grouped_choices_in_arabic() -> None:
    groups = grouped_choices("ar", abroad_group="خارج المغرب", abroad_label="أقيم خارج المغرب")
    assert groups[5][0] == "الدار البيضاء - سطات"
    names = [name for _, options in groups[:-1] for _, name in options]
    assert all(_is_arabic_text(name) for name in names)
    # Hamza does not split alif names apart: "أ" and "إ" sort as "ا", by the letters after them.
    souss_massa = [name for _, name in groups[8][1]]
    assert souss_massa[:3] == ["اشتوكة - أيت باها", "أكادير - إداوتنان", "إنزكان - أيت ملول"]


# --- units and the routing table ------------------------------------------------------------


def test_unit_codes_unique_and_demo_units_exist() -> None:
    codes = [unit.code for unit in UNITS.units]
    assert len(codes) == len(set(codes))
    assert 20 <= len(codes) <= 30
    assert UNITS.unit_by_code["CASABLANCA"].region == "MA-06"
    assert UNITS.unit_by_code["RABAT"].region == "MA-04"


def test_every_subdivision_routed_to_an_existing_territorial_unit() -> None:
    assert set(UNITS.routing) == set(TERRITORIES.subdivision_by_code)
    for code, unit_code in UNITS.routing.items():
        unit = UNITS.unit_by_code.get(unit_code)
        assert unit is not None, (code, unit_code)
        assert not unit.national, (code, unit_code)


def test_every_referenced_unit_exists() -> None:
    referenced = {
        *UNITS.routing.values(),
        UNITS.abroad_unit,
        UNITS.outside_local_unit,
        *UNITS.category_units.values(),
    }
    assert referenced <= set(UNITS.unit_by_code)


def test_every_territorial_unit_serves_its_home_region() -> None:
    served_regions: dict[str, set[str]] = defaultdict(set)
    for code, unit_code in UNITS.routing.items():
        served_regions[unit_code].add(TERRITORIES.region_of(code).code)
    for unit in UNITS.units:
        if unit.national:
            assert unit.region is None, unit.code
            continue
        assert unit.region in TERRITORIES.region_by_code, unit.code
        # No territorial queue is left without a territory to serve.
        assert unit.region in served_regions[unit.code], unit.code


def test_special_units_are_national() -> None:
    by_code = UNITS.unit_by_code
    assert by_code[UNITS.abroad_unit].national
    assert by_code[UNITS.outside_local_unit].national
    assert UNITS.abroad_unit == "NATIONAL-CYBER"
    child = by_code[UNITS.category_units["child_sexual_exploitation"]]
    terror = by_code[UNITS.category_units["terrorism"]]
    assert (child.code, child.national, child.specialty) == (
        "NATIONAL-CHILD",
        True,
        "child_protection",
    )
    assert (terror.code, terror.national, terror.specialty) == (
        "NATIONAL-CT",
        True,
        "counter_terrorism",
    )


def test_units_are_not_derived_from_regions() -> None:
    units_per_region: dict[str, set[str]] = defaultdict(set)
    regions_per_unit: dict[str, set[str]] = defaultdict(set)
    for code, unit_code in UNITS.routing.items():
        region = TERRITORIES.region_of(code).code
        units_per_region[region].add(unit_code)
        regions_per_unit[unit_code].add(region)
    assert units_per_region["MA-06"] == {"CASABLANCA", "EL-JADIDA", "SETTAT"}
    assert {code for code, unit in UNITS.routing.items() if unit == "CASABLANCA"} == {
        "MA-CAS",
        "MA-MOH",
        "MA-NOU",
        "MA-MED",
    }
    # A unit whose area crosses a regional border: Guercif (Oriental) is served from Taza.
    assert regions_per_unit["TAZA"] == {"MA-02", "MA-03"}
    assert sum(len(units) > 1 for units in units_per_region.values()) >= 6


# --- cross-check against the ISO 3166-2 database, when available ----------------------------


def test_matches_pycountry_except_its_two_known_parent_errors() -> None:
    pycountry = pytest.importorskip("pycountry")
    theirs = {sub.code: sub for sub in pycountry.subdivisions.get(country_code="MA")}
    their_regions = {code for code, sub in theirs.items() if sub.type == "Region"}
    their_subdivisions = {code: sub for code, sub in theirs.items() if sub.type != "Region"}
    if "MA-16" in their_regions:
        pytest.skip("this pycountry predates the 2015 division into 12 regions")

    assert their_regions == set(TERRITORIES.region_by_code)
    assert set(their_subdivisions) == set(TERRITORIES.subdivision_by_code)
    kinds_differ = {
        code
        for code, sub in their_subdivisions.items()
        if sub.type.lower() != TERRITORIES.subdivision(code).kind
    }
    assert kinds_differ == set()
    parents_differ = {
        code
        for code, sub in their_subdivisions.items()
        if sub.parent_code != TERRITORIES.region_of(code).code
    }
    assert parents_differ == {"MA-NOU", "MA-CHT"}
