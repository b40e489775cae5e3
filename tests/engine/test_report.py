"""report.json and the HTML page, from a small Result built by hand over real PNG files."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from spotdiff.io.images import ImageRecord, ImageSet, SkippedFile
from spotdiff.report import SCHEMA_VERSION, describe, to_html, to_json_dict, verdict, write_html, write_json
from spotdiff.analysis.result import Cluster, Direction, Finding, Hypothesis, Separability
from spotdiff.comparison import Result
from spotdiff.io.images import Leak

FOLDER_A = "holiday_cats_private"
FOLDER_B = "clinic_dogs_private"


def _png(path: Path, seed: int) -> ImageRecord:
    rng = np.random.default_rng(seed)
    ramp = np.linspace(0, 255, 48, dtype=np.float32)
    channels = [np.add.outer(ramp, ramp) / 2, np.tile(ramp, (48, 1)), np.full((48, 48), seed * 37 % 256)]
    pixels = np.stack(channels, -1) + rng.normal(0, 8, (48, 48, 3))
    Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(path)
    return ImageRecord(path, hashlib.sha256(path.read_bytes()).hexdigest(), 48, 48, "PNG")


def _finding(statement, more_in, source, supported, q, auroc, n, exemplars_a, exemplars_b, evidence=""):
    rng = np.random.default_rng(len(statement))
    space = "measurements" if source == "measurements" else "clip"
    hypothesis = Hypothesis(statement, more_in, source, space, np.ones(3, np.float32), evidence)
    return Finding(
        hypothesis, auroc, q / 2, q, supported,
        scores_a=rng.normal(0, 1, n).astype(np.float32),
        scores_b=rng.normal(1, 1, n).astype(np.float32),
        exemplars_a=tuple(exemplars_a), exemplars_b=tuple(exemplars_b),
    )


def make_result(tmp_path: Path, n_extra_findings: int = 0, n_images: int = 6) -> Result:
    """Two folders of PNGs; one unsupported and one supported finding (in that order), a leak,
    a skipped file, a file named with '<b>', a direction, a cluster and ``n_extra_findings`` more."""
    folder_a, folder_b = tmp_path / FOLDER_A, tmp_path / FOLDER_B
    folder_a.mkdir()
    folder_b.mkdir()
    images_a = [_png(folder_a / f"tabby_{i:02d}.png", i) for i in range(n_images)]
    images_a.append(_png(folder_a / "we<b>ird.png", 99))
    images_b = [_png(folder_b / f"beagle_{i:02d}.png", 100 + i) for i in range(n_images)]
    (folder_b / "copied_tabby.png").write_bytes(images_a[0].path.read_bytes())  # a leak
    leaked = ImageRecord(folder_b / "copied_tabby.png", images_a[0].content_hash, 48, 48, "PNG")
    images_b.append(leaked)
    broken = folder_a / "broken_scan.jpg"
    broken.write_bytes(b"")
    skipped = (SkippedFile(broken, f"empty file (0 bytes): {broken}"),)
    set_a = ImageSet("a", (folder_a,), tuple(sorted(images_a, key=lambda r: r.path)), skipped)
    set_b = ImageSet("b", (folder_b,), tuple(sorted(images_b, key=lambda r: r.path)), ())
    gap_note = f"largest gap on {images_b[1].path.name}"
    findings = [
        _finding("a photo of a dog", "a", "concept-bank", False, 0.6, 0.53, 30, images_a[:2], images_b[:2]),
        _finding("blurrier", "b", "measurements", True, 0.001, 0.91, 30, images_a, images_b, gap_note),
    ]
    findings += [
        _finding(f"claim {i}", "b", "vlm", i % 3 == 0, 0.01 * (i + 1), 0.6 + 0.01 * i, 40, images_a, images_b)
        for i in range(n_extra_findings)
    ]
    direction = Direction(
        "clip", 0, np.ones(3, np.float32), 0.93, 0.88, tuple(images_a[:3]), tuple(images_b[:3]),
        tuple(images_a[2:4]), tuple(images_b[3:5]), ("dogs", "indoors"),
    )
    cluster = Cluster("clip", 0, 1, 5, 1.7, 0.004, "b", tuple(images_b[:5]) + (images_a[1],))
    settings = {
        "model": "measurements", "seed": np.int64(7), "alpha": 0.05, "ratio": np.float32(1 / 3),
        "missing": float("nan"), "sources": (folder_a, folder_b), "flags": {"fast": np.bool_(True)},
    }
    return Result(
        set_a=set_a, set_b=set_b, settings=settings,
        leaks=(Leak(images_a[0].path, leaked.path, leaked.content_hash),),
        separability=(Separability("clip", 0.934, 0.00499, 200),),
        directions=(direction,), clusters=(cluster,), findings=tuple(findings),
        timings={"embed": 1.23456789, "total": np.float64(2.5)},
        warnings=(f"Set A has one file that is not an image: {broken}",),
    )


@pytest.fixture
def result(tmp_path: Path) -> Result:
    return make_result(tmp_path)


# --- report.json -------------------------------------------------------------------------


def test_json_has_required_keys_and_types(result):
    doc = to_json_dict(result)
    assert set(doc) == {
        "schema_version", "tool", "model", "seed", "settings", "sets", "skipped", "leaks",
        "separability", "directions", "clusters", "findings", "domain", "warnings", "timings",
    }
    assert doc["domain"] is None  # a model without a domain reference is not checked (spotdiff.analysis.domain)
    assert doc["schema_version"] == SCHEMA_VERSION == "2.5"
    assert doc["tool"]["name"] == "spotdiff" and isinstance(doc["tool"]["version"], str)
    assert doc["model"] == "measurements" and doc["seed"] == 7
    assert doc["sets"]["a"] == {"sources": [str(result.set_a.sources[0])], "n_images": 7, "n_found": 7,
                                 "n_skipped": 1}
    assert doc["sets"]["b"]["n_images"] == 7 and doc["sets"]["b"]["n_skipped"] == 0
    skipped = result.set_a.skipped[0]
    assert doc["skipped"] == [{"set": "a", "path": str(skipped.path), "reason": skipped.reason}]
    assert set(doc["leaks"][0]) == {"path_a", "path_b", "content_hash"}
    assert doc["separability"] == [{"space": "clip", "auroc": 0.934, "p_value": 0.00499, "n_permutations": 200}]
    direction = doc["directions"][0]
    assert set(direction) == {
        "space", "index", "discovery_auroc", "heldout_auroc", "concepts", "exemplars", "exemplar_peaks", "typical",
    }
    assert len(direction["exemplars"]["a"]) == 3 and len(direction["typical"]["b"]) == 2
    assert doc["clusters"][0]["more_in"] == "b" and len(doc["clusters"][0]["members"]) == 6
    for finding in doc["findings"]:
        assert set(finding) == {
            "statement", "more_in", "source", "space", "evidence", "rank", "heldout_auroc", "p_value", "q_value", "weight",
            "supported", "n_heldout", "score_summary", "exemplars", "exemplar_peaks", "test", "id", "independent",
            "p_conditional", "side_effect_of", "aliased_with", "via", "replanted", "region",
        }
        assert finding["region"] is None  # not a region finding (tests/engine/test_region_report.py: one that is)
        assert finding["more_in"] in ("a", "b") and isinstance(finding["supported"], bool)
        assert finding["test"] == "mann-whitney"  # validated without a discovery half: every claim keeps its test
        assert finding["n_heldout"] == {"a": 30, "b": 30}
        summary = finding["score_summary"]["b"]
        assert summary["q1"] <= summary["median"] <= summary["q3"]
        assert all(isinstance(p, str) for p in finding["exemplars"]["a"] + finding["exemplars"]["b"])
    assert doc["warnings"] == list(result.warnings)
    assert doc["timings"] == {"embed": 1.23457, "total": 2.5}
    assert '"vector"' not in json.dumps(doc)


def test_json_values_are_plain_rounded_and_nan_is_null(result):
    doc = to_json_dict(result)
    assert doc["settings"]["ratio"] == 0.333333
    assert doc["settings"]["missing"] is None
    assert doc["settings"]["flags"] == {"fast": True}
    assert doc["settings"]["sources"] == [str(p) for p in result.set_a.sources + result.set_b.sources]
    assert json.loads(json.dumps(doc, allow_nan=False)) == doc  # only plain JSON types inside


def test_write_json_round_trips_and_is_byte_identical(result, tmp_path):
    first = write_json(result, tmp_path / "one.json")
    second = write_json(result, tmp_path / "two.json")
    assert first.read_bytes() == second.read_bytes()
    assert json.loads(first.read_text(encoding="utf-8")) == to_json_dict(result)


def test_supported_findings_come_first_by_effect_then_the_rest_by_q(tmp_path):
    doc = to_json_dict(make_result(tmp_path, n_extra_findings=7))
    supported = [f["supported"] for f in doc["findings"]]
    assert supported == sorted(supported, reverse=True)
    assert doc["findings"][0]["statement"] == "blurrier"
    effects = [f["heldout_auroc"] for f in doc["findings"] if f["supported"]]
    assert len(effects) >= 2 and effects == sorted(effects, reverse=True)
    qs = [f["q_value"] for f in doc["findings"] if not f["supported"]]
    assert len(qs) >= 2 and qs == sorted(qs)


def nested_result(tmp_path):
    """make_result's findings explained away: "blurrier" (f1) stands, "claim 0" is its side effect found by
    re-planting the blur, "claim 3" is aliased with it; the rest in report order after them."""
    from dataclasses import replace

    from spotdiff.analysis.explain import report_order

    result = make_result(tmp_path, n_extra_findings=4)
    index = {f.statement: i for i, f in enumerate(result.findings)}
    links = {"blurrier": {"independent": True},
             "claim 0": {"side_effect_of": index["blurrier"], "replanted": ("blur", "a", 0.4),
                         "reproduced": (0.98, 0.7, 1.3)},
             "claim 3": {"aliased_with": index["blurrier"]}}
    findings = [replace(f, **links.get(f.statement, {})) for f in result.findings]
    return replace(result, findings=tuple(report_order(findings)))


def test_side_effects_follow_their_cause_and_point_at_its_id(tmp_path):
    doc = to_json_dict(nested_result(tmp_path))
    rows = [(f["id"], f["statement"], f["independent"], f["side_effect_of"], f["aliased_with"]) for f in doc["findings"]]
    assert rows[:3] == [("f1", "blurrier", True, None, None), ("f2", "claim 3", False, None, "f1"),
                        ("f3", "claim 0", False, "f1", None)]  # nested ones by held-out AUROC
    assert [f["id"] for f in doc["findings"]] == [f"f{k}" for k in range(1, len(rows) + 1)]
    assert doc["findings"][2]["replanted"] == {"edit": "blur", "into": "a", "strength": 0.4,
                                               "reproduced": [0.98, 0.7, 1.3]}
    assert all(f["replanted"] is None for f in doc["findings"] if f["statement"] != "claim 0")


def test_a_side_effect_found_by_re_planting_a_nested_cause_names_both(tmp_path):
    """"claim 1" is re-planted and reproduces "claim 2"; "claim 1" is itself a side effect of "blurrier": "claim 2"
    is nested under "blurrier" (the top of the chain), and its reason names "claim 1", whose re-planting is the
    evidence, instead of lending that evidence to "blurrier"."""
    from dataclasses import replace

    from spotdiff.analysis.explain import report_order
    from spotdiff.report.wording import describe_link

    result = make_result(tmp_path, n_extra_findings=4)
    index = {f.statement: i for i, f in enumerate(result.findings)}
    links = {"blurrier": {"independent": True},
             "claim 1": {"supported": True, "side_effect_of": index["blurrier"], "replanted": ("blur", "a", 0.4),
                         "reproduced": (0.9, 0.7, 1.1)},
             "claim 2": {"supported": True, "side_effect_of": index["claim 1"], "replanted": ("warm", "a", 0.3),
                         "reproduced": (1.1, 0.8, 1.4)}}
    findings = report_order([replace(f, **links.get(f.statement, {})) for f in result.findings])
    by_id = {f.id: f for f in findings}
    top, first, second = (next(f for f in findings if f.statement == s) for s in ("blurrier", "claim 1", "claim 2"))
    assert first.side_effect_of == second.side_effect_of == top.id
    assert first.via is None and second.via == first.id
    assert describe_link(second, by_id).startswith(
        "side effect of “blurrier”, through “claim 1”: re-planting the warm cast into set A reproduces this (110 %")
    assert describe_link(first, by_id).startswith("side effect of “blurrier”: re-planting the blur into set A")
    assert "95 % interval 70 % to 110 %" in describe_link(first, by_id)
    every = replace(first, reproduced=(1.0, 1.0, 1.0))  # a share claim whose every image the plant flips
    assert describe_link(every, by_id).endswith("(100 % of its shift, the same in every bootstrap resample of the "
                                                "images)")
    doc = to_json_dict(replace(result, findings=tuple(findings)))
    via = {f["statement"]: f["via"] for f in doc["findings"]}
    assert (via["claim 1"], via["claim 2"]) == (None, first.id)


def test_html_and_cli_nest_side_effects_under_their_cause(tmp_path, capsys):
    from spotdiff.apps.console import print_summary

    result = nested_result(tmp_path)
    html = to_html(result)
    assert html.count('class="supported nested"') == 2 and "↳" in html
    assert "re-planting the blur into set A reproduces this (98 % of its shift" in html
    assert "aliased with “blurrier”" in html
    print_summary(result, tmp_path)
    lines = capsys.readouterr().out.splitlines()
    top = next(i for i, line in enumerate(lines) if line.startswith("  - Images in set B are blurrier"))
    assert lines[top + 1].startswith("      ↳ More in set B: claim 3") and "aliased with" in lines[top + 1]
    assert lines[top + 2].startswith("      ↳ More in set B: claim 0") and "re-planting the blur" in lines[top + 2]
    assert "1 is a difference of its own" in "\n".join(lines)


def test_cluster_members_are_capped_but_counted(result):
    big = Cluster("clip", 1, 7, 7, 1.0, 1.0, "a", result.set_a.images + result.set_b.images)
    doc = to_json_dict(Result(result.set_a, result.set_b, {}, (), (), (), (big,), (), {}))
    assert len(doc["clusters"][0]["members"]) == 12 and doc["clusters"][0]["n_a"] == 7


def test_pseudonymised_report_names_no_folder_or_file(result, tmp_path):
    text = json.dumps(to_json_dict(result, pseudonymise_paths=True))
    page = to_html(result, pseudonymise_paths=True)
    originals = [FOLDER_A, FOLDER_B, str(tmp_path), "tabby_", "beagle_", "broken_scan", "copied_tabby",
                 "we<b>ird", "we&lt;b&gt;ird"]
    for original in originals:
        assert original not in text, original
        assert original not in page, original
    doc = json.loads(text)
    record = result.set_a.images[0]
    expected = f"a/img-{hashlib.sha256(record.content_hash.encode()).hexdigest()[:10]}.png"
    assert expected in doc["directions"][0]["exemplars"]["a"]  # the same in every run
    assert re.fullmatch(r"a/img-[0-9a-f]{10}\.jpg", doc["skipped"][0]["path"])
    assert doc["leaks"][0]["path_b"].startswith("b/img-")
    assert doc["sets"]["a"]["sources"] == ["a/source-1"]


# --- the HTML page -----------------------------------------------------------------------


def test_html_is_one_self_contained_file(result, tmp_path):
    page = write_html(result, tmp_path / "report.html").read_text(encoding="utf-8")
    assert "http://" not in page and "https://" not in page
    assert 'src="/' not in page and 'href="/' not in page
    sources = re.findall(r'src="([^"]*)"', page)
    assert sources and all(s.startswith("data:image/jpeg;base64,") for s in sources)
    assert "<link" not in page and "@import" not in page and "url(" not in page


def test_html_shows_verdict_statements_leaks_and_skipped(result):
    page = to_html(result)
    assert "The sets differ: a linear probe tells them apart with cross-validated AUROC 0.93" in page
    assert "Images in set B are blurrier" in page
    assert "More in set A: a photo of a dog" in page
    assert page.index("Images in set B are blurrier") < page.index("More in set A: a photo of a dog")
    assert "in both sets" in page and "copied_tabby.png" in page
    assert "broken_scan.jpg" in page and "empty file (0 bytes)" in page


def test_html_escapes_file_names(result):
    page = to_html(result)
    assert "we&lt;b&gt;ird.png" in page
    assert "<b>ird" not in page


def test_html_has_one_chart_per_finding(result):
    page = to_html(result)
    assert page.count("<svg") == len(result.findings)
    assert page.count('class="card finding') == len(result.findings)


def test_html_embeds_an_image_once_per_card_and_at_most_eight_per_side(tmp_path):
    page = to_html(make_result(tmp_path, n_images=12))
    card = page.split('id="finding-1"')[1].split("</article>")[0]
    uris = re.findall(r'src="(data:[^"]*)"', card)
    assert len(uris) == 16 and len(set(uris)) == 16


def test_html_direction_card_embeds_a_shared_exemplar_once(result):
    card = to_html(result).split('class="card direction"')[1].split("</article>")[0]
    uris = re.findall(r'src="(data:[^"]*)"', card)
    assert len(uris) == 9 and len(set(uris)) == 9  # 3 most A-like, 2 typical A (1 of them seen), 2 + 3 of B
    assert card.count("Most A-like") == card.count("Most B-like") == 1


def test_html_shows_a_placeholder_for_a_vanished_image(result):
    result.set_b.images[1].path.unlink()
    page = to_html(result)
    assert "Cannot show this image" in page and "No such file" in page


def test_html_for_twenty_findings_stays_small(tmp_path):
    page = to_html(make_result(tmp_path, n_extra_findings=18, n_images=12))
    assert page.count("<svg") == 20
    assert len(page.encode("utf-8")) < 1_500_000


def test_verdict_in_words(result):
    no_difference = (Separability("clip", 0.5213, 0.41, 200),)
    null = Result(result.set_a, result.set_b, {}, (), no_difference, (), (), (), {})
    assert verdict(null) == "No evidence that the sets differ (AUROC 0.52, p = 0.41)."
    assert verdict(result) == (
        "The sets differ: a linear probe tells them apart with cross-validated AUROC 0.93 "
        "(permutation p = 0.005)."
    )
    page = to_html(null)
    assert "No claims were tested" in page and "<svg" not in page


def test_describe_does_not_repeat_a_full_sentence(result):
    sentence = Hypothesis("Images in set B are blurrier", "b", "measurements", "m", np.ones(1))
    full = Finding(sentence, 0.9, 0.01, 0.01, True, np.zeros(3), np.ones(3))
    assert describe(result.findings[1]) == "Images in set B are blurrier"
    assert describe(full) == "Images in set B are blurrier"


def test_describe_words_a_measurement_from_the_library_as_a_measurement():
    confirmed = Hypothesis("blurrier", "b", "library", "measurements", np.ones(1))
    concept = Hypothesis("a dog", "a", "library", "clip", np.ones(1))
    assert describe(Finding(confirmed, 0.9, 0.01, 0.01, True, np.zeros(3), np.ones(3))) == \
        "Images in set B are blurrier"
    assert describe(Finding(concept, 0.9, 0.01, 0.01, True, np.zeros(3), np.ones(3))) == "More in set A: a dog"


def test_chart_survives_constant_and_missing_scores(result):
    h = result.findings[0].hypothesis
    odd = (
        Finding(h, float("nan"), float("nan"), float("nan"), False, np.full(5, 2.0), np.full(5, 2.0)),
        Finding(h, 0.5, 1.0, 1.0, False, np.array([]), np.array([np.nan])),
    )
    page = to_html(Result(result.set_a, result.set_b, {}, (), (), (), (), odd, {}))
    assert page.count("<svg") == 2 and "No held-out scores" in page
    assert "—" in page


def test_the_summary_counts_differences_of_their_own_without_claiming_a_nesting_that_is_not_there():
    from types import SimpleNamespace

    from spotdiff.apps.console import _own_line

    def found(*independent):
        return [SimpleNamespace(independent=i) for i in independent]

    assert _own_line(found(True, False, False)) == \
        "; 1 is a difference of its own, the others are nested under what explains them:"
    assert _own_line(found(True, True)) == ", each a difference of its own:"
    assert _own_line(found(True)) == ", a difference of its own:"
    assert _own_line(found(False, False)).startswith("; none stands as a difference of its own")
    assert "nested under what explains them" not in _own_line(found(False, False))
    assert _own_line([]) == "."
