"""Claims about some images of a set: the test is chosen on the discovery half, the shares are tested held out."""

import numpy as np
import pytest
from scipy import stats

from spotdiff.models.embedders.measurements import MEASUREMENTS
from spotdiff.io.images import ImageRecord
from spotdiff.analysis.proposers import MeasurementProposer
from spotdiff.analysis.proposers.base import Evidence, SpaceEvidence
from spotdiff.report.wording import describe
from spotdiff.analysis.result import Hypothesis
from spotdiff.analysis.stats import fisher_greater_counts, mann_whitney_greater, mann_whitney_greater_from_auroc
from spotdiff.analysis.subgroups import strongest_subgroups, with_heldout_test
from spotdiff.analysis.validate import Half, validate

NAMES = tuple(m.name for m in MEASUREMENTS)
BRIGHT = NAMES.index("brightness")


def records(prefix, n):
    return tuple(ImageRecord(path=f"/{prefix}/{i}.png", content_hash=f"{prefix}{i}", width=1, height=1, format="PNG")
                 for i in range(n))


def half(Xa, Xb, prefix):
    return Half(records(prefix + "a", len(Xa)), records(prefix + "b", len(Xb)),
                   {"measurements": Xa}, {"measurements": Xb})


def with_subgroup(rng, n, share, shift, column=BRIGHT):
    """n rows of noise; the first round(share * n) rows get ``shift`` added in ``column``."""
    X = rng.normal(size=(n, len(NAMES)))
    X[: round(share * n), column] += shift
    return X


def claim(column=BRIGHT, more_in="b", test="mann-whitney"):
    vector = np.zeros(len(NAMES))
    vector[column] = 1.0
    return Hypothesis("brighter", more_in, "measurements", "measurements", vector, test=test)


def test_fisher_counts_equal_scipys_fisher_exact_claim_by_claim():
    k_pos, k_neg = np.array([0, 3, 9, 20, 5]), np.array([0, 1, 2, 0, 5])
    p = fisher_greater_counts(k_pos, 25, k_neg, 30)
    for got, kp, kn in zip(p, k_pos, k_neg):
        expected = stats.fisher_exact([[kp, 25 - kp], [kn, 30 - kn]], alternative="greater").pvalue
        assert got == pytest.approx(expected, rel=1e-9)


def test_mann_whitney_from_auroc_matches_the_asymptotic_test():
    rng = np.random.default_rng(0)
    for shift in (0.0, 0.3, 0.8):
        neg, pos = rng.normal(size=40), rng.normal(shift, size=50)
        auroc = np.mean(pos[:, None] > neg[None, :])
        exact = stats.mannwhitneyu(pos, neg, alternative="greater", method="asymptotic", use_continuity=False).pvalue
        assert mann_whitney_greater_from_auroc(np.array([auroc]), 40, 50)[0] == pytest.approx(exact, rel=1e-6)


def test_a_subgroup_gets_the_exceedance_test_and_a_whole_set_shift_keeps_mann_whitney():
    rng = np.random.default_rng(1)
    less = rng.normal(size=50)
    subgroup = np.r_[rng.normal(size=40), rng.normal(6.0, size=10)]  # a fifth of the set stands out
    shifted = rng.normal(1.5, size=50)  # the whole set moves
    h = with_heldout_test(claim(), less, subgroup)
    assert h.test == "exceedance" and h.threshold == less.max()  # beyond every discovery image of the other set
    assert with_heldout_test(claim(), less, shifted).test == "mann-whitney"
    # 0/1 claims keep Fisher's test at 0.5; too few discovery images keep the shift test
    assert with_heldout_test(claim(test="fisher"), less, subgroup).test == "fisher"
    assert with_heldout_test(claim(), less[:5], subgroup[:5]).test == "mann-whitney"


def test_a_difference_in_a_fifth_of_b_is_supported_as_a_subgroup_with_its_shares():
    rng = np.random.default_rng(2)
    discovery = half(with_subgroup(rng, 50, 0, 0), with_subgroup(rng, 50, 0.2, 5.0), "d")
    heldout = half(with_subgroup(rng, 50, 0, 0), with_subgroup(rng, 50, 0.2, 5.0), "h")
    finding, = validate([claim()], heldout, discovery=discovery)
    assert finding.hypothesis.test == "exceedance" and finding.supported
    # the shift test of the same held-out scores is far weaker: the AUROC can reach only 0.5 + 0.2 / 2
    assert finding.p_value < 1e-3 < mann_whitney_greater(finding.scores_a, finding.scores_b)
    assert finding.heldout_auroc < 0.6 + 0.05
    assert describe(finding).startswith("Some images in set B are brighter: ")
    text = describe(finding)
    share_b = float(np.mean(finding.scores_b > finding.hypothesis.threshold))
    assert f"{100 * share_b:.0f} % of B vs" in text and share_b >= 0.2


def test_exceedance_p_values_are_valid_under_the_null():
    """Two draws of one distribution, the test chosen on one half, run on the other: p < 0.05 in <= 7 %."""
    rng = np.random.default_rng(3)
    ps = []
    for _ in range(400):
        less_d, more_d, less_h, more_h = (rng.standard_t(3, size=30) for _ in range(4))  # heavy tails
        h = with_heldout_test(claim(), less_d, more_d)
        if h.test == "exceedance":
            k_more, k_less = int((more_h > h.threshold).sum()), int((less_h > h.threshold).sum())
            ps.append(fisher_greater_counts(np.array([k_more]), 30, np.array([k_less]), 30)[0])
    assert len(ps) >= 40  # the subgroup test is chosen often enough for the rate to mean something
    assert np.mean(np.array(ps) < 0.05) <= 0.07


def test_strongest_subgroups_finds_images_beyond_every_image_of_the_other_set_on_either_side():
    rng = np.random.default_rng(4)
    S_a, S_b = rng.normal(size=(40, 3)), rng.normal(size=(40, 3))
    S_b[:8, 0] += 6  # a subgroup of B in column 0
    S_a[:8, 2] += 6  # a subgroup of A in column 2
    more_b, p, count = strongest_subgroups(S_a, S_b)
    assert more_b[0] and not more_b[2]
    # 8 of 40 beyond every image of the other set against none: Fisher p = 0.0027
    assert count[0] >= 8 and count[2] >= 8 and p[0] < 0.005 and p[2] < 0.005 and p[1] > 0.05


def test_the_measurement_proposer_proposes_subgroups_in_either_tail():
    rng = np.random.default_rng(5)
    X_a = rng.normal(size=(40, len(NAMES)))
    X_b = rng.normal(size=(40, len(NAMES)))
    X_b[:8, BRIGHT] -= 6  # some images of B are far darker
    space = SpaceEvidence(name="measurements", X_a=X_a, X_b=X_b, images_a=records("a", 40),
                          images_b=records("b", 40), feature_names=NAMES)
    proposed = MeasurementProposer(max_hypotheses=0).propose(Evidence(spaces={"measurements": space},
                                                                      separability=(), seed=0))
    darker = next(h for h in proposed if h.vector[BRIGHT] == -1.0)
    assert darker.more_in == "b" and darker.statement == MEASUREMENTS[BRIGHT].lower
    assert "above every image of A" in darker.evidence


def test_smaller_images_in_a_fifth_of_b_are_a_supported_subgroup_finding_in_every_report(tmp_path):
    """End to end: synth downscales 20 % of B's images; compare_steps() finds it as a subgroup claim, and the reports
    give its test, threshold and held-out shares."""
    from spotdiff.pipeline import CompareRequest, compare_steps
    from spotdiff.progress import run
    from spotdiff.report import to_json_dict, write_html
    from spotdiff.synthetic.synth import synth

    run(synth(tmp_path / "pair", plants=[("downscale", 0.5)], prevalence=0.2, n_per_set=100, seed=3, image_size=48))
    request = CompareRequest(set_a=(tmp_path / "pair" / "set_a",), set_b=(tmp_path / "pair" / "set_b",),
                             model="measurements", use_cache=False)
    result = run(compare_steps(request))
    narrower = MEASUREMENTS[NAMES.index("width")].lower
    finding = next(f for f in result.supported if f.statement == narrower)
    assert finding.more_in == "b" and finding.hypothesis.test == "exceedance"
    assert finding.heldout_auroc < 0.6 + 0.05  # a whole-set effect bar alone would not have let it through
    doc = next(d for d in to_json_dict(result)["findings"] if d["statement"] == finding.statement)
    assert doc["test"] == "exceedance" and doc["supported"]
    assert doc["shares"]["b"] - doc["shares"]["a"] >= 0.1 and doc["threshold"] == pytest.approx(
        finding.hypothesis.threshold, rel=1e-5)
    html = write_html(result, tmp_path / "report.html").read_text(encoding="utf-8")
    assert 'class="threshold"' in html and "subgroup test" in html
    assert f"{100 * doc['shares']['b']:.0f} % of B vs {100 * doc['shares']['a']:.0f} % of A" in html
