"""The weights of an ``E5S1`` file as an ``XLMRobertaModel``: its parameters and its ``config.json``.

The engine's positions start at 0 in its 512-row table; ``XLMRobertaModel`` numbers real tokens from
``pad_token_id + 1 = 2``, so two zero rows are prepended (514 rows, as in the original checkpoint).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pipeline.models.e5_format import E5Bin, tensor

if TYPE_CHECKING:
    import numpy as np


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
