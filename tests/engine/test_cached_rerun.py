"""A re-run reads what the first run computed: the model's cache key without the model, re-planted variants, the
region stage, heat maps — and a whole cached comparison loads no model at all."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from spotdiff.analysis import heatmap
from spotdiff.analysis.regions import stage
from spotdiff.analysis.regions.detector import PixelClassifier
from spotdiff.analysis.replant import Cause, Replanter
from spotdiff.analysis.validate import Half, Split
from spotdiff.io.images import scan_image_set
from spotdiff.models.cache import EmbeddingCache
from spotdiff.models.deferred import DeferredEmbedder
from spotdiff.models.embedding import embed_images
from spotdiff.models.factory import open_embedder
from spotdiff.progress import run
from spotdiff.synthetic.synth import synth

pytestmark = pytest.mark.filterwarnings("error")


def _pair(root: Path, plants=(("rectangles", 0.6),), n=12, size=96) -> tuple:
    run(synth(root, plants=list(plants), n_per_set=n, seed=0, image_size=size))
    return tuple(run(scan_image_set([root / f"set_{s}"], s)).images for s in "ab")


def test_a_deferred_model_knows_its_cache_key_without_loading_and_it_is_the_loaded_ones(tiny_clip):
    first = open_embedder(tiny_clip, deferred=True)  # nothing remembered yet: loaded now
    assert not isinstance(first, DeferredEmbedder)
    later = open_embedder(tiny_clip, deferred=True)
    assert isinstance(later, DeferredEmbedder) and not later.loaded
    assert (later.cache_key, later.dim) == (first.cache_key, first.dim)
    assert json.loads(json.dumps(later.preprocess_cfg)) == json.loads(json.dumps(first.preprocess_cfg, default=list))
    assert later.prompt_templates == first.prompt_templates and later.weights_sha256 == first.weights_sha256
    vectors = later.embed_text(["a red square"])  # the first use loads it, under the same key
    assert later.loaded and later.model().cache_key == first.cache_key
    assert np.allclose(vectors, first.embed_text(["a red square"]), atol=1e-5)


def test_another_precision_is_another_model(tiny_clip):
    open_embedder(tiny_clip, deferred=True, precision="fp32")
    assert not isinstance(open_embedder(tiny_clip, deferred=True, precision="bf16"), DeferredEmbedder)
    assert isinstance(open_embedder(tiny_clip, deferred=True, precision="fp32"), DeferredEmbedder)


def test_replanted_variants_are_read_back_from_the_cache(tmp_path):
    a, b = _pair(tmp_path / "pair", plants=[("blur", 0.6)], n=8)
    embedder = open_embedder("measurements")
    X = {"measurements": run(embed_images(embedder, a + b, None))}
    half = Half(a, b, {k: v[:len(a)] for k, v in X.items()}, {k: v[len(a):] for k, v in X.items()})
    causes = [Cause(0, "blur", 0.6, "a")]
    with EmbeddingCache(tmp_path / "cache") as cache, Replanter({"measurements": embedder}, seed=0, cache=cache) \
            as first, Replanter({"measurements": embedder}, seed=0, cache=cache) as again, \
            Replanter({"measurements": embedder}, seed=1, cache=cache) as other_seed:
        planted = first.variant(half, causes)
        assert first.n_embedded_ == 0  # a space is embedded when a claim in it is looked at
        first_vectors = planted.embeddings_a["measurements"]
        read = again.variant(half, causes)
        read.embeddings_a["measurements"]
        other_seed.variant(half, causes).embeddings_a["measurements"]
    assert first.n_embedded_ == len(a) and again.n_embedded_ == 0 and other_seed.n_embedded_ == len(a)
    assert first_vectors is planted.embeddings_a["measurements"]
    assert np.array_equal(read.embeddings_a["measurements"], planted.embeddings_a["measurements"])
    assert not np.allclose(planted.embeddings_a["measurements"], half.embeddings_a["measurements"])
    assert read.embeddings_b["measurements"] is half.embeddings_b["measurements"]  # nothing planted into B


def test_the_region_stage_is_read_back_from_the_cache(tmp_path, monkeypatch):
    a, b = _pair(tmp_path / "pair", n=16, size=112)
    split = Split.make(len(a), len(b), seed=0)
    with EmbeddingCache(tmp_path / "cache") as cache:
        fitted = run(stage.region_stage(a, b, split.heldout_a, split.heldout_b, seed=0, cache=cache))

        def no_fit(*args, **kwargs):
            raise AssertionError("fitted again")

        monkeypatch.setattr(stage, "_fit_regions", no_fit)
        read = run(stage.region_stage(a, b, split.heldout_a, split.heldout_b, seed=0, cache=cache))
        with pytest.raises(AssertionError, match="fitted again"):  # another seed is another stage
            run(stage.region_stage(a, b, split.heldout_a, split.heldout_b, seed=1, cache=cache))
    assert fitted.key and read.key == fitted.key
    assert np.array_equal(read.X, fitted.X)
    assert [h.statement for h in read.hypotheses] == [h.statement for h in fitted.hypotheses]


def test_a_cached_detector_reads_its_classifiers_when_they_are_first_used():
    """A region detector is pickled with its classifiers as a pickle of their own, so reading a cached stage
    imports no scikit-learn; the classifiers come back on first use, and pickling it again keeps them."""
    detector = stage.RegionDetector("b", (PixelClassifier({"trees": [1, 2]}), PixelClassifier("other", True)), 0.5,
                                     np.ones(3))
    read = pickle.loads(pickle.dumps(detector))
    assert "classifiers" not in vars(read)
    again = pickle.loads(pickle.dumps(read))
    assert read.classifiers == detector.classifiers and "classifiers" in vars(read)
    assert again.classifiers == detector.classifiers and again.threshold == 0.5 and again.toward == "b"
    with pytest.raises(AttributeError):
        read.no_such_thing


def test_heat_maps_are_read_back_from_the_cache(tmp_path, tiny_clip):
    a, b = _pair(tmp_path / "pair", n=8)
    embedder = open_embedder(tiny_clip)
    calls = []
    real = embedder.embed_patches

    def counted(images, directions=None):
        calls.append(len(images))
        return real(images, directions)

    embedder.embed_patches = counted
    vector = np.ones(embedder.dim, np.float32)
    wanted = [("x", b[:3], vector), ("y", b[1:4], -vector)]
    with EmbeddingCache(tmp_path / "cache") as cache:
        first = run(heatmap.heatmaps(embedder, wanted, cache))
        second = run(heatmap.heatmaps(embedder, wanted, cache))
        third = run(heatmap.heatmaps(embedder, wanted + [("z", a[:2], vector)], cache))
    assert calls == [4, 2]  # the second run read every map; the third computed only the new images' maps
    assert first.keys() == second.keys() and set(first) < set(third)
    for key, m in first.items():
        assert np.array_equal(m.scores, second[key].scores) and m.box == second[key].box


def test_heat_maps_stop_at_their_time_budget_and_the_next_run_draws_the_rest(tmp_path, tiny_clip):
    a, b = _pair(tmp_path / "pair", n=12)
    embedder = open_embedder(tiny_clip)
    wanted = [("x", b, np.ones(embedder.dim, np.float32))]
    with EmbeddingCache(tmp_path / "cache") as cache:
        first = run(heatmap.heatmaps(embedder, wanted, cache, budget_s=0.0))  # one chunk, then out of time
        rest = run(heatmap.heatmaps(embedder, wanted, cache))
    assert len(first) == heatmap.CHUNK < len(b) and len(rest) == len(b)
    assert all(np.array_equal(m.scores, rest[k].scores) for k, m in first.items())


def test_a_damaged_result_reads_as_absent(tmp_path):
    with EmbeddingCache(tmp_path) as cache:
        cache.put_result("kind", "key", np.arange(3))
        cache._connect().execute("UPDATE results SET data = ? WHERE key = 'key'", (b"garbage",)).connection.commit()
        assert cache.get_result("kind", "key") is None and cache.n_corrupt_ == 1
        assert cache.get_result("kind", "key") is None  # dropped, not read again


@pytest.mark.slow
def test_a_cached_comparison_loads_no_model_and_says_the_same(tmp_path):
    """Two runs of the command line on the default model: the second imports neither torch nor open_clip, nor
    scikit-learn or scipy.stats (a second of start-up between them)."""
    _pair(tmp_path / "pair", n=24)
    script = ("import sys, json; from spotdiff.apps.cli import main\n"
              "code = 0\n"
              "try:\n"
              f"    main(['compare', r'{tmp_path / 'pair' / 'set_a'}', r'{tmp_path / 'pair' / 'set_b'}', '-q',\n"
              f"          '--no-library', '--out', sys.argv[1]])\n"
              "except SystemExit as e:\n"
              "    code = e.code or 0\n"
              "print(json.dumps({'code': code, **{m: m in sys.modules for m in\n"
              "                  ('torch', 'open_clip', 'sklearn', 'scipy.stats')}}))")
    runs = []
    for k in range(2):
        out = subprocess.run([sys.executable, "-c", script, str(tmp_path / f"out{k}")], capture_output=True,
                             text=True, timeout=600)
        assert out.returncode == 0, out.stderr[-2000:]
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    assert runs[0]["code"] == 0 and runs[0]["torch"] and runs[0]["open_clip"] and runs[0]["sklearn"]
    # nor scikit-learn (the region detectors stay pickled) nor scipy.stats (spotdiff.analysis.stats computes its tests)
    assert runs[1] == {"code": 0, "torch": False, "open_clip": False, "sklearn": False, "scipy.stats": False}
    reports = [json.loads((tmp_path / f"out{k}" / "report.json").read_text()) for k in range(2)]
    said = [[(f["statement"], f["more_in"], f["q_value"], f.get("explained_by")) for f in r["findings"]]
            for r in reports]
    assert said[0] == said[1] and any(f["supported"] for f in reports[0]["findings"])
    assert reports[1]["timings"]["embed"] < reports[0]["timings"]["embed"]


def test_cancel_stops_the_re_planting_and_leaves_nothing_running(tmp_path):
    import threading
    import time

    from spotdiff.pipeline import CompareRequest, compare_steps

    run(synth(tmp_path, plants=[("blur", 0.6)], n_per_set=40, seed=0, image_size=128))
    work = compare_steps(CompareRequest(set_a=(tmp_path / "set_a",), set_b=(tmp_path / "set_b",),
                                        model="measurements", use_cache=False, regions=False))
    for progress in work:
        if progress.stage == "explain" and progress.message.startswith("re-planting") and progress.done > 0:
            break
    else:
        pytest.fail("the comparison ended without reporting the re-planting")
    start = time.perf_counter()
    work.close()
    assert time.perf_counter() - start < 10
    assert not [t for t in threading.enumerate() if t.name.startswith("spotdiff-explain")]


def test_re_planting_looks_at_a_fixed_sample_of_a_large_half():
    from spotdiff.analysis.replant import sampled
    from spotdiff.io.images import ImageRecord

    records = tuple(ImageRecord(Path(f"/x/{k}.png"), f"h{k}", 8, 8, "PNG") for k in range(400))
    X = np.arange(400, dtype=np.float32)[:, None]
    half = Half(records[:300], records[300:], {"m": X[:300]}, {"m": X[300:]})
    cut = sampled(half, 150, seed=0)
    assert (len(cut.images_a), len(cut.images_b)) == (150, 100)
    assert cut.images_b == half.images_b and len(set(cut.images_a)) == 150
    assert [int(r.content_hash[1:]) for r in cut.images_a] == cut.embeddings_a["m"][:, 0].astype(int).tolist()
    assert cut.images_a == sampled(half, 150, seed=0).images_a  # the same sample every time
    assert sampled(cut, 150) is cut
