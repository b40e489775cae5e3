"""spotdiff.io.images: decoding every kind of file a user may drop in a folder, and scanning sets."""

from __future__ import annotations

import hashlib
import io
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

from spotdiff.errors import (
    Cancelled,
    EmptyImageSetError,
    ImageSetError,
    ImageSetNotFoundError,
    UnreadableImageError,
)
from spotdiff.io.images import (
    IMAGE_SUFFIXES,
    ImageSet,
    find_leaks,
    open_image,
    scan_image_set,
    thumbnail,
)
from spotdiff.progress import Progress, run

RED, BLUE, WHITE = (255, 0, 0), (0, 0, 255), (255, 255, 255)


# ---------------------------------------------------------------------------------- file makers


def _rgb(size=(24, 16), color=RED) -> Image.Image:
    return Image.new("RGB", size, color)


def _halves(size=(40, 20)) -> Image.Image:
    """Left half red, right half blue."""
    im = _rgb(size, RED)
    im.paste(BLUE, (size[0] // 2, 0, size[0], size[1]))
    return im


def _save(im: Image.Image, path: Path, **kwargs) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    im.save(path, **kwargs)
    return path


def _jpeg_bytes(im: Image.Image, **kwargs) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "JPEG", **kwargs)
    return buf.getvalue()


def _exif_rotated_jpeg(path: Path, size=(40, 20)) -> Path:
    exif = Image.Exif()
    exif[0x0112] = 6  # display rotated 90 degrees clockwise
    return _save(_halves(size), path, exif=exif, quality=95)


def _png_header_only(path: Path, width: int, height: int) -> Path:
    """A PNG whose header claims width x height 1-bit pixels, with no pixel data: a bomb in bytes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b""))
    return path


def _gradient16() -> Image.Image:
    a = np.linspace(0, 65535, 64 * 32).reshape(32, 64).astype(np.uint16)
    return Image.fromarray(a)


def _two_frame_gif(path: Path) -> Path:
    frames = [_rgb((16, 16), c).convert("P", palette=Image.Palette.ADAPTIVE) for c in (RED, BLUE)]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100)
    return path


def _good_files(root: Path) -> dict[str, Path]:
    """One readable file of every kind a set may hold, some nested, one with a unicode name."""
    rgba = Image.new("RGBA", (20, 20), (255, 0, 0, 0))
    rgba.paste((0, 0, 255, 255), (0, 0, 10, 20))
    return {
        "jpeg": _save(_rgb(), root / "plain.jpg"),
        "png16": _save(_gradient16(), root / "deep" / "gradient16.png"),
        "cmyk": _save(Image.new("CMYK", (16, 16), (0, 255, 255, 0)), root / "cmyk.jpeg", quality=95),
        "rgba": _save(rgba, root / "rgba.png"),
        "gif": _two_frame_gif(root / "anim.gif"),
        "exif": _exif_rotated_jpeg(root / "deep" / "deeper" / "rotated.JPG"),
        "tiff": _save(_rgb(color=BLUE), root / "scan.tif"),
        "bmp": _save(_rgb(), root / "old.bmp"),
        "webp": _save(_rgb(), root / "web.webp", lossless=True),
        "unicode": _save(_rgb(), root / "café_图像.png"),
    }


def _bad_files(root: Path) -> dict[str, Path]:
    root.mkdir(parents=True, exist_ok=True)
    (root / "empty.jpg").write_bytes(b"")
    whole = _jpeg_bytes(_halves((64, 64)))
    (root / "truncated.jpg").write_bytes(whole[: len(whole) // 2])
    (root / "notes_renamed.jpg").write_text("not a picture, just words\n" * 20)
    (root / "sub").mkdir(exist_ok=True)
    _png_header_only(root / "sub" / "bomb.png", 20_000, 20_000)
    return {
        "empty": root / "empty.jpg",
        "truncated": root / "truncated.jpg",
        "text": root / "notes_renamed.jpg",
        "bomb": root / "sub" / "bomb.png",
    }


def _snapshot(root: Path) -> dict[Path, tuple[bytes, int]]:
    return {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in root.rglob("*") if p.is_file()}


def _scan(source, label="a", **kwargs):
    return run(scan_image_set(source, label, **kwargs))


# ---------------------------------------------------------------------------------- open_image


def test_pil_is_not_told_to_accept_truncated_images():
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_image_suffixes():
    assert IMAGE_SUFFIXES == {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp", ".gif",
                              ".dcm", ".dicom", ".nii", ".nii.gz", ".npy"}


@pytest.mark.parametrize(
    "kind, color",
    [("jpeg", RED), ("tiff", BLUE), ("bmp", RED), ("webp", RED), ("unicode", RED), ("gif", RED)],
)
def test_open_image_returns_loaded_8bit_rgb(tmp_path, kind, color):
    im = open_image(_good_files(tmp_path)[kind])
    assert im.mode == "RGB"
    assert np.abs(np.asarray(im, dtype=int) - color).max() <= 2  # gif: first frame, not blue


def test_16bit_png_keeps_its_range(tmp_path):
    a = np.asarray(open_image(_save(_gradient16(), tmp_path / "g.png")))
    assert a.dtype == np.uint8
    assert a[..., 0].min() == 0 and a[..., 0].max() == 255
    assert len(np.unique(a[..., 0])) > 200  # a gradient, not saturated or posterised


@pytest.mark.parametrize("dtype, mode", [(np.int32, "I"), (np.float32, "F")])
def test_32bit_tiff_is_stretched_by_its_own_range(tmp_path, dtype, mode):
    a = np.linspace(-1000, 250_000, 32 * 16).reshape(16, 32).astype(dtype)
    path = _save(Image.fromarray(a), tmp_path / "deep.tif")
    with Image.open(path) as im:
        assert im.mode == mode
    out = np.asarray(open_image(path))[..., 0]
    assert out[0, 0] == 0 and out[-1, -1] == 255
    assert abs(int(out[8, 0]) - 128) <= 2  # linear: the middle row is mid-grey


def test_16bit_tiff_big_endian(tmp_path):
    im = Image.frombytes("I;16B", (4, 1), np.array([0, 257, 32896, 65535], ">u2").tobytes())
    out = np.asarray(open_image(_save(im, tmp_path / "be.tif")))[..., 0]
    assert out.tolist() == [[0, 1, 128, 255]]


def test_cmyk_jpeg_becomes_rgb(tmp_path):
    im = open_image(_good_files(tmp_path)["cmyk"])
    assert im.mode == "RGB"
    r, g, b = np.asarray(im, dtype=int).mean(axis=(0, 1))
    assert r > 230 and g < 25 and b < 25


def test_transparency_is_composited_onto_white(tmp_path):
    a = np.asarray(open_image(_good_files(tmp_path)["rgba"]))
    assert tuple(a[10, 2]) == BLUE  # opaque
    assert tuple(a[10, 17]) == WHITE  # fully transparent red


@pytest.mark.parametrize("mode", ["L", "LA", "1", "P"])
def test_grey_and_palette_modes(tmp_path, mode):
    im = _halves()
    if mode != "P":
        im.paste(WHITE, (20, 0, 40, 20))  # red | white stays two tones even in 1-bit
    im = im.convert(mode, dither=Image.Dither.NONE)
    if mode == "P":
        im.info["transparency"] = im.getpixel((0, 0))  # the red half becomes transparent
    out = np.asarray(open_image(_save(im, tmp_path / "m.png")))
    assert out.shape == (20, 40, 3)
    if mode == "P":
        assert tuple(out[0, 0]) == WHITE and tuple(out[0, -1]) == BLUE
    else:
        assert (out[..., 0] == out[..., 1]).all() and out[0, 0, 0] != out[0, -1, 0]


def test_exif_orientation_is_applied(tmp_path):
    a = np.asarray(open_image(_exif_rotated_jpeg(tmp_path / "r.jpg")), dtype=int)
    assert a.shape == (40, 20, 3)  # was 40 wide, 20 high
    assert np.abs(a[5, 10] - RED).max() < 30  # left half turned into the top half
    assert np.abs(a[35, 10] - BLUE).max() < 30


def test_max_side_decodes_jpeg_smaller_but_not_below_max_side(tmp_path):
    path = _save(_halves((2048, 1024)), tmp_path / "big.jpg")
    im = open_image(path, max_side=256)
    assert min(im.size) >= 256 and im.size[0] < 2048
    assert open_image(path).size == (2048, 1024)


@pytest.mark.parametrize(
    "kind, reason",
    [
        ("empty", "empty file (0 bytes)"),
        ("truncated", "truncated or corrupt image data: "),
        ("text", "not an image file (unrecognised format)"),
        ("bomb", "decompression bomb: 400,000,000 pixels exceeds the limit of "),
    ],
)
def test_unreadable_files_raise_with_a_reason(tmp_path, kind, reason):
    path = _bad_files(tmp_path)[kind]
    with pytest.raises(UnreadableImageError) as caught:
        open_image(path)
    assert caught.value.reason.startswith(reason)
    assert caught.value.path == path
    assert str(path) in str(caught.value)
    assert isinstance(caught.value, ImageSetError)


def test_image_between_one_and_two_times_the_pixel_limit_is_a_bomb_too(tmp_path, monkeypatch):
    # PIL only warns here; with filterwarnings=error a leaked warning would fail this test.
    path = _save(_rgb((120, 100)), tmp_path / "warn.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10_000)
    with pytest.raises(UnreadableImageError, match="12,000 pixels exceeds the limit of 10,000"):
        open_image(path)


def test_missing_file_is_unreadable(tmp_path):
    with pytest.raises(UnreadableImageError, match="cannot open file"):
        open_image(tmp_path / "nope.png")


def test_thumbnail_is_a_small_jpeg(tmp_path):
    data = thumbnail(_save(_halves((800, 400)), tmp_path / "t.png"), size=64)
    im = Image.open(io.BytesIO(data))
    assert im.format == "JPEG" and im.size == (64, 32)


# ---------------------------------------------------------------------------------- scan_image_set


def test_scan_hostile_folder(tmp_path):
    root = tmp_path / "set"
    good, bad = _good_files(root), _bad_files(root)
    (root / "readme.txt").write_text("ignored, not skipped")
    _save(_rgb(), root / ".hidden.png")
    _save(_rgb(), root / ".cache" / "inside_hidden_dir.png")
    before = _snapshot(root)

    s = _scan(root, "b", min_images=len(good))

    assert [r.path for r in s.images] == sorted(good.values())
    assert {f.path: f.reason.split(":")[0].split(" (")[0] for f in s.skipped} == {
        bad["empty"]: "empty file",
        bad["truncated"]: "truncated or corrupt image data",
        bad["text"]: "not an image file",
        bad["bomb"]: "decompression bomb",
    }
    assert s.label == "b" and s.sources == (root,) and len(s) == len(good)
    assert _snapshot(root) == before  # bytes and mtimes untouched


def test_records_carry_hash_full_size_after_orientation_and_format(tmp_path):
    path = _exif_rotated_jpeg(tmp_path / "r.jpg", size=(2048, 1024))  # decoded at 1/4 scale
    gif = _two_frame_gif(tmp_path / "a.gif")
    s = _scan([path, gif], min_images=2)
    by_path = {r.path: r for r in s.images}
    rec = by_path[path]
    assert (rec.width, rec.height, rec.format) == (1024, 2048, "JPEG")
    assert by_path[gif].format == "GIF"
    assert rec.content_hash == hashlib.sha256(path.read_bytes()).hexdigest()


def test_explicit_files_are_tried_whatever_their_suffix(tmp_path):
    png_as_dat = _save(_rgb(), tmp_path / "photo.dat", format="PNG")
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    s = _scan([png_as_dat, text], min_images=1)
    assert [(r.path, r.format) for r in s.images] == [(png_as_dat, "PNG")]
    assert [(f.path, f.reason) for f in s.skipped] == [
        (text, "not an image file (unrecognised format)")
    ]


def test_a_file_reached_twice_counts_once(tmp_path):
    a = _save(_rgb(), tmp_path / "set" / "a.png")
    _save(_rgb(color=BLUE), tmp_path / "set" / "b.png")
    s = _scan([tmp_path / "set", a, str(a), tmp_path / "set"], min_images=2)
    assert [r.path.name for r in s.images] == ["a.png", "b.png"]
    assert s.sources == (tmp_path / "set", a)


def test_symlink_cycles_end(tmp_path):
    _save(_rgb(), tmp_path / "set" / "sub" / "a.png")
    try:
        os.symlink(tmp_path / "set", tmp_path / "set" / "sub" / "loop", target_is_directory=True)
    except (OSError, NotImplementedError):
        pytest.skip("symlinks are not available here")
    s = _scan(tmp_path / "set", min_images=1)
    assert [r.path.name for r in s.images] == ["a.png"]


def test_too_few_readable_images(tmp_path):
    root = tmp_path / "cats"
    for i in range(3):
        _save(_rgb(color=(i, 0, 0)), root / f"{i}.png")
    _bad_files(root)
    with pytest.raises(EmptyImageSetError) as caught:
        _scan(root)
    e = caught.value
    assert (e.folder, e.readable, e.skipped, e.needed) == (root, 3, 4, 8)
    assert str(root) in str(e) and "3 readable images (4 skipped" in str(e) and "at least 8" in str(e)


def test_missing_source(tmp_path):
    _save(_rgb(), tmp_path / "here" / "a.png")
    with pytest.raises(ImageSetNotFoundError) as caught:
        _scan([tmp_path / "here", tmp_path / "gone"], min_images=1)
    assert caught.value.path == tmp_path / "gone"


def _many(root: Path, n: int) -> Path:
    for i in range(n):
        _save(Image.new("L", (8, 8), i), root / f"{i:03d}.png")
    return root


def test_progress_is_reported_at_least_every_32_files(tmp_path):
    reports: list[Progress] = []
    s = run(scan_image_set(_many(tmp_path, 70), "a"), reports.append)
    assert len(s) == 70
    reading = [r for r in reports if r.total]
    assert all(r.stage == "scan" for r in reports)
    assert reading[0].done == 0 and (reading[-1].done, reading[-1].total) == (70, 70)
    assert all(0 < b.done - a.done <= 32 for a, b in zip(reading, reading[1:]))


def test_cancelling_stops_the_scan(tmp_path):
    seen: list[Progress] = []

    def stop_when_reading(report: Progress) -> bool:
        seen.append(report)
        return report.total == 0

    with pytest.raises(Cancelled):
        run(scan_image_set(_many(tmp_path, 40), "a"), stop_when_reading)
    assert seen[-1].done == 0 and seen[-1].total == 40


def test_find_leaks(tmp_path):
    x = _save(_rgb(), tmp_path / "a" / "x.png")
    _save(_rgb(color=BLUE), tmp_path / "a" / "y.png")
    x_copy = tmp_path / "b" / "copy_of_x.png"
    x_copy.parent.mkdir()
    x_copy.write_bytes(x.read_bytes())
    _save(_rgb(color=WHITE), tmp_path / "b" / "z.png")
    set_a, set_b = _scan(tmp_path / "a", "a", min_images=1), _scan(tmp_path / "b", "b", min_images=1)

    (leak,) = find_leaks(set_a, set_b)
    assert (leak.path_a, leak.path_b) == (x, x_copy)
    assert leak.content_hash == set_a.images[0].content_hash
    assert find_leaks(set_a, ImageSet("b", (), set_b.images[1:], ())) == ()  # z only
