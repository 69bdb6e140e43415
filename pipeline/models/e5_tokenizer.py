"""The engine's tokenizer as a ``tokenizers.Tokenizer`` (``tokenizer.json``) and its configuration files.

Engine semantics reproduced here: per-codepoint normalisation map, runs of spaces collapsed to one,
SentencePiece metaspace (prepend ``▁``, spaces become ``▁``), Unigram Viterbi with unknown score
``min(score) - 10``, one ``<unk>`` per unknown character, ``<s> … </s>`` around the content. The map is
written as a SentencePiece "precompiled charsmap" (a darts-clone double-array trie) so the stock
``Precompiled`` normalizer applies it.
"""

from __future__ import annotations

import struct
from typing import Any

from pipeline.models.e5_format import ConversionError, E5Bin


def precompiled_charsmap(norm_map: dict[int, tuple[int, ...]]) -> bytes:
    """Encode a per-codepoint normalisation map as a SentencePiece precompiled charsmap.

    The format (read by ``tokenizers``' ``Precompiled`` normalizer) is a u32 trie size in bytes, a
    darts-clone double-array trie over the UTF-8 bytes of each mapped codepoint, then the replacement
    strings, each NUL-terminated; a trie leaf's value is the byte offset of its replacement.

    Double-array units: ``label`` in bits 0-7, ``has_leaf`` in bit 8, the XOR offset to the node's base in
    bits 10-30; the child with byte ``c`` of a node at ``p`` lives at ``p ^ offset ^ c``; a leaf's value
    unit (bit 31 set) lives at ``p ^ offset``. Each base is used by one node only, so a lookup of an absent
    key stops at the first byte that has no edge.

    Args:
        norm_map: codepoint -> replacement codepoints (an empty tuple deletes the codepoint).

    Returns:
        The charsmap bytes.
    """
    # replacement strings, deduplicated
    blob = bytearray()
    value_of: dict[tuple[int, ...], int] = {}
    for out in sorted(set(norm_map.values())):
        value_of[out] = len(blob)
        blob += "".join(chr(c) for c in out).encode("utf-8") + b"\0"

    # byte trie: node = [children: dict[int, node], value or None]
    root: list[Any] = [{}, None]
    for cp, out in norm_map.items():
        node = root
        for byte in chr(cp).encode("utf-8"):
            node = node[0].setdefault(byte, [{}, None])
        node[1] = value_of[out]

    units = _double_array(root)
    trie = struct.pack(f"<{len(units)}I", *units)
    return struct.pack("<I", len(trie)) + trie + bytes(blob)


def _double_array(root: list[Any]) -> list[int]:
    """The darts-clone double-array units of a byte trie (see :func:`precompiled_charsmap`).

    Args:
        root: the trie's root node; a node is ``[children by byte, leaf value or None]``.

    Returns:
        The units, trailing empty ones dropped.
    """
    units: list[int] = [0]
    used = bytearray(b"\x01")  # position 0 is the root

    def ensure(n: int) -> None:
        if n > len(used):
            extra = n - len(used)
            used.extend(b"\0" * extra)
            units.extend([0] * extra)

    # a base serves one node only: otherwise a missing child's slot could hold another node's child with
    # the same label and the lookup would wrongly continue there
    bases: set[int] = set()
    search_from = 1
    queue: list[tuple[int, int, list[Any]]] = [(0, 0, root)]  # (position, label, node)
    head = 0
    while head < len(queue):
        pos, label, node = queue[head]
        head += 1
        children = sorted(node[0])
        leaf = node[1] is not None
        base = search_from
        while True:
            ensure(base + 256 + 1)
            if (
                base not in bases
                and (not leaf or not used[base])
                and all(not used[base ^ c] for c in children)
            ):
                if base ^ pos < (1 << 21):
                    break
            base += 1
        bases.add(base)
        offset = base ^ pos
        units[pos] = (offset << 10) | (int(leaf) << 8) | label
        if leaf:
            used[base] = 1
            units[base] = node[1] | (1 << 31)
        for c in children:
            used[base ^ c] = 1
            queue.append((base ^ c, c, node[0][c]))
        while search_from < len(used) and used[search_from]:
            search_from += 1
    while units and units[-1] == 0 and len(units) > 1:
        units.pop()
    return units


def unknown_char_pattern(model: E5Bin) -> str:
    """A regex character class matching one character that has no single-character vocabulary piece.

    The engine emits one ``<unk>`` per unknown character, while the ``tokenizers`` Unigram model fuses a
    run of unknowns into one token. Isolating each unknown character as its own pre-token restores the
    engine's behaviour; it changes nothing else because every character that occurs in any piece is also a
    single-character piece (checked here), so no piece can span an unknown character.

    Raises:
        ConversionError: when some piece contains a character without a single-character piece.
    """
    specials = {model.bos, model.eos, model.pad, model.unk}
    if "<mask>" in model.pieces:
        specials.add(model.pieces.index("<mask>"))
    pieces = [p for i, p in enumerate(model.pieces) if i not in specials]
    single = {p for p in pieces if len(p) == 1}
    inner = {c for p in pieces for c in p} - single
    if inner:
        raise ConversionError(f"pieces use characters without a single-character piece: {sorted(inner)[:10]}")
    cps = sorted(ord(c) for c in single)
    ranges: list[tuple[int, int]] = []
    for cp in cps:
        if ranges and cp == ranges[-1][1] + 1:
            ranges[-1] = (ranges[-1][0], cp)
        else:
            ranges.append((cp, cp))
    body = "".join(f"\\x{{{a:X}}}" if a == b else f"\\x{{{a:X}}}-\\x{{{b:X}}}" for a, b in ranges)
    return f"[^{body}]"


def build_tokenizer(model: E5Bin) -> Any:
    """Build a ``tokenizers.Tokenizer`` reproducing the engine's ``tok_content`` plus ``<s> … </s>``.

    Pipeline: ``Precompiled`` (the engine's per-codepoint map) → collapse runs of spaces →
    ``Metaspace`` (prepend ``▁`` always, split before each ``▁``; no vocabulary piece contains an inner
    ``▁``, so splitting changes nothing) → each unknown character isolated (see
    :func:`unknown_char_pattern`) → Unigram (same pieces and scores; the library's unknown score
    is also ``min(score) - 10``) → ``<s> $A </s>``.
    """
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, normalizers, pre_tokenizers, processors
    from tokenizers.models import Unigram

    vocab = list(zip(model.pieces, model.scores, strict=True))
    tok = Tokenizer(Unigram(vocab=vocab, unk_id=model.unk, byte_fallback=False))
    charsmap = precompiled_charsmap(model.norm_map)
    tok.normalizer = normalizers.Sequence(
        [normalizers.Precompiled(charsmap), normalizers.Replace(Regex(" {2,}"), " ")]
    )
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True),
            pre_tokenizers.Split(Regex(unknown_char_pattern(model)), behavior="isolated"),
        ]
    )
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    bos, eos = model.pieces[model.bos], model.pieces[model.eos]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, model.bos), (eos, model.eos)],
    )
    specials = [model.pieces[i] for i in (model.bos, model.pad, model.eos, model.unk)]
    tok.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in specials])
    mask = "<mask>"
    if mask in model.pieces:
        tok.add_special_tokens([AddedToken(mask, special=True, lstrip=True, normalized=False)])
    return tok


def tokenizer_files(model: E5Bin) -> dict[str, Any]:
    """The JSON files that go with ``tokenizer.json`` (file name -> contents)."""
    bos, eos, pad, unk = (model.pieces[i] for i in (model.bos, model.eos, model.pad, model.unk))
    specials = {
        "bos_token": bos,
        "eos_token": eos,
        "cls_token": bos,
        "sep_token": eos,
        "pad_token": pad,
        "unk_token": unk,
    }
    if "<mask>" in model.pieces:
        specials["mask_token"] = "<mask>"
    tokenizer_config = {
        # the generic fast-tokenizer class loads tokenizer.json as written; XLMRobertaTokenizer in
        # transformers 5 would replace the pre-tokenizer with its own (whitespace split), unlike the engine
        "tokenizer_class": "PreTrainedTokenizerFast",
        "model_max_length": model.max_positions,
        "clean_up_tokenization_spaces": False,
        **specials,
    }
    return {"tokenizer_config.json": tokenizer_config, "special_tokens_map.json": specials}
