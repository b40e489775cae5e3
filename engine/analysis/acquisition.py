"""Acquisition tags as a named-feature space, so acquisition differences are tested like any claim.

Each image's ``metadata`` (DICOM attributes of :data:`spotdiff.io.medical.tags.ALLOWED`; NIfTI and
array facts) becomes one row of numbers with a name per column:

* a category ("Manufacturer") gives one 0/1 column per level: ``"Manufacturer = GE MEDICAL SYSTEMS"``.
  Images without the attribute get the level ``"(not recorded)"``; beyond :data:`MAX_LEVELS`
  levels, the rarest are pooled as ``"(other)"``.
* a number ("KVP") gives one column of values, images without it taking the median of the
  others, plus a 0/1 column ``"KVP not recorded"`` when only some images have it.

Columns that are the same for every image are left out. The space is label-free (built from
both sets together); the acquisition proposer reads the discovery half, validation the held-out
half — Fisher's exact test for 0/1 columns, Mann–Whitney for numbers — in the same
Benjamini–Hochberg family as every other claim.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from ..spaces import ACQUISITION  # the space, its proposer and its findings' source

from ..io.medical.tags import CATEGORIES, DIGESTED


MAX_LEVELS = 12
LEVEL_SEPARATOR = " = "
NOT_RECORDED = "(not recorded)"
OTHER = "(other)"
MISSING_SUFFIX = " not recorded"
_ALWAYS_CATEGORY = frozenset(CATEGORIES + DIGESTED + ("DataType",))


@dataclass(frozen=True)
class AcquisitionSpace:
    """X : ndarray of shape (n_images, n_features), float32; kinds: "level", "missing" or "number"."""

    X: np.ndarray = field(repr=False)
    feature_names: tuple[str, ...]
    kinds: tuple[str, ...]


def feature_kind(name: str) -> str:
    """"level" (0/1: has this value), "missing" (0/1: tag absent) or "number"."""
    if LEVEL_SEPARATOR in name:
        return "level"
    return "missing" if name.endswith(MISSING_SUFFIX) else "number"


def tag_of(name: str) -> str:
    if LEVEL_SEPARATOR in name:
        return name.split(LEVEL_SEPARATOR, 1)[0]
    return name[: -len(MISSING_SUFFIX)] if name.endswith(MISSING_SUFFIX) else name


def _as_number(text: str | None) -> float | None:
    try:
        x = float(text) if text is not None else None
    except ValueError:
        return None
    return x if x is not None and math.isfinite(x) else None


def acquisition_space(metadata: Sequence[Sequence[tuple[str, str]]]) -> AcquisitionSpace | None:
    """The feature matrix of the images whose ``metadata`` is given (one per image), or None when
    no acquisition fact varies between them."""
    rows = [dict(m) for m in metadata]
    columns: list[np.ndarray] = []
    names: list[str] = []
    kinds: list[str] = []
    for tag in sorted(set().union(*rows)) if rows else []:
        values = [r.get(tag) for r in rows]
        present = [v for v in values if v is not None]
        numbers = [_as_number(v) for v in present]
        if tag not in _ALWAYS_CATEGORY and all(x is not None for x in numbers):
            x = np.array([_as_number(v) if v is not None else np.nan for v in values], dtype=np.float64)
            missing = np.isnan(x)
            if len(set(numbers)) > 1:
                columns.append(np.where(missing, float(np.median(numbers)), x))
                names.append(tag)
                kinds.append("number")
            if missing.any():
                columns.append(missing.astype(np.float64))
                names.append(tag + MISSING_SUFFIX)
                kinds.append("missing")
            continue
        levels = [v if v is not None else NOT_RECORDED for v in values]
        counts = Counter(levels)
        if len(counts) < 2:
            continue
        kept = {level for level, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:MAX_LEVELS]}
        levels = [level if level in kept else OTHER for level in levels]
        for level in sorted(set(levels)):
            columns.append(np.array([lv == level for lv in levels], dtype=np.float64))
            names.append(f"{tag}{LEVEL_SEPARATOR}{level}")
            kinds.append("level")
    if not columns:
        return None
    return AcquisitionSpace(np.stack(columns, axis=1).astype(np.float32), tuple(names), tuple(kinds))
