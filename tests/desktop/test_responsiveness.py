"""A run never blocks the GUI thread; Cancel stops it promptly; closing mid-run asks first."""

import sqlite3

from PySide6.QtCore import QElapsedTimer, QTimer

import spotdiff

def wait_for_embedding(qtbot, window, at_least=1):
    """Block (the test, not the GUI) until the run has embedded ``at_least`` images."""
    seen = []
    window.job.progressed.connect(lambda p: seen.append(p))
    qtbot.waitUntil(lambda: any(p.stage.startswith("embed") and p.done >= at_least for p in seen), timeout=30000)


def test_the_gui_thread_keeps_running_during_a_run(ui, window, qtbot, large_pair, capsys):
    ui.load_sets(large_pair / "set_a", large_pair / "set_b")
    gaps, clock = [], QElapsedTimer()
    ticker = QTimer()
    ticker.setInterval(10)

    def tick():
        gaps.append(clock.restart())

    ticker.timeout.connect(tick)
    stages = []
    clock.start()
    ticker.start()
    try:
        with qtbot.waitSignal(window.run_ended, timeout=60000) as ended:
            ui.click(window.run_button)
            window.job.progressed.connect(lambda _p: stages.append(window.stage.text()))
        assert ended.args == ["succeeded"]
        qtbot.wait(300)  # the result on screen, thumbnails arriving
    finally:
        ticker.stop()
    # the GUI thread kept running its event loop throughout: the work ran elsewhere. How long its gaps
    # are is a timing, measured by benchmarks/gui_responsiveness.py, not asserted here.
    assert len(gaps) > 10, "the timer never fired while the run went on: the GUI thread was blocked"
    assert max(gaps[1:]) < 0.5 * sum(gaps), "one gap took most of the run: the GUI thread was blocked"
    # the stage, its progress and the time left were on show while it ran
    assert any(t.startswith("embed measurements") and "left" in t for t in stages), stages


def test_cancel_stops_promptly_and_leaves_the_cache_consistent(ui, window, qtbot, large_pair, capsys):
    ui.load_sets(large_pair / "set_a", large_pair / "set_b")
    ui.click(window.run_button)
    wait_for_embedding(qtbot, window, at_least=64)  # one batch of 64 is in the cache
    assert window.cancel_button.isEnabled()
    with qtbot.waitSignal(window.run_ended, timeout=60000) as ended:  # how soon: benchmarks/gui_responsiveness.py
        ui.click(window.cancel_button)
    assert ended.args == ["cancelled"]
    assert window.result is None and window.progress.format() == "cancelled"
    assert window.run_button.isEnabled() and not window.cancel_button.isEnabled()

    cache = spotdiff.EmbeddingCache().path
    with sqlite3.connect(cache) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        kept = db.execute("SELECT COUNT(*) FROM vectors").fetchone()[0]
    assert 64 <= kept < 200 and kept % 64 == 0, kept  # whole batches only

    # a second run reads what the first one kept, and finishes
    messages = []
    ui.click(window.run_button)
    window.job.progressed.connect(lambda p: messages.append(p.message))
    qtbot.waitUntil(lambda: window.job is None, timeout=60000)
    assert window.result is not None
    assert any(f"{kept} cached" in m for m in messages), messages[:5]


def test_closing_during_a_run_asks_first(ui, window, qtbot, large_pair):
    ui.load_sets(large_pair / "set_a", large_pair / "set_b")
    asked = []
    window.confirm_close = lambda: asked.append(True) or False  # "No, keep running"
    ui.click(window.run_button)
    wait_for_embedding(qtbot, window)
    window.close()
    assert asked and window.isVisible() and window.running

    window.confirm_close = lambda: asked.append(True) or True  # "Yes, stop and close"
    with qtbot.waitSignal(window.run_ended, timeout=5000) as ended:
        window.close()
    assert ended.args == ["cancelled"] and len(asked) == 2
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=2000)
