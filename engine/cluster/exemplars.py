"""Exemplars of a comparison of stores from every image the discovery half did not see.

A finding's exemplars are the held-out images that show its claim most (set claimed to have more) and least (the
other set). Where a store was read as a draw (``max_images``), the images the draw left out were not seen by the
discovery half either; they are searched too (spotdiff.cluster.rest.LeftOut: a faiss index of the model's vectors,
the measurements in full), so that the exemplars are the clearest of the whole store. Claims in other spaces
(small regions, acquisition tags) keep the draw's exemplars: their scores need the pixels or tags of each image.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Sequence

import numpy as np

from ..analysis.result import Finding
from ..spaces import MEASUREMENTS
from .store import StoredSet, rows_at


def with_store_exemplars(findings: Sequence[Finding], stores: dict[str, StoredSet], model: str, n: int,
                         copies: Path | None = None) -> list[Finding]:
    """``findings`` with the exemplars of their supported claims in ``model``'s space or the measurements'
    chosen among the draw's held-out images and the images the draw left out (``stores``: {"a": ..., "b": ...}),
    best first; ``copies``: the folder the stores' kept pixels are written into, when the files cannot be read."""
    if all(s.left_out is None for s in stores.values()):
        return list(findings)
    row_of = {label: {r: i for i, r in enumerate(s.image_set.images)} for label, s in stores.items()}
    wanted = [f for f in findings if f.supported and f.hypothesis.space in (model, MEASUREMENTS)]
    hits = {id(f): {label: _hits(f, label, stores[label], n) for label in stores} for f in wanted}
    places = {label: sorted({(h.shard, h.row) for f in wanted for h in hits[id(f)][label]}) for label in stores}
    found = {label: rows_at(stores[label], places[label], copies) if places[label] else {} for label in stores}
    out = []
    for f in findings:
        if id(f) not in hits:
            out.append(f)
            continue
        chosen, of_measurements = {}, f.hypothesis.space == MEASUREMENTS
        for label, stored in stores.items():
            vectors = stored.M if of_measurements else stored.X
            candidates = [(vectors[row_of[label][r]], r) for r in getattr(f, f"exemplars_{label}")]
            candidates += [(m if of_measurements else x, record)  # ranked by their exact vectors, as read back
                           for record, x, m in (found[label][(h.shard, h.row)] for h in hits[id(f)][label])]
            direction = _direction(f, label)
            scored = sorted(candidates, key=lambda item: -float(item[0].astype(np.float64) @ direction))
            chosen[label] = tuple(r for _, r in scored[:n])
        out.append(replace(f, exemplars_a=chosen["a"], exemplars_b=chosen["b"]))
    return out


def _direction(f: Finding, label: str) -> np.ndarray:
    """The claim's vector, towards more of it in the set it claims and less of it in the other."""
    vector = np.asarray(f.hypothesis.vector, np.float64)
    return vector if f.hypothesis.more_in == label else -vector


def _hits(f: Finding, label: str, stored: StoredSet, n: int) -> list:
    if stored.left_out is None:
        return []
    return stored.left_out.top(_direction(f, label), n, measurements=f.hypothesis.space == MEASUREMENTS)

