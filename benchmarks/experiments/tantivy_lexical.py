"""Would a lexical engine with top-k pruning answer the kernel's searches fast
and well? (issue #28's next step, measured before it was built: the product's
is search/lexicon.py, measured by benchmarks/scale/lexical.py.)

Tantivy (BM25 with block-max WAND) over the same full-text fields FTS5 holds
(`index.lexical`: name, path and body, identifiers split, English stemming),
built from the kernel's index that `benchmarks.scale.phase1` left; then the 300
kernel-doc questions of `benchmarks.scale.lexical`, ranked by Fathom's search
with its full-text ranking answered by tantivy instead of FTS5 (the names from
the symbol table added as for FTS5), for each set of field boosts asked
(name,path,body; FTS5's column weights are 8,3,1), against FTS5 with every word
and with the bounded default, alternated.

    .venv/bin/python -m benchmarks.experiments.tantivy_lexical --work /tmp/kernel --boosts 8,3,1 1,1,1

These questions' summaries stand in their definitions' doc comments, in the
body: they favour body text, so boosts are to be chosen on the held-out quality
evals, not here.
"""
from __future__ import annotations

import argparse
import os
import shutil
import time
from pathlib import Path

FIELDS = ("name", "path", "body")


def build(store, folder: Path, threads: int) -> float:
    import tantivy

    from fathom.textsplit import expand_identifiers

    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    schema = tantivy.SchemaBuilder()
    schema.add_integer_field("id", stored=True, indexed=True, fast=True)
    for field in FIELDS:
        schema.add_text_field(field, stored=False, tokenizer_name="en_stem")
    index = tantivy.Index(schema.build(), path=str(folder))
    writer = index.writer(heap_size=400_000_000, num_threads=threads)
    start = time.perf_counter()
    path_words: dict[str, str] = {}
    rows = store.conn.execute(
        "SELECT c.id, c.container, c.name, c.text, f.path FROM chunks c JOIN files f ON f.id = c.file_id")
    for count, (chunk_id, container, name, text, path) in enumerate(rows, 1):
        words = path_words.get(path)
        if words is None:  # as index/lexical.py makes them
            words = path_words[path] = expand_identifiers(path.replace("/", " ").replace(".", " "))
            if len(path_words) > 10_000:
                path_words.clear()
        writer.add_document(tantivy.Document(id=chunk_id, name=expand_identifiers(f"{container} {name}"),
                                             path=words, body=expand_identifiers(text)))
        if count % 500_000 == 0:
            print(f"  {count:,} chunks, {time.perf_counter() - start:.0f} s", flush=True)
    writer.commit()
    writer.wait_merging_threads()
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, required=True, help="the folder benchmarks.scale.phase1 used")
    parser.add_argument("--questions", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--boosts", nargs="+", default=["8,3,1", "1,1,1"], help="name,path,body field boosts")
    args = parser.parse_args()
    os.environ["FATHOM_CACHE_DIR"] = str(args.work / "cache")
    import tantivy

    from benchmarks.scale.lexical import ask_alternately, questions
    from benchmarks.scale.vectors import wait_for_symbol_table
    from fathom.search import Searcher, SearchOptions
    from fathom.store import Store

    store = Store(next((args.work / "cache").glob("*/index.db")), readonly=True)
    folder = args.work / "tantivy"
    if args.rebuild or not (folder / "meta.json").exists():
        print(f"built in {build(store, folder, args.threads):.0f} s", flush=True)
    size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    index = tantivy.Index.open(str(folder))
    index.reload()
    searcher = index.searcher()
    print(f"tantivy: {searcher.num_docs:,} chunks, {size / 1e6:.0f} MB on disk", flush=True)

    def searcher_with(boosts: dict[str, float]) -> Searcher:
        def by_tantivy(self, terms: list[str], pool: int) -> list[tuple[int, float]]:  # Searcher._fulltext's place
            query = index.parse_query(" ".join(t for t in terms if t.isalnum()), list(FIELDS), field_boosts=boosts)
            return [(searcher.doc(address)["id"][0], score) for score, address in searcher.search(query, pool).hits]

        # The names from the symbol table are added to it as they are to FTS5's.
        return type("TantivySearcher", (Searcher,), {"_fulltext": by_tantivy})(store, None)

    tree = next(p for p in args.work.glob("linux-source-*") if p.is_dir())
    asked = questions(tree, store, args.questions, 28)
    wait_for_symbol_table(store)

    searchers = {f"tantivy, boosts {b}": searcher_with(dict(zip(FIELDS, map(float, b.split(","))))) for b in args.boosts}
    searchers["FTS5, bounded (the default)"] = Searcher(store, None)
    searchers["FTS5, every word"] = Searcher(store, None, SearchOptions(bound_lexical=False))
    ask_alternately(searchers, asked, args.rounds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
