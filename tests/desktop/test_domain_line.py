"""Out of toy-shapes' domain (real photographs), the result view says so in one line above the findings."""

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from spotdiff.progress import run
from spotdiff.synthetic.synth import synth


def real_photos(folder: Path, n: int) -> Path:
    """``n`` different crops of scikit-image's and scikit-learn's sample photographs."""
    skimage_data = pytest.importorskip("skimage.data")
    from sklearn.datasets import load_sample_images

    photos = [skimage_data.astronaut(), skimage_data.coffee(), skimage_data.rocket(), skimage_data.retina(),
              skimage_data.immunohistochemistry(), *load_sample_images().images]
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    for i in range(n):
        photo = photos[i % len(photos)]
        h, w = photo.shape[:2]
        side = int(rng.integers(min(h, w) // 3, min(h, w) + 1))
        y, x = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
        Image.fromarray(photo[y:y + side, x:x + side]).resize((128, 128)).save(folder / f"photo_{i:03d}.jpg")
    return folder


@pytest.mark.slow
def test_the_result_view_says_when_the_images_are_out_of_the_models_domain(ui, window, tmp_path):
    pair = run(synth(tmp_path / "pair", plants=[("darker", 0.6)], source=real_photos(tmp_path / "photos", 80),
                     n_per_set=40, seed=0, image_size=128))
    assert window.picker.set_current("toy-shapes")
    ui.load_sets(pair / "set_a", pair / "set_b")
    assert not window.results.domain.isVisibleTo(window)
    assert ui.run(timeout=180000) == "succeeded"
    line = window.results.domain
    assert line.isVisibleTo(window)
    assert line.text() == window.result.domain.message == (
        "toy-shapes was trained on procedural scenes; its words about these images are not reliable — "
        "the measurement findings are.")
    assert not [f for f in window.results.findings.findings if f.hypothesis.space == "toy-shapes"]
    window.results.set_result(replace(window.result, domain=None))  # a model without a domain reference
    assert not line.isVisibleTo(window)
