"""The embedding model's forward pass on torch alone, for the most common
sentence-transformers layout: a BERT encoder, mean pooling, normalisation.

Importing sentence-transformers drags in transformers, scikit-learn and scipy
for the same dozen matrix products: about 4 s of CPU and 250 MB of memory in a
process that lives as long as the editor (benchmarks/RESULTS.md). This module
reads the model directory sentence-transformers would read and gives the same
vectors (tests/test_bert_encoder.py holds it to that). Any model it does not
recognise exactly goes through sentence-transformers instead: `load` says None.
"""
from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path

_TRANSFORMER, _POOLING, _NORMALIZE = "Transformer", "Pooling", "Normalize"
_WEIGHTS_PREFIX = "bert."
# Beside a model's own files: its transformer layers as trained to read questions
# against the model's vectors of code (benchmarks/model/query_tower.py). The word
# embeddings and the tokenizer stay the model's, and so do the index's vectors.
QUESTION_LAYERS = "question_layers.safetensors"


def question_layers(directory: str | Path) -> Path | None:
    """The model's question layers, if it has them."""
    path = Path(directory) / QUESTION_LAYERS
    return path if path.is_file() else None


def read_question_layers(path: Path, own: dict) -> dict:
    """The question layers as float32 tensors keyed as `own` (a model's weights,
    without their `bert.` prefix), which must hold each of them in the same shape."""
    from safetensors.torch import load_file

    layers = {key.removeprefix(_WEIGHTS_PREFIX): tensor.float() for key, tensor in load_file(str(path)).items()}
    wrong = sorted(key for key, tensor in layers.items() if key not in own or own[key].shape != tensor.shape)
    if wrong or not layers:
        raise ValueError(f"{path} does not fit its model ({', '.join(wrong[:3]) or 'no layers'})")
    return layers


@dataclass(frozen=True)
class BertLayout:
    """What the forward pass needs to know about one model directory."""

    transformer_dir: Path
    max_tokens: int
    lowercase: bool
    heads: int
    layers: int
    layer_norm_eps: float


def read_layout(directory: str | Path) -> BertLayout | None:
    """The layout of a plain BERT + mean pooling model, or None for anything else."""
    root = Path(directory)
    try:
        modules = json.loads((root / "modules.json").read_text())
        kinds = [module["type"].rsplit(".", 1)[-1] for module in modules]
        if kinds not in ([_TRANSFORMER, _POOLING], [_TRANSFORMER, _POOLING, _NORMALIZE]):
            return None
        transformer_dir = root / modules[0].get("path", "")
        if not _is_mean_pooling(json.loads((root / modules[1]["path"] / "config.json").read_text())):
            return None
        if _has_prompts(root):
            return None
        config = json.loads((transformer_dir / "config.json").read_text())
        if (
            config.get("model_type") != "bert"
            or config.get("hidden_act") != "gelu"
            or config.get("position_embedding_type", "absolute") != "absolute"
        ):
            return None
        if not (transformer_dir / "model.safetensors").is_file() or not _tokenizer_is_self_contained(transformer_dir):
            return None
        st_config = json.loads((transformer_dir / "sentence_bert_config.json").read_text())
        max_tokens = int(st_config["max_seq_length"])
        if max_tokens > int(config["max_position_embeddings"]):
            return None
        return BertLayout(
            transformer_dir=transformer_dir,
            max_tokens=max_tokens,
            lowercase=bool(st_config.get("do_lower_case", False)),
            heads=int(config["num_attention_heads"]),
            layers=int(config["num_hidden_layers"]),
            layer_norm_eps=float(config["layer_norm_eps"]),
        )
    except (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError):
        return None


def _is_mean_pooling(pooling: dict) -> bool:
    if "pooling_mode" in pooling:
        return pooling["pooling_mode"] == "mean"
    modes = {key: value for key, value in pooling.items() if key.startswith("pooling_mode_")}
    return modes.get("pooling_mode_mean_tokens") is True and not any(
        value for key, value in modes.items() if key != "pooling_mode_mean_tokens"
    )


def _tokenizer_is_self_contained(directory: Path) -> bool:
    """transformers rebuilds a BERT tokenizer's normaliser from tokenizer_config.json
    where the two disagree; `tokenizers` alone reads only tokenizer.json."""
    normalizer = json.loads((directory / "tokenizer.json").read_text()).get("normalizer") or {}
    if normalizer.get("type") != "BertNormalizer":
        return False
    try:
        overrides = json.loads((directory / "tokenizer_config.json").read_text())
    except (OSError, ValueError):
        return True
    pairs = (("do_lower_case", "lowercase"), ("strip_accents", "strip_accents"),
             ("tokenize_chinese_chars", "handle_chinese_chars"))
    return all(overrides[ours] == normalizer.get(theirs) for ours, theirs in pairs if ours in overrides)


def _has_prompts(root: Path) -> bool:
    try:
        config = json.loads((root / "config_sentence_transformers.json").read_text())
    except (OSError, ValueError):
        return False
    return bool(config.get("default_prompt_name")) or any((config.get("prompts") or {}).values())


class BertEncoder:
    """Tokenise, then encode: two steps, because a fast tokenizer may be used by
    one thread at a time while the forward pass may run on several."""

    backend = "torch"

    def __init__(self, layout: BertLayout):
        from safetensors.torch import load_file
        from tokenizers import Tokenizer

        self.layout = layout
        weights = load_file(str(layout.transformer_dir / "model.safetensors"))
        # sentence-transformers computes in float32 on a CPU whatever the checkpoint stores.
        self.weights = {key.removeprefix(_WEIGHTS_PREFIX): tensor.float() for key, tensor in weights.items()}
        self.dim = int(self.weights["embeddings.word_embeddings.weight"].shape[1])
        self.tokenizer = Tokenizer.from_file(str(layout.transformer_dir / "tokenizer.json"))
        self.tokenizer.enable_truncation(layout.max_tokens)
        pad_id = self.tokenizer.token_to_id("[PAD]")
        self.tokenizer.enable_padding(pad_id=pad_id or 0, pad_token="[PAD]")
        # Weights that do not fit the config (a missing layer, a wrong shape) fail
        # here, where the caller can still choose sentence-transformers instead.
        self.embed(self.tokenize(["def check(): pass"]))

    def for_questions(self) -> BertEncoder | None:
        """The model's question encoder (`QUESTION_LAYERS` in place of its own,
        the rest shared), or None where the model has none."""
        path = question_layers(self.layout.transformer_dir)
        if path is None:
            return None
        asking = copy.copy(self)
        asking.weights = {**self.weights, **read_question_layers(path, self.weights)}
        return asking

    def tokenize(self, texts: list[str]):
        import torch

        if self.layout.lowercase:
            texts = [text.lower() for text in texts]
        encodings = self.tokenizer.encode_batch(texts)
        ids = torch.tensor([encoding.ids for encoding in encodings], dtype=torch.long)
        mask = torch.tensor([encoding.attention_mask for encoding in encodings], dtype=torch.bool)
        return ids, mask

    def embed(self, tokens) -> "torch.Tensor":  # noqa: F821 - torch is imported lazily
        """Mean-pooled, unnormalised sentence vectors, one row per text."""
        import torch.nn.functional as F

        ids, mask = tokens
        w = self.weights
        batch, length = ids.shape
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][:length]
            + w["embeddings.token_type_embeddings.weight"][0]
        )
        x = self._layer_norm(x, "embeddings.LayerNorm")
        heads = self.layout.heads
        head_dim = x.shape[-1] // heads
        attend = mask[:, None, None, :]

        def split_heads(t):
            return t.view(batch, length, heads, head_dim).transpose(1, 2)

        for i in range(self.layout.layers):
            layer = f"encoder.layer.{i}."
            q = split_heads(self._linear(x, layer + "attention.self.query"))
            k = split_heads(self._linear(x, layer + "attention.self.key"))
            v = split_heads(self._linear(x, layer + "attention.self.value"))
            attended = F.scaled_dot_product_attention(q, k, v, attn_mask=attend)
            attended = attended.transpose(1, 2).reshape(batch, length, heads * head_dim)
            x = self._layer_norm(self._linear(attended, layer + "attention.output.dense") + x,
                                 layer + "attention.output.LayerNorm")
            hidden = F.gelu(self._linear(x, layer + "intermediate.dense"))
            x = self._layer_norm(self._linear(hidden, layer + "output.dense") + x, layer + "output.LayerNorm")
        real_tokens = mask[..., None].to(x.dtype)
        return (x * real_tokens).sum(1) / real_tokens.sum(1).clamp(min=1e-9)

    def _linear(self, x, name: str):
        import torch.nn.functional as F

        return F.linear(x, self.weights[name + ".weight"], self.weights[name + ".bias"])

    def _layer_norm(self, x, name: str):
        import torch.nn.functional as F

        return F.layer_norm(x, x.shape[-1:], self.weights[name + ".weight"], self.weights[name + ".bias"],
                            self.layout.layer_norm_eps)


def load(directory: str | Path) -> BertEncoder | None:
    """None for a model this module does not read; raises if it should but cannot."""
    layout = read_layout(directory)
    return BertEncoder(layout) if layout is not None else None
