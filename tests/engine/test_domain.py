"""A model that knows its domain: toy-shapes' check fires on real photographs and not on its own world."""

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from spotdiff.analysis.domain import FEATURES, DomainReference, check_domain, reference_of
from spotdiff.errors import ModelLoadError
from spotdiff.models.host import ModelHost
from spotdiff.io.images import scan_image_set
from spotdiff.models.registry import file_sha256, get_model_spec, list_models, locate_weights, weights_file
from spotdiff.pipeline import CompareRequest, compare_steps
from spotdiff.progress import run
from spotdiff.synthetic.synth import synth

N_PER_SET = 40


def real_photos(folder: Path, n: int, seed: int = 0) -> Path:
    """``n`` different photographs: random crops of scikit-image's and scikit-learn's sample photos, and faces."""
    skimage_data = pytest.importorskip("skimage.data")
    from sklearn.datasets import load_sample_images

    photos = [skimage_data.astronaut(), skimage_data.coffee(), skimage_data.chelsea(), skimage_data.rocket(),
              skimage_data.immunohistochemistry(), skimage_data.hubble_deep_field(), skimage_data.retina(),
              *load_sample_images().images]
    faces = skimage_data.lfw_subset()
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        if i % 5 == 4:  # a face, 25 px grey, shown at 100 px
            image = Image.fromarray((faces[rng.integers(len(faces))] * 255).astype(np.uint8)).resize((100, 100))
        else:
            photo = photos[i % len(photos)]
            h, w = photo.shape[:2]
            side = int(rng.integers(min(h, w) // 3, min(h, w) + 1))
            y, x = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
            image = Image.fromarray(photo[y:y + side, x:x + side]).resize((160, 160), Image.Resampling.BICUBIC)
        image.convert("RGB").save(folder / f"photo_{i:03d}.jpg", quality=92)
    return folder


@pytest.fixture(scope="module")
def sets(tmp_path_factory):
    """Real photos (two draws), and a procedural world pair with small rectangles in every image of B."""
    root = tmp_path_factory.mktemp("domain")
    photos = {"a": real_photos(root / "photos_a", N_PER_SET, seed=1),
              "b": real_photos(root / "photos_b", N_PER_SET, seed=2)}
    world = run(synth(root / "world", plants=[("rectangles", 0.5)], n_per_set=N_PER_SET, seed=3, image_size=128))
    return photos, {"a": world / "set_a", "b": world / "set_b"}


def _embed(folder: Path, host: ModelHost) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    images = run(scan_image_set(folder, "a", min_images=1)).images
    measurements = host.embedder("measurements")
    return (run(host.embedder("toy-shapes").embed(images)), run(measurements.embed(images)),
            measurements.feature_names)


@pytest.fixture(scope="module")
def embedded(sets):
    """(kind, set) -> toy-shapes embeddings, measurements and their names, of the photos and the world."""
    host = ModelHost()
    try:
        return {(kind, label): _embed(folder, host)
                for kind, folders in zip(("photos", "world"), sets) for label, folder in folders.items()}
    finally:
        host.close()


def test_toy_shapes_names_its_world_as_reference_and_it_fits_the_shipped_weights():
    spec = get_model_spec("toy-shapes")
    assert spec.domain["description"] == "procedural scenes"
    reference = reference_of(spec)
    assert reference.features == FEATURES and reference.coef.shape == (len(FEATURES), 128)
    assert reference.weights_sha256 == spec.sha256 == file_sha256(weights_file(spec, locate_weights(spec)))
    assert 0.5 < reference.threshold < 5
    # the real CLIPs (trained on the web's photographs) are not checked
    assert [s.name for s in list_models() if s.domain] == ["toy-shapes"]


@pytest.mark.slow
def test_the_check_fires_on_real_photos_and_not_on_the_world(embedded):
    reference = reference_of(get_model_spec("toy-shapes"))
    out = {key: reference.disagreement(*value) for key, value in embedded.items()}
    for label in "ab":
        world, photos = np.median(out["world", label]), np.median(out["photos", label])
        assert world < 0.6 * reference.threshold, (label, world)
        assert photos > 1.3 * reference.threshold, (label, photos)
        # image by image too: most photos, and almost no scene, beyond the threshold
        assert np.mean(out["photos", label] > reference.threshold) > 0.7
        assert np.mean(out["world", label] > reference.threshold) < 0.1


@pytest.mark.slow
def test_check_domain_says_which_set_is_out_and_in_one_line(embedded):
    spec = get_model_spec("toy-shapes")
    # set A from the world, set B real photos; every other image is a discovery image
    (Xa, Ma, names), (Xb, Mb, _) = embedded["world", "a"], embedded["photos", "b"]
    n = N_PER_SET
    discovery = np.arange(n) % 2 == 0
    check, warnings = check_domain(spec, spec.sha256, np.vstack([Xa, Xb]), np.vstack([Ma, Mb]), names,
                                   discovery, discovery)
    assert warnings == [] and (check.n_a, check.n_b) == (n // 2, n // 2)
    assert check.sets_out == ("b",) and not check.in_domain
    assert check.message == ("toy-shapes was trained on procedural scenes; its words about set B's images are not "
                             "reliable — the measurement findings are.")
    both = replace(check, score_a=check.score_b)
    assert "its words about these images are not reliable" in both.message
    inside = replace(check, score_b=check.score_a)
    assert inside.in_domain and inside.message is None and inside.to_json()["sets_out"] == []
    # other weights than the reference's: not checked, and said
    none, warnings = check_domain(spec, "0" * 64, np.vstack([Xa, Xb]), np.vstack([Ma, Mb]), names,
                                  discovery, discovery)
    assert none is None and "made with other weights" in warnings[0]


def test_a_domain_entry_is_validated_and_a_broken_reference_says_how_to_rebuild(tmp_path, monkeypatch):
    spec = json.loads(get_model_spec("toy-shapes").source_path.read_text())
    folder = tmp_path / "registry"
    folder.mkdir()
    (folder / "toy-shapes.json").write_text(json.dumps({**spec, "domain": {"reference": "../x.json"}}))
    monkeypatch.setenv("SPOTDIFF_REGISTRY", str(folder))
    with pytest.raises(ModelLoadError, match="'domain' must be"):
        get_model_spec("toy-shapes")
    broken = tmp_path / "broken.json"
    broken.write_text('{"model": "toy-shapes"}')
    with pytest.raises(ModelLoadError, match="build_domain_reference"):
        DomainReference.load(broken)


def _photo_pair(root: Path, darker: float) -> Path:
    """Real photos split into A and B, every image of B darkened (spotdiff.synthetic.synth with a source folder)."""
    source = real_photos(root / "source", 2 * N_PER_SET, seed=5)
    return run(synth(root / "pair", plants=[("darker", darker)], source=source, n_per_set=N_PER_SET, seed=0,
                     image_size=160))


@pytest.mark.slow
def test_out_of_domain_photos_get_no_toy_shapes_phrase_but_keep_the_measurement_finding(tmp_path, capsys):
    from spotdiff.apps.console import print_summary, write_reports

    pair = _photo_pair(tmp_path, darker=0.6)
    request = CompareRequest(set_a=(pair / "set_a",), set_b=(pair / "set_b",), model="toy-shapes", seed=0,
                             n_permutations=50, n_exemplars=2)
    result = run(compare_steps(request))
    assert result.domain is not None and not result.domain.in_domain
    assert result.domain.score_a > result.domain.threshold and result.domain.score_b > result.domain.threshold
    assert not [f for f in result.findings if f.hypothesis.space == "toy-shapes"]
    assert result.supported and all(f.hypothesis.space in ("measurements", "regions") for f in result.supported)
    # pixels the darkening changed can be region claims; they are its echoes, nested under it by re-planting it
    assert all(not f.independent and f.explained_by for f in result.supported if f.hypothesis.space == "regions")
    darker = [f for f in result.supported if f.more_in == "b" and f.statement in ("darker", "more under-exposed")]
    assert darker, [(f.statement, f.more_in) for f in result.supported]
    message = result.domain.message
    assert message.startswith("toy-shapes was trained on procedural scenes; its words about these images")

    write_reports(result, tmp_path / "report")
    document = json.loads((tmp_path / "report" / "report.json").read_text(encoding="utf-8"))
    assert document["domain"]["in_domain"] is False and document["domain"]["message"] == message
    assert document["domain"]["sets_out"] == ["a", "b"]
    html = (tmp_path / "report" / "report.html").read_text(encoding="utf-8")
    assert message.replace("'", "&#x27;") in html
    print_summary(result, tmp_path / "report")
    assert message in capsys.readouterr().out.splitlines()
    # compared without measurements, the check measures the images itself: the same verdict, and no phrase
    alone = run(compare_steps(replace(request, measurements=False)))
    assert alone.domain == result.domain
    assert not [f for f in alone.findings if f.hypothesis.space != "regions"]  # the region stage reads pixels only


@pytest.mark.slow
def test_a_world_pair_is_in_domain_and_unchanged_by_the_check(sets, tmp_path, monkeypatch):
    _, world = sets
    request = CompareRequest(set_a=(world["a"],), set_b=(world["b"],), model="toy-shapes", seed=0,
                             n_permutations=50, n_exemplars=2, cache_dir=tmp_path / "cache")
    checked = run(compare_steps(request))
    assert checked.domain is not None and checked.domain.in_domain and checked.domain.message is None
    assert any(f.statement == "small rectangles" for f in checked.supported)
    monkeypatch.setattr("spotdiff.analysis.domain.reference_of", lambda spec: None)
    unchecked = run(compare_steps(request))
    assert unchecked.domain is None

    def summary(r):
        return [(f.statement, f.more_in, f.hypothesis.space, f.supported, round(f.q_value, 6)) for f in r.findings]

    assert summary(checked) == summary(unchecked)
