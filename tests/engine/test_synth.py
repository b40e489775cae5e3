from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from spotdiff.errors import EmptyImageSetError, ImageSetNotFoundError, InvalidParameterError
from spotdiff.progress import Progress, run
from spotdiff.synthetic.synth import synth
from spotdiff.synthetic.world import pair_differing_in


def make(out: Path, **kwargs) -> Path:
    arguments = dict(plants=[("rectangles", 0.5)], prevalence=0.5, n_per_set=6, image_size=32)
    arguments.update(kwargs)
    return run(synth(out, **arguments))


def digests(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def truth_of(folder: Path) -> dict:
    return json.loads((folder / "truth.json").read_text(encoding="utf-8"))


# --- world scenes ------------------------------------------------------------------------------------------------


def test_synth_writes_both_sets_and_the_truth(tmp_path):
    out = make(tmp_path / "out", plants=[("rectangles", 0.5), "blur:0.3"])
    assert out == tmp_path / "out"
    names = [f"{i:04d}.png" for i in range(6)]
    assert sorted(p.name for p in (out / "set_a").iterdir()) == names
    assert sorted(p.name for p in (out / "set_b").iterdir()) == names
    with Image.open(out / "set_b" / "0000.png") as image:
        assert image.size == (32, 32) and image.mode == "RGB"
    truth = truth_of(out)
    assert truth["seed"] == 0 and truth["prevalence"] == 0.5 and truth["n_per_set"] == 6 and truth["complete"]
    assert truth["source"] is None and truth["world_pair"] is None and truth["format"] == "png"
    assert truth["plants"] == [
        {"edit": "rectangles", "strength": 0.5, "description": "tiny rectangles pasted into the image"},
        {"edit": "blur", "strength": 0.3, "description": "blurrier"}]
    assert len(truth["edited"]) == 3 and all(name.startswith("set_b/") for name in truth["edited"])
    for records in truth["edited"].values():
        assert [r["edit"] for r in records] == ["rectangles", "blur"]
        assert 2 <= len(records[0]["info"]["boxes"]) <= 4
    assert len(truth["captions"]) == 12 and truth["files"] == sorted(truth["captions"])


def test_synth_is_deterministic_to_the_byte(tmp_path):
    first, second = make(tmp_path / "one", seed=3), make(tmp_path / "two", seed=3)
    assert digests(first) == digests(second)
    other = make(tmp_path / "three", seed=4)
    assert digests(other)["set_a/0000.png"] != digests(first)["set_a/0000.png"]


def test_synth_reports_progress_to_the_last_file(tmp_path):
    reports = []
    run(synth(tmp_path / "out", plants=[], n_per_set=3, image_size=16), reports.append)
    assert all(isinstance(r, Progress) and r.stage == "synth" for r in reports)
    assert reports[-1].done == reports[-1].total == 6
    assert truth_of(tmp_path / "out")["edited"] == {}


def test_jpeg_plant_writes_jpeg_in_both_sets(tmp_path):
    out = make(tmp_path / "out", plants=["jpeg:0.9"], prevalence=1.0)
    assert {p.suffix for p in out.rglob("*.*") if p.name != "truth.json"} == {".jpg"}
    truth = truth_of(out)
    assert truth["format"] == "jpg" and len(truth["edited"]) == 6
    assert truth["edited"]["set_b/0000.jpg"][0]["info"]["quality"] < 20


def test_world_pair_puts_its_difference_into_set_b(tmp_path):
    pair = pair_differing_in("shape", "star")
    out = make(tmp_path / "out", plants=[], world_pair=pair)
    truth = truth_of(out)
    assert truth["world_pair"]["truth"]["description"] == "stars"
    captions = truth["captions"]
    assert all("star" in captions[f"set_b/{i:04d}.png"] for i in range(6))
    assert not any("star" in captions[f"set_a/{i:04d}.png"] for i in range(6))


@pytest.mark.parametrize("bad", [dict(prevalence=1.5), dict(n_per_set=0), dict(seed=-1), dict(image_size=4),
                                 dict(plants=["blur:2"]), dict(plants=[("nothing", 0.5)]), dict(plants=[3])])
def test_synth_refuses_bad_arguments_before_writing(tmp_path, bad):
    with pytest.raises(InvalidParameterError):
        make(tmp_path / "out", **bad)
    assert not (tmp_path / "out").exists()


# --- the output folder ---------------------------------------------------------------------------------------


def test_synth_refuses_a_folder_with_foreign_files(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(InvalidParameterError, match="notes.txt"):
        make(out)
    assert (out / "notes.txt").read_text() == "mine" and sorted(out.iterdir()) == [out / "notes.txt"]


def test_synth_refuses_its_own_folder_once_a_user_file_is_added(tmp_path):
    out = make(tmp_path / "out")
    (out / "set_a" / "holiday.jpg").write_bytes(b"user data")
    before = digests(out)
    with pytest.raises(InvalidParameterError, match="holiday.jpg"):
        make(out, seed=9)
    assert digests(out) == before


def test_synth_refuses_a_folder_whose_truth_it_did_not_write(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "truth.json").write_text('{"answer": 42}')
    with pytest.raises(InvalidParameterError):
        make(out)


def test_synth_replaces_its_own_earlier_output(tmp_path):
    out = make(tmp_path / "out", n_per_set=6)
    make(out, n_per_set=2, seed=5)
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == [
        "set_a/0000.png", "set_a/0001.png", "set_b/0000.png", "set_b/0001.png", "truth.json"]
    assert digests(out) == digests(make(tmp_path / "fresh", n_per_set=2, seed=5))


def test_a_cancelled_synth_leaves_a_folder_it_can_reuse(tmp_path):
    out = tmp_path / "out"
    work = synth(out, plants=["noise"], n_per_set=5, image_size=16)
    for _ in range(3):
        next(work)
    work.close()
    assert truth_of(out)["complete"] is False
    make(out)
    assert truth_of(out)["complete"] is True


# --- a source folder -------------------------------------------------------------------------------------------


@pytest.fixture()
def photos(tmp_path) -> Path:
    folder = tmp_path / "photos"
    (folder / "nested").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(6):
        pixels = rng.integers(0, 256, (40 + 10 * i, 60, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"photo{i}.png")
    Image.new("RGBA", (50, 50), (200, 10, 10, 128)).save(folder / "nested" / "alpha.png")
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated: stored 80 wide, 20 high; shown 20 wide, 80 high
    Image.new("RGB", (80, 20), (0, 200, 0)).save(folder / "turned.jpg", exif=exif)
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "notes.jpg").write_text("not an image")
    return folder


def test_synth_splits_a_source_folder_and_plants_edits(tmp_path, photos):
    before = digests(photos)
    out = make(tmp_path / "out", source=photos, n_per_set=10, image_size=256, prevalence=1.0)
    assert digests(photos) == before  # read-only
    truth = truth_of(out)
    assert truth["n_per_set"] == 4 and truth["source"] == str(photos)  # 8 readable images, halves of 4
    assert sorted(s["path"] for s in truth["skipped"]) == ["empty.jpg", "notes.jpg"]
    used = list(truth["sources"].values())
    assert len(used) == len(set(used)) == 8 and "captions" not in truth
    assert len(truth["edited"]) == 4
    name = next(k for k, v in truth["sources"].items() if v == "turned.jpg")
    with Image.open(out / name) as image:
        assert image.size == (20, 80)
    assert digests(out) == digests(make(tmp_path / "again", source=photos, n_per_set=10, image_size=256,
                                        prevalence=1.0))


def test_source_images_are_shrunk_to_image_size(tmp_path, photos):
    out = make(tmp_path / "out", source=photos, n_per_set=2, image_size=24, plants=[])
    for path in out.rglob("*.png"):
        with Image.open(path) as image:
            assert max(image.size) <= 24


def test_source_errors(tmp_path, photos):
    with pytest.raises(ImageSetNotFoundError):
        make(tmp_path / "out", source=tmp_path / "missing")
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "a.jpg").write_text("no")
    with pytest.raises(EmptyImageSetError):
        make(tmp_path / "out2", source=tmp_path / "junk")
    with pytest.raises(InvalidParameterError, match="outside the source"):
        make(photos / "synth", source=photos)
    with pytest.raises(InvalidParameterError, match="world_pair"):
        make(tmp_path / "out3", source=photos, world_pair=pair_differing_in("shape", "star"))
