"""The images a draw leaves out, indexed for exemplars: exact for few, 4-bit codes for many."""

import numpy as np

from spotdiff.cluster.rest import EXACT_UP_TO, RERANK, LeftOut


def _filled(n: int, dim: int, planted: np.ndarray, u: np.ndarray) -> LeftOut:
    rng = np.random.default_rng(0)
    left = LeftOut(dim, 3, n)
    for shard, start in enumerate(range(0, n, 10_000)):  # shard by shard, as a store is read
        rows = np.arange(start, min(start + 10_000, n))
        X = rng.standard_normal((len(rows), dim)).astype(np.float32)
        X[np.isin(rows, planted)] += 20 * u  # the images that show the claim most (cosine ~0.96 with it)
        X /= np.linalg.norm(X, axis=1, keepdims=True)  # unit vectors, as CLIP models give
        left.add(X, rng.standard_normal((len(rows), 3)).astype(np.float32), shard, rows - start)
    return left.finish()


def test_many_left_out_images_are_searched_approximately_and_the_best_are_among_the_candidates():
    dim, n = 32, EXACT_UP_TO + 10_000
    u = np.zeros(dim, np.float32)
    u[0] = 1
    planted = np.array([7, 12_345, 33_333, 51_000, 59_999])
    left = _filled(n, dim, planted, u)
    assert left.approximate and left.n == n
    hits = left.top(u, len(planted))
    assert len(hits) == RERANK * len(planted)
    found = {h.shard * 10_000 + h.row for h in hits}
    assert set(planted.tolist()) <= found


def test_few_left_out_images_are_searched_exactly_with_their_measurements():
    dim = 16
    u = np.zeros(dim, np.float32)
    u[3] = 1
    left = _filled(500, dim, np.array([42, 420]), u)
    assert not left.approximate
    hits = left.top(u, 2)
    assert sorted(h.row for h in hits) == [42, 420] and hits[0].score >= hits[1].score
    by_measurement = left.top(np.array([0.0, 0.0, 1.0]), 3, measurements=True)
    assert len(by_measurement) == 3 and by_measurement[0].score >= by_measurement[-1].score
