"""Dates and numbers are written the Moroccan way, in Morocco's time, in each language."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Flask

from portal.web.i18n import format_date, format_datetime, format_number

# 23:30 UTC on 31 January is 00:30 on 1 February in Casablanca (UTC+1 outside Ramadan).
LATE_EVENING_UTC = datetime(2026, 1, 31, 23, 30, tzinfo=UTC)


def _in(app: Flask, language: str, function, *args):  # type: ignore[no-untyped-def]
    with app.test_request_context("/", headers={"Cookie": f"lang={language}"}):
        return function(*args)


def test_times_are_in_casablanca_on_a_24_hour_clock(app: Flask) -> None:
    arabic = _in(app, "ar", format_datetime, LATE_EVENING_UTC)
    french = _in(app, "fr", format_datetime, LATE_EVENING_UTC)
    assert "00:30" in arabic and "م" not in arabic and "ص" not in arabic
    assert french.startswith("1 f") and "2026" in french and "00:30" in french
    # A naive value is read as UTC, as the database stores it.
    assert _in(app, "fr", format_datetime, LATE_EVENING_UTC.replace(tzinfo=None)) == french


def test_the_calendar_day_is_morocco_s(app: Flask) -> None:
    assert _in(app, "en", format_date, LATE_EVENING_UTC, "yyyy-MM-dd") == "2026-02-01"


def test_numbers_use_latin_digits_and_local_separators(app: Flask) -> None:
    assert _in(app, "fr", format_number, 12345.5).replace("\u202f", " ") == "12 345,5"
    arabic = _in(app, "ar", format_number, 12345.5)
    assert arabic.replace("\u200f", "").replace("\u061c", "") in {"12.345,5", "12345,5"}


def test_templates_use_the_moroccan_filters(app: Flask) -> None:
    with app.test_request_context("/", headers={"Cookie": "lang=ar"}):
        rendered = app.jinja_env.from_string("{{ when|datetimeformat }}").render(
            when=LATE_EVENING_UTC
        )
    assert "00:30" in rendered
