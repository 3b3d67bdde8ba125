"""Does asking as a user asks cost anything? The docstring → code evals ask with
a doc's first sentence ("Serialize data as JSON."); people and agents ask
"where do we serialize data as JSON?". This rewords every question of an eval
run's `--work` folder into such forms and scores Fathom's ranking (at the dense
share given) and its dense half alone for each:

    FATHOM_MODEL=fathom-code-minilm-v3 python -m benchmarks.quality.phrasing /tmp/eval --dense-share 0.7

The rewording is mechanical: the first word, a verb in the third person or the
imperative, is put in its base form after "where do we" / "how do I", or in the
third person after "the function that".
"""
from __future__ import annotations

import argparse
import re
from pathlib import Path

from fathom.search import SearchOptions

from benchmarks.quality.eval_python import scores
from benchmarks.quality.levers import load_eval, search_ranks

EXAMPLE = "Serialize data as JSON."
IRREGULAR = {"is": "be", "are": "be", "was": "be", "has": "have", "does": "do"}


def base_form(verb: str) -> str:
    """'Returns' → 'return', 'Applies' → 'apply', 'Fetches' → 'fetch', 'Open' → 'open'."""
    word = verb.lower()
    if word in IRREGULAR:
        return IRREGULAR[word]
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if re.search(r"(sses|xes|zes|ches|shes)$", word):
        return word[:-2]
    if word.endswith("s") and not word.endswith("ss") and len(word) > 3:
        return word[:-1]
    return word


def third_person(base: str) -> str:
    if base == "be":
        return "is"
    if base == "have":
        return "has"
    if re.search(r"[^aeiou]y$", base):
        return base[:-1] + "ies"
    if re.search(r"(s|x|z|ch|sh)$", base):
        return base + "es"
    return base + "s"


def _verb_and_rest(sentence: str) -> tuple[str, str]:
    words = sentence.strip().rstrip(".?").split(maxsplit=1)
    return base_form(words[0]) if words else "", words[1] if len(words) > 1 else ""


def where_do_we(sentence: str) -> str:
    verb, rest = _verb_and_rest(sentence)
    return f"where do we {verb} {rest}".rstrip() + "?"


def how_do_i(sentence: str) -> str:
    verb, rest = _verb_and_rest(sentence)
    return f"how do I {verb} {rest}".rstrip() + "?"


def the_function_that(sentence: str) -> str:
    verb, rest = _verb_and_rest(sentence)
    return f"the function that {third_person(verb)} {rest}".rstrip()


PHRASINGS = {
    "the doc's first sentence": None,
    "where do we …?": where_do_we,
    "how do I …?": how_do_i,
    "the function that …": the_function_that,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("work", type=Path, help="the --work folder of a quality eval's run")
    parser.add_argument("--dense-share", type=float, help="Fathom's dense share (default: the model's own)")
    args = parser.parse_args()
    print("| phrasing | example | strict MRR@10 through Fathom's ranking | dense half alone |")
    print("| --- | --- | --- | --- |")
    for name, phrase in PHRASINGS.items():
        queries, workspaces, vectors = load_eval(args.work, phrase=phrase)
        figures = []
        for options in (SearchOptions(dense_share=args.dense_share), SearchOptions(lexical_weight=0.0)):
            strict = search_ranks(queries, workspaces, vectors, options)[1]
            figures.append(scores(strict, strict)["mrr@10"])
        example = phrase(EXAMPLE) if phrase else EXAMPLE
        print(f"| {name} | {example} | {figures[0]:.3f} | {figures[1]:.3f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
