"""Load the .po catalogs (no compile step needed) and pick a locale from a request."""

from collections.abc import Callable
from functools import lru_cache
from io import BytesIO
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

LOCALES_DIR = Path(__file__).parent / "locales"
DEFAULT_LOCALE = "zh_CN"
SUPPORTED_LOCALES = ("zh_CN", "en")


@lru_cache
def translations(locale: str) -> NullTranslations:
    """Return the translations for `locale`, merged from every .po file of that locale.

    Each process keeps its own catalog file (complaint.po, onboarding.po, …); English is the
    message ids themselves.
    """
    merged = NullTranslations()
    for po_path in sorted((LOCALES_DIR / locale / "LC_MESSAGES").glob("*.po")):
        with po_path.open("rb") as po_file:
            catalog = read_po(po_file, locale=locale)
        compiled = BytesIO()
        write_mo(compiled, catalog)
        compiled.seek(0)
        part = Translations(fp=compiled)
        if isinstance(merged, Translations):
            merged.merge(part)
        else:
            merged = part
    return merged


def gettext_for(locale: str) -> Callable[[str], str]:
    """Return a gettext function for `locale`."""
    return translations(locale).gettext


# How gettext keys a message with a context (msgctxt): the context, EOT, the message id.
CONTEXT_SEPARATOR = "\x04"


def in_context(gettext: Callable[[str], str], context: str, message: str) -> str:
    """Return `message` translated in `context` (its msgctxt), else translated without one."""
    key = f"{context}{CONTEXT_SEPARATOR}{message}"
    translated = gettext(key)
    return gettext(message) if translated == key else translated


def negotiate_locale(accept_language: str | None, default: str = DEFAULT_LOCALE) -> str:
    """Pick the supported locale a client asks for in an Accept-Language header."""
    if not accept_language:
        return default
    for part in accept_language.split(","):
        tag = part.split(";")[0].strip().lower()
        if tag.startswith("zh"):
            return "zh_CN"
        if tag.startswith("en"):
            return "en"
    return default
