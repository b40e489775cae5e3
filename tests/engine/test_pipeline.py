"""End to end through compare_steps() and the CLI, on procedural images and the measurement embedder."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from spotdiff.models.cache import EmbeddingCache
from spotdiff.apps.cli import main
from spotdiff.errors import Cancelled
from spotdiff.io.images import scan_image_set
from spotdiff.pipeline import CompareRequest, compare_steps
from spotdiff.progress import run
from spotdiff.synthetic.synth import synth
from spotdiff.analysis.validate import reaches_effect


def held_out_less_more(f):
    """A finding's held-out scores as (the other set's, the claimed set's)."""
    return (f.scores_a, f.scores_b) if f.more_in == "b" else (f.scores_b, f.scores_a)

pytestmark = pytest.mark.filterwarnings("error")


def make_pair(root: Path, plants, n=30, seed=0) -> Path:
    run(synth(root, plants=plants, n_per_set=n, seed=seed, image_size=96))
    return root


@pytest.fixture(scope="module")
def blur_warm_pair(tmp_path_factory):
    return make_pair(tmp_path_factory.mktemp("pair"), [("blur", 0.6), ("warm", 0.6)])


def measurements_request(root: Path, **kw) -> CompareRequest:
    return CompareRequest(set_a=(root / "set_a",), set_b=(root / "set_b",), model="measurements", **kw)


def test_planted_blur_and_warmth_are_supported_findings(blur_warm_pair):
    result = run(compare_steps(measurements_request(blur_warm_pair)))
    supported = {(f.statement, f.more_in) for f in result.supported}
    assert ("blurrier", "b") in supported
    assert any("warm" in s and m == "b" for s, m in supported)
    assert result.separability[0].p_value <= 0.05
    assert all(f.q_value <= 0.05 and reaches_effect(f.hypothesis, f.heldout_auroc, *held_out_less_more(f), 0.1)
               for f in result.supported)
    # the claims are checked on images the proposers never saw
    n_held = result.settings["n_heldout"]
    assert len(result.findings[0].scores_a) == n_held["a"] and len(result.findings[0].scores_b) == n_held["b"]
    held = {im.path for f in result.findings for im in f.exemplars_a + f.exemplars_b}
    discovery = {im.path for d in result.directions for im in d.exemplars_a + d.exemplars_b}
    assert not held & discovery


def test_two_random_halves_of_one_folder_give_no_supported_finding(tmp_path):
    root = make_pair(tmp_path / "one", [], n=40, seed=3)
    files = sorted((root / "set_a").glob("*.png")) + sorted((root / "set_b").glob("*.png"))
    order = np.random.default_rng(11).permutation(len(files))
    half_a = tuple(files[i] for i in order[:40])
    half_b = tuple(files[i] for i in order[40:])
    result = run(compare_steps(CompareRequest(set_a=half_a, set_b=half_b, model="measurements")))
    assert result.findings, "hypotheses should still be proposed and reported"
    assert not result.supported, [(f.statement, f.q_value) for f in result.supported]


def test_same_inputs_and_seed_give_the_same_report(blur_warm_pair, tmp_path):
    for name in ("r1", "r2"):
        assert main(["compare", str(blur_warm_pair / "set_a"), str(blur_warm_pair / "set_b"), "--model",
                     "measurements", "--out", str(tmp_path / name), "-q"]) == 0
    r1, r2 = (json.loads((tmp_path / n / "report.json").read_text()) for n in ("r1", "r2"))
    r1.pop("timings"), r2.pop("timings")
    assert r1 == r2
    assert r1["schema_version"] and r1["findings"] and r1["separability"]


def test_rerun_embeds_nothing_and_a_corrupt_entry_is_recomputed(blur_warm_pair, tmp_path):
    cache_dir = tmp_path / "cache"
    request = measurements_request(blur_warm_pair, cache_dir=cache_dir)

    def embed_reports(req):
        reports = []
        result = run(compare_steps(req), reports.append)
        return result, [r for r in reports if r.stage.startswith("embed")]

    first, reports = embed_reports(request)
    assert reports[0].total == 60
    second, reports = embed_reports(request)
    assert reports[0].total == 0 and "60 cached" in reports[0].message
    assert [f.statement for f in second.findings] == [f.statement for f in first.findings]

    import sqlite3
    db = sqlite3.connect(cache_dir / "embeddings.sqlite")
    with db:
        db.execute("UPDATE vectors SET data = zeroblob(length(data)) WHERE rowid IN (SELECT rowid FROM vectors LIMIT 3)")
    db.close()
    third, reports = embed_reports(request)
    assert reports[0].total == 3
    assert [f.heldout_auroc for f in third.findings] == [f.heldout_auroc for f in first.findings]


def test_a_cache_file_that_is_not_a_database_is_set_aside(tmp_path):
    (tmp_path / "embeddings.sqlite").write_bytes(b"this is not sqlite" * 100)
    cache = EmbeddingCache(tmp_path)
    cache.put_many("k", {"x": np.ones(3, np.float32)})
    assert cache.get_many("k", ["x"], 3)["x"].tolist() == [1, 1, 1]
    cache.close()
    assert list(tmp_path.glob("embeddings.corrupt-*.sqlite"))


def test_cancel_mid_embedding_leaves_a_consistent_cache(blur_warm_pair, tmp_path):
    cache_dir = tmp_path / "cache"
    request = measurements_request(blur_warm_pair, cache_dir=cache_dir)
    seen = []

    def stop_after_first_batch(report):
        seen.append(report)
        return not (report.stage.startswith("embed") and report.done >= 16)

    with pytest.raises(Cancelled):
        run(compare_steps(request), stop_after_first_batch)
    result = run(compare_steps(request))
    assert any(f.statement == "blurrier" for f in result.supported)


def test_hostile_folder_is_compared_and_every_bad_file_listed(tmp_path):
    good = make_pair(tmp_path / "good", [("blur", 0.6)], n=20)
    hostile = tmp_path / "hostile"
    shutil.copytree(good / "set_b", hostile)
    (hostile / "empty.jpg").write_bytes(b"")
    jpeg = hostile / "whole.jpg"
    Image.fromarray((np.random.default_rng(0).random((64, 64, 3)) * 255).astype(np.uint8)).save(jpeg, quality=90)
    data = jpeg.read_bytes()
    (hostile / "truncated.jpg").write_bytes(data[: len(data) // 2])
    (hostile / "notes.jpg").write_text("not an image")
    bomb = Image.new("1", (20000, 20000))
    bomb.save(hostile / "bomb.png")
    Image.fromarray((np.arange(64 * 64).reshape(64, 64) * 16).astype(np.uint16)).save(hostile / "deep16.png")
    Image.new("CMYK", (40, 30), (0, 128, 255, 0)).save(hostile / "cmyk.jpg")
    rotated = Image.new("RGB", (60, 30), (200, 10, 10))
    exif = Image.Exif()
    exif[0x0112] = 6
    rotated.save(hostile / "rotated.jpg", exif=exif)
    Image.new("RGB", (30, 30), (0, 200, 0)).save(hostile / "café_图像.png")
    before = {p: p.read_bytes() for p in hostile.iterdir()}

    out = tmp_path / "report"
    code = main(["compare", str(good / "set_a"), str(hostile), "--model", "measurements", "--out", str(out), "-q"])
    assert code == 0
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    skipped = {Path(s["path"]).name: s["reason"] for s in report["skipped"]}
    assert set(skipped) == {"empty.jpg", "truncated.jpg", "notes.jpg", "bomb.png"}
    assert "0 bytes" in skipped["empty.jpg"] and "bomb" in skipped["bomb.png"]
    assert report["sets"]["b"]["n_images"] == 20 + 5
    assert {p: p.read_bytes() for p in hostile.iterdir()} == before  # the user's files are only read
    # the file with a non-ASCII name is one of the 25 images read (not skipped), and the HTML report is whole
    assert "café_图像.png" not in skipped
    names = {r.path.name for r in run(scan_image_set([hostile], "b")).images}
    assert "café_图像.png" in names and len(names) == 25
    assert (out / "report.html").read_text(encoding="utf-8").rstrip().endswith("</html>")


def test_bad_input_exits_2_with_one_line_and_no_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "spotdiff.apps.cli", "compare", str(tmp_path / "nope"), str(tmp_path)],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "does not exist" in lines[0]


def test_too_few_images_is_a_clear_error(tmp_path, capsys):
    root = make_pair(tmp_path / "small", [], n=5)
    code = main(["compare", str(root / "set_a"), str(root / "set_b"), "--model", "measurements", "-q",
                 "--out", str(tmp_path / "r")])
    assert code == 2
    err = capsys.readouterr().err
    assert "5 readable images" in err and "at least 8" in err and "set_a" in err


def test_leaked_files_are_reported(tmp_path):
    root = make_pair(tmp_path / "leak", [("blur", 0.6)], n=12)
    shutil.copy(root / "set_a" / "0000.png", root / "set_b" / "copy.png")
    result = run(compare_steps(measurements_request(root)))
    assert len(result.leaks) == 1 and result.leaks[0].path_b.name == "copy.png"
    assert any("both sets" in w for w in result.warnings)


def test_engine_never_imports_qt():
    code = ("import sys, spotdiff.pipeline, spotdiff.apps.cli, spotdiff.report, spotdiff.models.registry, spotdiff.synthetic.world\n"
            "bad = [m for m in sys.modules if m.startswith(('PySide6', 'PyQt', 'desktop'))]\n"
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)
    engine_dir = Path(__file__).resolve().parents[2] / "engine"
    for path in engine_dir.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "PySide6" not in text and "import desktop" not in text, path


def test_compare_with_an_open_clip_model_runs_the_concept_bank(blur_warm_pair, tiny_clip, tmp_path):
    """The CLIP path end to end: image and text towers, the concept bank, validation, reports."""
    out = tmp_path / "report"
    code = main(["compare", str(blur_warm_pair / "set_a"), str(blur_warm_pair / "set_b"), "--model", tiny_clip,
                 "--out", str(out), "-q"])
    assert code == 0
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert {s["space"] for s in report["separability"]} == {"tiny-clip", "measurements"}
    sources = {f["source"] for f in report["findings"]}
    assert "concept-bank" in sources and "measurements" in sources
    concept = [f for f in report["findings"] if f["source"] == "concept-bank"]
    assert all(f["space"] == "tiny-clip" and 0 <= f["heldout_auroc"] <= 1 for f in concept)
    assert len({f["statement"] for f in concept}) == len(concept)
    assert len([d for d in report["directions"] if d["space"] == "tiny-clip"]) == 3
