"""The pages' words in the reader's language, from gettext catalogues.

Source strings are English; every other language has
`referral_hub/translations/<lang>/LC_MESSAGES/messages.po`. The .po files are read at
startup (once per process) rather than compiled to .mo: a fresh clone runs with no build
step and no binary artefact to forget. A string missing from a catalogue shows in English.

A view picks the language for its request: `g.language = i18n.pick(tag)`. Templates then
use `{{ _("Hello %(name)s", name=x) }}` and `{% trans %}` blocks; Python code uses
`gettext`, `ngettext` and `lazy_gettext` from here. Placeholders are always `%(name)s`
and a literal percent sign is `%%`, in Python as in templates (Jinja's "newstyle").
The words the staff pages put on codes (statuses, reasons, categories) are lazy strings in
`web/words.py`.

Adding a language: its code in `SUPPORTED` and its own name in `LANGUAGE_NAMES`, then
`make translations` creates its catalogue from the template (`messages.pot`) to translate.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import LazyProxy, NullTranslations, Translations
from flask import Flask, g, has_app_context

SOURCE = "en"  # the language the strings are written in: it needs no catalogue
SUPPORTED = ("en", "es")
LANGUAGE_NAMES = {"en": "English", "es": "Español"}  # each in its own words, for a picker
CATALOGUES = Path(__file__).resolve().parent.parent / "translations"


def pick(requested: str | None, fallback: str | None = None) -> str:
    """The supported language for a BCP 47 tag (`es-MX`, `es_419`, `ES` read as `es`);
    else `fallback`'s, else English."""
    for tag in (requested, fallback):
        primary = (tag or "").strip().replace("_", "-").split("-", 1)[0].lower()
        if primary in SUPPORTED:
            return primary
    return SOURCE


def current_language() -> str:
    """The language the view chose (`g.language`); English when none did."""
    return pick(g.get("language")) if has_app_context() else SOURCE


@functools.cache
def catalogue(language: str) -> NullTranslations:
    """`language`'s messages, read from its .po; fuzzy entries are left out (English)."""
    if language == SOURCE:
        return NullTranslations()
    path = CATALOGUES / language / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as po:
        messages = read_po(po, locale=language)
    compiled = io.BytesIO()
    write_mo(compiled, messages, use_fuzzy=False)
    compiled.seek(0)
    return Translations(compiled)


@contextmanager
def speaking(language: str) -> Iterator[None]:
    """Words rendered inside the block are in `language`; the request's language after."""
    before = g.get("language")
    g.language = language
    try:
        yield
    finally:
        if before is None:
            g.pop("language", None)
        else:
            g.language = before


def _translations() -> NullTranslations:
    return catalogue(current_language())


def gettext(message: str, **variables: Any) -> str:
    return _translations().gettext(message) % variables


def ngettext(singular: str, plural: str, num: int, **variables: Any) -> str:
    """`%(num)d` is filled with `num` unless given, as in templates."""
    variables.setdefault("num", num)
    return _translations().ngettext(singular, plural, num) % variables


def lazy_gettext(message: str, **variables: Any) -> LazyProxy:
    """A string translated when it is used, for module-level labels (no request yet)."""
    return LazyProxy(gettext, message, enable_cache=False, **variables)


def init_app(app: Flask) -> None:
    """Templates get `_`, `gettext`, `ngettext`, `{% trans %}` and `current_language()`.

    `{% trans %}` blocks are trimmed (whitespace runs read as one space), as `babel.cfg`
    extracts them, so a wrapped sentence is one msgid. Every catalogue is read here: a
    broken .po stops the start, not a survivor's page."""
    for language in SUPPORTED:
        catalogue(language)
    app.jinja_env.add_extension("jinja2.ext.i18n")
    app.jinja_env.policies["ext.i18n.trimmed"] = True
    app.jinja_env.install_gettext_callables(  # type: ignore[attr-defined]
        gettext=lambda message: _translations().gettext(message),
        ngettext=lambda singular, plural, n: _translations().ngettext(singular, plural, n),
        newstyle=True,
    )
    app.jinja_env.globals["current_language"] = current_language
