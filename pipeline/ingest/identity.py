"""A parsed report's identity: its document symbol and language, on the metadata and every paragraph."""

from __future__ import annotations

from pipeline.corpus import Corpus
from pipeline.ingest.errors import IngestError
from pipeline.ingest.language import detect_language, settle_language
from pipeline.text import symbol_form, symbol_key

__all__ = ["settle_identity"]


def settle_identity(
    corpus: Corpus, symbol: str | None = None, lang: str | None = None, *, source: str = "catalog"
) -> Corpus:
    """Give a parsed report its identity: the document symbol and language, on the metadata and on every
    paragraph (``document``, ``lang``), so that citations and language versions line up.

    Args:
        corpus: a parsed report.
        symbol: the document symbol; None keeps the one its front matter prints.
        lang: the language of this version; None keeps the parsed one.
        source: where a given symbol comes from ("catalog", "--symbol"), recorded as
            ``metadata.symbol_source`` when the front matter printed none.

    Returns:
        The same corpus.

    Raises:
        IngestError: no symbol known (neither given nor printed: give it with --symbol), a given symbol that
            differs from the printed one, a language that contradicts the text or the parse, or one not
            supported yet (file named).
    """
    meta = corpus.metadata
    symbol = _settle_symbol(corpus, symbol)
    if lang is not None:
        text = "\n".join(p.full_text for p in corpus.paragraphs)
        settle_language(corpus.path, lang, detect_language(text))
        if lang != meta.language:
            raise IngestError(corpus.path, 1, f"the report was parsed as {meta.language}, not {lang}")
    if meta.symbol != symbol:
        printed = meta.symbol if meta.symbol_source == "front matter" else None
        meta.symbol, meta.symbol_source = symbol, (meta.symbol_source if symbol == printed else source)
    meta.language = lang or meta.language
    for p in corpus.paragraphs:
        p.document = symbol
        p.lang = meta.language
    return corpus


def _settle_symbol(corpus: Corpus, symbol: str | None) -> str:
    """The report's symbol in the library's form (:func:`pipeline.text.symbol_form`): the printed one, which a
    given ``symbol`` must match (case, width and white space aside), else the given one.

    Raises:
        IngestError: a given symbol that differs from the printed one, one that is no document symbol (too
            long, stray characters), or none known.
    """
    meta = corpus.metadata
    printed = meta.symbol if meta.symbol_source == "front matter" else None
    if symbol is not None:
        try:
            symbol = symbol_form(symbol)
        except ValueError as e:
            raise IngestError(corpus.path, 1, f"--symbol: {e}") from None
        if printed and symbol_key(printed) != symbol_key(symbol):
            raise IngestError(
                corpus.path,
                1,
                f"the report prints the symbol {printed} in its front matter, but {symbol} was given",
            )
        symbol = printed or symbol  # the spelling the report prints
    symbol = symbol or meta.symbol
    if symbol:
        try:
            symbol = symbol_form(symbol)
        except ValueError as e:
            raise IngestError(corpus.path, 1, f"the symbol in the front matter: {e}") from None
    if not symbol:
        raise IngestError(
            corpus.path, 1, "the report prints no document symbol in its front matter; give it with --symbol"
        )
    return symbol
