"""How findings and the verdict are put into words, for every report and the desktop app."""

from __future__ import annotations

import math

from ..result import Finding, Result

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


CONFOUNDER_SOURCES = ("acquisition", "measurements")
"""Findings about how the images were made (scanner, protocol, size, brightness, noise), shown apart."""


def is_confounder(finding: Finding) -> bool:
    return finding.source in CONFOUNDER_SOURCES


def describe(finding: Finding) -> str:
    """A finding as one sentence: "Images in set B are blurrier" / "More in set B: a dog" /
    "82 % of B vs 9 % of A: Manufacturer = GE" (held-out shares)."""
    statement = finding.statement.strip()
    if statement.lower().startswith("images in set"):
        return statement
    if finding.source == "acquisition":
        from ..medical.acquisition import describe_acquisition

        h = finding.hypothesis
        return describe_acquisition(statement, h.more_in, h.vector, finding.scores_a, finding.scores_b)
    if finding.hypothesis.space == "measurements":
        # a measurement, whoever proposed it (the feature library re-proposes confirmed ones)
        return f"Images in set {finding.more_in.upper()} are {statement}"
    return f"More in set {finding.more_in.upper()}: {statement}"


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
