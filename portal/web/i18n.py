"""Language choice: Arabic by default, remembered in a cookie that is the same for everyone.

Translations are looked up by language (``ar``, ``fr``, ``en``); dates, times and numbers are
written the Moroccan way (``ar_MA``, ``fr_MA``: 24-hour clock, Latin digits) in Africa/Casablanca
time, whatever language the reader chose. Every page's times go through the filters below, which
convert with :mod:`portal.domain.localtime` (the one source of the time zone), never through
Flask-Babel's own time zone (a second copy of the rules, in pytz).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache

from babel import Locale, support
from babel import dates as babel_dates
from babel import numbers as babel_numbers
from flask import Flask, current_app, request
from flask_babel import format_timedelta, get_locale
from flask_babel import gettext as _
from wtforms.i18n import messages_path

from portal.domain.localtime import local_date, to_local

LANGUAGE_COOKIE = "lang"
RTL_LANGUAGES = frozenset({"ar"})
# The regional variant used to write dates and numbers for each language.
REGIONAL_FORMATS = {"ar": "ar_MA", "fr": "fr_MA", "en": "en", "es": "es"}
LANGUAGE_NAMES = (("ar", "العربية"), ("fr", "Français"), ("en", "English"), ("es", "Español"))


def select_locale() -> str:
    languages = current_app.config["LANGUAGES"]
    chosen = request.cookies.get(LANGUAGE_COOKIE)
    if chosen in languages:
        return chosen
    return current_app.config["BABEL_DEFAULT_LOCALE"]


@lru_cache(maxsize=len(LANGUAGE_NAMES) + 1)
def wtforms_catalogue(language: str) -> support.Translations:
    """WTForms' own messages (its validators' defaults) in a language, parsed once per
    process. Read-only once loaded, so every thread shares it."""
    return support.Translations.load(messages_path(), [language], domain="wtforms")


def text_direction(locale: str) -> str:
    return "rtl" if locale in RTL_LANGUAGES else "ltr"


def current_language() -> str:
    locale = get_locale()
    if locale is None:
        return str(current_app.config["BABEL_DEFAULT_LOCALE"])
    return locale.language


def formatting_locale(language: str | None = None) -> Locale:
    language = language or current_language()
    return Locale.parse(REGIONAL_FORMATS.get(language, language))


def format_datetime(value: datetime | None, format: str = "medium") -> str:
    """A moment in the reader's language, in Morocco's time zone (naive values are UTC)."""
    if value is None:
        return ""
    return babel_dates.format_datetime(to_local(value), format, locale=formatting_locale())


def format_date(value: date | datetime | None, format: str = "medium") -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        # The calendar day in Morocco, not in UTC.
        value = local_date(value)
    return babel_dates.format_date(value, format, locale=formatting_locale())


def format_time(value: datetime | None, format: str = "short") -> str:
    if value is None:
        return ""
    return babel_dates.format_time(to_local(value), format, locale=formatting_locale())


def format_number(value: int | float | Decimal | None) -> str:
    if value is None:
        return ""
    return babel_numbers.format_decimal(value, locale=formatting_locale())


def format_size(value: int | None) -> str:
    """A file size in the reader's language: "16,7 ko" in French, "16.7 kB" in English."""
    if value is None:
        return ""
    for limit, unit in ((1024**3, _("GB")), (1024**2, _("MB")), (1024, _("kB"))):
        if value >= limit:
            amount = babel_numbers.format_decimal(
                round(value / limit, 1), format="#,##0.#", locale=formatting_locale()
            )
            return _("%(amount)s %(unit)s", amount=amount, unit=unit)
    return _("%(amount)s bytes", amount=format_number(value))


def media_type_name(media_type: str | None) -> str:
    """A file type as a person says it ("PNG image"), translated; the raw type otherwise."""
    kind, _slash, subtype = (media_type or "").partition("/")
    label = subtype.upper().replace("QUICKTIME", "MOV").replace("MPEG", "MP3")
    if media_type == "application/pdf":
        return _("PDF document")
    if media_type == "text/plain":
        return _("Text file")
    if kind == "image" and subtype:
        return _("%(format)s image", format=label)
    if kind == "video" and subtype:
        return _("%(format)s video", format=label)
    if kind == "audio" and subtype:
        return _("%(format)s sound recording", format=label)
    return media_type or ""


def wait_in_words(seconds: int) -> str:
    """How long a refused reporter must wait, in their language ("in 1 hour", "dans 40 minutes")."""
    minutes = max(1, -(-seconds // 60))  # whole minutes, rounded up: never promise too early
    return format_timedelta(timedelta(minutes=minutes), threshold=1.0, add_direction=True)


def language_name(code: str | None) -> str:
    """A language's name in the reader's language ("arabe" for a French reader)."""
    if not code:
        return ""
    try:
        name = Locale.parse(code).get_display_name(Locale.parse(current_language()))
    except (ValueError, LookupError):
        return code
    return name or code


def init_app(app: Flask) -> None:
    # Flask-Babel's filters write dates in the bare language's conventions; these replace them
    # with Morocco's (registered after Flask-Babel, so they win).
    app.jinja_env.filters.update(
        datetimeformat=format_datetime,
        dateformat=format_date,
        timeformat=format_time,
        numberformat=format_number,
        sizeformat=format_size,
        mediatype=media_type_name,
        language_name=language_name,
    )

    @app.before_request
    def _wtforms_messages() -> None:
        # Flask-WTF parses WTForms' catalogue again for every request that builds a form unless
        # the request holds it already: a tenth of the report form's CPU time.
        request.wtforms_translations = wtforms_catalogue(current_language())  # type: ignore[attr-defined]

    @app.context_processor
    def _language_context() -> dict[str, object]:
        language = current_language()
        return {
            "current_locale": language,
            "text_direction": text_direction(language),
            "available_languages": list(LANGUAGE_NAMES),
        }
