"""The console's two languages: zh (简体中文) and en, from gettext catalogs read with Babel.

The English text is the message id; `locale/zh/LC_MESSAGES/messages.po` holds the Chinese. The
catalog is compiled in memory when first used (no build step, no .mo files to keep in step). The
language is `?lang=` (remembered in a cookie), else the cookie, else the browser's Accept-Language.
Numbers, money and percentages are formatted by Babel for the language's locale.
"""

from __future__ import annotations

import datetime as dt
import functools
import io
from decimal import Decimal
from importlib import resources

from babel import numbers
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations
from jinja2 import Undefined

LANGS = ("zh", "en")
LOCALES = {"zh": "zh_Hans_CN", "en": "en_US"}
COOKIE = "fw_lang"


def pick_language(query: str | None, cookie: str | None, accept: str | None) -> str:
    for choice in (query, cookie):
        if choice in LANGS:
            return choice
    for part in (accept or "").split(","):
        tag = part.split(";")[0].strip().lower()
        if tag.startswith("zh"):
            return "zh"
        if tag.startswith("en"):
            return "en"
    return "en"


def catalog_path():
    return resources.files("flywheel.console").joinpath("locale/zh/LC_MESSAGES/messages.po")


@functools.cache
def translations(lang: str) -> NullTranslations:
    if lang == "en":
        return NullTranslations()
    with catalog_path().open("rb") as handle:
        catalog = read_po(handle, locale="zh_Hans_CN")
    buf = io.BytesIO()
    write_mo(buf, catalog)
    buf.seek(0)
    return Translations(buf)


def _missing(v) -> bool:
    return v is None or isinstance(v, Undefined)


class Formats:
    """Number, money, share and date formatting for one language (Babel's locale data)."""

    def __init__(self, lang: str, tz: dt.tzinfo = dt.timezone.utc):
        self.lang, self.locale, self.tz = lang, LOCALES[lang], tz

    def number(self, v, digits: int = 0) -> str:
        if _missing(v):
            return "—"
        return numbers.format_decimal(v, format=f"#,##0{'.' + '0' * digits if digits else ''}", locale=self.locale)

    def yuan(self, cents, digits: int = 0) -> str:
        """Cents as yuan, exactly (Decimal): ¥1,234."""
        if _missing(cents):
            return "—"
        value = Decimal(int(cents)) / 100
        return "¥" + numbers.format_decimal(value, format=f"#,##0{'.' + '0' * digits if digits else ''}",
                                            locale=self.locale)

    def pct(self, v, digits: int = 1) -> str:
        if _missing(v):
            return "—"
        return numbers.format_percent(v, format=f"#,##0.{'0' * digits}%", locale=self.locale)

    def ratio(self, v, digits: int = 1) -> str:
        return "—" if _missing(v) else self.number(v, digits)

    def when(self, v) -> str:
        """An instant on the merchant's clock (the time zone the console's days are counted in)."""
        if _missing(v):
            return "—"
        if isinstance(v, str):
            try:
                v = dt.datetime.fromisoformat(v)
            except ValueError:
                return v
        if isinstance(v, dt.datetime):
            if v.tzinfo is None:
                v = v.replace(tzinfo=dt.timezone.utc)
            return v.astimezone(self.tz).strftime("%Y-%m-%d %H:%M")
        return str(v)

    def seconds(self, v) -> str:
        if _missing(v):
            return "—"
        days = v / 86400
        if days >= 1:
            return self.number(days, 1) + (" 天" if self.lang == "zh" else " d")
        return self.number(v / 3600, 1) + (" 小时" if self.lang == "zh" else " h")
