"""Catalogue maintenance: fill the English catalogue, compile catalogues, list gaps.

Source strings are English, so the English catalogue simply repeats each msgid; filling it by
program keeps it complete after every ``make extract-messages``. Run as
``python -m portal.cli.i18n_tools fill-english|compile|check``.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

TRANSLATIONS = Path(__file__).resolve().parent.parent / "translations"
SOURCE_LOCALE = "en"


def catalogue_path(locale: str, directory: Path = TRANSLATIONS) -> Path:
    return directory / locale / "LC_MESSAGES" / "messages.po"


def load(path: Path) -> Catalog:
    with path.open("rb") as handle:
        return read_po(handle)


def save(catalog: Catalog, path: Path) -> None:
    with path.open("wb") as handle:
        # Never wrapped, like the catalogues pybabel writes with --no-wrap: one line per entry.
        write_po(handle, catalog, width=0, omit_header=False, sort_output=True)


def fill_source_catalogue(directory: Path = TRANSLATIONS) -> int:
    """Make every English msgstr equal its msgid; return how many entries changed."""
    path = catalogue_path(SOURCE_LOCALE, directory)
    catalog = load(path)
    changed = 0
    for message in catalog:
        if not message.id:
            continue
        wanted = message.id
        if message.string != wanted or message.fuzzy:
            message.string = wanted
            message.flags.discard("fuzzy")
            changed += 1
    if changed:
        save(catalog, path)
    return changed


def compile_catalogues(directory: Path = TRANSLATIONS) -> list[Path]:
    """Compile every ``.po`` whose ``.mo`` is missing or older; return the files written."""
    written = []
    for po_path in sorted(directory.glob("*/LC_MESSAGES/messages.po")):
        mo_path = po_path.with_suffix(".mo")
        if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
            continue
        catalog = load(po_path)
        with mo_path.open("wb") as handle:
            write_mo(handle, catalog, use_fuzzy=False)
        written.append(mo_path)
    return written


@dataclass(frozen=True)
class Gap:
    locale: str
    msgid: str
    problem: str  # "untranslated" or "fuzzy"


def catalogue_gaps(directory: Path = TRANSLATIONS) -> list[Gap]:
    """Every entry, in every catalogue, that a reader would see in English or half-done."""
    gaps = []
    for po_path in sorted(directory.glob("*/LC_MESSAGES/messages.po")):
        locale = po_path.parent.parent.name
        for message in load(po_path):
            if not message.id:
                continue
            msgid = message.id if isinstance(message.id, str) else message.id[0]
            strings = message.string if isinstance(message.string, tuple) else (message.string,)
            if message.fuzzy:
                gaps.append(Gap(locale, msgid, "fuzzy"))
            elif not all(strings):
                gaps.append(Gap(locale, msgid, "untranslated"))
    return gaps


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "check"
    if command == "fill-english":
        print(f"English catalogue: {fill_source_catalogue()} entries filled")
        return 0
    if command == "compile":
        for path in compile_catalogues():
            print(f"compiled {path}")
        return 0
    if command == "check":
        gaps = catalogue_gaps()
        for gap in gaps:
            print(f"{gap.locale}: {gap.problem}: {gap.msgid}")
        print(f"{len(gaps)} gaps")
        return 1 if gaps else 0
    print("usage: python -m portal.cli.i18n_tools fill-english|compile|check", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
