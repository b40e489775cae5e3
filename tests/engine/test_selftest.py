"""`spotdiff selftest` in the source tree: every component loads, a failure is named and the rest still run.

The same command runs inside the built .deb (packaging/smoke.sh); here it runs on the installed venv.
"""

from __future__ import annotations

import pytest

from spotdiff.apps import selftest
from spotdiff.apps.cli import main

ALL_CHECKS = ["open_clip", "faiss", "scikit-learn", "llama_cpp", "comparison", "desktop"]


def check_lines(out: str) -> dict[str, str]:
    """{check name: "ok" or "FAIL"} from the command's output."""
    rows = [line.split() for line in out.splitlines() if line.startswith("  ")]
    return {row[1]: row[0] for row in rows}


@pytest.mark.slow
@pytest.mark.extra("llama_cpp", "vlm")
def test_selftest_passes_with_the_toy_model_that_ships(capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(selftest.tempfile, "tempdir", str(tmp_path))

    code = main(["selftest"])

    out = capsys.readouterr().out
    assert code == 0, out
    assert check_lines(out) == dict.fromkeys(ALL_CHECKS, "ok"), out
    assert "toy-shapes" in out and "sha256" in out and "source tree" in out.splitlines()[0]
    assert "main window drawn on Qt platform 'offscreen'" in out
    assert "selftest passed: 6 of 6 checks" in out
    assert not list(tmp_path.glob("spotdiff-selftest-*"))  # the scratch folder is gone


@pytest.mark.extra("llama_cpp", "vlm")
def test_a_failing_check_is_named_and_the_others_still_run(capsys, tmp_path, monkeypatch):
    cache, data = tmp_path / "user-cache", tmp_path / "user-data"
    monkeypatch.setenv("SPOTDIFF_CACHE", str(cache))
    monkeypatch.setenv("SPOTDIFF_DATA", str(data))

    code = main(["selftest", "--model", "measurements", "--no-desktop"])  # no text tower: open_clip must fail

    captured = capsys.readouterr()
    assert code == 1
    assert check_lines(captured.out) == {"open_clip": "FAIL", "faiss": "ok", "scikit-learn": "ok", "llama_cpp": "ok",
                                         "comparison": "ok"}
    assert "'measurements' is a model of kind 'measurements'; the check needs an open_clip model" in captured.out
    assert "Traceback" in captured.err  # the failure's traceback goes to stderr for a bug report
    assert "selftest FAILED: open_clip (4 of 5 checks passed)" in captured.out
    # everything the checks wrote went to the scratch folder, not to the user's folders
    assert not cache.exists() and not data.exists()


@pytest.mark.extra("llama_cpp", "vlm")
def test_the_desktop_check_says_how_to_install_the_app_when_it_is_missing(monkeypatch):
    monkeypatch.setattr(selftest, "desktop_command", lambda: None)

    with pytest.raises(FileNotFoundError, match=r"pip install 'spotdiff\[gui\]'"):
        selftest.check_desktop(None)


@pytest.mark.extra("llama_cpp", "vlm")
def test_an_unknown_model_fails_its_checks_with_the_known_names(capsys):
    results = selftest.selftest("no-such-model", desktop=False)

    by_name = {r.name: r for r in results}
    assert not by_name["open_clip"].ok and "measurements" in by_name["open_clip"].detail
    assert not by_name["comparison"].ok
    assert by_name["faiss"].ok and by_name["scikit-learn"].ok and by_name["llama_cpp"].ok
