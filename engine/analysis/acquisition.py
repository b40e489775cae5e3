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

from ..io.medical.tags import CATEGORIES, DIGESTED

ACQUISITION = "acquisition"
"""Name of the space, of the proposer and of its findings' source."""

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


def describe_acquisition(statement: str, more_in: str, vector: np.ndarray, scores_a: np.ndarray,
                         scores_b: np.ndarray) -> str:
    """A held-out acquisition finding in words.

    0/1 claims: "82 % of B vs 9 % of A: Manufacturer = GE"; numbers: "Set B: higher KVP
    (median 120 in B vs 100 in A)".
    """
    a = np.asarray(scores_a, dtype=np.float64)
    b = np.asarray(scores_b, dtype=np.float64)
    if not statement.startswith(("higher ", "lower ")):
        more, less = (b, a) if more_in == "b" else (a, b)
        other = "a" if more_in == "b" else "b"
        if not more.size or not less.size:
            return statement
        from ..report.wording import percent  # (the report package imports this module)

        return (f"{percent(float(np.mean(more > 0.5)))} of {more_in.upper()} vs "
                f"{percent(float(np.mean(less > 0.5)))} of {other.upper()}: {statement}")
    sign = float(np.sign(np.asarray(vector, dtype=np.float64).sum())) or 1.0  # scores are ± the tag's values
    if not a.size or not b.size:
        return f"Set {more_in.upper()}: {statement}"
    med_b, med_a = float(np.median(sign * b)), float(np.median(sign * a))
    return f"Set {more_in.upper()}: {statement} (median {med_b:.4g} in B vs {med_a:.4g} in A)"
