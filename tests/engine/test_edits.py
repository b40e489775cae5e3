from __future__ import annotations

import json
import sys

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from spotdiff.synthetic.edits import EDITS, Edit, get_edit, parse_plant
from spotdiff.errors import InvalidParameterError
from spotdiff.synthetic.local_edits import STUCK
from spotdiff.synthetic.photos import photo_sources, write_photo_crops
from spotdiff.synthetic.world import COLOURS, Scene, SceneObject, render

SMALL_EDITS = ("text-stamp", "dead-pixels", "blurred-patch", "colour-blotch")


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    """A photo-like image: smooth shading, texture, edges, no saturated pixels; odd, non-square size."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:150, 0:201].astype(np.float32)
    base = np.stack([90 + 60 * np.sin(xx / 23), 110 + 40 * np.cos(yy / 17), 100 + 30 * np.sin((xx + yy) / 31)], -1)
    texture = ndimage.gaussian_filter(rng.normal(0, 25, (150, 201, 1)), 1.0)
    pixels = base + texture
    pixels[40:90, 60:130] += 50  # an edge
    return Image.fromarray(np.clip(pixels, 20, 235).astype(np.uint8), "RGB")


def arr(image: Image.Image) -> np.ndarray:
    return np.asarray(image, dtype=np.float32)


def high_frequency(image: Image.Image) -> float:
    return float(np.abs(ndimage.laplace(arr(image).mean(axis=2))).mean())


def residual_std(image: Image.Image) -> float:
    grey = arr(image).mean(axis=2)
    return float((grey - ndimage.median_filter(grey, 3)).std())


def apply(name: str, image: Image.Image, strength: float = 0.5, seed: int = 0):
    return get_edit(name).apply(image, strength, np.random.default_rng(seed))


# --- every edit ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", EDITS)
def test_every_edit_changes_the_image_reproducibly(name, photo):
    edited, info = apply(name, photo)
    again, info_again = apply(name, photo)
    assert edited.mode == "RGB" and edited.tobytes() == again.tobytes() and info == info_again
    assert info["edit"] == name and info["strength"] == 0.5
    json.dumps(info)  # truth.json stores it
    changed = np.abs(arr(edited) - arr(photo)).max(axis=2) > 2 if photo.size == edited.size else None
    assert changed is None or changed.sum() >= (3 if name == "dead-pixels" else 0.002 * changed.size)
    assert isinstance(EDITS[name], Edit) and EDITS[name].description


@pytest.mark.parametrize("name", EDITS)
@pytest.mark.parametrize("mode", ["L", "RGBA", "P"])
def test_every_edit_accepts_any_mode_and_a_tiny_image(name, mode):
    image = render(Scene("checker", "grey", (SceneObject("star", "red", "large", "solid", .5, .5, .2),), 24, 1))
    edited, _ = apply(name, image.convert(mode), strength=1.0)
    assert edited.mode == "RGB" and min(edited.size) >= 4


def test_the_photo_fixture_is_not_flat(photo):
    assert arr(photo).std() > 20 and high_frequency(photo) > 2


# --- global edits move their measure in the expected direction ---------------------------------------------


def test_blur_lowers_high_frequency_energy_more_when_stronger(photo):
    weak, strong = apply("blur", photo, 0.2)[0], apply("blur", photo, 1.0)[0]
    assert high_frequency(strong) < high_frequency(weak) < 0.8 * high_frequency(photo)


def test_lowres_lowers_high_frequency_energy_and_keeps_size(photo):
    edited, info = apply("lowres", photo)
    assert edited.size == photo.size and high_frequency(edited) < 0.8 * high_frequency(photo)
    assert info["reduced_size"][0] < photo.width


def test_downscale_makes_the_image_smaller(photo):
    edited, info = apply("downscale", photo, 0.5)
    assert edited.size == (100, 75) == tuple(info["size"])


@pytest.mark.parametrize("name, sign", [("brighter", 1), ("darker", -1)])
def test_brightness_moves_the_mean(name, sign, photo):
    weak, strong = apply(name, photo, 0.2)[0], apply(name, photo, 1.0)[0]
    mean = arr(photo).mean()
    assert sign * (arr(strong).mean() - arr(weak).mean()) > 0 and sign * (arr(weak).mean() - mean) > 3


@pytest.mark.parametrize("name, sign", [("warm", 1), ("cool", -1)])
def test_colour_cast_moves_red_minus_blue(name, sign, photo):
    def red_minus_blue(image):
        pixels = arr(image)
        return float((pixels[..., 0] - pixels[..., 2]).mean())

    edited = apply(name, photo)[0]
    assert sign * (red_minus_blue(edited) - red_minus_blue(photo)) > 10


def test_noise_raises_residual_std(photo):
    edited, info = apply("noise", photo)
    assert residual_std(edited) > residual_std(photo) + 5
    assert abs((arr(edited) - arr(photo)).std() - info["std"]) < 1.5


def test_jpeg_introduces_more_loss_at_higher_strength(photo):
    weak, weak_info = apply("jpeg", photo, 0.1)
    strong, strong_info = apply("jpeg", photo, 1.0)
    assert strong_info["quality"] < weak_info["quality"]
    error = [np.abs(arr(image) - arr(photo)).mean() for image in (weak, strong)]
    assert 0.5 < error[0] < error[1]


def test_vignette_darkens_corners_and_spares_the_centre(photo):
    edited = arr(apply("vignette", photo)[0])
    before = arr(photo)
    assert np.abs(edited[70:80, 95:105] - before[70:80, 95:105]).max() <= 1
    assert edited[:10, :10].mean() < 0.8 * before[:10, :10].mean()


def test_rotation_turns_the_image_with_black_corners(photo):
    edited, info = apply("rotate", photo, 1.0)
    assert abs(info["angle"]) == 8.0 and edited.size == photo.size
    assert (arr(edited)[0, 0] == 0).all() and np.abs(arr(edited) - arr(photo)).mean() > 5


# --- localized edits touch only their boxes ------------------------------------------------------------------


@pytest.mark.parametrize("name", ["rectangles", "shape-watermark", "text-watermark", *SMALL_EDITS])
@pytest.mark.parametrize("seed", range(4))
def test_localized_edits_change_only_pixels_inside_their_boxes(name, seed, photo):
    edited, info = apply(name, photo, seed=seed)
    assert EDITS[name].localized
    changed = np.abs(arr(edited) - arr(photo)).max(axis=2) > 0
    inside = np.zeros_like(changed)
    for x0, y0, x1, y1 in info["boxes"]:
        assert 0 <= x0 < x1 <= photo.width and 0 <= y0 < y1 <= photo.height
        inside[y0:y1, x0:x1] = True
    assert not changed[~inside].any()
    if name == "dead-pixels":  # scattered in their box, each one changed
        assert sorted(map(list, zip(*np.nonzero(changed.T)))) == info["pixels"]
    else:
        assert changed[inside].sum() >= 0.2 * min(inside.sum(), 30)


def test_rectangles_are_two_to_four_small_ones(photo):
    for seed in range(10):
        for strength in (0.05, 0.5, 1.0):
            boxes = apply("rectangles", photo, strength, seed)[1]["boxes"]
            assert 2 <= len(boxes) <= 4
            for x0, y0, x1, y1 in boxes:
                assert 0.03 * 150 - 1 <= x1 - x0 <= 0.05 * 150 + 1 and 0.03 * 150 - 1 <= y1 - y0 <= 0.05 * 150 + 1


@pytest.mark.parametrize("strength", [0.05, 0.5, 1.0])
def test_small_edits_are_as_small_as_they_say(strength, photo):
    short = min(photo.size)
    for seed in range(6):
        (x0, y0, x1, y1), = apply("text-stamp", photo, strength, seed)[1]["boxes"]
        assert 0.04 * photo.height <= y1 - y0 <= 0.12 * photo.height and x1 - x0 > y1 - y0
        _, info = apply("dead-pixels", photo, strength, seed)
        (x0, y0, x1, y1), = info["boxes"]
        assert 3 <= len(info["pixels"]) <= 8 and x1 - x0 <= 6 and y1 - y0 <= 6
        (x0, y0, x1, y1), = apply("blurred-patch", photo, strength, seed)[1]["boxes"]
        assert x1 - x0 == y1 - y0 and 0.12 * short - 1 <= x1 - x0 <= 0.18 * short + 1
        _, info = apply("colour-blotch", photo, strength, seed)
        (x0, y0, x1, y1), = info["boxes"]
        assert 0.6 <= info["opacity"] <= 0.9 and 0.03 * short <= max(x1 - x0, y1 - y0) <= 0.14 * short


@pytest.mark.parametrize("name", ["rectangles", "text-stamp", "dead-pixels", "colour-blotch"])
def test_coloured_edits_record_the_colour_they_drew(name, photo):
    drawn = set()
    for seed in range(12):
        edited, info = apply(name, photo, seed=seed)
        names = info["colour_names"] if name == "rectangles" else [info["colour"]]
        rgbs = info["colours"] if name == "rectangles" else [info["colour_rgb"]]
        palette = STUCK if name == "dead-pixels" else COLOURS
        assert all(list(palette[n]) == rgb for n, rgb in zip(names, rgbs, strict=True))
        drawn.update(names)
        if name in ("text-stamp", "dead-pixels"):  # opaque: the colour itself is in the box
            x0, y0, x1, y1 = info["boxes"][0]
            assert (arr(edited)[y0:y1, x0:x1] == rgbs[0]).all(axis=2).any()
    assert len(drawn) >= 2  # drawn per image, not fixed


@pytest.mark.parametrize("plant, colours", [("rectangles/red", {"red"}), ("text-stamp/blue", {"blue"}),
                                            ("dead-pixels/black", {"black"}),
                                            ("colour-blotch/Green+yellow:0.5", {"green", "yellow"})])
def test_a_colour_variant_draws_only_its_colours(plant, colours, photo):
    edit, strength = parse_plant(plant)
    assert edit.localized and edit.name.split("/")[0] in EDITS and set(edit.colours) == colours
    drawn = set()
    for seed in range(8):
        _, info = edit.apply(photo, strength, seed)
        drawn.update(info.get("colour_names") or [info["colour"]])
        assert info["edit"] == edit.name
    assert drawn == colours or (len(colours) == 2 and drawn < colours)


@pytest.mark.parametrize("plant", ["blur/red", "rectangles/grey", "dead-pixels/red", "rectangles/"])
def test_a_colour_variant_needs_a_coloured_edit_and_its_colours(plant):
    with pytest.raises(InvalidParameterError, match="colour"):
        get_edit(plant)


def test_the_blurred_patch_removes_detail_inside_and_keeps_the_rest(photo):
    edited, info = apply("blurred-patch", photo, 1.0)
    x0, y0, x1, y1 = info["boxes"][0]
    inside = (x0 + 3, y0 + 3, x1 - 3, y1 - 3)  # away from the edge the surroundings were blurred in with
    assert high_frequency(edited.crop(inside)) < 0.5 * high_frequency(photo.crop(inside))


def test_the_text_stamp_is_an_id_like_label(photo):
    texts = {apply("text-stamp", photo, seed=seed)[1]["text"] for seed in range(20)}
    assert len(texts) == 20
    for text in texts:
        letters, digits = text.split(" ")
        assert 4 <= len(text) <= 7 and letters.isalpha() and letters.isupper() and digits.isdigit()


def test_watermarks_sit_where_they_say(photo):
    _, info = apply("shape-watermark", photo, seed=1)
    x0, y0, x1, y1 = info["boxes"][0]
    corner = info["corner"]
    assert (x0 < 50) == ("left" in corner) and (y0 < 50) == ("top" in corner)
    _, info = apply("text-watermark", photo, seed=2)
    assert info["text"] == "SAMPLE" and info["boxes"][0][2] - info["boxes"][0][0] > 20


# --- names -----------------------------------------------------------------------------------------------------


def test_parse_plant_reads_name_and_strength():
    assert parse_plant("blur:0.7") == (EDITS["blur"], 0.7)
    assert parse_plant("blur") == (EDITS["blur"], 0.5)
    assert parse_plant(" Text_Watermark:1") == (EDITS["text-watermark"], 1.0)


@pytest.mark.parametrize("text", ["blur:0", "blur:1.5", "blur:-0.2", "blur:abc", "blur:nan", "blur:"])
def test_parse_plant_refuses_bad_strengths(text):
    with pytest.raises(InvalidParameterError, match=r"\(0, 1\]"):
        parse_plant(text)


def test_unknown_edit_lists_the_known_names():
    with pytest.raises(InvalidParameterError) as caught:
        parse_plant("blurr:0.5")
    assert "rectangles" in str(caught.value) and "jpeg" in str(caught.value)
    assert caught.value.name == "edit" and caught.value.value == "blurr"


def test_apply_refuses_bad_strength(photo):
    with pytest.raises(InvalidParameterError):
        EDITS["noise"].apply(photo, 0.0)


# --- photo crops -------------------------------------------------------------------------------------------------


def test_photo_crops_are_distinct_reproducible_rgb_squares(tmp_path):
    write_photo_crops(tmp_path / "a", 30, size=40, seed=3)
    write_photo_crops(tmp_path / "b", 12, size=40, seed=3)
    files = sorted((tmp_path / "a").iterdir())
    assert [f.name for f in files[:2]] == ["crop_0000.png", "crop_0001.png"] and len(files) == 30
    assert all(f.read_bytes() == g.read_bytes() for f, g in zip(files, sorted((tmp_path / "b").iterdir())))
    images = [Image.open(f) for f in files]
    assert all(im.mode == "RGB" and im.size == (40, 40) for im in images)
    assert len({im.tobytes() for im in images}) == 30
    assert all(arr(im).std() > 5 for im in images)  # no blank squares
    other = Image.open(write_photo_crops(tmp_path / "c", 1, size=40, seed=4) / "crop_0000.png")
    assert other.tobytes() != images[0].tobytes()


def test_photo_crops_are_mostly_colour_photographs(tmp_path):
    sources = [name for name, _ in photo_sources()]
    assert {"china", "flower"} <= set(sources)
    images = [Image.open(f) for f in sorted(write_photo_crops(tmp_path, 24, size=24).iterdir())]
    grey = [im for im in images if (arr(im).max(axis=2) - arr(im).min(axis=2)).max() <= 2]
    assert len(grey) <= 0.2 * len(images)


def test_photo_crops_fall_back_to_scikit_learns_photographs_without_scikit_image(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "skimage", None)  # import skimage now raises ImportError
    assert [name for name, _ in photo_sources()] == ["china", "flower"]
    images = [Image.open(f) for f in sorted(write_photo_crops(tmp_path, 6, size=32).iterdir())]
    assert len({im.tobytes() for im in images}) == 6


@pytest.mark.extra("skimage", "test")
def test_photo_crops_use_scikit_image_photographs_where_it_is_installed():
    assert {"astronaut", "coffee", "chelsea", "rocket"} <= {name for name, _ in photo_sources()}


@pytest.mark.parametrize("n, size", [(0, 112), (-1, 112), (2.5, 112), (True, 112), (4, 15), (4, None)])
def test_photo_crops_refuse_bad_counts_and_sizes(n, size, tmp_path):
    with pytest.raises(InvalidParameterError, match="for n:" if size == 112 else "for size:"):
        write_photo_crops(tmp_path, n, size=size)
