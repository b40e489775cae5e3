"""NIfTI volumes written here with nibabel, read as 2-D items: middle slice, N slices, projection."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from spotdiff.io.images import open_image, scan_image_set
from spotdiff.io.medical import ReadOptions
from spotdiff.io.medical.arrays import slice_indices
from spotdiff.pipeline import CompareRequest, compare_steps
from spotdiff.progress import run
from spotdiff.report import to_json_dict
from spotdiff.analysis.validate import Split

SHAPE = (20, 24, 16)  # x (left-right), y (posterior-anterior), z (inferior-superior)


def volume(seed: int = 0, dot: tuple[int, int, int] | None = (4, 5, 3)) -> np.ndarray:
    """Smooth ramps along each axis plus noise; one very bright voxel at ``dot``."""
    rng = np.random.default_rng(seed)
    x, y, z = np.meshgrid(*(np.arange(n) for n in SHAPE), indexing="ij")
    v = 100 + 2 * x + 3 * y + 5 * z + rng.normal(0, 1, SHAPE)
    if dot is not None:
        v[dot] = 5000
    return v.astype(np.float32)


def save(path: Path, data: np.ndarray, affine: np.ndarray | None = None) -> Path:
    image = nib.Nifti1Image(data, np.diag([1.0, 1.0, 2.5, 1.0]) if affine is None else affine)
    nib.save(image, path)
    return path


def scan(paths, **options):
    return run(scan_image_set(paths, "a", min_images=0, read_options=ReadOptions(**options)))


def grey(image) -> np.ndarray:
    return np.asarray(image)[..., 0].astype(int)


def test_middle_slice_of_a_gzipped_volume(tmp_path):
    path = save(tmp_path / "brain.nii.gz", volume())

    [record] = scan(path).images
    image = open_image(record)

    assert (record.format, record.frame, record.axis) == ("NIfTI", slice_indices(16, 1)[0], 2)
    assert record.item == f"slice index {record.frame}, axis 2"
    assert image.size == (20, 24) == (record.width, record.height)  # axial: x across, y up
    shown = grey(image)
    assert shown[0].mean() > shown[-1].mean()  # anterior (high y) at the top
    assert shown[:, -1].mean() > shown[:, 0].mean()  # x grows to the right


def test_n_evenly_spaced_slices_keep_their_index(tmp_path):
    path = save(tmp_path / "v.nii", volume())

    records = scan(path, volume="slices", n_slices=4).images

    assert [r.frame for r in records] == slice_indices(16, 4) == [3, 6, 9, 12]
    assert len({r.content_hash for r in records}) == 4
    means = [grey(open_image(r)).mean() for r in records]
    assert means == sorted(means)  # z ramp: higher slices are brighter, on the volume's one scale


def test_maximum_intensity_projection_shows_what_a_slice_misses(tmp_path):
    data = np.random.default_rng(0).normal(100, 1, SHAPE).astype(np.float32)
    data[2:7, 10:15, 3] = 1000  # a bright blob in slice 3 only
    path = save(tmp_path / "v.nii.gz", data)

    [middle] = scan(path).images
    [mip] = scan(path, volume="mip").images

    assert (mip.frame, mip.axis, mip.item) == (None, 2, "maximum-intensity projection, axis 2")
    projected, sliced = grey(open_image(mip)), grey(open_image(middle))
    rows, cols = 24 - 1 - np.arange(10, 15), np.arange(2, 7)  # shown rotated: y up, x across
    assert (projected[np.ix_(rows, cols)] == 255).all() and np.median(projected) < 128
    assert sliced[np.ix_(rows, cols)].mean() < 200


@pytest.mark.parametrize("axis, size", [(0, (24, 16)), (1, (20, 16)), (2, (20, 24))])
def test_the_chosen_axis(tmp_path, axis, size):
    path = save(tmp_path / "v.nii.gz", volume())

    [record] = scan(path, axis=axis).images

    assert (record.axis, (record.width, record.height), open_image(record).size) == (axis, size, size)


def test_volumes_are_reoriented_to_ras_first(tmp_path):
    data = volume()
    ras = save(tmp_path / "ras.nii.gz", data)
    flip = np.diag([-1.0, 1.0, 2.5, 1.0])  # the same anatomy stored with x running right-to-left
    flip[0, 3] = SHAPE[0] - 1
    las = save(tmp_path / "las.nii.gz", data[::-1].copy(), flip)

    a, b = (open_image(scan(p).images[0]) for p in (ras, las))

    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_4d_files_give_their_first_volume_and_metadata_is_acquisition_only(tmp_path):
    data = np.stack([volume(0), volume(1) * 0 + 7], axis=-1)
    path = save(tmp_path / "fmri.nii.gz", data)

    [record] = scan(path).images

    assert grey(open_image(record)).std() > 10  # volume 0, not the constant volume 1
    tags = dict(record.metadata)
    assert tags["VoxelSize2"] == "2.5" and tags["Shape0"] == "20" and tags["DataType"] == "float32"
    assert set(tags) == {"DataType", "VoxelSize0", "VoxelSize1", "VoxelSize2", "Shape0", "Shape1", "Shape2"}


def test_nan_and_integer_volumes(tmp_path):
    data = volume()
    data[0] = np.nan
    floats = save(tmp_path / "nan.nii.gz", data)
    ints = save(tmp_path / "int.nii.gz", (volume() * 10).astype(np.int16))

    for path in (floats, ints):
        a = grey(open_image(scan(path).images[0]))
        assert a.min() >= 0 and a.max() <= 255 and a.std() > 10


def test_corrupt_volumes_are_skipped_with_a_reason(tmp_path):
    good = save(tmp_path / "good.nii.gz", volume())
    (tmp_path / "cut.nii.gz").write_bytes(good.read_bytes()[:300])
    (tmp_path / "text.nii").write_text("hello" * 100)

    result = scan(tmp_path)

    assert [r.path.name for r in result.images] == ["good.nii.gz"]
    assert {s.path.name for s in result.skipped} == {"cut.nii.gz", "text.nii"}
    assert all("NIfTI" in s.reason for s in result.skipped)


def test_slices_of_one_volume_stay_on_one_side_of_the_split():
    groups = [f"v{i // 5}" for i in range(40)]  # 8 volumes of 5 slices

    for seed in range(20):
        split = Split.make(40, 40, seed=seed, groups_a=groups, groups_b=groups)
        for mask in (split.heldout_a, split.heldout_b):
            assert mask.sum() == 20
            assert all(len(set(mask[i * 5:(i + 1) * 5])) == 1 for i in range(8))


def test_a_comparison_of_volumes_reports_each_slice(tmp_path):
    for label, shift in (("a", 0.0), ("b", 40.0)):
        (tmp_path / label).mkdir()
        for i in range(8):
            data = volume(seed=i + 100 * (label == "b")) + shift * np.indices(SHAPE)[0]
            save(tmp_path / label / f"s{i}.nii.gz", data)
    request = CompareRequest(model="measurements", set_a=tmp_path / "a", set_b=tmp_path / "b", use_cache=False, n_permutations=19,
                             read_options=ReadOptions(volume="slices", n_slices=3), min_images=8)

    result = run(compare_steps(request))
    doc = to_json_dict(result)

    assert len(result.set_a.images) == 24 and any("from 8 files" in w for w in result.warnings)
    named = json.dumps(doc["findings"]) + json.dumps(doc["directions"])
    assert "[slice index " in named and ", axis 2]" in named
    assert all(len(f.scores_a) == 12 for f in result.findings)  # 4 held-out volumes x 3 slices
