"""The model's SentencePiece-Unigram tokenizer, loaded in a fifth of the time, giving the very same ids.

Loading ``tokenizer.json`` (250,002 pieces) costs 0.5-0.9 s on these machines, almost all of it the
``tokenizers`` library building its trie of pieces — more than the rest of a cold search. A query of a few
dozen characters needs a handful of dictionary lookups instead. So :func:`write_vocab` stores, at
``pipeline build``, the tokenizer without its pieces (a *shell*: normalizer, pre-tokenizer, special tokens,
loaded in milliseconds) and the pieces with their scores (``marshal``, loaded in ~0.1 s). Encoding runs the
shell's own normalizer and pre-tokenizer, then the Viterbi search of ``tokenizers``' Unigram model
(``encode_optimized``, itself SentencePiece's) over a dict: the same candidates in the same order, the same
float64 sums, the same strict ``>`` tie rule, unknown characters scored ``min_score - 10`` and consecutive
unknowns fused into one ``<unk>``. Text that contains a special token's text (``<s>``, ``<mask>`` …), which
``tokenizers`` matches before normalizing, is handed to the full tokenizer instead.

``tests/test_onnx_encoder.py`` checks the ids against ``tokenizers`` on every sentence and paragraph of the
library, the evaluation questions and generated text.
"""

from __future__ import annotations

import json
import marshal
from collections.abc import Sequence
from pathlib import Path
from typing import Any

SHELL_FILE = "tokenizer-shell.json"
VOCAB_FILE = "vocab.marshal"
#: SentencePiece's penalty for an unknown character (``kUnkPenalty``)
UNK_PENALTY = 10.0


class UnsupportedTokenizer(ValueError):
    """The tokenizer is not a Unigram model with a BOS/EOS template this module reproduces."""


def _parts(tokenizer_json: dict[str, Any]) -> tuple[dict[str, Any], list[str], list[float]]:
    model = tokenizer_json.get("model") or {}
    if model.get("type") != "Unigram" or model.get("byte_fallback"):
        raise UnsupportedTokenizer("not a Unigram tokenizer without byte fallback")
    post = tokenizer_json.get("post_processor") or {}
    single = [next(iter(x)) for x in post.get("single", [])]
    if post.get("type") != "TemplateProcessing" or single != ["SpecialToken", "Sequence", "SpecialToken"]:
        raise UnsupportedTokenizer("the post-processor is not <bos> text <eos>")
    vocab = model["vocab"]
    pieces = [str(p) for p, _ in vocab]
    scores = [float(s) for _, s in vocab]
    unk = model.get("unk_id")
    if unk is None:
        raise UnsupportedTokenizer("no unknown-token id")
    shell = json.loads(json.dumps(tokenizer_json))
    shell["model"]["vocab"] = vocab[: unk + 1]  # the shell keeps what it needs to load, not the pieces
    return shell, pieces, scores


def write_vocab(tokenizer_path: str | Path, out_dir: str | Path) -> list[str]:
    """Write the shell and the pieces of the tokenizer at ``tokenizer_path`` into ``out_dir``; returns the
    file names written.

    Raises:
        UnsupportedTokenizer: not a tokenizer this module reproduces.
    """
    data = json.loads(Path(tokenizer_path).read_text(encoding="utf-8"))
    shell, pieces, scores = _parts(data)
    out = Path(out_dir)
    (out / SHELL_FILE).write_text(json.dumps(shell, ensure_ascii=False), encoding="utf-8")
    (out / VOCAB_FILE).write_bytes(marshal.dumps((pieces, scores)))
    return [SHELL_FILE, VOCAB_FILE]


class FastUnigram:
    """Token ids of texts, with the special tokens, truncated to ``max_len`` like ``tokenizers``' truncation.

    Args:
        directory: where :func:`write_vocab` wrote its files.
        full_tokenizer: the model's ``tokenizer.json``, loaded only for a text with a special token's text.
        max_len: the model's maximum sequence length (special tokens included).
    """

    def __init__(self, directory: str | Path, full_tokenizer: str | Path, max_len: int) -> None:
        from tokenizers import Tokenizer

        directory = Path(directory)
        shell_text = (directory / SHELL_FILE).read_text(encoding="utf-8")
        shell = Tokenizer.from_str(shell_text)
        self._normalize = shell.normalizer.normalize_str
        self._pre_tokenize = shell.pre_tokenizer.pre_tokenize_str
        data = json.loads(shell_text)
        specials = data["post_processor"]["special_tokens"]
        single = data["post_processor"]["single"]
        self.bos = int(specials[single[0]["SpecialToken"]["id"]]["ids"][0])
        self.eos = int(specials[single[2]["SpecialToken"]["id"]]["ids"][0])
        self.unk = int(data["model"]["unk_id"])
        self.added = [t["content"] for t in data.get("added_tokens", [])]
        pieces, self.scores = marshal.loads((directory / VOCAB_FILE).read_bytes())
        self.ids: dict[str, int] = dict(zip(pieces, range(len(pieces)), strict=True))
        self.longest = max(map(len, pieces))
        self.unk_score = min(self.scores) - UNK_PENALTY
        self.max_len = int(max_len)
        self._full_path = Path(full_tokenizer)
        self._full: Any = None

    def _pieces(self, text: str) -> list[int]:
        """Viterbi over the pieces of one pre-token (``encode_optimized``), then the ids."""
        n = len(text)
        score: list[float] = [0.0] * (n + 1)
        start: list[int] = [-1] * (n + 1)
        piece: list[int] = [-1] * (n + 1)
        ids, scores = self.ids, self.scores
        for i in range(n):
            here = score[i]
            single = False
            for j in range(i + 1, min(n, i + self.longest) + 1):
                pid = ids.get(text[i:j])
                if pid is None:
                    continue
                cand = scores[pid] + here
                if start[j] < 0 or cand > score[j]:
                    score[j], start[j], piece[j] = cand, i, pid
                single = single or j == i + 1
            if not single:
                cand = self.unk_score + here
                if start[i + 1] < 0 or cand > score[i + 1]:
                    score[i + 1], start[i + 1], piece[i + 1] = cand, i, self.unk
        out: list[int] = []
        end = n
        while end > 0:  # backtrack; a run of unknown characters is one <unk> ("fuse_unk")
            pid = piece[end]
            # (the joined text is never a piece: two unknowns score below any piece, so the search would
            # have taken the piece)
            if not (pid == self.unk and out and out[-1] == self.unk):
                out.append(pid)
            end = start[end]
        out.reverse()
        return out

    def encode_one(self, text: str) -> list[int]:
        """Ids of one text, ``<bos> … <eos>``."""
        if any(a in text for a in self.added):
            return list(self._full_tokenizer().encode(text).ids)
        body: list[int] = []
        for word, _ in self._pre_tokenize(self._normalize(text)):
            if word:
                body.extend(self._pieces(word))
        return [self.bos, *body[: max(self.max_len - 2, 0)], self.eos]

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        return [self.encode_one(t) for t in texts]

    def _full_tokenizer(self) -> Any:
        if self._full is None:
            from tokenizers import Tokenizer

            self._full = Tokenizer.from_file(str(self._full_path))
            self._full.enable_truncation(self.max_len)
        return self._full
