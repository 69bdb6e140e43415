"""The report's language: the UN language codes, detection of the script of a text, the language a file name
declares, and the checks that a language given by the caller is one that can be parsed and fits the text.

**Language.** :func:`detect_language` reads the share of CJK ideographs and of Latin letters among the letters
of the body: Chinese ("zh") or Latin-script text parsed with the English layout ("en"), or neither. A language
named by the caller (or by the file name, ``*.zh.txt`` / ``*.en.txt``) that contradicts a clear detection is
an error; fr/es/ru/ar are recognized names that cannot be parsed yet.
"""

from __future__ import annotations

import re
from pathlib import Path

from pipeline.ingest.errors import IngestError
from pipeline.text import CJK_IDEOGRAPHS, LATIN_LETTERS

__all__ = [
    "LANGUAGES",
    "PARSED_LANGUAGES",
    "check_language",
    "detect_language",
    "lang_from_name",
    "settle_language",
    "unsupported",
]

#: Language codes of UN documents (the six official languages); only :data:`PARSED_LANGUAGES` can be parsed.
LANGUAGES = ("zh", "en", "fr", "es", "ru", "ar")
PARSED_LANGUAGES = ("zh", "en")

_CJK = re.compile(f"[{CJK_IDEOGRAPHS}]")
_LATIN = re.compile(f"[{LATIN_LETTERS}]")
# the script each language is written in, as :func:`detect_language` names it (None: one it never names)
_SCRIPT = {"zh": "zh", "en": "en", "fr": "en", "es": "en", "ru": None, "ar": None}
_LANG_NAME = {"zh": "Chinese", "en": "Latin-script (English)"}


def detect_language(text: str) -> str | None:
    """The script that dominates ``text``: "zh" for Chinese, "en" for Latin script, None when neither does.

    Among the letters of the text (``str.isalpha``: ideographs, Latin, Cyrillic, Arabic, kana …), "zh" when at
    least half are CJK ideographs (a Chinese report quoting English titles and URLs stays well above that:
    ideographs are ~97% of the letters of the CTOC/COP/2012/7 Chinese text), "en" when at least 90% are
    Latin letters and there are no more ideographs than a name or two would bring (≤ 2%); None otherwise
    (no letters, a bilingual text, another script). "en" means "Latin script, parsed with the English
    layout": French or Spanish text also gives "en"; name those languages explicitly.
    """
    letters = sum(1 for c in text if c.isalpha())
    if not letters:
        return None
    cjk = len(_CJK.findall(text))
    latin = len(_LATIN.findall(text))
    if cjk / letters >= 0.5:
        return "zh"
    if latin / letters >= 0.9 and cjk / letters <= 0.02:
        return "en"
    return None


def check_language(path: str | Path, lang: str, detected: str | None, line: int = 1) -> None:
    """Raise when ``lang`` is not a UN language or contradicts a clear detection of the text's script.

    Raises:
        IngestError: at line 0 for an unknown code; at ``line`` for a contradiction with ``detected``.
    """
    if lang not in LANGUAGES:
        raise IngestError(path, 0, f"unknown language {lang!r} (use one of {', '.join(LANGUAGES)})")
    if detected is not None and _SCRIPT[lang] != detected:
        raise IngestError(
            path,
            line,
            f"the report is given as {lang} but its text is {_LANG_NAME[detected]}; "
            f"check the file (or its name, e.g. *.{detected}.txt) and the language given",
        )


def unsupported(lang: str) -> str:
    """The message for a UN language whose reports cannot be parsed yet."""
    return f"language {lang} is not supported yet (zh and en reports can be parsed)"


def settle_language(path: str | Path, lang: str | None, detected: str | None) -> str:
    """The language to parse a report in: ``lang`` when given (checked against ``detected``), else
    ``detected``.

    Args:
        path: the report, for error messages.
        lang: the language the caller or the file name gives, or None.
        detected: :func:`detect_language` of the report's body, or None when unknown or not detected.

    Raises:
        IngestError: ``lang`` unknown, contradicting ``detected`` or not parseable yet; or neither ``lang``
            nor ``detected`` known.
    """
    if lang is not None:
        check_language(path, lang, detected)
        if lang not in PARSED_LANGUAGES:
            raise IngestError(path, 0, unsupported(lang))
        return lang
    if detected is None:
        raise IngestError(
            path,
            1,
            "cannot tell the report's language (neither Chinese nor Latin script dominates its text); "
            "name the file *.zh.txt or *.en.txt, or give the language",
        )
    return detected


def lang_from_name(path: str | Path) -> str | None:
    """The language a file name declares: ``report.zh.txt`` -> "zh" (any of :data:`LANGUAGES`), else None."""
    m = re.search(r"\.([a-z]{2})\.(?:txt|pdf|docx|doc)$", Path(path).name, re.IGNORECASE)
    return m.group(1).lower() if m and m.group(1).lower() in LANGUAGES else None
