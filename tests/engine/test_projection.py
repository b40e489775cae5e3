"""The 2D map of all embeddings of a comparison."""

import numpy as np
import pytest

from spotdiff.errors import InvalidParameterError
from spotdiff.pipeline import CompareRequest, compare_steps
from spotdiff.progress import run
from spotdiff.projection import embedding_map
from spotdiff.synthetic.synth import synth


def test_map_places_every_image_and_separates_a_planted_difference(tmp_path):
    run(synth(tmp_path, plants=[("blur", 0.8), ("warm", 0.8)], n_per_set=20, image_size=64))
    result = run(compare_steps(CompareRequest(set_a=(tmp_path / "set_a",), set_b=(tmp_path / "set_b",),
                                        model="measurements", n_permutations=50)))
    assert result.embeddings["measurements"].shape == (40, len(result.embeddings["measurements"][0]))
    m = embedding_map(result)
    assert m.space == "measurements" and m.xy.shape == (40, 2) and len(m) == 40
    assert m.images == result.set_a.images + result.set_b.images
    assert m.is_b.sum() == 20 and not m.is_b[:20].any()
    assert 0 < m.explained[1] <= m.explained[0] <= 1
    # the planted difference is the largest variation: one axis splits the sets
    gap = np.abs(m.xy[m.is_b].mean(0) - m.xy[~m.is_b].mean(0)) / m.xy.std(0)
    assert gap.max() > 1.0
    np.testing.assert_array_equal(embedding_map(result).xy, m.xy)  # deterministic, signs included
    with pytest.raises(InvalidParameterError, match="measurements"):
        embedding_map(result, "ViT-B-32")
