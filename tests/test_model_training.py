"""The training's batches and the export of a trained model to the folder Fathom ships."""
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from benchmarks.model.export import export
from benchmarks.model.train import epoch_batches
from fathom.embed import bert as bert_encoder
from fathom.embed.modelspec import resolve_model

REPO = Path(__file__).resolve().parents[1]


def test_length_batches_cover_every_pair_once_group_lengths_and_repeat_per_epoch():
    lengths = [(i * 37) % 251 + 5 for i in range(1_000)]
    sources = ["one"] * 1_000
    first = epoch_batches(lengths, sources, 32, 0, "length")
    assert first == epoch_batches(lengths, sources, 32, 0, "length")  # a resumed run sees the same batches
    assert first != epoch_batches(lengths, sources, 32, 1, "length")
    seen = [i for batch in first for i in batch]
    assert len(seen) == len(set(seen)) == 1_000 // 32 * 32 and all(len(b) == 32 for b in first)
    spread = [max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in first]
    at_random = [max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in epoch_batches(lengths, sources, 32, 0, "random")]
    assert max(spread) <= 10 < min(at_random)  # padding is paid within a batch: similar lengths pay little
    assert [b[0] for b in first] != sorted((b[0] for b in first), key=lambda i: lengths[i])  # batches shuffled


def test_source_batches_keep_a_package_together_and_pool_its_leftovers():
    sources = ["big"] * 100 + ["small"] * 20 + ["other"] * 30
    lengths = [(i * 37) % 251 + 5 for i in range(len(sources))]
    batches = epoch_batches(lengths, sources, 32, 0, "source")
    assert batches == epoch_batches(lengths, sources, 32, 0, "source")
    seen = [i for batch in batches for i in batch]
    assert len(seen) == len(set(seen)) == 150 // 32 * 32 and all(len(b) == 32 for b in batches)
    whole = [b for b in batches if len({sources[i] for i in b}) == 1]
    assert len(whole) == 3 and all(sources[b[0]] == "big" for b in whole)  # 96 of big's 100 pairs
    pooled = [b for b in batches if len({sources[i] for i in b}) > 1]
    assert len(pooled) == 1  # big's last 4, small's 20 and other's 30 share what is left


def test_export_writes_the_base_layout_with_half_precision_weights(tmp_path):
    import torch
    from safetensors.torch import load_file

    base = Path(resolve_model("all-MiniLM-L6-v2").load_path)
    target = tmp_path / "shipped" / "tuned"
    export(base, target, base)  # the base stands in for a trained model: same architecture
    layout = bert_encoder.read_layout(target)
    assert layout is not None and (layout.max_tokens, layout.layers) == (256, 6)
    weights = load_file(str(target / "model.safetensors"))
    original = load_file(str(base / "model.safetensors"))
    assert {t.dtype for t in weights.values()} == {torch.float16}
    assert set(weights) == set(original) - {"embeddings.position_ids"}
    assert json.loads((target / "sentence_bert_config.json").read_text())["max_seq_length"] == 256
    assert (target / "tokenizer.json").read_bytes() == (base / "tokenizer.json").read_bytes()
    spec = resolve_model(str(target))
    assert (spec.max_tokens, spec.dim) == (256, 384)


def test_a_hard_negative_is_the_nearest_wrong_code_of_the_same_package_under_the_margin():
    import torch

    from benchmarks.model.negatives import hardest_negatives

    def unit(*xs):
        v = torch.tensor(xs, dtype=torch.float)
        return v / v.norm()

    pairs = [("parse a date", "def parse_date"), ("format a date", "def format_date"),
             ("parse a time", "def parse_time"), ("parse a date", "def parse_date_v2"),
             ("open a file", "def open_file")]
    sources = ["a", "a", "a", "a", "b"]
    questions = torch.stack([unit(1, 0, 0), unit(0, 1, 0), unit(0, 0, 1), unit(1, 0, 0), unit(1, 0, 0)])
    codes = torch.stack([unit(1, 0.05, 0), unit(0.1, 1, 0), unit(0.7, 0, 1), unit(1, 0.02, 0), unit(1, 0, 0)])
    negatives = hardest_negatives(questions, codes, pairs, sources, margin=0.95)
    # parse_date: parse_date_v2 answers the same question (a likely second right answer), so
    # parse_time (cosine 0.57, under 0.95 of the right code's 0.999) is the hardest negative.
    assert negatives[0] == 2
    assert negatives[1] == 0  # format a date: parse_date is the nearest wrong code
    assert negatives[4] == -1  # alone in its package: no negative from another project
    assert negatives[3] == 2  # the identical question's code is never its negative
    near = torch.stack([unit(1, 0, 0), unit(1, 0.1, 0)])  # the wrong code at 0.995 of the right one's cosine
    assert hardest_negatives(questions[:2], near, pairs[:2], ["a", "a"], margin=0.95)[0] == -1


def test_a_batch_takes_each_hard_negative_once_and_never_one_of_its_own_answers():
    from benchmarks.model.train import batch_negatives

    negatives = [3, 3, 0, -1, 1, 2]
    assert batch_negatives([0, 1, 4], negatives) == [3]  # 3 once; 1 (4's negative) answers in the batch
    assert batch_negatives([3, 5], negatives) == [2]


def test_a_later_stage_caps_each_package_and_keeps_only_the_earlier_validation_split():
    from benchmarks.model.sample import pair_key, sample_pairs

    def record(source, i, split="train"):
        return {"source": source, "query": f"{source} {i}", "code": f"code {i}", "split": split}

    records = ([record("pypi old==1", i) for i in range(10)] + [record("pypi new==1", i) for i in range(30)]
               + [record("npm small@1", i) for i in range(2)] + [record("pypi held==1", 0, "validation")]
               + [record("pypi fresh==1", 0, "validation")])
    new = {"pypi new==1", "npm small@1", "pypi fresh==1"}
    sampled = sample_pairs(records, new, cap_new=5, cap_old=3, seed=23)
    train = Counter(r["source"] for r in sampled if r["split"] == "train")
    assert train == {"pypi old==1": 3, "pypi new==1": 5, "npm small@1": 2}
    assert [r["source"] for r in sampled if r["split"] == "validation"] == ["pypi held==1"]
    assert len({r["query"] for r in sampled}) == len(sampled)
    assert sampled == sample_pairs(records, new, cap_new=5, cap_old=3, seed=23)

    seen = frozenset(pair_key(r) for r in sampled if r["split"] == "train")
    further = sample_pairs(records, new, cap_new=50, cap_old=3, seed=24, seen=seen)
    further_train = [r for r in further if r["split"] == "train"]
    assert Counter(r["source"] for r in further_train) == {"pypi old==1": 3, "pypi new==1": 25}
    assert not {pair_key(r) for r in further_train if r["source"] in new} & seen


def test_the_words_half_finds_codes_by_their_identifiers_parts_and_ranks_a_miss_last():
    from benchmarks.model.words import bm25_matrix, words_ranks

    codes = ["parseHttpDate\ndef parseHttpDate(text): return http.parse(text)",
             "format_date\ndef format_date(d): return d.isoformat()",
             "slugify\ndef slugify(s): return s.lower()"]
    questions = ["Parse an HTTP date.", "Format a date as ISO text.", "Turn a title into a URL part."]
    scores = bm25_matrix(questions, codes)
    assert scores.shape == (3, 3) and int(scores[0].argmax()) == 0 and int(scores[1].argmax()) == 1
    assert float(scores[2].max()) == 0.0  # no word of the question in any code
    assert words_ranks(questions, codes, [0, 1, 2]) == [1, 1, 3]  # unmatched: last
    twins = ["def one(): return slugify(x)", "def two(): return slugify(x)"]
    assert words_ranks(["slugify"], twins, [1]) == [2]  # a tie with a wrong code counts against it


def test_the_fusion_scales_each_ranking_over_its_pool_and_mixes_them_by_the_dense_share():
    import torch

    from benchmarks.model.words import fused

    dense = torch.tensor([[0.9, 0.5, 0.1]])
    lexical = torch.tensor([[0.0, 4.0, 2.0]])
    assert torch.allclose(fused(dense, lexical, 1.0), torch.tensor([[1.0, 0.5, 0.0]]))
    assert torch.allclose(fused(dense, lexical, 0.0), torch.tensor([[0.0, 1.0, 0.5]]))  # BM25 from zero
    assert int(fused(dense, lexical, 0.7).argmax()) == 0 and int(fused(dense, lexical, 0.3).argmax()) == 1


def test_a_words_negative_is_the_wrong_code_sharing_most_words_and_never_one_of_the_same_name():
    from benchmarks.model.negatives import words_negatives

    pairs = [("Parse an HTTP date header.", "parse_http_date\ndef parse_http_date(v): return strptime(v)"),
             ("Format a date for an HTTP header.", "format_http_date\ndef format_http_date(d): return d.strftime()"),
             ("Quote a cookie value.", "quote_cookie\ndef quote_cookie(v): return quote(v)"),
             ("Parse a date header (bytes).", "parse_http_date\ndef parse_http_date(v): return parse(v.decode())"),
             ("Parse an HTTP date header.", "parse_date\ndef parse_date(v): return v")]
    negatives = words_negatives(pairs, ["a", "a", "a", "a", "b"])
    assert negatives[0] == 1  # "http date header" words: format_http_date, not its own-name overload (3)
    assert negatives[1] == 0 and negatives[3] == 1
    assert negatives[2] == -1  # no wrong code shares a word with the question
    assert negatives[4] == -1  # alone in its package


def test_the_words_in_the_loss_are_each_questions_bm25_scaled_to_its_best():
    from benchmarks.model.train import words_scaled

    scaled = words_scaled(["Parse an HTTP date.", "Turn a title into a URL part."],
                          ["def parse_http_date(v): pass", "def parse_json(v): pass", "def slugify(s): pass"])
    assert scaled.shape == (2, 3) and float(scaled[0, 0]) == 1.0 and 0 < float(scaled[0, 1]) < 1
    assert float(scaled[1].abs().sum()) == 0.0  # no shared word: nothing added, nothing divided by zero


def test_the_rebuild_chains_each_stage_onto_the_last_and_keeps_the_first_lists_pairs(tmp_path):
    from benchmarks.model import rebuild
    from benchmarks.model.sources import parse_sources

    shipped = {step.name: step for step in rebuild.recipe(tmp_path, threads=2)}
    steps = {step.name: step for step in rebuild.recipe(tmp_path, threads=2, target="v4")}

    def after(step: str, flag: str, steps=steps) -> Path:
        command = steps[step].command
        return Path(command[command.index(flag) + 1])

    assert after("v2: single-package batches", "--base") == steps["v1: length-cut batches"].done
    assert after("v3: the second list's packages", "--base") == steps["v2: single-package batches"].done
    assert after("v4: the third list's packages", "--base") == steps["v3: the second list's packages"].done
    assert Path(steps["export"].command[3]) == steps["v4: the third list's packages"].done
    assert Path(shipped["export"].command[3]) == shipped["v3: the second list's packages"].done
    for recipe in (steps, shipped):
        assert after("question encoder", "--base", recipe) == recipe["export"].done.parent
        assert recipe["question layers"].done.parent == recipe["export"].done.parent  # beside the model it asks
        assert list(recipe)[-1] == "question layers"
    assert steps["export"].done.parent.name == "fathom-code-minilm-v4"
    assert shipped["export"].done.parent.name == rebuild.MODEL_NAME == "fathom-code-minilm-v3"
    stage3, stage5 = steps["sample the second list"].done, steps["sample the third list"].done
    assert Path(steps["v3: the second list's packages"].command[3]) == stage3
    assert Path(steps["v4: the third list's packages"].command[3]) == stage5
    assert after("sample the question pairs", "--exclude") == stage3  # the question side reads unseen pairs
    assert after("sample the third list's questions", "--exclude") == stage5
    # v3's picks are drawn from the earlier lists' pairs alone, as before the third list was mined
    earlier = steps["earlier lists"].done
    assert Path(steps["sample the second list"].command[3]) == earlier
    assert Path(steps["sample the question pairs"].command[3]) == earlier
    assert Path(steps["question encoder"].command[3]) == steps["question pairs"].done
    assert Path(shipped["question encoder"].command[3]) == shipped["sample the question pairs"].done
    assert "sample the third list" not in shipped and "v4: the third list's packages" not in shipped
    assert shipped["distractors"].done != steps["distractors"].done  # both can be built in one WORK

    first = [f"{kind} {spec}" for kind, spec in parse_sources(rebuild.FIRST_LIST)][:2]
    second = [f"{kind} {spec}" for kind, spec in parse_sources(rebuild.SECOND_LIST)][:1]
    third = [f"{kind} {spec}" for kind, spec in parse_sources(rebuild.THIRD_LIST)][:1]
    records = [{"source": s, "query": f"q{i}", "code": f"c{i}", "split": "train"}
               for i, s in enumerate(first + second + third + first)]
    (tmp_path / "pairs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    first_only = frozenset(first)
    assert rebuild.pairs_of(tmp_path / "pairs.jsonl", tmp_path / "first.jsonl", first_only) == 4
    kept = [json.loads(line) for line in (tmp_path / "first.jsonl").read_text().splitlines()]
    assert kept == [r for r in records if r["source"] in first]  # the same lines, in mining's order
    from benchmarks.model.sources import earlier_sources
    assert rebuild.pairs_of(tmp_path / "pairs.jsonl", tmp_path / "earlier.jsonl", earlier_sources()) == 5

    (tmp_path / "new.jsonl").write_text("".join(json.dumps({**r, "split": split}) + "\n"
                                                for r, split in zip(records[:2], ("train", "validation"))))
    assert rebuild.join_questions(tmp_path / "first.jsonl", tmp_path / "new.jsonl", tmp_path / "joined.jsonl") == 5


def test_a_rerankers_candidates_are_its_packages_fused_top_with_each_code_once():
    import torch

    from benchmarks.model.reranker import ranked_candidates

    pairs = [("parse the config file", "parse_config\ndef parse_config(path): ..."),
             ("write the config file", "write_config\ndef write_config(path): ..."),
             ("parse the config file", "parse_config\ndef parse_config(path): ..."),  # a copy
             ("send a request", "send\ndef send(request): ...")]
    sources = ["a", "a", "a", "b"]
    vectors = torch.nn.functional.normalize(torch.tensor([[1.0, 0.0], [0.6, 0.8], [1.0, 0.0], [0.0, 1.0]]), dim=1)
    ranked = ranked_candidates(vectors, vectors, pairs, sources, depth=5)
    assert ranked[0] == [0, 1]  # the copy at 2 is the same code: listed once
    assert ranked[1] == [1, 0]
    assert ranked[3] == [3]  # another package's code is never a candidate


def test_a_reranked_head_takes_the_rerankers_order_and_the_blend_keeps_both_orders_top():
    from benchmarks.quality.rerank import reordered

    shown = ["a", "b", "c", "d", "e"]
    cross = [0.1, -1.0, 0.9, 0.0, 5.0]
    assert reordered(shown, cross, 3, blend=False) == ["c", "a", "b", "d", "e"]  # "e" is past the head
    blended = reordered(shown, cross, 5, blend=True)
    # By 1/(5 + place) in each order: "a" 1/5 + 1/7, "e" 1/9 + 1/5, "c" 1/7 + 1/6, "b" 1/6 + 1/9.
    assert blended[:3] == ["a", "e", "c"] and sorted(blended) == shown


def test_a_question_encoders_batch_ranks_each_answer_among_its_packages_codes_and_distractors():
    import torch

    from benchmarks.model.query_tower import batch_candidates, package_codes

    pairs = [("q0", "a0"), ("q1", "b0"), ("q2", "a1"), ("q3", "a0")]
    sources = ["a", "b", "a", "a"]
    codes, answers = package_codes(pairs, sources)
    assert codes == {"a": ["a0", "a1"], "b": ["b0"]} and answers == [0, 0, 1, 0]
    vectors = {"a": torch.tensor([[1.0, 0.0], [0.0, 1.0]]), "b": torch.tensor([[0.5, 0.5]])}
    others = {"a": torch.tensor([[9.0, 9.0], [8.0, 8.0]])}
    candidates, target = batch_candidates([1, 2, 0], sources, answers, vectors, others)
    # a's two codes, a's two distractors, then b's code: every answer keeps its row.
    assert candidates.tolist() == [[1.0, 0.0], [0.0, 1.0], [9.0, 9.0], [8.0, 8.0], [0.5, 0.5]]
    assert target.tolist() == [4, 1, 0]
    assert [candidates[t].tolist() for t in target] == [[0.5, 0.5], [0.0, 1.0], [1.0, 0.0]]


def synthetic_pairs(path: Path) -> Path:
    """Two packages of 12 pairs each, 3 of each in the validation split."""
    records = []
    for package in ("pkg-a", "pkg-b"):
        for i in range(12):
            word = f"{package.replace('-', '_')}_value_{i}"
            records.append({"query": f"Returns the value number {i} of {package}.", "language": "python",
                            "code": f"{word}\ndef {word}(x):\n    return x[{i}]", "source": f"pypi {package}==1",
                            "split": "validation" if i >= 9 else "train"})
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def run_script(name: str, *args: object) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", f"benchmarks.model.{name}", *map(str, args)], cwd=REPO,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "server"), str(REPO)])},
                          capture_output=True, text=True)


@pytest.mark.slow
def test_a_stage_stopped_part_way_resumes_from_its_checkpoint_and_continues_its_curve(tmp_path):
    pairs, out = synthetic_pairs(tmp_path / "pairs.jsonl"), tmp_path / "stage"
    common = ("--out", out, "--batch", "4", "--validate-every", "1", "--checkpoint-every", "2", "--threads", "1",
              "--batching", "source", "--resume")
    first = run_script("train", pairs, *common, "--max-steps", "2")
    assert first.returncode == 0, first.stderr[-3000:]
    second = run_script("train", pairs, *common, "--max-steps", "4")
    assert second.returncode == 0, second.stderr[-3000:]
    assert "steps 2 -> 4" in second.stdout
    steps = [line.split(",")[0] for line in (out / "curve.csv").read_text().splitlines()[1:]]
    assert steps == ["0", "1", "2", "3", "4"]
    assert (out / "model" / "config.json").exists()


@pytest.mark.slow
def test_a_question_encoder_run_validates_at_every_step_asked_and_keeps_its_curve(tmp_path):
    """The whole script, as the rebuild runs it, over a few synthetic packages:
    a validation after the first must not fail (the rebuild validates six times)."""
    pairs = synthetic_pairs(tmp_path / "pairs.jsonl")
    distractors = tmp_path / "distractors.json"
    distractors.write_text(json.dumps({"pypi pkg-a==1": ["import os", "class Holder:\n    pass"]}))
    prose = tmp_path / "prose.json"
    sections = ["Section 1\n## Section 1\nInstall it with pip.", "Section 2\n## Section 2\nValues count from zero."]
    prose.write_text(json.dumps({
        "pypi pkg-a==1": {"split": "train", "sections": sections, "questions": [
            {"question": "Installing the package", "section": 0}, {"question": "How values are numbered", "section": 1}]},
        "pypi pkg-b==1": {"split": "validation", "sections": sections[:1], "questions": [
            {"question": "Getting it installed", "section": 0}]}}))
    out = tmp_path / "run"
    run = run_script("query_tower", pairs, "--out", out, "--base", "all-MiniLM-L6-v2", "--batch", "4", "--epochs", "1",
                     "--validate-every", "2", "--threads", "1", "--distractors", distractors,
                     "--prose", prose, "--prose-batch", "2", "--seed", "3", "--keep-snapshots")
    assert run.returncode == 0, run.stderr[-3000:]
    assert "2 training and 1 held-out headings of 2 packages" in run.stdout
    curve = (out / "curve.csv").read_text().splitlines()
    assert curve[0].endswith("in_package_with_distractors,sections_among_code")
    assert [line.split(",")[0] for line in curve[1:]] == ["0", "2", "4"]  # 18 pairs: 4 batches of 4
    assert (out / "query-model" / "config.json").exists()
    assert sorted(p.name for p in out.glob("query-model-step*")) == ["query-model-step2", "query-model-step4"]


def test_question_layers_of_several_encoders_are_their_layers_weights_averaged(tmp_path):
    import torch
    from safetensors.torch import save_file

    from benchmarks.model.question_layers import average_layers

    folders = []
    for n, value in enumerate((1.0, 2.0, 6.0)):
        folder = tmp_path / f"encoder{n}"
        folder.mkdir()
        save_file({"encoder.layer.0.attention.self.query.weight": torch.full((2, 2), value),
                   "bert.encoder.layer.1.output.dense.bias": torch.full((2,), -value),
                   "embeddings.word_embeddings.weight": torch.full((3, 2), value)}, str(folder / "model.safetensors"))
        folders.append(folder)
    averaged = average_layers(folders)
    assert sorted(averaged) == ["bert.encoder.layer.1.output.dense.bias", "encoder.layer.0.attention.self.query.weight"]
    assert averaged["encoder.layer.0.attention.self.query.weight"].tolist() == [[3.0, 3.0], [3.0, 3.0]]
    assert averaged["bert.encoder.layer.1.output.dense.bias"].tolist() == [-3.0, -3.0]
    assert average_layers(folders[:1])["encoder.layer.0.attention.self.query.weight"].tolist() == [[1.0, 1.0]] * 2


def test_a_packages_markdown_gives_heading_questions_over_sections_read_without_the_headings_words(tmp_path):
    from benchmarks.model.prose_pairs import package_prose

    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "guide.md").write_text(
        "# Guide\n\nIntro.\n\n## Installing the package\n\n" + "Run pip install with the name of it here. " * 3
        + "\n\n```sh\n# not a heading\n```\n\n### Short\n\ntoo few words\n")
    (tmp_path / "CHANGELOG.md").write_text("## Version two point zero\n\n" + "Changed many things in this release. " * 4)
    sections, questions = package_prose(tmp_path)
    assert len(sections) == 3  # the title's, the installing one (its fence and all), the short one
    assert questions == [("Installing the package", 1)]
    assert sections[1].startswith("Section 2\n## Section 2\n") and "Installing" not in sections[1]
    assert "# not a heading" in sections[1]
    assert not any("release" in s for s in sections)


def test_a_headings_logits_are_its_packages_sections_by_the_base_then_its_code_by_the_encoder():
    import torch

    from benchmarks.model.query_tower import prose_logits

    base_question = torch.tensor([1.0, 0.0])
    prose = {"questions": {"p": base_question[None]}, "sections": {"p": torch.tensor([[0.6, 0.8], [1.0, 0.0]])}}
    codes, distractors = {"p": torch.tensor([[0.0, 1.0]])}, {"p": torch.tensor([[0.8, 0.6]])}
    encoder_question = torch.tensor([0.0, 1.0])
    logits = prose_logits(encoder_question, prose, "p", 0, codes, distractors)
    assert torch.allclose(logits, torch.tensor([0.6, 1.0, 1.0, 0.6]))
    assert torch.allclose(prose_logits(encoder_question, prose, "p", 0, codes, {}), torch.tensor([0.6, 1.0, 1.0]))


@pytest.mark.slow
def test_the_code_side_trained_against_fixed_question_layers_keeps_their_shared_embeddings(tmp_path):
    """`train.py --question-model`: the questions are read by the model's question
    layers and stay fixed; the code side learns, the embeddings the layers share
    do not move, so the layers still fit the model that comes out."""
    import shutil

    from safetensors.torch import load_file, save_file

    model = tmp_path / "asked"
    shutil.copytree(resolve_model("all-MiniLM-L6-v2").load_path, model)
    own = load_file(str(model / "model.safetensors"))
    layers = {key: (tensor.float() * 0.98).half() for key, tensor in own.items() if ".layer." in key}
    save_file(layers, str(model / bert_encoder.QUESTION_LAYERS))
    out = tmp_path / "stage"
    run = run_script("train", synthetic_pairs(tmp_path / "pairs.jsonl"), "--out", out, "--base", model,
                     "--question-model", model, "--batch", "4", "--max-steps", "2", "--validate-every", "1",
                     "--threads", "1", "--batching", "source")
    assert run.returncode == 0, run.stderr[-3000:]
    assert [line.split(",")[0] for line in (out / "curve.csv").read_text().splitlines()[1:]] == ["0", "1", "2"]
    trained = load_file(str(out / "model" / "model.safetensors"))
    embeddings = [key for key in own if key.startswith("embeddings.") and key != "embeddings.position_ids"]
    assert len(embeddings) == 5
    for key in embeddings:
        assert (trained[key].float() == own[key].float()).all(), key
    assert any(not (trained[key].float() == own[key].float()).all() for key in own if ".layer." in key)
    assert bert_encoder.read_question_layers(model / bert_encoder.QUESTION_LAYERS, trained)
    refused = run_script("train", tmp_path / "pairs.jsonl", "--out", tmp_path / "refused", "--base", "all-MiniLM-L6-v2",
                         "--question-model", resolve_model("all-MiniLM-L6-v2").load_path, "--max-steps", "1")
    assert refused.returncode != 0 and "has no question layers" in refused.stderr
