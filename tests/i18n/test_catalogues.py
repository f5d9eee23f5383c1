"""Every catalogue is complete, up to date with the source, and keeps each placeholder."""

from __future__ import annotations

import re
from pathlib import Path

from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg

from portal.cli.i18n_tools import TRANSLATIONS, Gap, catalogue_gaps, catalogue_path, load

ROOT = Path(__file__).resolve().parents[2]
LOCALES = ("ar", "fr", "en", "es")
PLACEHOLDER = re.compile(r"%\([a-z_]+\)[sd]")


def source_messages() -> set[str]:
    """The msgids that ``make extract-messages`` would find in the code and templates now."""
    with (ROOT / "babel.cfg").open() as handle:
        method_map, options_map = parse_mapping_cfg(handle)
    keywords = {**DEFAULT_KEYWORDS, "_l": None, "lazy_gettext": None}
    found = set()
    for _filename, _lineno, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=keywords
    ):
        found.add(message if isinstance(message, str) else message[0])
    return found


def test_no_catalogue_has_an_untranslated_or_fuzzy_entry() -> None:
    gaps = catalogue_gaps()
    assert gaps == [], "\n".join(f"{g.locale}: {g.problem}: {g.msgid}" for g in gaps[:40])


def test_gap_finder_reports_untranslated_and_fuzzy_entries(tmp_path: Path) -> None:
    target = tmp_path / "xx" / "LC_MESSAGES"
    target.mkdir(parents=True)
    (target / "messages.po").write_text(
        'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=utf-8\\n"\n\n'
        'msgid "Done"\nmsgstr "Fait"\n\n'
        'msgid "Missing"\nmsgstr ""\n\n'
        '#, fuzzy\nmsgid "Guessed"\nmsgstr "Deviné"\n',
        encoding="utf-8",
    )
    assert sorted(catalogue_gaps(tmp_path), key=lambda g: g.msgid) == [
        Gap("xx", "Guessed", "fuzzy"),
        Gap("xx", "Missing", "untranslated"),
    ]


def test_every_string_in_the_source_is_in_every_catalogue() -> None:
    """A wrapped string that nobody extracted would be shown in English to everyone."""
    wanted = source_messages()
    assert wanted, "no translatable strings found: is babel.cfg right?"
    for locale in LOCALES:
        present = {
            message.id if isinstance(message.id, str) else message.id[0]
            for message in load(catalogue_path(locale))
            if message.id
        }
        missing = sorted(wanted - present)
        assert missing == [], (
            f"{locale}: {len(missing)} strings not in the catalogue (run `make extract-messages`, "
            f"then translate): {missing[:20]}"
        )


def test_translations_keep_every_placeholder() -> None:
    for locale in LOCALES:
        for message in load(catalogue_path(locale)):
            if not message.id or isinstance(message.id, tuple):
                continue
            expected = sorted(PLACEHOLDER.findall(message.id))
            assert sorted(PLACEHOLDER.findall(message.string)) == expected, (locale, message.id)


def test_english_catalogue_repeats_the_source() -> None:
    for message in load(catalogue_path("en", TRANSLATIONS)):
        if message.id and isinstance(message.id, str):
            assert message.string == message.id
