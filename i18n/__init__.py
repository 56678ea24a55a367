"""Translations: English message ids, Chinese (zh_CN) first; catalogs read from .po files."""

from i18n.catalog import SUPPORTED_LOCALES, gettext_for, in_context, negotiate_locale

__all__ = ["SUPPORTED_LOCALES", "gettext_for", "in_context", "negotiate_locale"]
