"""docs/notebook.ipynb runs as a user would run it, top to bottom, and shows what it says it shows."""

from __future__ import annotations

import json

from pathlib import Path

import pytest
from PIL import Image

NOTEBOOK = Path(__file__).resolve().parents[2] / "docs" / "notebook.ipynb"


@pytest.mark.slow
def test_the_notebook_compares_two_folders_and_shows_the_top_findings_exemplars(tmp_path, monkeypatch):
    monkeypatch.setenv("SPOTDIFF_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("SPOTDIFF_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    cells = [c for c in json.loads(NOTEBOOK.read_text(encoding="utf-8"))["cells"] if c["cell_type"] == "code"]
    assert all(c["outputs"] == [] and c["execution_count"] is None for c in cells), "commit the notebook unexecuted"
    namespace: dict = {}
    for cell in cells:
        exec(compile("".join(cell["source"]), str(NOTEBOOK), "exec"), namespace)  # noqa: S102 - our own notebook
    result, top = namespace["result"], namespace["top"]
    assert top is result.supported[0] and top.supported
    assert "rectangle" in top.statement and top.more_in == "b"  # the planted difference, named first
    assert "supported" in repr(result) and repr(top).startswith("Finding(")
    for sheet, shown in ((namespace["sheet_more"], top.exemplars_b), (namespace["sheet_less"], top.exemplars_a)):
        assert isinstance(sheet, Image.Image) and sheet.size == (96 * len(shown), 96) and len(shown) >= 3
    report = json.loads((namespace["saved"] / "report.json").read_text(encoding="utf-8"))
    assert report == json.loads(json.dumps(result.to_dict()))
    assert (namespace["saved"] / "report.html").is_file()
