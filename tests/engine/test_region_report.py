"""A region finding in report.json and report.html, from a real comparison: tiny red rectangles pasted into every
set-B photo crop, found by the region stage with the measurements model (no weights)."""

from __future__ import annotations

import hashlib
import json
import re

import numpy as np
import pytest

import spotdiff
from spotdiff.progress import run
from spotdiff.report import SCHEMA_VERSION, to_html, to_json_dict
from spotdiff.report.json_report import dumps
from spotdiff.report.html_pictures import MAX_THUMBNAILS_PER_SIDE
from spotdiff.synthetic.photos import write_photo_crops
from spotdiff.synthetic.synth import synth

DESCRIPTORS = {"toward", "kind", "size", "width_px", "height_px", "area_percent", "colour", "count", "position", "fill",
               "contrast", "texture", "detail", "n_regions", "n_images", "discovery_share", "threshold",
               "described_from"}


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    """One comparison for the whole module (about 15 s)."""
    tmp = tmp_path_factory.mktemp("regions")
    crops = write_photo_crops(tmp / "crops", 200, size=112, seed=0)
    run(synth(tmp / "pair", plants=[("rectangles/red", 0.5)], prevalence=1.0, n_per_set=100, source=crops, seed=0,
              image_size=112))
    return spotdiff.compare(tmp / "pair" / "set_a", tmp / "pair" / "set_b", model="measurements")


@pytest.fixture(scope="module")
def region_finding(result):
    found = [f for f in result.findings if f.region is not None and f.supported and f.more_in == "b"]
    assert found, [repr(f) for f in result.findings]
    return found[0]


def test_report_json_carries_the_region_descriptors_boxes_and_location_maps(result, region_finding):
    doc = to_json_dict(result)
    assert doc["schema_version"] == SCHEMA_VERSION == "2.5"
    entry = next(f for f in doc["findings"] if f["id"] == region_finding.id)
    assert entry["source"] == entry["space"] == "regions"
    region = entry["region"]
    assert set(region) == set(region_finding.region.to_json()) | {"exemplar_boxes", "location"}
    assert DESCRIPTORS <= set(region)
    assert region["toward"] == "b" and region["kind"] == "rectangles" and "red" in region["colour"]
    assert {k: v for k, v in region.items() if k not in ("exemplar_boxes", "location")} == json.loads(
        json.dumps(region_finding.region.to_json()))

    for side in "ab":
        records = getattr(region_finding, f"exemplars_{side}")
        boxes = region["exemplar_boxes"][side]
        assert len(boxes) == len(entry["exemplars"][side]) == len(records)  # one list per exemplar, in order
        for record, image_boxes in zip(records, boxes):
            assert image_boxes == [list(b) for b in region_finding.region.boxes.get(
                (str(record.path), record.frame, record.axis), ())]
            for x0, y0, x1, y1 in image_boxes:
                assert 0 <= x0 < x1 <= record.width and 0 <= y0 < y1 <= record.height
    # the set the rectangles were pasted into: regions outlined on (nearly) every exemplar; the other: few
    assert sum(bool(b) for b in region["exemplar_boxes"]["b"]) >= len(region["exemplar_boxes"]["b"]) - 1
    assert sum(bool(b) for b in region["exemplar_boxes"]["a"]) <= 1

    for side in "ab":
        grid = np.array(region["location"][side])
        assert grid.shape == (32, 32) and ((grid >= 0) & (grid <= 1)).all()
        assert np.allclose(grid, np.round(grid, 3))
        assert np.allclose(grid, region_finding.region.location[side], atol=5e-4)
    assert np.sum(region["location"]["b"]) > 10 * max(np.sum(region["location"]["a"]), 0.01)

    others = [f for f in doc["findings"] if f["source"] != "regions"]
    assert others and all(f["region"] is None for f in others)
    text = dumps(doc)
    assert text == dumps(to_json_dict(result))  # still deterministic
    # positional boxes: nothing in the region entry names a file, so pseudonymised reports keep it as it is
    assert next(f for f in to_json_dict(result, pseudonymise_paths=True)["findings"]
                if f["id"] == region_finding.id)["region"] == region
    assert str(region_finding.exemplars_b[0].path.parent) not in json.dumps(region)


def _card(html: str, finding_index: int) -> str:
    match = re.search(rf'<article class="card finding [a-z]+" id="finding-{finding_index}">.*?</article>', html, re.S)
    assert match, finding_index
    return match.group(0)


def test_report_html_outlines_the_regions_and_shows_where_they_lie(result, region_finding):
    exemplar_files = [r.path for r in region_finding.exemplars_a + region_finding.exemplars_b]
    before = [hashlib.sha256(p.read_bytes()).hexdigest() for p in exemplar_files]
    html = to_html(result)
    order = spotdiff.ordered_findings(result.findings)
    card = _card(html, order.index(region_finding) + 1)

    shown = [r for side in "ab" for r in getattr(region_finding, f"exemplars_{side}")[:MAX_THUMBNAILS_PER_SIDE]]
    boxes = [b for r in shown for b in region_finding.region.boxes.get((str(r.path), r.frame, r.axis), ())]
    assert boxes
    outlines = re.findall(r'<rect class="region-box" x="([-\d.]+)" y="([-\d.]+)" width="([\d.]+)" height="([\d.]+)"',
                          card)
    assert len(outlines) == len(boxes)
    for (x0, y0, x1, y1), (x, y, w, h) in zip(boxes, outlines):  # just outside each box, in the image's pixels
        assert float(x) < x0 and float(y) < y0 and x1 < float(x) + float(w) < x1 + 3 and float(y) + float(h) > y1
    assert card.count('<svg class="regions" viewBox="0 0 112 112"') == sum(
        bool(region_finding.region.boxes.get((str(r.path), r.frame, r.axis))) for r in shown)

    assert "described from the discovery half" in card
    for label in ("Size", "Colour", "Shape", "Count", "Position", "Contrast", "Texture"):
        assert f"<th>{label}</th>" in card
    d = region_finding.region.to_json()
    assert f'{d["width_px"]:g} × {d["height_px"]:g} px' in card and f'{d["area_percent"]:.2g} % of the image' in card
    where = re.search(r'<figure class="where".*?</figure></div><figcaption>(.*?)</figcaption></figure>', card, re.S)
    assert where and "share of held-out images with a region in each cell" in where.group(1)
    assert len(re.findall(r'<img src="data:image/png;base64,[^"]+" width="96" height="96"', where.group(0))) == 2

    for i, f in enumerate(order, start=1):  # every other finding: pictures as before, nothing outlined
        if f.region is None:
            other = _card(html, i)
            assert "region-box" not in other and 'class="where"' not in other and "discovery half (" not in other
    assert [hashlib.sha256(p.read_bytes()).hexdigest() for p in exemplar_files] == before  # outlines: overlays only
