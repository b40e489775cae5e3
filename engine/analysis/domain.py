"""Do the images at hand belong to the model's domain? If not, its words about them are not used.

A model trained on a narrow world (toy-shapes: spotdiff.synthetic.world's procedural scenes) still places a photograph
somewhere in its embedding, and its phrases still rank photographs: confidently and meaninglessly. A registry
entry may therefore name a **domain reference** (``"domain": {"description": ..., "reference": FILE}``,
models/README.md), a small JSON file in ``engine/data/domains/`` made by benchmarks/build_domain_reference.py
from a few thousand images of the model's own world. Models without one (the real CLIPs, trained on the web's
photographs) are not checked.

What is checked, and why this: the obvious test, the distance of an image's embedding to the reference
embeddings (kNN, Mahalanobis) or how well it matches the model's best phrase, does not work for toy-shapes:
it maps photographs *into* its world (onto dark or JPEG-compressed scenes; their nearest reference images are
as near as a scene's), the feature collapse out-of-distribution detectors know. What does not survive the
collapse is agreement with the pixels: on its own world the model's embedding predicts an image's measured
colour, brightness, contrast, sharpness and noise (spotdiff.models.embedders.measurements) closely; on a photograph the
prediction is far off. So the reference holds a linear read-out of :data:`FEATURES` (standardised on the world)
from the unit embedding, and the inverse covariance of its residuals on reference images the fit did not see.
An image's **disagreement** is the Mahalanobis norm of (predicted - measured) over the square root of the
number of features; a set is out of the domain when the median disagreement of its discovery images exceeds the
reference's own 99th percentile (``threshold``): its typical image disagrees more than 99 % of the world's. The
check reads discovery images only, so what it decides is fixed before any held-out image is looked at.

Out of the domain, the pipeline takes the model's text tower away (spotdiff.pipeline): its phrases are not
proposed, so they are neither reported as findings nor spend the false-discovery budget nor explain away a
measurement finding; its image embedding still serves the separability test, the directions and the maps.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import ModelLoadError
from ..models.paths import PACKAGE_DIR

REFERENCE_FOLDER = PACKAGE_DIR / "data" / "domains"
# The measurements the model is asked to predict: what an image looks like, not how its file was written
# (size, aspect ratio and JPEG blockiness say nothing about the scene and depend on how files were saved).
FEATURES = ("brightness", "contrast", "saturation", "colourfulness", "lab_a", "lab_b", "warmth", "mean_red",
            "mean_green", "mean_blue", "sharpness", "noise", "edge_density", "entropy", "underexposed",
            "overexposed")


@dataclass(frozen=True)
class DomainReference:
    """A model's domain reference (one file of engine/data/domains; see the module docstring).

    features : measurement names, in the order of ``coef``'s rows
    mean, scale : ndarray of shape (n_features,): the reference images' mean and SD of each measurement
    coef : ndarray of shape (n_features, dim); intercept : ndarray of shape (n_features,): the read-out,
        standardised measurements ≈ unit embedding @ coef.T + intercept
    precision : ndarray of shape (n_features, n_features): inverse covariance of the read-out's residuals
    threshold : the reference images' 99th percentile of the disagreement, on images the fit did not see
    """

    model: str
    weights_sha256: str
    features: tuple[str, ...]
    mean: np.ndarray = field(repr=False)
    scale: np.ndarray = field(repr=False)
    coef: np.ndarray = field(repr=False)
    intercept: np.ndarray = field(repr=False)
    precision: np.ndarray = field(repr=False)
    threshold: float
    n_images: int
    source_path: Path

    @classmethod
    def load(cls, path: Path) -> "DomainReference":
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
            arrays = {k: np.asarray(data[k], dtype=np.float64) for k in ("mean", "scale", "coef", "intercept",
                                                                         "precision")}
            k = len(data["features"])
            if arrays["coef"].shape[0] != k or arrays["precision"].shape != (k, k):
                raise ValueError(f"coef has {arrays['coef'].shape[0]} rows and precision is "
                                 f"{arrays['precision'].shape} for {k} features")
            return cls(model=data["model"], weights_sha256=data["weights_sha256"], features=tuple(data["features"]),
                       threshold=float(data["threshold"]), n_images=int(data["n_images"]), source_path=Path(path),
                       **arrays)
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise ModelLoadError(Path(path).stem, path, f"its domain reference cannot be read ({e}); rebuild it "
                                 "with benchmarks/build_domain_reference.py") from e

    def disagreement(self, X: np.ndarray, measured: np.ndarray, feature_names: Sequence[str]) -> np.ndarray:
        """Per image: how far the measurements the embedding predicts are from those measured.

        X : ndarray of shape (n, dim), the model's embeddings; measured : ndarray of shape (n, n_measurements),
        named by ``feature_names`` (spotdiff.models.embedders.measurements). Returns ndarray of shape (n,).
        """
        X = np.asarray(X, dtype=np.float64)
        X = X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)
        M = np.asarray(measured, dtype=np.float64)[:, [list(feature_names).index(f) for f in self.features]]
        residual = X @ self.coef.T + self.intercept - (M - self.mean) / self.scale
        return np.sqrt(np.einsum("ij,jk,ik->i", residual, self.precision, residual) / len(self.features))


@dataclass(frozen=True)
class DomainCheck:
    """Whether each set's images belong to the model's domain.

    score_a, score_b : median disagreement of each set's discovery images (0 = as the model's world)
    threshold : above it a set is out of the domain
    """

    model: str
    domain: str
    score_a: float
    score_b: float
    threshold: float
    n_a: int
    n_b: int

    @property
    def sets_out(self) -> tuple[str, ...]:
        return tuple(s for s, v in (("a", self.score_a), ("b", self.score_b)) if v > self.threshold)

    @property
    def in_domain(self) -> bool:
        return not self.sets_out

    @property
    def message(self) -> str | None:
        """The one line a report, the CLI and the GUI show when the sets are out of the domain, else None."""
        out = self.sets_out
        if not out:
            return None
        which = "these images" if len(out) == 2 else f"set {out[0].upper()}'s images"
        return (f"{self.model} was trained on {self.domain}; its words about {which} are not reliable — "
                "the measurement findings are.")

    def to_json(self) -> dict:
        return {"model": self.model, "domain": self.domain, "in_domain": self.in_domain,
                "sets_out": list(self.sets_out), "score_a": round(self.score_a, 4),
                "score_b": round(self.score_b, 4), "threshold": self.threshold, "n_a": self.n_a, "n_b": self.n_b,
                "message": self.message}


def reference_of(spec) -> DomainReference | None:
    """The domain reference a registry entry names (spotdiff.models.registry.ModelSpec), or None when it names none."""
    if not spec.domain:
        return None
    return DomainReference.load(REFERENCE_FOLDER / spec.domain["reference"])


def check_domain(spec, weights_sha256: str | None, X: np.ndarray, measured: np.ndarray,
                 feature_names: Sequence[str], discovery_a: np.ndarray, discovery_b: np.ndarray
                 ) -> tuple[DomainCheck | None, list[str]]:
    """Check the discovery images of both sets against the model's domain reference.

    X : ndarray of shape (n_a + n_b, dim), the model's embeddings, set A first; measured : the same images'
    measurements, ndarray of shape (n_a + n_b, n_measurements); discovery_a, discovery_b : boolean masks of
    each set's discovery images. Returns (None, []) for a model without a reference, and (None, [warning])
    when the reference was made with other weights than ``weights_sha256``.
    """
    reference = reference_of(spec)
    if reference is None:
        return None, []
    if weights_sha256 != reference.weights_sha256:
        return None, [f"Not checked whether these images suit {spec.name}: its domain reference "
                      f"({reference.source_path.name}) was made with other weights; rebuild it with "
                      "benchmarks/build_domain_reference.py."]
    scores = reference.disagreement(X, measured, feature_names)
    n_a = len(discovery_a)
    da, db = scores[:n_a][np.asarray(discovery_a, bool)], scores[n_a:][np.asarray(discovery_b, bool)]
    return DomainCheck(model=spec.name, domain=spec.domain["description"], score_a=float(np.median(da)),
                       score_b=float(np.median(db)), threshold=reference.threshold, n_a=len(da), n_b=len(db)), []
