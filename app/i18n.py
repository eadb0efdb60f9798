"""UI translations: gettext over Babel catalogs, one locale per request.

The catalogs (`app/locale/<lang>/LC_MESSAGES/messages.po`) are compiled in memory at start-up,
so there is no build step. The locale of the current request or job lives in a context variable
that the Jinja i18n extension and Python code read through `gettext`.
"""

from __future__ import annotations

import io
from contextvars import ContextVar
from functools import cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

LOCALE_DIR = Path(__file__).parent / "locale"
SUPPORTED_LOCALES = ("en", "ru")
DEFAULT_LOCALE = "en"
LOCALE_NAMES = {"en": "English", "ru": "Русский"}

_current_locale: ContextVar[str] = ContextVar("zavod_locale", default=DEFAULT_LOCALE)


@cache
def translations_for(locale: str) -> NullTranslations:
    po_path = LOCALE_DIR / locale / "LC_MESSAGES" / "messages.po"
    if not po_path.exists():
        return NullTranslations()
    with po_path.open("rb") as po_file:
        catalog = read_po(po_file, locale=locale)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(buffer)


def set_locale(locale: str) -> None:
    _current_locale.set(locale if locale in SUPPORTED_LOCALES else DEFAULT_LOCALE)


def get_locale() -> str:
    return _current_locale.get()


def gettext(message: str, **variables: object) -> str:
    translated = translations_for(get_locale()).gettext(message)
    return translated % variables if variables else translated


def ngettext(singular: str, plural: str, n: int, **variables: object) -> str:
    translated = translations_for(get_locale()).ngettext(singular, plural, n)
    return translated % {"num": n, **variables}


_ = gettext


def negotiate_locale(user_choice: str | None, accept_language: str | None) -> str:
    """The user's choice wins, then the browser's Accept-Language, then English."""
    if user_choice in SUPPORTED_LOCALES:
        return user_choice  # type: ignore[return-value]
    for candidate in _parse_accept_language(accept_language or ""):
        primary = candidate.split("-")[0].lower()
        if primary in SUPPORTED_LOCALES:
            return primary
    return DEFAULT_LOCALE


def _parse_accept_language(header: str) -> list[str]:
    weighted: list[tuple[float, int, str]] = []
    for index, part in enumerate(header.split(",")):
        piece = part.strip()
        if not piece:
            continue
        lang, _, params = piece.partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        if quality > 0:
            weighted.append((-quality, index, lang.strip()))
    return [lang for _, _, lang in sorted(weighted)]
