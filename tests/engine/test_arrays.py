""".npy arrays and the TIFF files PIL cannot read, by spotdiff.io.medical.arrays' documented rules."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
from PIL import Image

from spotdiff.io.images import open_image, scan_image_set
from spotdiff.io.medical import ReadOptions
from spotdiff.io.medical.arrays import robust_range, slice_indices, to_uint8, window
from spotdiff.progress import run


def scan(paths, **options):
    return run(scan_image_set(paths, "a", min_images=0, read_options=ReadOptions(**options)))


def test_intensity_rules():
    np.testing.assert_array_equal(to_uint8(np.array([0, 7, 255], np.uint8)), [0, 7, 255])
    np.testing.assert_array_equal(to_uint8(np.array([False, True])), [0, 255])
    np.testing.assert_array_equal(to_uint8(np.array([0, 257, 32896, 65535], np.uint16)), [0, 1, 128, 255])
    floats = np.linspace(-3.0, 5.0, 1001)
    floats[500] = 1e9  # one hot pixel does not darken the rest
    out = to_uint8(floats)
    assert out[0] == 0 and out[-1] == 255 and out[250] == pytest.approx(64, abs=2) and out[500] == 255
    assert (to_uint8(np.full(5, 3.0)) == 0).all()
    np.testing.assert_array_equal(window(np.array([np.nan, np.inf, -np.inf, 0.5]), 0, 1), [0, 255, 0, 128])
    assert robust_range(np.array([np.nan, np.nan])) == (0.0, 0.0)


def test_slice_indices_are_even_and_skip_the_ends():
    assert slice_indices(11, 1) == [5] and slice_indices(16, 4) == [3, 6, 9, 12]
    assert slice_indices(3, 10) == [0, 1, 2]


@pytest.mark.parametrize("shape, mode", [((16, 24), "grey"), ((16, 24, 3), "rgb"), ((16, 24, 4), "rgb")])
def test_npy_images(tmp_path, shape, mode):
    a = np.random.default_rng(0).normal(0, 1, shape).astype(np.float32)
    np.save(tmp_path / "x.npy", a)

    [record] = scan(tmp_path / "x.npy").images
    image = np.asarray(open_image(record))

    assert (record.format, record.width, record.height, record.frame) == ("NPY", 24, 16, None)
    assert dict(record.metadata) == {"DataType": "float32"}
    assert image.shape == (16, 24, 3) and image.std() > 10
    if mode == "grey":
        assert (image[..., 0] == image[..., 2]).all()


def test_npy_volume_is_sliced_as_stored(tmp_path):
    v = np.arange(6 * 8 * 10, dtype=np.float64).reshape(6, 8, 10)
    np.save(tmp_path / "v.npy", v)

    records = scan(tmp_path / "v.npy", volume="slices", n_slices=2, axis=0).images

    assert [r.frame for r in records] == slice_indices(6, 2) and {r.axis for r in records} == {0}
    assert (records[0].width, records[0].height) == (10, 8)
    first = np.asarray(open_image(records[0]))[..., 0]
    assert first[0, 0] < first[-1, -1]  # no rotation for plain arrays


def test_npy_pickles_are_refused(tmp_path):
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    np.save(tmp_path / "one.npy", np.zeros(5))

    skipped = {s.path.name: s.reason for s in scan(tmp_path).skipped}

    assert "pickled" in skipped["obj.npy"] and "shape (5,)" in skipped["one.npy"]


@pytest.mark.parametrize("planar", [False, True])
def test_16_bit_colour_tiff_keeps_the_16_bit_rule(tmp_path, planar):
    rgb = np.zeros((12, 20, 3), np.uint16)
    rgb[..., 0] = 65535
    rgb[..., 2] = 257 * 10
    data = np.moveaxis(rgb, -1, 0) if planar else rgb
    tifffile.imwrite(tmp_path / "rgb16.tif", data, photometric="rgb", planarconfig="separate" if planar else None)

    [record] = scan(tmp_path / "rgb16.tif").images
    image = np.asarray(open_image(record))

    assert record.format == "TIFF" and (record.width, record.height) == (20, 12)
    np.testing.assert_array_equal(image[0, 0], [255, 0, 10])


def test_float_colour_tiff_that_pil_cannot_read_uses_its_own_range(tmp_path):
    a = np.linspace(-1, 1, 10 * 10 * 3, dtype=np.float32).reshape(10, 10, 3)
    tifffile.imwrite(tmp_path / "f.tiff", a, photometric="rgb")
    with pytest.raises(OSError):  # the case the tifffile path exists for
        Image.open(tmp_path / "f.tiff")

    [record] = scan(tmp_path / "f.tiff").images
    image = np.asarray(open_image(record))

    assert (record.format, record.width) == ("TIFF", 10)
    assert image.min() == 0 and image.max() == 255 and (np.diff(image[..., 0].ravel().astype(int)) >= 0).all()


def test_tiff_that_neither_reads_keeps_pils_reason(tmp_path):
    (tmp_path / "bad.tif").write_bytes(b"II*\x00" + b"\x00" * 40)

    [skipped] = scan(tmp_path / "bad.tif").skipped

    assert skipped.reason.startswith(("truncated or corrupt", "not an image"))
