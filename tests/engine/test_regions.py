"""The region stage: where one set's images hold something the other set's do not, and what it looks like.

The slow tests paste tiny solid rectangles into real photographs (crops of the sample photos scikit-image and
scikit-learn ship) and run whole comparisons on the measurements model, so no weights are needed.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

import spotdiff
from spotdiff.analysis.regions.colours import colour_name
from spotdiff.analysis.regions.describe import (Region, find_regions, kind_of, refine, statement,
                                               summarise, typical_regions)
from spotdiff.analysis.regions.stage import _fit_regions_on, _threshold, region_stage
from spotdiff.analysis.validate import Split
from spotdiff.io.images import scan_image_set
from spotdiff.parallel import Pool
from spotdiff.progress import run
from spotdiff.synthetic.world import COLOURS

RED = COLOURS["red"]


def test_colour_names_of_the_planted_palette():
    for name, rgb in COLOURS.items():
        assert colour_name(np.array(rgb) / 255) == name
    assert colour_name((0.5, 0.5, 0.5)) == "grey"
    assert colour_name((0.45, 0.3, 0.1)) == "brown"


def test_find_regions_seeds_grow_and_merge():
    m = np.zeros((20, 20), np.float32)
    m[2:5, 2:5] = 0.99  # a seed region
    m[2:5, 5] = 0.8  # grown into: above (0.5 + 0.95) / 2
    m[10:12, 10:12] = 0.9  # never above the threshold: no region
    labels, mask = find_regions(m, 0.95)
    assert mask[2:5, 2:6].all() and not mask[10:12, 10:12].any()
    assert len(np.unique(labels[labels > 0])) == 1


def test_refine_grows_a_mark_to_its_edges_by_colour():
    rgb = np.full((20, 20, 3), 0.5, np.float32)
    rgb[5:10, 5:10] = np.array(RED) / 255
    labels = np.zeros((20, 20), int)
    labels[6:9, 6:9] = 1  # the detector fired on the inside only
    grown = refine(labels, rgb)
    assert (grown[5:10, 5:10] == 1).all() and (grown == 1).sum() == 25


def test_threshold_lies_between_the_sets_on_the_logit_scale():
    target = np.array([0.99, 0.995, 0.999, 0.2, 0.1])
    other = np.array([0.1, 0.2, 0.3, 0.05, 0.01])
    t, share_t, share_o = _threshold(target, other)
    assert 0.3 < t < 0.99 and share_t == pytest.approx(0.6) and share_o == 0.0


def _region(box, colour=RED, fill=1.0):
    return Region(box=box, area=float((box[2] - box[0]) * (box[3] - box[1]) * fill), fill=fill,
                  colour=tuple(c / 255 for c in colour), contrast=0.5, texture=0.05, detail=1.0, peak=0.99)


def test_summary_words_come_from_the_recurring_regions():
    per_image = [([_region((10, 10, 15, 14)), _region((40, 50, 44, 55))], (112, 112)) for _ in range(8)]
    per_image.append(([_region((0, 0, 40, 30), colour=(250, 250, 250), fill=0.3)], (112, 112)))  # by chance
    assert len(typical_regions(per_image)) == 8
    s = summarise(per_image, toward="b", share_target=0.9, share_other=0.05, threshold=0.99)
    assert (s.kind, s.colour, s.size_word, s.count) == ("rectangles", "red", "tiny", (2, 2))
    assert statement(s) == "tiny red rectangles (≈ 4 × 4 px), 2 per image"
    assert s.width == pytest.approx(4.5) and s.height == pytest.approx(4.5)


def test_kind_words():
    assert kind_of(1.0, 0.5, 0.05, 1.0, 5, 4) == "rectangles"
    assert kind_of(1.0, 0.5, 0.05, 1.0, 2, 2) == "specks"
    assert kind_of(0.9, 0.02, 0.4, 0.5, 16, 16) == "blurred patches"
    assert kind_of(0.4, 0.4, 1.0, 2.0, 30, 10) == "text-like marks"
    assert kind_of(0.75, 0.4, 0.3, 1.0, 9, 8) == "blotches"
    assert kind_of(0.3, 0.6, 0.5, 1.0, 5, 6) == "specks"  # a cluster of stuck pixels
    assert kind_of(0.3, 0.6, 0.5, 1.0, 20, 6) == "marks"
    assert kind_of(0.3, 0.6, 0.5, 1.0, 20, 8, pieces=4) == "text-like marks"  # a row of letters


def test_region_stage_finds_and_words_pasted_squares(tmp_path):
    pair = _photo_pair(tmp_path, 1.0, seed=3, n_per_set=40)
    a = run(scan_image_set([pair / "set_a"], "a")).images
    b = run(scan_image_set([pair / "set_b"], "b")).images
    split = Split.make(len(a), len(b), seed=0)
    evidence = run(region_stage(a, b, split.heldout_a, split.heldout_b, seed=0))
    claims = [h for h in evidence.hypotheses if h.more_in == "b"]
    assert len(claims) == 1 and claims[0].space == "regions" and claims[0].test == "fisher"
    assert not [h for h in evidence.hypotheses if h.more_in == "a"]
    summary = claims[0].region
    assert (summary.kind, summary.colour) == ("rectangles", "red"), statement(summary)
    assert 3 <= summary.width <= 7 and 3 <= summary.height <= 7
    held_b = evidence.X[len(a):][split.heldout_b, 0]
    held_a = evidence.X[:len(a)][split.heldout_a, 0]
    assert (held_b > summary.threshold).mean() >= 0.8 and (held_a > summary.threshold).mean() <= 0.1


def test_pool_gives_results_in_the_order_the_work_was_given():
    import threading
    import time

    with Pool(3) as pool:
        threads = set()

        def slow_first(k):
            threads.add(threading.current_thread().name)
            time.sleep(0.05 if k == 0 else 0.0)  # the first piece finishes last
            return k * k

        assert list(pool.map(slow_first, range(12))) == [k * k for k in range(12)]
        assert threads and threading.current_thread().name not in threads
    with Pool(1) as pool:  # one worker: in the caller's thread, no pool
        assert list(pool.map(lambda k: threading.current_thread().name, range(2))) == \
            [threading.current_thread().name] * 2


def test_region_stage_on_several_threads_computes_what_one_thread_does(tmp_path):
    pair = _photo_pair(tmp_path, 0.5, seed=5, n_per_set=30)
    a = run(scan_image_set([pair / "set_a"], "a")).images
    b = run(scan_image_set([pair / "set_b"], "b")).images
    split = Split.make(len(a), len(b), seed=0)
    results = []
    for workers in (1, 3):
        with Pool(workers) as pool:
            results.append(run(_fit_regions_on(pool, a, b, split.heldout_a, split.heldout_b, seed=0)))
    one, several = results
    assert one.hypotheses, "the pair has pasted marks in half of B: the stage should claim them"
    np.testing.assert_array_equal(one.X, several.X)
    assert [h.statement for h in one.hypotheses] == [h.statement for h in several.hypotheses]
    assert [h.region.threshold for h in one.hypotheses] == [h.region.threshold for h in several.hypotheses]


# --- whole comparisons on real photographs ---------------------------------------------------------------


def _photo_pair(root, prevalence: float, seed: int, n_per_set: int = 100):
    pytest.importorskip("skimage.data")
    from spotdiff.synthetic.photos import write_photo_crops
    from spotdiff.synthetic.synth import synth

    crops = write_photo_crops(root / "crops", 2 * n_per_set, size=112, seed=0)
    plants = [("rectangles/red", 0.5)] if prevalence > 0 else []
    run(synth(root / "pair", plants=plants, prevalence=prevalence if plants else 1.0, n_per_set=n_per_set,
              source=crops, seed=seed, image_size=112))
    return root / "pair"


def _iou_on_heldout(result, pair, finding, seed: int) -> np.ndarray:
    """IoU of the detected and the pasted union masks on every held-out B image that holds a plant."""
    truth = json.loads((pair / "truth.json").read_text())
    split = Split.make(len(result.set_a.images), len(result.set_b.images), seed=seed)
    ious = []
    for record, held in zip(result.set_b.images, split.heldout_b):
        edits = truth["edited"].get(f"set_b/{record.path.name}")
        if not held or not edits:
            continue
        mask, _ = finding.region.detector.locate(record)
        planted = np.zeros_like(mask)
        for x0, y0, x1, y1 in edits[0]["info"]["boxes"]:
            planted[y0:y1, x0:x1] = True
        ious.append((mask & planted).sum() / max(1, (mask | planted).sum()))
    return np.array(ious)


@pytest.mark.slow
@pytest.mark.parametrize("prevalence, seed", [(1.0, 0), (0.3, 0), (0.3, 1)])
def test_tiny_rectangles_in_photos_are_named_and_found_where_they_are(tmp_path, prevalence, seed):
    pair = _photo_pair(tmp_path, prevalence, seed)
    result = spotdiff.compare(pair / "set_a", pair / "set_b", model="measurements", seed=seed)
    regions = [f for f in result.findings if f.source == "regions" and f.supported and f.more_in == "b"]
    assert len(regions) == 1, [repr(f) for f in result.findings if f.supported]
    finding = regions[0]
    assert finding.independent
    truth = json.loads((pair / "truth.json").read_text())
    sides = [(x1 - x0 + y1 - y0) / 2 for e in truth["edited"].values() for x0, y0, x1, y1 in e[0]["info"]["boxes"]]
    size = re.search(r"≈ (\d+) × (\d+) px", finding.statement)
    assert size and abs((int(size[1]) + int(size[2])) / 2 / np.mean(sides) - 1) <= 0.5, finding.statement
    assert re.search(r"\brectangles\b", finding.statement) and finding.region.colour == "red", finding.statement
    ious = _iou_on_heldout(result, pair, finding, seed)
    assert len(ious) >= 12 and (ious >= 0.5).mean() >= 0.8, np.round(ious, 2)


@pytest.mark.slow
def test_a_null_pair_of_photos_gives_no_region_finding(tmp_path):
    pair = _photo_pair(tmp_path, 0.0, seed=2)
    result = spotdiff.compare(pair / "set_a", pair / "set_b", model="measurements", seed=2)
    assert not [f for f in result.findings if f.source == "regions" and f.supported]
