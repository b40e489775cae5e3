"""Build a model's domain reference: how its embedding reads the images of its own world (spotdiff.analysis.domain).

    python benchmarks/build_domain_reference.py                  # engine/data/domains/toy-shapes.json, ~2 min
    python benchmarks/build_domain_reference.py --n 200 --out /tmp/ref.json     # a smoke run

It draws ``--n`` scenes of spotdiff.synthetic.world much as benchmarks/train_toy_clip.py does, but rendered at 24-640 px
(log-uniform; a quarter of them 4:3 or 3:4), since users and tests render the world at any size and the
measurements of texture and noise move with it; half of them carry one or two spotdiff.synthetic.edits at strength 0.2-1.0,
so that every planted edit of the benchmark is in the world. It embeds them with the model (fp32) and with the measurements, and fits, on unit embeddings, a ridge
read-out of the standardised measurements (spotdiff.analysis.domain.FEATURES). The residuals of a 5-fold cross-validated
fit give the Ledoit-Wolf covariance whose inverse the check uses, and the distribution of the per-image score on
images the fit did not see; its 99th percentile is the threshold. A run is a pure function of its arguments.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

from spotdiff.analysis.domain import FEATURES, REFERENCE_FOLDER
from spotdiff.synthetic.edits import EDITS, get_edit
from spotdiff.models.host import ModelHost
from spotdiff.io.images import scan_image_set
from spotdiff.progress import run
from spotdiff.synthetic.world import SetSpec, render, sample_scene

RIDGE_ALPHA = 0.1
P_EDITED, P_TWO_EDITS = 0.5, 0.25
RENDER_SIZES = (24, 640)  # shorter side, log-uniform
P_OBLONG = 0.25
QUANTILE = 0.99


def draw_world(folder: Path, n: int, seed: int) -> None:
    """``n`` PNG scenes in ``folder``; image i depends on (seed, i) only."""
    names = sorted(EDITS)
    for i in range(n):
        rng = np.random.default_rng([seed, i])
        side = int(round(np.exp(rng.uniform(*np.log(RENDER_SIZES)))))
        size = (side, side) if rng.random() >= P_OBLONG else \
            tuple(np.roll((side * 4 // 3, side), int(rng.integers(2))).tolist())
        image = render(sample_scene(SetSpec(image_size=side), rng), size)
        if rng.random() < P_EDITED:
            for _ in range(2 if rng.random() < P_TWO_EDITS else 1):
                image = get_edit(str(rng.choice(names))).apply(image, rng.uniform(0.2, 1.0), rng)[0]
        image.convert("RGB").save(folder / f"{i:05d}.png")


def fit(E: np.ndarray, Z: np.ndarray, seed: int) -> dict:
    """The read-out of Z (n, k) from E (n, dim), the residual precision and the out-of-fold scores."""
    from sklearn.covariance import LedoitWolf
    from sklearn.linear_model import Ridge
    from sklearn.model_selection import KFold, cross_val_predict

    folds = KFold(5, shuffle=True, random_state=seed)
    residuals = Z - cross_val_predict(Ridge(alpha=RIDGE_ALPHA), E, Z, cv=folds)
    precision = LedoitWolf().fit(residuals).precision_
    scores = np.sqrt(np.einsum("ij,jk,ik->i", residuals, precision, residuals) / Z.shape[1])
    ridge = Ridge(alpha=RIDGE_ALPHA).fit(E, Z)
    return {"coef": ridge.coef_, "intercept": ridge.intercept_, "precision": precision, "scores": scores}


def build(model: str, n: int, seed: int) -> dict:
    host = ModelHost()
    try:
        embedder = host.embedder(model, precision="fp32")
        measurements = host.embedder("measurements")
        with tempfile.TemporaryDirectory() as tmp:
            draw_world(Path(tmp), n, seed)
            images = run(scan_image_set(Path(tmp), "a", min_images=1)).images
            E = run(embedder.embed(images)).astype(np.float64)
            M = run(measurements.embed(images)).astype(np.float64)
    finally:
        host.close()
    E /= np.linalg.norm(E, axis=1, keepdims=True)
    M = M[:, [measurements.feature_names.index(f) for f in FEATURES]]
    mean, scale = M.mean(axis=0), M.std(axis=0)
    out = fit(E, (M - mean) / scale, seed)
    scores = out.pop("scores")
    percentiles = {p: float(np.percentile(scores, p)) for p in (50, 90, 99, 99.9)}
    r = lambda a: np.round(np.asarray(a, dtype=np.float64), 6).tolist()  # noqa: E731
    return {
        "model": model, "weights_sha256": embedder.weights_sha256,
        "made_by": f"benchmarks/build_domain_reference.py --model {model} --n {n} --seed {seed}",
        "n_images": n, "features": list(FEATURES), "mean": r(mean), "scale": r(scale),
        "coef": r(out["coef"]), "intercept": r(out["intercept"]), "precision": r(out["precision"]),
        "threshold": round(float(np.quantile(scores, QUANTILE)), 4),
        "reference_percentiles": {str(k): round(v, 4) for k, v in percentiles.items()},
    }


def dumps(reference: dict) -> str:
    """JSON with one line per key, and per row of a matrix: small, and a rebuild's diff reads row by row."""
    lines = []
    for key, value in reference.items():
        if isinstance(value, list) and value and isinstance(value[0], list):
            rows = ",\n  ".join(json.dumps(row) for row in value)
            lines.append(f" {json.dumps(key)}: [\n  {rows}\n ]")
        else:
            lines.append(f" {json.dumps(key)}: {json.dumps(value)}")
    return "{\n" + ",\n".join(lines) + "\n}\n"


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="toy-shapes")
    p.add_argument("--n", type=int, default=2000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=None, help="default: engine/data/domains/MODEL.json")
    args = p.parse_args(argv)
    reference = build(args.model, args.n, args.seed)
    out = args.out or REFERENCE_FOLDER / f"{args.model}.json"
    out.write_text(dumps(reference), encoding="utf-8")
    print(f"wrote {out}: threshold {reference['threshold']}, reference percentiles "
          f"{reference['reference_percentiles']}")
    return reference


if __name__ == "__main__":
    main()
