"""The measurements embedder: each named measurement moves the way its words say."""

from __future__ import annotations

import hashlib
import io

import numpy as np
import pytest
from PIL import Image, ImageEnhance, ImageFilter

from spotdiff.models.embedders.base import Embedder
from spotdiff.models.embedders.measurements import (
    FEATURE_NAMES,
    MEASUREMENTS,
    MeasurementEmbedder,
    describe,
    measure,
)
from spotdiff.errors import InvalidParameterError
from spotdiff.io.images import ImageRecord
from spotdiff.progress import Progress, run


def value(image: Image.Image, name: str) -> float:
    return float(measure(image)[FEATURE_NAMES.index(name)])


def textured(width: int = 640, height: int = 480, seed: int = 0, blur: float = 2.0) -> Image.Image:
    """Colour noise blurred into blobs, stretched to full contrast: detail at every position."""
    rng = np.random.default_rng(seed)
    noise = Image.fromarray((rng.random((height, width, 3)) * 255).astype(np.uint8))
    a = np.asarray(noise.filter(ImageFilter.GaussianBlur(blur)), dtype=np.float64)
    a = (a - a.mean()) / a.std() * 50 + 128
    return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))


def grey_ramp(width: int = 640, height: int = 480) -> np.ndarray:
    return np.tile(np.linspace(60, 190, width), (height, 1))


def to_rgb(grey: np.ndarray) -> Image.Image:
    grey = np.clip(np.rint(grey), 0, 255).astype(np.uint8)
    return Image.fromarray(np.stack([grey] * 3, axis=-1))


def jpeg_roundtrip(image: Image.Image, quality: int) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return decoded.convert("RGB")


# --- the measurements ---------------------------------------------------------------------------


def test_blurred_copy_is_less_sharp():
    image = textured(blur=1.0)
    blurred = image.filter(ImageFilter.GaussianBlur(3))
    assert value(blurred, "sharpness") < 0.5 * value(image, "sharpness")
    assert value(blurred, "edge_density") < value(image, "edge_density")


def test_sharpness_is_measured_at_a_fixed_scale_not_per_pixel():
    # The same picture at twice the pixel count: per-pixel Laplacian variance would drop ~16x.
    large = textured(1280, 960, seed=3, blur=4.0)
    small = large.resize((640, 480), Image.Resampling.LANCZOS)
    ratio = value(large, "sharpness") / value(small, "sharpness")
    assert 0.7 < ratio < 1.4


@pytest.mark.parametrize("sigma", [2.0, 5.0, 10.0, 20.0])
def test_noise_estimate_recovers_added_gaussian_noise(sigma):
    rng = np.random.default_rng(int(sigma))
    ramp = grey_ramp()
    clean = value(to_rgb(ramp), "noise")
    noisy = value(to_rgb(ramp + rng.normal(0, sigma, ramp.shape)), "noise")
    assert clean < 0.5 / 255
    assert noisy == pytest.approx(sigma / 255, rel=0.15)


def test_noise_rises_on_a_textured_image_too():
    image = textured(seed=5)
    rng = np.random.default_rng(5)
    a = np.asarray(image, dtype=np.float64) + rng.normal(0, 8, (480, 640, 1))
    noisy = Image.fromarray(np.clip(np.rint(a), 0, 255).astype(np.uint8))
    assert value(noisy, "noise") > 2 * value(image, "noise")


def test_brightened_image_is_brighter():
    image = textured(seed=1)
    brighter = ImageEnhance.Brightness(image).enhance(1.3)
    assert value(brighter, "brightness") > value(image, "brightness") + 0.05


def test_lower_contrast_is_flatter():
    image = textured(seed=1)
    flat = ImageEnhance.Contrast(image).enhance(0.4)
    assert value(flat, "contrast") < 0.6 * value(image, "contrast")
    assert value(flat, "entropy") < value(image, "entropy")


def test_warm_cast_raises_warmth_red_and_yellow():
    image = textured(seed=2)
    a = np.asarray(image, dtype=np.float64)
    warm = Image.fromarray(np.clip(a * [1.2, 1.0, 0.8], 0, 255).astype(np.uint8))
    before, after = measure(image), measure(warm)
    change = dict(zip(FEATURE_NAMES, after - before))
    assert change["warmth"] > 0.1
    assert change["mean_red"] > 0.05
    assert change["mean_blue"] < -0.05
    assert abs(change["mean_green"]) < 0.01
    assert change["lab_b"] > 5  # towards yellow
    assert change["lab_a"] > 0  # towards red


def test_pure_colours_land_on_the_right_side_of_lab():
    def flat(rgb):
        return Image.new("RGB", (64, 64), rgb)

    assert value(flat((40, 200, 40)), "lab_a") < -40 < 40 < value(flat((220, 30, 120)), "lab_a")
    assert value(flat((40, 40, 220)), "lab_b") < -40 < 40 < value(flat((230, 220, 30)), "lab_b")
    assert value(flat((128, 128, 128)), "lab_a") == pytest.approx(0, abs=0.01)
    assert value(flat((128, 128, 128)), "lab_b") == pytest.approx(0, abs=0.01)


def test_desaturated_image_is_less_saturated_and_colourful():
    image = textured(seed=4)
    muted = ImageEnhance.Color(image).enhance(0.3)
    assert value(muted, "saturation") < 0.5 * value(image, "saturation")
    assert value(muted, "colourfulness") < 0.5 * value(image, "colourfulness")
    assert value(image.convert("L"), "saturation") == 0.0


def test_heavy_jpeg_is_blockier_than_light_jpeg():
    image = textured(seed=6, blur=2.5)
    heavy = value(jpeg_roundtrip(image, 5), "jpeg_blockiness")
    light = value(jpeg_roundtrip(image, 95), "jpeg_blockiness")
    lossless = value(image, "jpeg_blockiness")
    assert heavy > 2.0
    assert light < 1.3
    assert lossless == pytest.approx(1.0, abs=0.1)


def test_blockiness_finds_the_grid_in_an_off_centre_image():
    # Larger than the 512-px crop both ways, odd sizes: the crop corner must snap to the 8-px grid.
    image = textured(645, 603, seed=7, blur=2.5)
    assert value(jpeg_roundtrip(image, 5), "jpeg_blockiness") > 2.0


def test_exposure_fractions_on_black_and_white():
    black = measure(Image.new("RGB", (100, 80), (0, 0, 0)))
    white = measure(Image.new("RGB", (100, 80), (255, 255, 255)))
    under, over = FEATURE_NAMES.index("underexposed"), FEATURE_NAMES.index("overexposed")
    assert (black[under], black[over]) == (1.0, 0.0)
    assert (white[under], white[over]) == (0.0, 1.0)
    half = np.zeros((80, 100), dtype=np.uint8)
    half[:, 50:] = 255
    assert value(to_rgb(half), "underexposed") == pytest.approx(0.5, abs=0.02)


def test_entropy_in_bits():
    assert value(Image.new("RGB", (64, 64), (90, 90, 90)), "entropy") == 0.0
    two_levels = np.zeros((256, 256))  # already at the analysis size: no resampling mixes levels
    two_levels[:, 128:] = 200
    assert value(to_rgb(two_levels), "entropy") == pytest.approx(1.0)


def test_size_measurements():
    v = dict(zip(FEATURE_NAMES, measure(Image.new("RGB", (300, 200), (10, 120, 200)))))
    assert (v["width"], v["height"]) == (300, 200)
    assert v["aspect_ratio"] == pytest.approx(1.5)
    assert v["megapixels"] == pytest.approx(0.06)


@pytest.mark.parametrize(
    "image",
    [
        Image.new("RGB", (1, 1), (255, 0, 0)),
        Image.new("L", (5, 3000), 200),
        Image.new("RGBA", (70, 50), (10, 20, 30, 0)),
        Image.new("I;16", (40, 30), 1000),
        Image.new("RGB", (32, 7), (0, 0, 0)),
    ],
    ids=["1x1", "5x3000-grey", "rgba", "16-bit", "32x7-black"],
)
def test_any_image_gives_finite_values(image):
    values = measure(image)
    assert values.shape == (len(MEASUREMENTS),)
    assert np.isfinite(values).all()


# --- words --------------------------------------------------------------------------------------


def test_every_measurement_has_distinct_words():
    phrases = [p for m in MEASUREMENTS for p in (m.higher, m.lower)]
    assert all(p.strip() for p in phrases)
    assert all(m.higher != m.lower and m.description for m in MEASUREMENTS)
    # across measurements too, so a finding's words name one measurement
    assert len(set(phrases)) == len(phrases)


def test_describe_picks_the_direction():
    assert describe("sharpness", more_in_higher=True) == "sharper"
    assert describe("sharpness", more_in_higher=False) == "blurrier"
    assert MeasurementEmbedder().describe("brightness", False) == "darker"


def test_describe_unknown_name_lists_the_known_ones():
    with pytest.raises(InvalidParameterError, match="sharpness") as caught:
        describe("sharpnes", True)
    assert caught.value.value == "sharpnes"


# --- the embedder -------------------------------------------------------------------------------


def test_embedder_identity():
    embedder = MeasurementEmbedder()
    assert isinstance(embedder, Embedder)
    assert embedder.name == "measurements"
    assert embedder.cache_key.startswith("measurements-v1-")
    assert embedder.feature_names == tuple(m.name for m in embedder.measurements)
    assert len(set(embedder.feature_names)) == len(embedder.feature_names) == embedder.dim
    assert {"brightness", "sharpness", "noise", "jpeg_blockiness", "warmth"} <= set(FEATURE_NAMES)


def records_for(tmp_path, n: int) -> tuple[list[ImageRecord], list[Image.Image]]:
    records, images = [], []
    for i in range(n):
        image = textured(64 + i, 48, seed=i)
        path = tmp_path / f"{i:02d}.png"
        image.save(path)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        records.append(ImageRecord(path, digest, image.width, image.height, "PNG"))
        images.append(image)
    return records, images


def test_embed_returns_float32_rows_and_reports_progress(tmp_path):
    records, images = records_for(tmp_path, 20)
    reports: list[Progress] = []
    result = run(MeasurementEmbedder().embed(records), reports.append)

    assert result.shape == (20, MeasurementEmbedder.dim)
    assert result.dtype == np.float32
    np.testing.assert_allclose(result[7], measure(images[7]), rtol=1e-5, atol=1e-7)
    assert [(r.stage, r.done, r.total) for r in reports] == [("embed", 16, 20), ("embed", 20, 20)]


def test_embed_of_nothing_is_empty():
    result = run(MeasurementEmbedder().embed([]))
    assert result.shape == (0, MeasurementEmbedder.dim)
    assert result.dtype == np.float32
