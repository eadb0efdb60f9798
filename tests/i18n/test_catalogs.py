"""The UI catalogs are complete: every marked string has a Russian translation with the same placeholders.

The messages are extracted here in-process, from the current tree, with the map of
app/locale/babel.cfg, so a string added to a template or to Python code without a translation fails
the suite by name (even before anyone re-runs `pybabel extract`).
"""

from __future__ import annotations

import contextvars
import os
import re
from collections import Counter
from functools import cache
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po
from jinja2 import Environment

from app import i18n

ROOT = Path(__file__).resolve().parents[2]
LOCALE_DIR = ROOT / "app" / "locale"
MAPPING = LOCALE_DIR / "babel.cfg"
RU_PO = LOCALE_DIR / "ru" / "LC_MESSAGES" / "messages.po"
EN_PO = LOCALE_DIR / "en" / "LC_MESSAGES" / "messages.po"
SCANNED = ("app", "templates")
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2)}
PLACEHOLDER = re.compile(r"%(?:\((\w+)\))?[-#0 +]*\d*(?:\.\d+)?[diouxXeEfFgGcrsa%]")

# Values translated at run time: `_(role.value)`, `_(story.status)`, `_(status.value)`,
# `_(publication.status)`, `_(invitation.role)`.
DYNAMIC_WORDS = (
    "viewer",
    "editor",
    "owner",
    "draft",
    "approved",
    "scheduled",
    "published",
    "rejected",
    "new",
    "generating",
    "drafted",
    "ignored",
    "publishing",
    "failed",
    "needs_attention",
    "canceled",
)


def _directory_filter(dirpath: str) -> bool:
    """Walk app/ and templates/ only, skipping dot directories and caches but not `_partials`."""
    relative = Path(os.path.relpath(dirpath, ROOT)).parts
    if not relative or relative[0] not in SCANNED:
        return False
    return not any(part.startswith(".") or part in {"__pycache__", "node_modules"} for part in relative)


@cache
def extracted() -> dict[str | tuple[str, ...], list[str]]:
    """msgid -> the places it is used, from the current source tree."""
    with MAPPING.open() as mapping:
        method_map, options_map = parse_mapping_cfg(mapping, str(MAPPING))
    messages: dict[str | tuple[str, ...], list[str]] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=KEYWORDS, directory_filter=_directory_filter
    ):
        messages.setdefault(message, []).append(f"{filename}:{lineno}")
    return messages


@cache
def catalog(path: Path, locale: str) -> Catalog:
    with path.open("rb") as po_file:
        return read_po(po_file, locale=locale)


def ru() -> Catalog:
    return catalog(RU_PO, "ru")


def placeholders(text: str) -> Counter[str]:
    """The %-placeholders of a message, e.g. Counter({"%(title)s": 1, "%(n)s": 1})."""
    return Counter(match.group(0) for match in PLACEHOLDER.finditer(text) if match.group(0) != "%%")


def key(message: str | tuple[str, ...]) -> str:
    return message[0] if isinstance(message, tuple) else message


def in_context(function, *args):
    """Run with a fresh copy of the context, so set_locale() does not leak into other tests."""
    return contextvars.copy_context().run(function, *args)


def test_extraction_sees_the_tree():
    messages = extracted()
    assert len(messages) > 100, "the extractor found almost nothing: is babel.cfg still right?"
    places = {place.split(":")[0] for where in messages.values() for place in where}
    assert any(place.startswith("templates/") and "/_partials/" in place for place in places), (
        "strings in templates/**/_partials/ were not extracted"
    )
    assert any(place.startswith("app/") for place in places)
    assert not any(place.startswith(".venv") for place in places)


def test_every_extracted_message_has_a_russian_translation():
    problems = []
    for message, where in sorted(extracted().items(), key=lambda item: key(item[0])):
        entry = ru().get(message)
        if entry is None:
            problems.append(f"{key(message)!r} (not in ru/messages.po; used at {', '.join(where)})")
        elif entry.fuzzy:
            problems.append(f"{key(message)!r} (marked fuzzy, so ignored at run time; used at {where[0]})")
        elif isinstance(message, tuple):
            strings = entry.string if isinstance(entry.string, tuple) else (entry.string,)
            if len(strings) != ru().num_plurals or not all(strings):
                problems.append(f"{key(message)!r} (needs {ru().num_plurals} plural forms; used at {where[0]})")
        elif not entry.string:
            problems.append(f"{key(message)!r} (empty msgstr; used at {', '.join(where)})")
    assert not problems, (
        "untranslated UI strings: run pybabel extract/update (app/locale/README.md) and translate:\n  "
        + "\n  ".join(problems)
    )


def test_russian_placeholders_match_the_msgid():
    problems = []
    for entry in ru():
        if not entry.id or not entry.string:
            continue
        ids = entry.id if isinstance(entry.id, tuple) else (entry.id,)
        strings = entry.string if isinstance(entry.string, tuple) else (entry.string,)
        expected = placeholders(ids[-1]) | placeholders(ids[0])
        for string in strings:
            if not string:
                continue
            found = placeholders(string)
            # a plural form may leave the number out ("один материал"), but never invent a name
            if found != expected and not (isinstance(entry.id, tuple) and found <= expected):
                problems.append(f"{ids[0]!r}: msgid has {sorted(expected)}, msgstr {string!r} has {sorted(found)}")
    assert not problems, "placeholders differ:\n  " + "\n  ".join(problems)


def test_russian_catalog_passes_babel_checks():
    problems = [f"{message.id!r}: {'; '.join(map(str, errors))}" for message, errors in ru().check()]
    assert not problems, "\n".join(problems)
    for entry in ru():
        if entry.id and placeholders(key(entry.id)):
            assert "python-format" in entry.flags, f"{key(entry.id)!r} lacks the python-format flag"


def test_russian_plural_forms():
    assert ru().num_plurals == 3
    assert ru().plural_expr == ("(n%10==1 && n%100!=11 ? 0 : n%10>=2 && n%10<=4 && (n%100<10 || n%100>=20) ? 1 : 2)")


def test_english_catalog_is_valid():
    """English needs no msgstr (gettext falls back to the msgid), but the catalog must load."""
    english = catalog(EN_PO, "en")
    assert english.locale_identifier == "en"
    assert english.num_plurals == 2
    assert in_context(lambda: (i18n.set_locale("en"), i18n.gettext("Sign in"))[1]) == "Sign in"


@pytest.mark.parametrize("word", DYNAMIC_WORDS)
def test_dynamic_status_and_role_words_are_translated(word):
    entry = ru().get(word)
    assert entry is not None and entry.string and not entry.fuzzy, f"no Russian translation for {word!r}"
    assert word in extracted(), f"{word!r} is not extracted: list it in app/locale/dynamic_messages.py"
    assert in_context(lambda: (i18n.set_locale("ru"), i18n.gettext(word))[1]) == entry.string


def test_every_enum_value_shown_in_the_ui_is_translated():
    from app.publishing.models import PublicationStatus
    from app.sources.models import ItemStatus
    from app.stories.models import StoryStatus
    from app.tenancy.models import Role

    values = {member.value for enum in (Role, StoryStatus, ItemStatus, PublicationStatus) for member in enum}
    assert set(DYNAMIC_WORDS) <= values
    missing = sorted(
        value for value in values if value not in extracted() or not ru().get(value) or not ru().get(value).string
    )
    assert not missing, f"add these enum values to app/locale/dynamic_messages.py and translate them: {missing}"


def test_gettext_in_russian():
    def run():
        i18n.set_locale("ru")
        return i18n.get_locale(), i18n.gettext("Sign in"), i18n.gettext("Join %(client)s", client="Аврора")

    locale, sign_in, join = in_context(run)
    assert locale == "ru"
    assert sign_in == ru().get("Sign in").string == "Войти"
    assert join == ru().get("Join %(client)s").string % {"client": "Аврора"} != "Join Аврора"
    assert in_context(lambda: (i18n.set_locale("de"), i18n.get_locale())[1]) == "en"
    assert in_context(lambda: i18n.gettext("Sign in")) == "Sign in"


def test_templates_render_in_russian():
    env = Environment(extensions=["jinja2.ext.i18n"], autoescape=True)
    env.install_gettext_callables(i18n.gettext, i18n.ngettext, newstyle=True)  # type: ignore[attr-defined]
    template = env.from_string(
        '{{ _("Sign in") }} | {{ _("You are invited as %(role)s with %(email)s.", '
        'role=_("editor"), email="anna@example.com") }}'
    )

    def run():
        i18n.set_locale("ru")
        return template.render()

    invited = ru().get("You are invited as %(role)s with %(email)s.").string
    expected = invited % {"role": ru().get("editor").string, "email": "anna@example.com"}
    assert in_context(run) == f"Войти | {expected}"


def test_negotiate_locale():
    assert i18n.negotiate_locale(None, "ru-RU,ru;q=0.9,en;q=0.8") == "ru"
    assert i18n.negotiate_locale("en", "ru") == "en"
    assert i18n.negotiate_locale(None, "de") == "en"
    assert i18n.negotiate_locale("ru", None) == "ru"
    assert i18n.negotiate_locale("fr", "de-DE,en-GB;q=0.5,ru;q=0.7") == "ru"
    assert i18n.negotiate_locale(None, None) == "en"
