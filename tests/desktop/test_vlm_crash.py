"""The window stays up when the vision-language model's worker process dies mid-run.

The worker runs tests/support/worker_faults.py's SigillVLM: the tiny random-weight VLM, which
delivers SIGILL to its own process after three tokens, as llama.cpp built for another CPU does
(spotdiff.models.vlm.isolated.RUNTIME names what the host's VLM worker builds).
The window has no VLM control yet, so the run's request names the VLM as such a control would.
"""

import dataclasses
import importlib.util

import pytest

from spotdiff.models.vlm import isolated

# Only looked for, not imported: this process never loads llama.cpp, its worker does. It is in the
# "test" extra, so its absence fails here rather than skipping.
assert importlib.util.find_spec("llama_cpp") is not None, "llama-cpp-python is missing: pip install -e '.[test]'"


@pytest.mark.slow  # two whole runs with a CLIP model and the VLM
def test_a_vlm_that_dies_mid_run_is_a_warning_and_the_window_carries_on(registered, ui, window, small_pair,
                                                                        monkeypatch):
    assert window.picker.set_current("tiny-clip")
    plain = window.request
    monkeypatch.setattr(window, "request", lambda: dataclasses.replace(plain(), vlm="tiny-vlm"))
    monkeypatch.setattr(isolated, "RUNTIME", "worker_faults:SigillVLM")
    ui.load_sets(small_pair / "set_a", small_pair / "set_b")

    assert ui.run(timeout=120000) == "succeeded"
    shown = window.results.warnings
    assert shown.isVisible()
    assert ("⚠ The vision-language model 'tiny-vlm' stopped: illegal instruction (signal 4); the comparison went on "
            "without its proposals") in shown.text()
    assert window.results.table.model().rowCount() == len(window.result.findings) > 0
    assert window.isVisible() and window.run_button.isEnabled()

    # still usable: a second run starts the worker again (which dies again: the same model on the same CPU)
    window.results.table.selectRow(1)
    assert window.results.finding_view.finding is not None
    assert ui.run(timeout=120000) == "succeeded"
    assert window.host.vlm("tiny-vlm").worker.n_starts_ == 2
    assert "stopped: illegal instruction (signal 4)" in window.results.warnings.text()
