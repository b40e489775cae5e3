"""spotdiff embed on a real local Ray cluster (started by the test with ``ray.init(num_cpus=2)``): the stores give
the in-process comparison's findings with the images gone, and a driver killed with SIGKILL is continued without
embedding again what it had finished."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

ray = pytest.importorskip("ray", reason="needs ray, of the optional extra [cluster]: scripts/install.sh --test")

import spotdiff  # noqa: E402
from spotdiff.cluster import EmbedRequest, compare_stores, embed_steps, read_store  # noqa: E402
from spotdiff.cluster.store import LOG, iter_store_rows  # noqa: E402
from spotdiff.pipeline import NO_PIXELS  # noqa: E402
from spotdiff.progress import run  # noqa: E402
from spotdiff.synthetic.synth import synth  # noqa: E402
from same_findings import assert_same_findings, supported_claims  # noqa: E402
from user_folders import use_user_folders  # noqa: E402

pytestmark = pytest.mark.slow
N = 200


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A local Ray cluster of 2 CPUs for the module, and a user folder (cache, models) its workers share."""
    with pytest.MonkeyPatch.context() as mp:
        use_user_folders(mp, tmp_path_factory.mktemp("ray-user"))
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)  # workers inherit this environment
        try:
            yield ray.get_runtime_context().gcs_address
        finally:
            ray.shutdown()


@pytest.fixture(scope="module")
def pair(cluster, tmp_path_factory):
    root = tmp_path_factory.mktemp("ray-pair")
    run(synth(root / "pair", plants=["rectangles:0.6"], n_per_set=N, seed=3))
    return root / "pair"


def test_stores_embedded_on_ray_give_the_in_process_findings_without_the_images(cluster, pair, tmp_path):
    """The stores keep a copy of the pixels (--keep-pixels), so the region stage, re-planting and heat maps run
    with the images gone: the stores' findings are the whole in-process comparison's, explained away alike
    (test_cluster_store.py checks stores without copies: then the steps that read pixels are left out)."""
    with spotdiff.ModelHost() as host:
        direct = spotdiff.compare(pair / "set_a", pair / "set_b", model="toy-shapes", host=host, use_cache=False)
    # set A from a CSV manifest that also names a corrupt file, set B from its folder
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes((pair / "set_a" / "0000.png").read_bytes()[:300])
    manifest = tmp_path / "a.csv"
    manifest.write_text("path\n" + "\n".join(str(p) for p in [*sorted((pair / "set_a").glob("*.png")), corrupt]))
    stores = {}
    for s, source in (("a", manifest), ("b", pair / "set_b")):
        stores[s] = tmp_path / f"store_{s}"
        summary = run(embed_steps(EmbedRequest(sources=(source,), out=stores[s], model="toy-shapes",
                                               shard_size=25, keep_pixels=256)))  # ray="auto": this test's
        assert summary.executor.startswith("ray ") and "2 actor(s)" in summary.executor
        assert (summary.n_images, summary.n_embedded) == (N, N)
        assert [(f.path, f.reason.split(":")[0]) for f in summary.skipped] == \
               ([(corrupt, "truncated or corrupt image data")] if s == "a" else [])
        workers = {r["worker"] for r in iter_store_rows(stores[s])}
        assert len(workers) == 2 and all(w.split(":")[1] != str(os.getpid()) for w in workers)  # two actors

    away = pair.with_name("moved-away")
    pair.rename(away)
    try:
        with spotdiff.ModelHost() as host:
            stored = compare_stores(stores["a"], stores["b"], host=host, use_cache=False)
    finally:
        away.rename(pair)
    assert any("rectangles" in s for _, s, _ in supported_claims(direct))
    assert_same_findings(stored, direct)
    assert [(f.statement, f.side_effect_of, f.aliased_with, f.replanted) for f in stored.findings] == \
           [(f.statement, f.side_effect_of, f.aliased_with, f.replanted) for f in direct.findings]
    assert NO_PIXELS not in stored.warnings and any("copies the stores kept" in w for w in stored.warnings)
    assert "analyse: regions" in stored.timings and stored.heatmaps.keys() == direct.heatmaps.keys()


def test_a_driver_killed_with_sigkill_is_continued_without_embedding_again(cluster, pair, tmp_path):
    store = tmp_path / "store"
    command = [sys.executable, "-m", "spotdiff.apps.cli", "embed", str(pair / "set_a"), "--model", "toy-shapes",
               "--out", str(store), "--ray", cluster, "--shard-size", "10", "-q"]
    errors = tmp_path / "stderr.txt"
    with open(errors, "wb") as stderr:
        driver = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr)
    log = store / LOG
    deadline = time.monotonic() + 240
    while (not log.exists() or len(log.read_text().splitlines()) < 3) and driver.poll() is None:
        assert time.monotonic() < deadline, "the driver finished no shard in 240 s"
        time.sleep(0.05)
    driver.send_signal(signal.SIGKILL)
    driver.wait(30)
    assert driver.returncode == -signal.SIGKILL, errors.read_text()[-2000:]
    first = {e["index"]: e for e in map(json.loads, log.read_text().splitlines())}
    assert 3 <= len(first) < N // 10, "the kill came too late to leave work undone"
    n_first = sum(e["n_embedded"] for e in first.values())

    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    manifest = json.loads((store / "store.json").read_text())
    assert [r["n_embedded"] for r in manifest["runs"]] == [n_first, N - n_first]
    second = [e for e in map(json.loads, log.read_text().splitlines()) if e["run"] == 2]
    assert not {e["index"] for e in second} & set(first)  # nothing finished was embedded again
    assert sum(e["n_embedded"] for e in second) == N - n_first
    assert len(read_store(store, "a").image_set.images) == N
