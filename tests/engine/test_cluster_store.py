"""spotdiff embed without Ray (the same store format, written in this process) and compare --embeddings.

The sets are small procedural ones with a planted difference, embedded with the bundled toy-shapes model; the
comparisons from stores are checked against spotdiff.compare on the folders themselves.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from pydicom.data import get_testdata_file

pytest.importorskip("pyarrow", reason="needs pyarrow, of the optional extra [cluster]: scripts/install.sh --test")

import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

import spotdiff  # noqa: E402
from spotdiff.apps.cli import main  # noqa: E402
from spotdiff.cluster import EmbedRequest, compare_stores, embed_steps, read_store  # noqa: E402
from spotdiff.cluster.inputs import list_inputs  # noqa: E402
import spotdiff.cluster.store as store_module  # noqa: E402
from spotdiff.cluster.store import LOG, iter_store_rows, rows_at, with_kept_copies  # noqa: E402
from spotdiff.errors import ImageListError, StoreError  # noqa: E402
from spotdiff.analysis.validate import Split  # noqa: E402
from spotdiff.io.images import draw_rows, scan_image_set  # noqa: E402
from spotdiff.io.medical import ReadOptions  # noqa: E402
from spotdiff.models.embedding import embed_images  # noqa: E402
from spotdiff.models.factory import open_embedder  # noqa: E402
from spotdiff.pipeline import NO_PIXELS  # noqa: E402
from spotdiff.progress import run  # noqa: E402
from spotdiff.synthetic.medical import write_dicom_set  # noqa: E402
from spotdiff.synthetic.synth import synth  # noqa: E402
from same_findings import assert_same_findings, assert_same_vectors, supported_claims  # noqa: E402
from user_folders import use_user_folders  # noqa: E402

N = 24  # images per set: enough for the planted rectangles to be found on 12 held-out images of each


@pytest.fixture(scope="module")
def user(tmp_path_factory):
    """One user folder (cache, models) for the module's stores and comparisons."""
    with pytest.MonkeyPatch.context() as mp:
        yield use_user_folders(mp, tmp_path_factory.mktemp("cluster-user"))


@pytest.fixture(scope="module")
def pair(user, tmp_path_factory):
    """Two sets with rectangles planted into B, and a store of each (in this process, shards of 10 files)."""
    root = tmp_path_factory.mktemp("cluster-pair")
    run(synth(root / "pair", plants=["rectangles:0.6"], n_per_set=N, seed=1))
    stores = {}
    for s in "ab":
        stores[s] = root / f"store_{s}"
        summary = run(embed_steps(EmbedRequest(sources=(root / "pair" / f"set_{s}",), out=stores[s],
                                               model="toy-shapes", ray="none", shard_size=10)))
        assert (summary.n_files, summary.n_shards, summary.n_embedded, summary.skipped) == (N, 3, N, ())
    return root / "pair", stores


def test_a_store_holds_what_a_scan_finds_and_the_pipeline_embeds(pair):
    folders, stores = pair
    stored = read_store(stores["a"], "a")
    scanned = run(scan_image_set(folders / "set_a", "a"))
    assert stored.image_set.images == scanned.images  # paths, content hashes, sizes, formats, in scan order
    model = open_embedder("toy-shapes")
    assert stored.spaces["model"]["key"] == model.cache_key
    assert_same_vectors(stored.X, run(embed_images(model, scanned.images, None)))
    np.testing.assert_array_equal(stored.M, run(embed_images(open_embedder("measurements"), scanned.images, None)))
    rows = list(iter_store_rows(stores["a"]))
    assert [r["order"] for r in rows] == list(range(N))
    assert {r["embedder"] for r in rows} == {model.cache_key}
    assert all(len(r["content_hash"]) == 64 and r["skip_reason"] is None for r in rows)


def test_compare_from_stores_gives_the_findings_of_the_folders_with_and_without_the_images(pair, tmp_path):
    folders, stores = pair
    with spotdiff.ModelHost() as host:
        direct = spotdiff.compare(folders / "set_a", folders / "set_b", model="toy-shapes", host=host,
                                  use_cache=False)
        stored = compare_stores(stores["a"], stores["b"], host=host, use_cache=False)
        assert supported_claims(direct)
        assert_same_findings(stored, direct)
        assert stored.settings["n_heldout"] == direct.settings["n_heldout"]
        assert NO_PIXELS not in stored.warnings

        # without the images the region stage cannot run: its claims are missing, and the multiple-testing
        # correction counts the others only, as in a comparison of the images without that stage
        no_regions = spotdiff.compare(folders / "set_a", folders / "set_b", model="toy-shapes", host=host,
                                      use_cache=False, regions=False)
        away = folders.with_name("moved-away")
        folders.rename(away)  # the images are gone: only the vectors are left
        try:
            assert main(["compare", "--embeddings", str(stores["a"]), str(stores["b"]), "--out",
                         str(tmp_path / "report"), "-q", "--no-cache", "--no-library"]) == 0
            blind = compare_stores(stores["a"], stores["b"], host=host, use_cache=False)
        finally:
            away.rename(folders)
    assert_same_findings(blind, no_regions)
    assert NO_PIXELS in blind.warnings and not blind.heatmaps
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    assert NO_PIXELS in report["warnings"]
    assert (tmp_path / "report" / "report.html").exists()


def test_stores_that_kept_the_pixels_give_every_finding_of_the_folders_without_the_images(pair, tmp_path):
    """With --keep-pixels the region stage, re-planting and heat maps read the stores' copies: the comparison of
    the stores with the images gone is the whole comparison of the folders (the images are smaller than the
    copies' side, so the copies are the images' pixels)."""
    folders, _ = pair
    stores = {}
    for s in "ab":
        stores[s] = tmp_path / f"store_{s}"
        assert main(["embed", str(folders / f"set_{s}"), "--out", str(stores[s]), "--model", "toy-shapes",
                     "--ray", "none", "--shard-size", "10", "--keep-pixels", "-q"]) == 0
    assert read_store(stores["a"], "a").settings.keep_pixels == 256
    with spotdiff.ModelHost() as host:
        direct = spotdiff.compare(folders / "set_a", folders / "set_b", model="toy-shapes", host=host,
                                  use_cache=False)
        away = folders.with_name("moved-away")
        folders.rename(away)
        try:
            blind = compare_stores(stores["a"], stores["b"], host=host, use_cache=False)
            assert main(["compare", "--embeddings", str(stores["a"]), str(stores["b"]), "--out",
                         str(tmp_path / "report"), "-q", "--no-cache", "--no-library"]) == 0
        finally:
            away.rename(folders)
    assert "analyse: regions" in blind.timings  # the stage that reads pixels ran
    assert_same_findings(blind, direct)
    nesting = [(f.statement, f.side_effect_of, f.aliased_with, f.replanted) for f in direct.findings]
    assert any(replanted for *_, replanted in nesting)  # causes were re-planted into A's held-out images ...
    assert [(f.statement, f.side_effect_of, f.aliased_with, f.replanted) for f in blind.findings] == nesting  # alike
    assert NO_PIXELS not in blind.warnings and any("copies the stores kept" in w for w in blind.warnings)
    assert blind.heatmaps.keys() == direct.heatmaps.keys()
    copies = {r.stored_copy for r in blind.set_a.images + blind.set_b.images}
    assert None not in copies and all(c.parent.name == "store-copies" for c in copies)
    report = (tmp_path / "report" / "report.html").read_text()
    assert "data:image/jpeg;base64" in report  # exemplar pictures, from the copies


def test_more_images_than_a_comparison_analyses_are_drawn_alike_from_folders_and_stores(pair):
    """max_images draws the same rows from a scan and from a store (which then reads only those)."""
    folders, stores = pair
    with spotdiff.ModelHost() as host:
        direct = spotdiff.compare(folders / "set_a", folders / "set_b", model="toy-shapes", host=host,
                                  use_cache=False, regions=False, max_images=16)
        stored = compare_stores(stores["a"], stores["b"], host=host, use_cache=False, regions=False, max_images=16)
    for s in ("set_a", "set_b"):
        drawn, read = getattr(direct, s), getattr(stored, s)
        assert (len(drawn), drawn.n_found, len(read), read.n_found) == (16, N, 16, N)
        assert read.images == drawn.images
    assert direct.set_a.images != direct.set_b.images[:16]
    assert_same_findings(stored, direct)
    assert direct.settings["n_heldout"]["a"] + direct.settings["n_discovery"]["a"] == 16
    assert any(w.startswith(f"Set A holds {N} images; 16 of them, drawn at random") for w in stored.warnings)
    _exemplars_are_the_best_of_what_discovery_did_not_see(stored, stores)
    everything = spotdiff.compare(folders / "set_a", folders / "set_b", model="toy-shapes", use_cache=False,
                                  regions=False, max_images=0)
    assert len(everything.set_a) == N and everything.set_a.n_found is None


def _exemplars_are_the_best_of_what_discovery_did_not_see(result, stores):
    """Each supported claim's exemplars (model or measurements) are the images scoring highest on it (claimed set)
    or lowest (the other) among the draw's held-out images and the images the draw left out."""
    split = Split.make(len(result.set_a), len(result.set_b), seed=0, heldout_fraction=0.5)
    checked = 0
    for f in result.supported:
        if f.hypothesis.space not in ("toy-shapes", "measurements"):
            continue
        for label, heldout in (("a", split.heldout_a), ("b", split.heldout_b)):
            whole = read_store(stores[label], label, max_images=0)
            vectors = whole.M if f.hypothesis.space == "measurements" else whole.X
            drawn = draw_rows(N, 16, 0, label)
            unseen = np.r_[drawn[heldout], np.setdiff1d(np.arange(N), drawn)]
            sign = 1.0 if f.hypothesis.more_in == label else -1.0
            scores = sign * (vectors[unseen].astype(np.float64) @ f.hypothesis.vector)
            best = [whole.image_set.images[i].path for i in unseen[np.argsort(-scores)[:len(unseen)]]]
            shown = [r.path for r in getattr(f, f"exemplars_{label}")]
            assert shown == best[:len(shown)] and len(shown) == min(6, len(unseen))
            checked += any(p not in {r.path for r in getattr(result, f"set_{label}").images} for p in shown)
    assert checked  # some exemplar is an image the draw left out


def test_a_draw_reads_the_kept_copies_of_its_rows_only_from_the_row_groups_that_hold_them(pair, tmp_path,
                                                                                         monkeypatch):
    """Shards are written in row groups of ROW_GROUP_ROWS rows; with the images gone, a draw's copies are read from
    the groups that hold drawn rows (and of them the drawn rows only), an exemplar's from its group; a store of one
    group per shard (as written before) gives the same copies."""
    folders, _ = pair
    images = tmp_path / "images"
    shutil.copytree(folders / "set_a", images)
    stores = {}
    for layout, group_rows in (("groups", 3), ("one group", None)):  # None: pq.write_table's default, as before
        monkeypatch.setattr(store_module, "ROW_GROUP_ROWS", group_rows)
        stores[layout] = tmp_path / layout
        run(embed_steps(EmbedRequest(sources=(images,), out=stores[layout], model="toy-shapes", ray="none",
                                     shard_size=10, keep_pixels=64)))  # shards of 10, 10 and 4 files
    assert [pq.ParquetFile(p).metadata.num_row_groups for p in sorted((stores["groups"] / "shards").iterdir())] \
        == [4, 4, 2]
    assert [pq.ParquetFile(p).metadata.num_row_groups for p in sorted((stores["one group"] / "shards").iterdir())] \
        == [1, 1, 1]
    shutil.rmtree(images)
    pixels = {r["content_hash"]: r["pixels"] for r in iter_store_rows(stores["groups"])}
    assert len(pixels) == N and None not in pixels.values()
    assert pixels == {r["content_hash"]: r["pixels"] for r in iter_store_rows(stores["one group"])}

    groups_read = []
    read_row_groups = pq.ParquetFile.read_row_groups

    def counted(self, row_groups, *args, **kwargs):
        groups_read.append(list(row_groups))
        return read_row_groups(self, row_groups, *args, **kwargs)

    monkeypatch.setattr(pq.ParquetFile, "read_row_groups", counted)
    drawn = draw_rows(N, 5, 0, "a")
    needed = {(i // 10, i % 10 // 3) for i in drawn}  # (shard, group) of each drawn row: no file was skipped
    shards = sorted({k for k, _ in needed})
    for layout, wanted in (("groups", [sorted(g for j, g in needed if j == k) for k in shards]),
                           ("one group", [[0] for _ in shards])):
        groups_read.clear()
        stored = read_store(stores[layout], "a", max_images=5)
        assert [r.path.name for r in stored.image_set.images] == [_files(folders / "set_a")[i].name for i in drawn]
        assert stored.places.tolist() == [[i // 10, i % 10] for i in drawn]
        copied = with_kept_copies(stored, tmp_path / f"copies of {layout}")
        assert groups_read == wanted and sum(map(len, wanted)) < 10  # of the 4 + 4 + 2 groups (or 3)
        assert [r.content_hash for r in copied.image_set.images] == [r.content_hash for r in stored.image_set.images]
        assert [r.stored_copy.read_bytes() for r in copied.image_set.images] == \
            [pixels[r.content_hash] for r in stored.image_set.images]
        assert len(list((tmp_path / f"copies of {layout}").iterdir())) == 5  # the drawn images' copies only

        groups_read.clear()
        whole = read_store(stores[layout], "a")
        found = rows_at(stored, [(1, 7), (0, 2)], tmp_path / f"exemplars of {layout}")  # images 17 and 2
        assert groups_read == ([[0], [2]] if layout == "groups" else [[0], [0]]) * 2  # vectors, then pixels
        for (k, row), i in (((1, 7), 17), ((0, 2), 2)):
            record, x, m = found[k, row]
            assert record.content_hash == whole.image_set.images[i].content_hash
            assert record.stored_copy.read_bytes() == pixels[record.content_hash]
            np.testing.assert_array_equal(x, whole.X[i])
            np.testing.assert_array_equal(m, whole.M[i])


def _files(root: Path) -> list[Path]:
    return sorted(root.glob("*.png"))


def test_unusable_files_in_a_manifest_are_listed_with_their_reasons(pair, tmp_path):
    folders, _ = pair
    good = _files(folders / "set_a")[:9]
    bad = {tmp_path / "empty.png": b"", tmp_path / "text.png": b"not an image at all",
           tmp_path / "truncated.png": good[0].read_bytes()[:200]}
    for path, data in bad.items():
        path.write_bytes(data)
    gone = tmp_path / "never-was.png"
    manifest = tmp_path / "manifest.csv"
    with open(manifest, "w", newline="") as fp:
        writer = csv.DictWriter(fp, fieldnames=["label", "path"])
        writer.writeheader()
        writer.writerows({"label": "x", "path": str(p)} for p in [*good, *bad, gone])
    summary = run(embed_steps(EmbedRequest(sources=(manifest,), out=tmp_path / "store", model="toy-shapes",
                                           ray="none", shard_size=5)))
    reasons = {f.path.name: f.reason for f in summary.skipped}
    assert summary.n_files == 13 and summary.n_images == 9 and summary.n_embedded == 9
    assert reasons["empty.png"] == "empty file (0 bytes)"
    assert reasons["never-was.png"].startswith("cannot open file")
    assert set(reasons) == {"empty.png", "text.png", "truncated.png", "never-was.png"}
    stored = read_store(tmp_path / "store", "a")
    assert len(stored.image_set.images) == 9 and {f.path.name for f in stored.image_set.skipped} == set(reasons)


def test_an_interrupted_run_continues_and_embeds_nothing_it_had_finished(pair, tmp_path):
    folders, _ = pair
    request = EmbedRequest(sources=(folders / "set_b",), out=tmp_path / "store", model="toy-shapes", ray="none",
                           shard_size=5)  # 5 shards
    work = embed_steps(request)
    for progress in work:
        if progress.stage == "embed" and progress.done >= 10:
            break
    work.close()  # as Ctrl-C does; a SIGKILL is tested with Ray (test_cluster_ray.py)
    first = [json.loads(line) for line in (tmp_path / "store" / LOG).read_text().splitlines()]
    assert len(first) == 2 and sum(e["n_embedded"] for e in first) == 10
    with pytest.raises(StoreError, match="unfinished: 2 of 5 shards"):
        read_store(tmp_path / "store", "b")
    with open(tmp_path / "store" / LOG, "a") as fp:  # what a kill in the middle of a line leaves
        fp.write('{"index": 4, "digest": "')
    summary = run(embed_steps(request))
    assert (summary.n_shards_before, summary.n_shards_done, summary.n_embedded) == (2, 3, N - 10)
    manifest = json.loads((tmp_path / "store" / "store.json").read_text())
    assert [r["n_embedded"] for r in manifest["runs"]] == [10, N - 10]
    again = run(embed_steps(request))
    assert (again.n_shards_done, again.n_embedded, again.n_images) == (0, 0, N)
    stored, whole = read_store(tmp_path / "store", "b"), read_store(pair[1]["b"], "b")
    assert stored.image_set.images == whole.image_set.images
    assert_same_vectors(stored.X, whole.X)


def test_lists_of_paths_give_the_files_a_folder_gives(pair, tmp_path):
    folders, _ = pair
    files = _files(folders / "set_a")
    (tmp_path / "list.txt").write_text("# the first half, relative to this file\n\n" + "\n".join(
        os.path.relpath(p, tmp_path) for p in files[:12]) + "\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "list.txt").write_text("\n".join(str(p) for p in files[:12]))  # same files, again
    pq.write_table(pa.table({"path": [str(p) for p in files[12:][::-1]], "n": list(range(12))}),
                   tmp_path / "rest.parquet")
    listed, _ = run(list_inputs([tmp_path / "list.txt", tmp_path / "sub" / "list.txt", tmp_path / "rest.parquet"]))
    folder, _ = run(list_inputs([folders / "set_a"]))
    assert listed == folder == files


def test_a_manifest_without_a_path_column_is_refused_with_what_it_has(tmp_path):
    (tmp_path / "m.csv").write_text("file,label\na.png,x\n")
    with pytest.raises(ImageListError, match="no 'path' column \\(header: file, label\\)"):
        run(list_inputs([tmp_path / "m.csv"]))
    pq.write_table(pa.table({"file": ["a.png"]}), tmp_path / "m.parquet")
    with pytest.raises(ImageListError, match="columns: file"):
        run(list_inputs([tmp_path / "m.parquet"]))


def test_a_store_is_not_written_over_another_folder_nor_continued_with_other_settings(pair, tmp_path):
    folders, stores = pair
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(StoreError, match="holds other files"):
        run(embed_steps(EmbedRequest(sources=(folders / "set_a",), out=tmp_path / "mine", model="toy-shapes",
                                     ray="none")))
    assert [p.name for p in (tmp_path / "mine").iterdir()] == ["notes.txt"]
    copy = tmp_path / "copy"
    shutil.copytree(stores["a"], copy)
    with pytest.raises(StoreError, match=r"shard_size 10 \(this run: 7\)"):
        run(embed_steps(EmbedRequest(sources=(folders / "set_a",), out=copy, model="toy-shapes", ray="none",
                                     shard_size=7)))
    with pytest.raises(StoreError, match="was embedded with model 'toy-shapes', not 'measurements'"):
        compare_stores(stores["a"], stores["b"], model="measurements")
    with pytest.raises(StoreError, match="does not exist"):
        read_store(tmp_path / "nowhere", "a")


def test_frames_and_acquisition_tags_are_kept_as_a_scan_reads_them(user, tmp_path):
    """DICOM files with acquisition tags, and a multi-frame file read frame by frame: the store's records are the
    scan's (frames, item keys of the content hashes, tags), and its vectors the measurement embedder's."""
    folder = tmp_path / "dicom"
    write_dicom_set(folder, 6, tags={"Manufacturer": "ACME", "StationName": "CT-7"}, share=0.5)
    shutil.copy(get_testdata_file("rtdose.dcm"), folder / "rtdose.dcm")  # 15 frames
    options = ReadOptions(frames="all")
    summary = run(embed_steps(EmbedRequest(sources=(folder,), out=tmp_path / "store", model="measurements",
                                           ray="none", shard_size=4, read_options=options)))
    scanned = run(scan_image_set(folder, "a", read_options=options))
    stored = read_store(tmp_path / "store", "a")
    assert summary.n_files == 7 and summary.n_images == len(scanned.images) == 6 + 15
    assert stored.image_set.images == scanned.images
    assert sum(dict(r.metadata).get("Manufacturer") == "ACME" for r in stored.image_set.images) == 3
    assert [r.frame for r in stored.image_set.images if r.path.name == "rtdose.dcm"] == list(range(15))
    np.testing.assert_array_equal(stored.X, run(embed_images(open_embedder("measurements"), scanned.images, None)))
    with pytest.raises(StoreError, match="frames"):  # a comparison cannot mix two ways of reading
        run(embed_steps(EmbedRequest(sources=(folder,), out=tmp_path / "store", model="measurements", ray="none",
                                     shard_size=4)))
