"""DICOM through spotdiff.io.medical: pydicom's bundled files, and files written here with known values."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset

from spotdiff.errors import UnreadableImageError
from spotdiff.io.images import ImageRecord, open_image, scan_image_set
from spotdiff.io.medical import ReadOptions
from spotdiff.io.medical.dicom import DicomReader, modality_values, voi_window
from spotdiff.progress import run


def bundled(name: str) -> Path:
    return Path(get_testdata_file(name))


def grey(image) -> np.ndarray:
    a = np.asarray(image).astype(int)
    assert a.ndim == 3 and (a[..., 0] == a[..., 1]).all() and (a[..., 1] == a[..., 2]).all()
    return a[..., 0]


def scan(*paths: Path, **options):
    return run(scan_image_set(list(paths), "a", min_images=0, read_options=ReadOptions(**options)))


def write(tmp_path: Path, name: str, source: str = "MR_small.dcm", pixels: np.ndarray | None = None, **tags) -> Path:
    ds = pydicom.dcmread(get_testdata_file(source))
    if pixels is not None:
        ds.PixelData = pixels.astype(ds.pixel_array.dtype).tobytes()
        ds.Rows, ds.Columns = pixels.shape
    for keyword, value in tags.items():
        if value is None:
            if keyword in ds:
                delattr(ds, keyword)
        else:
            setattr(ds, keyword, value)
    path = tmp_path / name
    ds.save_as(path)
    return path


# --- bundled files ----------------------------------------------------------------------------


@pytest.mark.parametrize("name, size, fmt_mode", [
    ("CT_small.dcm", (128, 128), "grey"), ("MR_small.dcm", (64, 64), "grey"),
    ("MR_small_RLE.dcm", (64, 64), "grey"), ("MR_small_bigendian.dcm", (64, 64), "grey"),
    ("JPEG2000.dcm", (256, 1024), "grey"), ("examples_overlay.dcm", (484, 300), "grey"),
    ("SC_rgb_rle.dcm", (100, 100), "colour"), ("examples_palette.dcm", (800, 350), "colour"),
    ("SC_ybr_full_422_uncompressed.dcm", (100, 100), "colour"),
])
def test_bundled_files_open_as_8bit_rgb(name, size, fmt_mode):
    [record] = scan(bundled(name)).images
    image = open_image(record)

    assert (record.format, (record.width, record.height)) == ("DICOM", size)
    assert image.mode == "RGB" and image.size == size
    a = np.asarray(image)
    assert a.std() > 1  # a picture, not a blank
    if fmt_mode == "grey":
        grey(image)
    else:
        assert np.abs(a[..., 0].astype(int) - a[..., 2]).max() > 0


def test_acquisition_tags_are_read_and_nothing_else():
    [record] = scan(bundled("CT_small.dcm")).images
    tags = dict(record.metadata)

    assert tags["Manufacturer"] == "GE MEDICAL SYSTEMS" and tags["Modality"] == "CT"
    assert tags["Rows"] == "128" and float(tags["PixelSpacing"]) == pytest.approx(0.661468)
    assert tags["TransferSyntax"] == "Explicit VR Little Endian"
    assert "PatientName" not in tags and "PatientID" not in tags
    assert tags["InstitutionName"].startswith("#") and len(tags["InstitutionName"]) == 7  # a digest, not a name


def test_rescale_slope_and_intercept_give_hounsfield_units():
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    hu = modality_values(ds.pixel_array, ds, None)

    assert float(ds.RescaleSlope) == 1.0 and float(ds.RescaleIntercept) == -1024.0
    np.testing.assert_array_equal(hu, ds.pixel_array.astype(float) - 1024.0)

    ds.RescaleSlope, ds.RescaleIntercept = 2.5, 10
    np.testing.assert_allclose(modality_values(ds.pixel_array, ds, None), ds.pixel_array * 2.5 + 10)


def test_window_centre_and_width_map_to_0_255(tmp_path):
    ramp = np.tile(np.arange(0, 1000, 10, dtype=np.uint16), (4, 1))  # 0 .. 990
    path = write(tmp_path, "w.dcm", pixels=ramp, WindowCenter=500, WindowWidth=201, RescaleSlope=None,
                 RescaleIntercept=None)
    out = grey(open_image(path))[0]

    assert (out[ramp[0] <= 399] == 0).all() and (out[ramp[0] >= 600] == 255).all()
    assert out[50] == pytest.approx(128, abs=2)  # the centre value 500 is mid-grey
    assert (np.diff(out) >= 0).all()


@pytest.mark.parametrize("function", ["LINEAR", "LINEAR_EXACT", "SIGMOID"])
def test_voi_lut_functions_are_monotone_and_centred(function):
    ds = Dataset()
    ds.WindowCenter, ds.WindowWidth, ds.VOILUTFunction = 100, 50, function
    y = voi_window(np.linspace(0, 200, 201), ds, None)

    assert (np.diff(y) >= 0).all() and y[0] < 0.05 and y[-1] > 0.95
    assert y[100] == pytest.approx(0.5, abs=0.02)


def test_without_a_window_the_robust_range_is_used(tmp_path):
    pixels = np.arange(64 * 64, dtype=np.uint16).reshape(64, 64)
    path = write(tmp_path, "nowin.dcm", pixels=pixels, WindowCenter=None, WindowWidth=None)
    out = grey(open_image(path))

    assert out.min() == 0 and out.max() == 255
    assert out[32, 0] == pytest.approx(128, abs=2)


def test_monochrome1_is_inverted(tmp_path):
    plain = write(tmp_path, "m2.dcm")
    inverse = write(tmp_path, "m1.dcm", PhotometricInterpretation="MONOCHROME1")

    a, b = grey(open_image(plain)), grey(open_image(inverse))

    np.testing.assert_array_equal(b, 255 - a)
    assert a.std() > 10


def test_enhanced_multi_frame_reads_rescale_and_window_from_functional_groups():
    ds = Dataset()
    shared, per_frame = Dataset(), Dataset()
    transform, voi = Dataset(), Dataset()
    transform.RescaleSlope, transform.RescaleIntercept = 2, -100
    voi.WindowCenter, voi.WindowWidth = 0, 100
    shared.PixelValueTransformationSequence = [transform]
    own = Dataset()
    own.WindowCenter, own.WindowWidth = 50, 11
    per_frame.FrameVOILUTSequence = [own]
    shared.FrameVOILUTSequence = [voi]
    ds.SharedFunctionalGroupsSequence = [shared]
    ds.PerFrameFunctionalGroupsSequence = [Dataset(), per_frame]
    values = modality_values(np.array([50, 100]), ds, 0)

    np.testing.assert_array_equal(values, [0, 100])
    assert voi_window(np.array([0.0]), ds, 0)[0] == pytest.approx(0.5, abs=0.01)  # shared window, centre 0
    assert voi_window(np.array([50.0]), ds, 1)[0] == pytest.approx(0.5, abs=0.06)  # frame 1's own window


# --- multi-frame ------------------------------------------------------------------------------


def test_multi_frame_gives_its_middle_frame_or_every_frame():
    path = bundled("rtdose.dcm")
    frames = pydicom.dcmread(path).pixel_array  # (15, 10, 10)

    [middle] = scan(path).images
    every = scan(path, frames="all").images

    assert middle.frame == 7 and middle.item == "frame index 7"
    assert [r.frame for r in every] == list(range(15))
    assert len({r.content_hash for r in every}) == 15
    assert all(r.content_hash.startswith(middle.content_hash.split("#")[0]) for r in every)
    pictures = [grey(open_image(r)) for r in every]
    for i in (0, 7, 14):  # each item is its own frame, windowed by that frame's range
        f = frames[i].astype(float)
        assert np.corrcoef(pictures[i].ravel(), f.ravel())[0, 1] > 0.99
    assert not np.array_equal(pictures[0], pictures[14])
    np.testing.assert_array_equal(grey(open_image(path)), pictures[7])  # a bare path: the middle frame


def test_multi_frame_colour_jpeg():
    records = scan(bundled("examples_ybr_color.dcm"), frames="all").images

    assert len(records) == 30 and records[0].width == 320
    image = open_image(records[29])
    assert image.mode == "RGB" and image.size == (320, 240)


def test_a_frame_outside_the_file_is_unreadable():
    [record] = scan(bundled("rtdose.dcm")).images
    bad = ImageRecord(record.path, record.content_hash, 10, 10, "DICOM", frame=99)

    with pytest.raises(UnreadableImageError, match="frame index 99"):
        open_image(bad)


# --- files that cannot be used -----------------------------------------------------------------


def test_compressed_without_a_decoder_is_skipped_with_a_clear_reason():
    from pydicom.pixels import get_decoder
    from pydicom.uid import JPEGLSLossless

    result = scan(bundled("MR_small_jpeg_ls_lossless.dcm"))

    if get_decoder(JPEGLSLossless).is_available:  # an optional decoder is installed here: it must read
        assert len(result.images) == 1 and not result.skipped
        return
    [skipped] = result.skipped
    assert "JPEG-LS" in skipped.reason and "no decoder" in skipped.reason
    assert "pylibjpeg" in skipped.reason or "pyjpegls" in skipped.reason


@pytest.mark.parametrize("name, reason", [
    ("rtplan.dcm", "without pixel data"),
    ("MR_truncated.dcm", "pixel data"),
])
def test_unusable_dicom_is_skipped_with_its_reason(name, reason):
    result = scan(bundled(name))

    assert not result.images and reason in result.skipped[0].reason


def test_text_named_dcm_is_not_dicom(tmp_path):
    fake = tmp_path / "notes.dcm"
    fake.write_text("not a dicom file at all" * 20)

    assert "not a DICOM file" in scan(fake).skipped[0].reason


def test_folder_walk_finds_dicom_without_a_suffix_by_its_marker(tmp_path):
    shutil.copy(bundled("MR_small.dcm"), tmp_path / "IM0001")
    shutil.copy(bundled("CT_small.dcm"), tmp_path / "1.2.840.113619.2.55")
    (tmp_path / "README").write_text("no marker here")
    (tmp_path / "data.csv").write_text("a,b\n")

    result = run(scan_image_set(tmp_path, "a", min_images=0))

    assert sorted(r.path.name for r in result.images) == ["1.2.840.113619.2.55", "IM0001"]
    assert not result.skipped


def test_reader_decodes_only_what_it_was_asked():
    path = bundled("MR_small.dcm")
    with open(path, "rb") as fp:
        image, fmt = DicomReader().decode(fp, path)

    assert fmt == "DICOM" and image.mode == "L" and image.size == (64, 64)
