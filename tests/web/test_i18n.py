"""The pages' catalogues: language picking, rendering in the chosen language, and a
catalogue that lacks a translation for any string marked in the code or templates."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po
from flask import Flask, g, render_template, render_template_string

from referral_hub.core.errors import Forbidden, NotFound
from referral_hub.web import i18n

ROOT = Path(__file__).resolve().parents[2]
PLACEHOLDER = re.compile(r"%\((\w+)\)")


@pytest.mark.parametrize(
    ("requested", "fallback", "expected"),
    [
        ("es", None, "es"),
        ("es-MX", None, "es"),
        ("es_419", None, "es"),
        ("ES", None, "es"),
        (" es-mx ", None, "es"),
        ("en-GB", "es", "en"),
        ("fr", None, "en"),
        ("fr", "es-MX", "es"),
        ("fr", "de", "en"),
        (None, None, "en"),
        ("", "es", "es"),
        ("x-klingon", None, "en"),
    ],
)
def test_pick_reads_the_primary_subtag_of_a_bcp47_tag(
    requested: str | None, fallback: str | None, expected: str
) -> None:
    assert i18n.pick(requested, fallback) == expected


def test_every_supported_language_has_its_own_name_and_a_catalogue() -> None:
    assert set(i18n.LANGUAGE_NAMES) == set(i18n.SUPPORTED)
    for language in i18n.SUPPORTED:
        if language != i18n.SOURCE:
            assert (i18n.CATALOGUES / language / "LC_MESSAGES" / "messages.po").is_file()


def _error_page(app: Flask, language: str | None, error: Any) -> str:
    with app.test_request_context("/"):
        g.request_id = "req-<1>"
        if language is not None:
            g.language = language
        return render_template("error.html", error=error)


def test_the_error_page_speaks_the_language_the_view_chose(app: Flask) -> None:
    english = _error_page(app, "en", NotFound())
    assert "It may have been removed, or it belongs to another agency." in english
    assert "Back to the start page" in english
    assert "Reference for support: <code>req-&lt;1&gt;</code>" in english  # still escaped
    assert '<html lang="en">' in english

    spanish = _error_page(app, "es-MX", NotFound())
    assert "Puede que se haya eliminado o que pertenezca a otra agencia." in spanish
    assert "Volver a la página de inicio" in spanish
    assert "Referencia para el soporte técnico: <code>req-&lt;1&gt;</code>" in spanish
    assert '<html lang="es">' in spanish
    assert "Back to the start page" not in spanish

    assert "administra su agencia" in _error_page(app, "es", Forbidden())


def test_no_language_or_an_unknown_one_reads_english(app: Flask) -> None:
    assert _error_page(app, None, NotFound()) == _error_page(app, "en", NotFound())
    assert _error_page(app, "fr", NotFound()) == _error_page(app, "en", NotFound())


def test_python_code_and_templates_share_the_current_language(app: Flask) -> None:
    message = "Back to the start page"
    label = i18n.lazy_gettext(message)
    assert i18n.gettext(message) == message  # outside any request: English
    with app.test_request_context("/"):
        g.language = "es"
        assert i18n.gettext(message) == "Volver a la página de inicio"
        assert str(label) == "Volver a la página de inicio"
        assert i18n.ngettext("%(num)d day", "%(num)d days", 3) == "3 days"  # not in es: English
        assert i18n.gettext("%(n)s%% done", n=5) == "5% done"
        page = render_template_string(
            "{{ _('Back to the start page') }}|{{ ngettext('%(num)d day', '%(num)d days', 2) }}"
            "|{% trans n=1 %}{{ n }} item{% pluralize %}{{ n }} items{% endtrans %}"
        )
        assert page == "Volver a la página de inicio|2 days|1 item"
    assert str(label) == message


def _extracted() -> dict[str | tuple[str, ...], list[str]]:
    """Every msgid marked in referral_hub/ as `make translations` finds it (babel.cfg),
    with where it is."""
    with (ROOT / "babel.cfg").open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    found: dict[str | tuple[str, ...], list[str]] = {}
    package = ROOT / "referral_hub"
    for filename, lineno, message, _comments, _context in extract_from_dir(
        package, method_map, options_map
    ):
        key = tuple(message) if isinstance(message, (list, tuple)) else message
        found.setdefault(key, []).append(f"referral_hub/{filename}:{lineno}")
    return found


def test_the_strings_are_found_where_they_are_marked() -> None:
    messages = _extracted()
    assert "Back to the start page" in messages
    assert "Reference for support: <code>%(request_id)s</code>" in messages  # a trans block


@pytest.mark.parametrize("language", [lang for lang in i18n.SUPPORTED if lang != i18n.SOURCE])
def test_every_marked_string_is_translated(language: str) -> None:
    """A new or changed string fails here until `make translations` merges it into the
    catalogue and someone translates it: a survivor must never meet half a page in English."""
    with (i18n.CATALOGUES / language / "LC_MESSAGES" / "messages.po").open("rb") as po:
        catalogue = read_po(po, locale=language)
    problems = []
    for msgid, where in sorted(_extracted().items(), key=lambda item: str(item[0])):
        singular = msgid[0] if isinstance(msgid, tuple) else msgid
        entry = catalogue.get(singular)
        texts = msgid if isinstance(msgid, tuple) else (msgid,)
        expected = {name for text in texts for name in PLACEHOLDER.findall(text)}
        translations = entry.string if entry is not None else ""
        forms: list[Any] = list(translations) if isinstance(translations, tuple) else [translations]
        # a plural form may spell its number out ("un día"): `num` is optional there
        optional = {"num"} if isinstance(msgid, tuple) else set()
        if entry is None:
            problems.append(f"{where[0]}: not in {language}.po: {msgid!r}")
        elif entry.fuzzy or not all(forms):
            problems.append(f"{where[0]}: untranslated or fuzzy in {language}.po: {msgid!r}")
        elif any(
            set(PLACEHOLDER.findall(form)) - optional != expected - optional for form in forms
        ):
            problems.append(f"{where[0]}: placeholders differ from {expected}: {msgid!r}")
    assert not problems, "run `make translations`, then translate:\n" + "\n".join(problems)
