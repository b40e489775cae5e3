"""The VLM in a worker process of its own: same answers, and a crash, a hang or garbage costs a warning only.

The model is the tiny random-weight GGUF pair (spotdiff.models.vlm.tiny) on the real llama.cpp path. The
faults are real too: tests/support/worker_faults.py has VisionLanguageModel subclasses that, after
three tokens, deliver SIGILL or SIGKILL to their own process, sleep, or send a piece that is not
text. They are put in the worker the way any runtime is, by name (IsolatedVLM's ``runtime``, or
spotdiff.models.vlm.isolated.RUNTIME for a whole comparison).
"""

from __future__ import annotations

import json
import time

import llama_cpp  # noqa: F401  (in the "test" extra: missing fails, never skips)
import pytest
from PIL import Image

from spotdiff.apps.cli import main
from spotdiff.errors import Cancelled, ModelLoadError, VLMRuntimeError, VLMStoppedError
from spotdiff.models.host import ModelHost
from spotdiff.pipeline import CompareRequest, compare_steps
from spotdiff.progress import run
from spotdiff.synthetic.synth import synth
from spotdiff.models.vlm import ANSWER_SCHEMA, ANSWER_TOKENS, Hints, grids, isolated, prompts, tiny
from spotdiff.models.vlm.isolated import IsolatedVLM
from spotdiff.models.vlm.runtime import VisionLanguageModel

STOPPED = {
    "SigillVLM": "illegal instruction (signal 4)",
    "SigkillVLM": "killed (signal 9), most likely by the system because memory ran out",
    "HangingVLM": "no answer within its time budget of 3 s",
    "GarbageVLM": "a reply that cannot be used (expected str, got int 42)",
}


def question(colours=((255, 0, 0), (0, 0, 255))):
    hints = Hints(space="tiny-clip", index=0, discovery_auroc=0.8, n_a=4, n_b=4, phrases_a=("a red square",),
                  phrases_b=("a blue disc",), measurements=())
    images = [grids.to_data_uri(grids.make_grid([Image.new("RGB", (40, 40), c)] * 4, "Set A", 128)) for c in colours]
    return prompts.messages(hints, images)


def open_tiny(zoo, runtime=None, **options) -> IsolatedVLM:
    folder = zoo / "tiny-vlm"
    options = {"n_ctx": 2048, "n_threads": 1, "time_budget_s": 60, **options}
    return IsolatedVLM(folder / tiny.MODEL_FILE, folder / tiny.MMPROJ_FILE, name="tiny-vlm", runtime=runtime,
                       **options)


@pytest.fixture(scope="module")
def vlm(zoo):
    with open_tiny(zoo) as model:
        yield model


# --- the same model, in a worker ----------------------------------------------------------------


def test_the_worker_gives_the_answer_this_process_gives(vlm, zoo):
    answer = run(vlm.ask_json(question(), ANSWER_SCHEMA, max_tokens=ANSWER_TOKENS))
    assert vlm.last_timing_.stopped == "done" and vlm.last_timing_.n_images == 2
    folder = zoo / "tiny-vlm"
    with VisionLanguageModel(folder / tiny.MODEL_FILE, folder / tiny.MMPROJ_FILE, n_ctx=2048, n_threads=1) as here:
        assert run(here.ask_json(question(), ANSWER_SCHEMA, max_tokens=ANSWER_TOKENS)) == answer
    pieces = list(vlm.stream(question(), schema=ANSWER_SCHEMA, max_tokens=ANSWER_TOKENS))
    assert len(pieces) > 3 and json.loads("".join(pieces)) == answer
    assert vlm.sees_images and "IsolatedVLM('tiny-vlm', 'tiny-vlm.gguf'" in repr(vlm) and "pid=" in repr(vlm)


def test_cancel_stops_the_worker_at_the_next_token_and_keeps_the_model(vlm):
    pid, starts = vlm.worker.pid, vlm.worker.n_starts_
    work = vlm.answer(question(((0, 255, 0), (0, 0, 0))), schema=ANSWER_SCHEMA, max_tokens=ANSWER_TOKENS)
    for report in work:
        if report.done == 5:
            break
    work.close()
    assert vlm.last_timing_.stopped == "cancelled" and vlm.last_timing_.n_tokens == 5
    assert vlm.worker.pid == pid and vlm.worker.n_starts_ == starts  # stopped, not killed: no reload
    assert run(vlm.ask_json(question(), ANSWER_SCHEMA, max_tokens=ANSWER_TOKENS))["statements"]


@pytest.mark.slow
def test_errors_of_the_model_come_back_as_themselves(zoo, tmp_path):
    fake = tmp_path / "model.gguf"
    fake.write_bytes(b"<!DOCTYPE html><html>rate limited</html>")
    with pytest.raises(ModelLoadError, match="not a GGUF file: it starts with b'<!DO'") as caught:
        IsolatedVLM(fake, zoo / "tiny-vlm" / tiny.MMPROJ_FILE)
    assert caught.value.path == fake and caught.value.model == "model"
    other = tiny.write_projector(tmp_path / "other-mmproj.gguf", n_text=32)
    with pytest.raises(ModelLoadError, match="32-dimensional image embeddings but the language model has 64"):
        IsolatedVLM(zoo / "tiny-vlm" / tiny.MODEL_FILE, other)
    with IsolatedVLM(zoo / "tiny-vlm" / tiny.MODEL_FILE, n_ctx=512, n_threads=1) as text_only:
        pid = text_only.worker.pid
        with pytest.raises(VLMRuntimeError, match="no image projector") as caught:  # raised on purpose, in the worker
            run(text_only.answer(question()))
        assert not isinstance(caught.value, VLMStoppedError) and text_only.worker.pid == pid


# --- faults: the worker stops, the error says how, the next question starts it again -------------


@pytest.mark.parametrize("runtime", ["SigillVLM", "SigkillVLM", "GarbageVLM"])
def test_a_worker_that_dies_or_garbles_is_a_stopped_model_and_starts_again(zoo, runtime):
    with open_tiny(zoo, f"worker_faults:{runtime}") as faulty:
        pid = faulty.worker.pid
        with pytest.raises(VLMStoppedError) as caught:
            run(faulty.ask_json(question(), ANSWER_SCHEMA, max_tokens=ANSWER_TOKENS))
        assert caught.value.reason.startswith(STOPPED[runtime])
        assert str(caught.value).startswith(f"Vision-language model 'tiny-vlm' stopped: {STOPPED[runtime]}")
        assert faulty.last_timing_.stopped == "error" and not faulty.worker.alive
        # the next question starts the worker again, which loads the model and answers (until its fault)
        stream = faulty.stream(question(), schema=ANSWER_SCHEMA, max_tokens=ANSWER_TOKENS)
        assert isinstance(next(stream), str) and isinstance(next(stream), str)
        stream.close()
        assert faulty.worker.pid != pid and faulty.worker.n_starts_ == 2


def test_the_sigill_hint_says_what_to_do(zoo):
    with open_tiny(zoo, "worker_faults:SigillVLM") as faulty, pytest.raises(VLMStoppedError) as caught:
        run(faulty.answer(question()))
    assert "reinstall llama-cpp-python with scripts/install.sh" in caught.value.hint
    assert caught.value.__cause__.signal == "SIGILL" and caught.value.__cause__.exitcode == -4


@pytest.mark.slow
def test_a_worker_that_hangs_past_the_budget_is_killed(zoo):
    with open_tiny(zoo, "worker_faults:HangingVLM", time_budget_s=3) as hanging:
        reports = []
        with pytest.raises(VLMStoppedError, match=STOPPED["HangingVLM"]):
            run(hanging.answer(question(), schema=ANSWER_SCHEMA, max_tokens=ANSWER_TOKENS), reports.append)
        assert not hanging.worker.alive and hanging.last_timing_.n_tokens == 0
        waiting = [r.message for r in reports if r.message.startswith("tiny-vlm: reading the prompt and 2 image(s), ")]
        assert len(waiting) > 8  # it reported while it waited, every TICK_S


def test_a_worker_that_dies_while_loading_is_a_stopped_model(zoo):
    with pytest.raises(VLMStoppedError, match="stopped: illegal instruction"):
        open_tiny(zoo, "worker_faults:SigillAtLoadVLM")


# --- a whole comparison: it finishes, with the warning in the result and the reports --------------


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    return run(synth(tmp_path_factory.mktemp("pair"), plants=[("blur", 0.6)], n_per_set=16, image_size=64))


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory):
    """One embedding cache for the module: the concept bank's phrases are embedded once."""
    return tmp_path_factory.mktemp("cache")


def request_for(pair, cache, **options):
    return CompareRequest(set_a=pair / "set_a", set_b=pair / "set_b", model="tiny-clip", vlm="tiny-vlm",
                          n_permutations=19, cache_dir=cache, **options)


@pytest.mark.slow  # a whole comparison with a CLIP model: 4-18 s each on 2 busy cores
@pytest.mark.parametrize("runtime", ["SigillVLM", "SigkillVLM", "HangingVLM", "SigillAtLoadVLM"])
def test_a_comparison_whose_vlm_stops_finishes_with_a_warning(registered, pair, shared_cache, monkeypatch,
                                                              tmp_path, runtime):
    from spotdiff.apps.console import write_reports

    monkeypatch.setattr(isolated, "RUNTIME", f"worker_faults:{runtime}")
    if runtime == "HangingVLM":  # the tiny VLM's registry entry with a budget of 3 s, as a user's could say
        entry = json.loads((registered / "tiny-vlm.json").read_text())
        entry["vlm"]["time_budget_s"] = 3
        (tmp_path / "registry").mkdir()
        (tmp_path / "registry" / "tiny-vlm.json").write_text(json.dumps(entry))
        (tmp_path / "registry" / "tiny-clip.json").write_text((registered / "tiny-clip.json").read_text())
        monkeypatch.setenv("SPOTDIFF_REGISTRY", str(tmp_path / "registry"))
    with ModelHost() as host:
        result = run(compare_steps(request_for(pair, shared_cache), host=host))
    reason = STOPPED.get(runtime, STOPPED["SigillVLM"])
    expected = f"The vision-language model 'tiny-vlm' stopped: {reason}"
    (warning,) = [w for w in result.warnings if "vision-language" in w]
    assert warning.startswith(expected) and "the comparison went on without its proposals" in warning
    assert result.findings and not [f for f in result.findings if f.source == "vlm"]
    write_reports(result, tmp_path / "report")
    assert warning in json.loads((tmp_path / "report" / "report.json").read_text())["warnings"]
    assert "the comparison went on without its proposals" in (tmp_path / "report" / "report.html").read_text()


@pytest.mark.slow
def test_the_cli_prints_the_warning_and_exits_0(registered, pair, shared_cache, monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(isolated, "RUNTIME", "worker_faults:SigkillVLM")
    monkeypatch.setenv("SPOTDIFF_CACHE", str(shared_cache))
    out = tmp_path / "report"
    code = main(["compare", str(pair / "set_a"), str(pair / "set_b"), "--model", "tiny-clip", "--vlm", "tiny-vlm",
                 "--out", str(out), "--permutations", "19", "-q"])
    printed = capsys.readouterr()
    assert code == 0, printed.err
    assert f"warning: The vision-language model 'tiny-vlm' stopped: {STOPPED['SigkillVLM']}" in printed.out
    assert any("stopped: killed (signal 9)" in w for w in json.loads((out / "report.json").read_text())["warnings"])


@pytest.mark.slow
def test_cancelling_a_comparison_while_the_vlm_is_busy_kills_its_worker(registered, pair, shared_cache, monkeypatch):
    monkeypatch.setattr(isolated, "RUNTIME", "worker_faults:HangingVLM")
    with ModelHost() as host:
        seen = []

        def until_the_vlm_waits(report):  # cancel once the worker has been silent for a few ticks
            seen.append(report)
            return not (report.stage == "vlm" and sum(r.message.startswith("tiny-vlm: reading the prompt and 2 image(s), ")
                                                      for r in seen) >= 2)

        with pytest.raises(Cancelled):
            run(compare_steps(request_for(pair, shared_cache), host=host), until_the_vlm_waits)
        cancelled = time.monotonic()
        worker = host.vlm("tiny-vlm").worker
        assert not worker.alive and worker.n_starts_ == 1
        assert cancelled - seen[-1].time < isolated.TICK_S + worker.stop_grace_s + 1  # it did not wait for llama.cpp
