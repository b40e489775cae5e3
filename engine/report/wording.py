"""How findings and the verdict are put into words, for every report and the desktop app."""

from __future__ import annotations

from typing import TYPE_CHECKING

import math
from typing import Mapping

import numpy as np

from ..analysis.result import Finding
from ..analysis.subgroups import shares_above
from ..spaces import EXACT_SPACES

if TYPE_CHECKING:
    from ..comparison import Result  # lazy: type hints only (Result writes its reports with this package)

DEFAULT_ALPHA = 0.05


def fmt_2dp(x: float) -> str:
    return f"{x:.2f}" if math.isfinite(x) else "—"


def fmt_p(p: float) -> str:
    """A p- or q-value for a table cell: "0.41", "0.005", "< 0.001"."""
    if not math.isfinite(p):
        return "—"
    if p >= 0.01:
        return f"{p:.2f}"
    if p >= 0.001:
        return f"{p:.3f}"
    return "< 0.001"


def p_is(name: str, p: float) -> str:
    """ "p = 0.005" or "p < 0.001" in running text."""
    text = fmt_p(p)
    return f"{name} {text}" if text.startswith("<") else f"{name} = {text}"


CONFOUNDER_SPACES = EXACT_SPACES
"""Findings about how the images were made (scanner, protocol, size, brightness, noise), shown apart: the claims
of these spaces, whichever proposer stated them (the decoder and the feature library state measurements too)."""


def is_confounder(finding: Finding) -> bool:
    return finding.hypothesis.space in CONFOUNDER_SPACES


def describe(finding: Finding) -> str:
    """A finding as one sentence: "Images in set B are blurrier" / "More in set B: a dog" /
    "82 % of B vs 9 % of A: Manufacturer = GE" (held-out shares) / for a claim about some images of a set,
    "More in set B: red objects, in 22 % of B vs 4 % of A" (held-out shares above its threshold)."""
    statement = finding.statement.strip()
    if statement.lower().startswith("images in set"):
        return statement
    if finding.region is not None:
        return _describe_regions(finding, statement)
    if finding.hypothesis.test == "exceedance":
        return _describe_subgroup(finding, statement)
    if finding.source == "acquisition":
        h = finding.hypothesis
        return describe_acquisition(statement, h.more_in, h.vector, finding.scores_a, finding.scores_b)
    if finding.hypothesis.space == "measurements":
        # a measurement, whoever proposed it (the feature library re-proposes confirmed ones)
        return f"Images in set {finding.more_in.upper()} are {statement}"
    return f"More in set {finding.more_in.upper()}: {statement}"


TEST_NAMES = {"mann-whitney": "Mann–Whitney", "fisher": "Fisher's exact test",
              "exceedance": "subgroup test: Fisher's exact test above the discovery threshold"}


EDIT_NOUNS = {"rectangles": "the tiny rectangles", "shape-watermark": "the watermark",
              "text-watermark": "the text watermark", "warm": "the warm cast", "cool": "the cool cast",
              "brighter": "the brightening", "darker": "the darkening", "blur": "the blur", "noise": "the noise",
              "jpeg": "the JPEG compression", "lowres": "the lower resolution", "downscale": "the downscaling",
              "vignette": "the vignette", "rotate": "the rotation"}


def describe_link(finding: Finding, by_id: Mapping[str, Finding]) -> str:
    """Why a supported finding is nested under another, in words ("" for an independent finding):
    "side effect of “blurrier”: re-planting the blur into set A reproduces this (98 % of its shift, 95 % interval
    71–159 %)"; "aliased with “small rectangles”: ..."."""
    target = by_id.get(finding.explained_by) if finding.explained_by is not None else None
    if target is None:
        return "" if finding.independent or not finding.supported else (
            "not shown to be a difference of its own: once the other findings are accounted for, "
            f"{p_is('p', finding.p_conditional)}")
    name = f"“{target.statement}”"
    if finding.aliased_with is not None:
        return (f"aliased with {name}: the sets do not overlap at all on it, so set membership cannot tell whether "
                "this is its side effect or a difference of its own")
    if finding.replanted is not None:
        edit, into, _ = finding.replanted
        share, low, high = finding.reproduced
        what = f"re-planting {EDIT_NOUNS.get(edit, edit)} into set {into.upper()}"
        if finding.via is not None and finding.via in by_id:  # the re-planted cause is itself nested under target
            name += f", through “{by_id[finding.via].statement}”"
        interval = f"95 % interval {percent(low)} to {percent(high)}" if percent(low) != percent(high) else \
            "the same in every bootstrap resample of the images"  # 0/1 share scores all flipped by the plant
        if share < 0.5:  # nested for want of a shift of its own, not because the re-planting reproduces it
            return (f"with {name}: not shown to be a difference of its own once the others are accounted for; "
                    f"{what} reproduces {percent(share)} of its shift ({interval})")
        return f"side effect of {name}: {what} reproduces this ({percent(share)} of its shift, {interval})"
    return f"side effect of {name}: it follows that finding image by image within each set"


def describe_test(finding: Finding) -> str:
    """How a finding's held-out p-value was computed, for a report's statistics line."""
    return TEST_NAMES.get(finding.hypothesis.test, finding.hypothesis.test)


def _describe_subgroup(finding: Finding, statement: str) -> str:
    """ "More in set B: red objects, in 22 % of B vs 4 % of A"; "Some images in set B are blurrier: 30 % of B
    vs 5 % of A" (held-out shares above the claim's threshold)."""
    this, shares = finding.more_in.upper(), _held_out_shares(finding)
    if finding.hypothesis.space == "measurements":
        return f"Some images in set {this} are {statement}: {shares}"
    if finding.source == "acquisition":
        return f"Some images in set {this} have {statement}: {shares}"
    return f"More in set {this}: {statement}, in {shares}"


def _held_out_shares(finding: Finding) -> str:
    """ "22 % of B vs 4 % of A": the held-out shares above a share claim's threshold, the claimed set first."""
    a, b = finding.scores_a, finding.scores_b
    less, more = shares_above(finding.hypothesis, *((a, b) if finding.more_in == "b" else (b, a)))
    this, other = finding.more_in.upper(), "A" if finding.more_in == "b" else "B"
    return f"{percent(more)} of {this} vs {percent(less)} of {other}"


def _describe_regions(finding: Finding, statement: str) -> str:
    """ "Images in set B hold tiny red rectangles (≈ 5 × 4 px), 2–4 per image: 100 % of B vs 4 % of A" (held-out
    shares of images with such regions; the words come from the discovery half)."""
    return f"Images in set {finding.more_in.upper()} hold {statement}: {_held_out_shares(finding)}"


def percent(share: float) -> str:
    """ "22 %" (held-out shares in words); "—" when unknown."""
    return f"{100 * share:.0f} %" if math.isfinite(share) else "—"


def verdict(result: Result, alpha: float = DEFAULT_ALPHA) -> str:
    """The separability test in words, e.g. "No evidence that the sets differ (AUROC 0.52, p = 0.41)."

    With several embedding spaces, the one with the smallest p-value speaks and is named.
    """
    if not result.separability:
        return "The separability test was not run."
    best = min(result.separability, key=lambda s: (s.p_value if math.isfinite(s.p_value) else 2.0, -s.auroc))
    where = f" in {best.space}" if len(result.separability) > 1 else ""
    if math.isfinite(best.p_value) and best.p_value <= alpha:
        return (
            f"The sets differ{where}: a linear probe tells them apart with cross-validated AUROC "
            f"{fmt_2dp(best.auroc)} (permutation {p_is('p', best.p_value)})."
        )
    return (
        f"No evidence that the sets differ{where} "
        f"(AUROC {fmt_2dp(best.auroc)}, {p_is('p', best.p_value)})."
    )


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
        return (f"{percent(float(np.mean(more > 0.5)))} of {more_in.upper()} vs "
                f"{percent(float(np.mean(less > 0.5)))} of {other.upper()}: {statement}")
    sign = float(np.sign(np.asarray(vector, dtype=np.float64).sum())) or 1.0  # scores are ± the tag's values
    if not a.size or not b.size:
        return f"Set {more_in.upper()}: {statement}"
    med_b, med_a = float(np.median(sign * b)), float(np.median(sign * a))
    return f"Set {more_in.upper()}: {statement} (median {med_b:.4g} in B vs {med_a:.4g} in A)"
