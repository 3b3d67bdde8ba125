"""The index's tables, and how an index one schema behind is brought up to date."""
from __future__ import annotations

SCHEMA_VERSION = 6

# What a second full-text index (search/lexicon.py) needs to follow this one:
# chunk ids that are never reused (`chunks_last_id`, the highest ever written),
# the ids of removed chunks in order (a bounded log: `seq` never reused, so it
# counts every removal), and a token that tells this database from one made
# again at the same path. Ids below the highest that no chunk held when the log
# began are `chunks_removed_unlogged`: the number of chunks is known without a count.
CHUNK_LOG = """
CREATE TABLE IF NOT EXISTS chunk_removals (seq INTEGER PRIMARY KEY AUTOINCREMENT, chunk_id INTEGER NOT NULL);
INSERT OR IGNORE INTO meta VALUES ('chunks_generation', lower(hex(randomblob(8))));
INSERT OR IGNORE INTO meta SELECT 'chunks_last_id', coalesce(max(id), 0) FROM chunks;
"""
# An index from before the log counts its gaps once, in its migration; this
# statement runs at every writable open, so it does not count (a scan of every chunk).
NEW_CHUNK_LOG = CHUNK_LOG + "INSERT OR IGNORE INTO meta VALUES ('chunks_removed_unlogged', '0');\n"
MIGRATED_CHUNK_LOG = CHUNK_LOG + (
    "INSERT OR IGNORE INTO meta SELECT 'chunks_removed_unlogged', coalesce(max(id), 0) - count(*) FROM chunks;\n")

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL UNIQUE,
    size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, inode INTEGER NOT NULL,
    hash TEXT NOT NULL, language TEXT NOT NULL,
    status TEXT NOT NULL, reason TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS symbols (
    id INTEGER PRIMARY KEY,
    file_id INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE,
    name TEXT NOT NULL, kind INTEGER NOT NULL, container TEXT NOT NULL,
    sl INTEGER NOT NULL, sc INTEGER NOT NULL, el INTEGER NOT NULL, ec INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS symbols_file ON symbols(file_id);
CREATE INDEX IF NOT EXISTS symbols_name ON symbols(name COLLATE NOCASE);
-- A class's members (`fathom symbols Console.`); most symbols (C's, a module's own
-- functions) have no container and no entry here. Made at the next writable open
-- of an older index, so no schema version of its own.
CREATE INDEX IF NOT EXISTS symbols_container ON symbols(container) WHERE container != '';
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY,
    file_id INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE,
    name TEXT NOT NULL, kind INTEGER NOT NULL, container TEXT NOT NULL,
    sl INTEGER NOT NULL, sc INTEGER NOT NULL, el INTEGER NOT NULL, ec INTEGER NOT NULL,
    header TEXT NOT NULL, text TEXT NOT NULL, text_hash TEXT NOT NULL,
    embed INTEGER NOT NULL DEFAULT 1  -- 0: symbols and lexical search only, never pending
);
CREATE INDEX IF NOT EXISTS chunks_file ON chunks(file_id);
CREATE INDEX IF NOT EXISTS chunks_hash ON chunks(text_hash);
CREATE VIRTUAL TABLE IF NOT EXISTS chunk_text USING fts5(
    name, path, body, content='', contentless_delete=1, tokenize='porter unicode61'
);
-- Which text hashes have a vector: a plain index next to the vec0 table. These two
-- are the first model's; each model the index has vectors of has its own pair
-- (`embedded_N`, `vectors_N`, N its row here), so vectors of two models never mix
-- and switching back to one costs nothing.
CREATE TABLE IF NOT EXISTS embedded (text_hash TEXT PRIMARY KEY, vector_id INTEGER NOT NULL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS embedded_vector ON embedded(vector_id);
CREATE TABLE IF NOT EXISTS vector_models (
    id INTEGER PRIMARY KEY, model TEXT NOT NULL, dim INTEGER NOT NULL,
    used REAL NOT NULL DEFAULT 0,  -- when it was last the model in use (unix seconds)
    UNIQUE (model, dim)
);
""" + NEW_CHUNK_LOG

# An index one schema behind is brought up to date in place rather than rebuilt:
# rebuilding would embed the whole workspace again.
MIGRATIONS = {
    3: "ALTER TABLE chunks ADD COLUMN embed INTEGER NOT NULL DEFAULT 1",
    # Schema 4 kept one model's vectors, in `vectors` and `embedded`: they become the first model's.
    4: """
CREATE TABLE IF NOT EXISTS vector_models (
    id INTEGER PRIMARY KEY, model TEXT NOT NULL, dim INTEGER NOT NULL,
    used REAL NOT NULL DEFAULT 0, UNIQUE (model, dim)
);
INSERT OR IGNORE INTO vector_models (id, model, dim, used)
    SELECT 1, m.value, CAST(d.value AS INTEGER), unixepoch() FROM meta m JOIN meta d
    WHERE m.key = 'vector_model' AND d.key = 'vector_dim'
    AND EXISTS (SELECT 1 FROM sqlite_master WHERE name = 'vectors');
""",
    5: MIGRATED_CHUNK_LOG,
}


def vector_tables(model_row: int | None) -> tuple[str, str]:
    """(vec0 table, embedded table) of a model's row in `vector_models`."""
    if model_row is None or model_row == 1:
        return "vectors", "embedded"
    return f"vectors_{int(model_row)}", f"embedded_{int(model_row)}"
