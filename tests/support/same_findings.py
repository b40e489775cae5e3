"""What two comparisons of the same images must share, whichever way the images were embedded (in process, in
shards, on a Ray cluster): the supported claims, their held-out AUROCs and the separability of each space, up
to the rounding of bfloat16 matrix kernels (on a CPU with AMX, oneDNN blocks a batch differently by its size,
so one image embedded in a shard of 10 and in a batch of 64 can differ in the 4th significant digit)."""

from __future__ import annotations

import numpy as np

VECTOR_ATOL = 1e-3
AUROC_ATOL = 0.01


def supported_claims(result) -> list[tuple]:
    """(space, statement, more_in) of every supported finding, sorted."""
    return sorted((f.hypothesis.space, f.hypothesis.statement, f.more_in) for f in result.supported)


def assert_same_vectors(actual: np.ndarray, desired: np.ndarray):
    np.testing.assert_allclose(actual, desired, rtol=0, atol=VECTOR_ATOL)


def assert_same_findings(actual, desired):
    """The same supported claims with held-out AUROCs within AUROC_ATOL, and the same spaces' separability."""
    assert supported_claims(actual) == supported_claims(desired)
    key = lambda f: (f.hypothesis.space, f.hypothesis.statement)  # noqa: E731
    np.testing.assert_allclose([f.heldout_auroc for f in sorted(actual.supported, key=key)],
                               [f.heldout_auroc for f in sorted(desired.supported, key=key)], atol=AUROC_ATOL)
    assert [s.space for s in actual.separability] == [s.space for s in desired.separability]
    np.testing.assert_allclose([s.auroc for s in actual.separability], [s.auroc for s in desired.separability],
                               atol=AUROC_ATOL)
