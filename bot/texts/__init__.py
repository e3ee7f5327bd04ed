"""The message catalogue: every text the bot shows, in Dutch (default) and English."""

from __future__ import annotations

import tomllib
from functools import cache
from importlib import resources
from typing import Any

LOCALES = ("nl", "en")
DEFAULT_LOCALE = "nl"


def _flatten(table: dict[str, Any], prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in table.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, name + "."))
        else:
            flat[name] = str(value)
    return flat


@cache
def catalogue(locale: str) -> dict[str, str]:
    """Return all texts of one locale, keyed `section.name`."""
    if locale not in LOCALES:
        locale = DEFAULT_LOCALE
    data = resources.files(__package__).joinpath(f"{locale}.toml").read_text(encoding="utf-8")
    return _flatten(tomllib.loads(data))


def t(locale: str, key: str, **params: Any) -> str:
    """Render the text `key` in `locale` (falling back to Dutch), filling in `params`."""
    texts = catalogue(locale if locale in LOCALES else DEFAULT_LOCALE)
    template = texts.get(key) or catalogue(DEFAULT_LOCALE).get(key)
    if template is None:
        raise KeyError(f"no text for {key!r}")
    return template.format(**params) if params else template


class Translator:
    """Texts of one locale, as a callable: `tr("ask.header", query=q)`."""

    def __init__(self, locale: str) -> None:
        self.locale = locale if locale in LOCALES else DEFAULT_LOCALE

    def __call__(self, key: str, **params: Any) -> str:
        return t(self.locale, key, **params)


def shorten(text: str, limit: int) -> str:
    """Fold whitespace and cut `text` to at most `limit` characters, marking a cut with …."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
