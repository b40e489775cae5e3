"""Comparing two sets embedded beforehand (spotdiff embed) from the desktop app, with the images gone."""

import pytest

pytest.importorskip("pyarrow", reason="needs pyarrow, of the optional extra [cluster] (scripts/install.sh --test)")

from PySide6.QtCore import Qt  # noqa: E402

from spotdiff.cluster import EmbedRequest, embed_steps  # noqa: E402
from spotdiff.pipeline import NO_PIXELS  # noqa: E402
from spotdiff.progress import run  # noqa: E402


def test_two_stores_are_compared_with_their_images_gone(ui, window, qtbot, small_pair, tmp_path):
    stores = {}
    for s in "ab":
        stores[s] = tmp_path / f"store_{s}"
        run(embed_steps(EmbedRequest(sources=(small_pair / f"set_{s}",), out=stores[s], model="measurements",
                                     ray="none")))
    away = small_pair.with_name(small_pair.name + "-away")
    small_pair.rename(away)  # only the vectors are left
    try:
        with qtbot.waitSignal(window.run_ended, timeout=60000) as blocker:
            window.compare_embedded(stores["a"], stores["b"])
        assert blocker.args[0] == "succeeded"
        qtbot.waitUntil(lambda: window.results.shown_result is window.result, timeout=5000)
    finally:
        away.rename(small_pair)
    result = window.result
    assert result.settings["model"] == "measurements"
    assert any(f.statement == "blurrier" and f.more_in == "b" for f in result.supported)
    assert NO_PIXELS in result.warnings
    assert window.sets["a"].grid.model().rowCount() == 20 and window.sets["b"].grid.model().rowCount() == 20
    assert window.results.table.model().rowCount() == len(result.findings)


def test_stores_that_kept_the_pixels_picture_the_images_from_their_copies(window, qtbot, small_pair, tmp_path):
    stores = {}
    for s in "ab":
        stores[s] = tmp_path / f"store_{s}"
        run(embed_steps(EmbedRequest(sources=(small_pair / f"set_{s}",), out=stores[s], model="measurements",
                                     ray="none", keep_pixels=48)))
    away = small_pair.with_name(small_pair.name + "-away")
    small_pair.rename(away)
    try:
        with qtbot.waitSignal(window.run_ended, timeout=60000) as blocker:
            window.compare_embedded(stores["a"], stores["b"])
        assert blocker.args[0] == "succeeded"
        assert NO_PIXELS not in window.result.warnings
        grid = window.sets["b"].grid.model()
        first = window.result.set_b.images[0]
        assert not first.path.exists() and first.stored_copy.exists()
        grid.data(grid.index(0), Qt.ItemDataRole.DecorationRole)  # asks for the thumbnail
        qtbot.waitUntil(lambda: grid.loader.image(first.stored_copy) is not None, timeout=10000)
        assert not grid.loader.image(first.stored_copy).isNull() and not grid.loader.reason(first.stored_copy)
        viewer = window.open_image(str(first.path))  # full size: the copy, as the file is gone
        qtbot.waitUntil(lambda: not viewer.image.isNull(), timeout=10000)
        assert max(viewer.image.width(), viewer.image.height()) == 48  # the images are larger
    finally:
        away.rename(small_pair)


def test_a_folder_that_is_no_store_is_refused_with_what_it_is(window, qtbot, small_pair):
    shown = []
    window._show = shown.append  # the error dialog the run would open
    with qtbot.waitSignal(window.run_ended, timeout=30000) as blocker:
        window.compare_embedded(small_pair / "set_a", small_pair / "set_b")
    assert blocker.args[0] == "failed" and len(shown) == 1
    assert window.stage.text() == "stopped: StoreError"
