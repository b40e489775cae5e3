"""Statistical code tested statistically: planted effects are found, nulls stay quiet."""

import numpy as np
import pytest

from spotdiff.analysis.contrast import find_directions, separability_test
from spotdiff.models.embedders.measurements import MEASUREMENTS
from spotdiff.io.images import ImageRecord
from spotdiff.pipeline import CompareRequest, Space, analyse
from spotdiff.progress import run
from spotdiff.analysis import stats
from spotdiff.analysis.stats import auroc, auroc_columns, benjamini_hochberg, weighted_benjamini_hochberg
from spotdiff.analysis.validate import Half, Split, discovery_weights, validate

NAMES = tuple(m.name for m in MEASUREMENTS)


def records(prefix, n):
    return tuple(ImageRecord(path=f"/{prefix}/{i}.png", content_hash=f"{prefix}{i}", width=1, height=1, format="PNG")
                 for i in range(n))


def correlated_features(rng, n, dim, mixing=None):
    """Features with realistic structure: a few strong factors plus noise. Two calls draw from one
    distribution only when they share ``mixing`` (the factor loadings, of shape (4, dim))."""
    mixing = rng.normal(size=(4, dim)) if mixing is None else mixing
    return rng.normal(size=(n, 4)) @ mixing + rng.normal(size=(n, dim))


def analyse_measurement_space(Xa, Xb, seed, n_permutations=19):
    request = CompareRequest(model="measurements", set_a=("a",), set_b=("b",), seed=seed, n_permutations=n_permutations,
                             regions=False)  # the records name no files: there are no pixels to look at
    split = Split.make(len(Xa), len(Xb), seed=seed)
    space = Space("measurements", np.vstack([Xa, Xb]), NAMES)
    return run(analyse([space], records("a", len(Xa)), records("b", len(Xb)), split, request))


def test_auroc_matches_definition():
    rng = np.random.default_rng(0)
    neg, pos = rng.normal(size=30), rng.normal(0.5, 1, size=40)
    brute = np.mean([(p > n) + 0.5 * (p == n) for p in pos for n in neg])
    assert auroc(neg, pos) == pytest.approx(brute)
    scores = np.c_[np.r_[neg, pos], -np.r_[neg, pos]]
    labels = np.r_[np.zeros(30), np.ones(40)][:, None]
    assert auroc_columns(scores, labels) == pytest.approx([brute, 1 - brute])


def test_benjamini_hochberg_matches_hand_computation():
    q = benjamini_hochberg(np.array([0.01, 0.04, 0.03, 0.2]))
    # sorted p: .01 .03 .04 .2 -> p*m/rank: .04 .06 .0533 .2 -> running min from the largest
    assert q == pytest.approx([0.04, 0.053333, 0.053333, 0.2], rel=1e-4)


def test_separability_finds_planted_shift_and_not_noise():
    rng = np.random.default_rng(1)
    X = correlated_features(rng, 120, 64)
    y = np.r_[np.zeros(60), np.ones(60)].astype(bool)
    shifted = X.copy()
    shifted[y, :3] += 1.5
    auc, p = separability_test(shifted, y, n_permutations=99)
    assert auc > 0.7 and p <= 0.02
    auc0, p0 = separability_test(X, y, n_permutations=99)
    assert p0 > 0.05


def test_separability_p_values_are_uniform_under_the_null():
    rng = np.random.default_rng(2)
    ps = []
    for _ in range(60):
        X = rng.normal(size=(40, 16))
        y = rng.permutation(np.r_[np.zeros(20), np.ones(20)]).astype(bool)
        ps.append(separability_test(X, y, n_permutations=39, seed=int(rng.integers(1e6)))[1])
    ps = np.array(ps)
    assert np.mean(ps <= 0.05) <= 0.15  # 60 draws: expected 0.05, 3 sd ~ 0.08
    assert 0.35 < np.mean(ps) < 0.65


def test_directions_are_orthogonal_and_honest_about_what_is_left():
    rng = np.random.default_rng(3)
    n, dim = 200, 32
    X = rng.normal(size=(n, dim))
    y = np.r_[np.zeros(n // 2), np.ones(n // 2)].astype(bool)
    X[y, 0] += 1.5   # a strong mean shift on axis 0
    X[y, 5] -= 1.0   # a weaker one on axis 5
    directions = find_directions(X, y, n_directions=3)
    assert len(directions) == 3
    w1, cv1 = directions[0]
    # the probe combines every mean shift into its one direction, signs pointing to B
    assert cv1 > 0.8
    assert set(np.argsort(-np.abs(w1))[:2]) == {0, 5} and w1[0] > 0 > w1[5]
    for (w, _), (v, _) in [(directions[0], directions[1]), (directions[1], directions[2])]:
        assert abs(w @ v) < 1e-8
    # with the mean difference projected out nothing linear is left; cross-validation
    # that refits the sequence inside each fold says so (no spurious or inverted AUROC)
    for _, cv in directions[1:]:
        assert 0.3 < cv < 0.65


def test_planted_measurement_shifts_are_found_in_the_right_direction():
    rng = np.random.default_rng(4)
    d = len(NAMES)
    Xa = correlated_features(rng, 60, d)
    Xb = correlated_features(rng, 60, d)
    sharp, bright = NAMES.index("sharpness"), NAMES.index("brightness")
    Xb[:, sharp] -= 1.5   # B is blurrier
    Xb[:, bright] += 1.2  # B is brighter
    analysis = analyse_measurement_space(Xa, Xb, seed=0)
    supported = {(f.statement, f.more_in) for f in analysis.findings if f.supported}
    words = {m.name: m for m in MEASUREMENTS}
    assert (words["sharpness"].lower, "b") in supported
    assert (words["brightness"].higher, "b") in supported
    assert (words["sharpness"].higher, "b") not in supported
    assert analysis.separability[0].p_value <= 0.05


@pytest.mark.slow
def test_null_simulations_rarely_give_any_supported_finding():
    """200 comparisons of two draws from one distribution: runs with >= 1 supported finding <= 7 %, and so runs
    with >= 1 independent finding (explained away through spotdiff.analysis.explain in analyse; a subset of them)."""
    rng = np.random.default_rng(5)
    d = len(NAMES)
    n_runs, any_supported, any_independent = 200, 0, 0
    for seed in range(n_runs):
        mixing = rng.normal(size=(4, d))  # one distribution for both sets (its spread too, not only its mean)
        Xa, Xb = correlated_features(rng, 40, d, mixing), correlated_features(rng, 40, d, mixing)
        analysis = analyse_measurement_space(Xa, Xb, seed=seed)
        any_supported += any(f.supported for f in analysis.findings)
        any_independent += any(f.independent for f in analysis.findings)
        assert all(f.supported for f in analysis.findings if f.independent)
    assert any_independent <= any_supported and any_supported / n_runs <= 0.07, any_supported


def test_weighted_bh_equals_bh_for_equal_weights_and_favours_heavy_claims():
    p = np.array([0.004, 0.01, 0.03, 0.2, np.nan, 0.6])
    np.testing.assert_allclose(weighted_benjamini_hochberg(p, np.full(6, 3.0)), benjamini_hochberg(p))
    heavy_first = weighted_benjamini_hochberg(p, np.array([4.0, 1, 1, 1, 1, 0.25]))
    heavy_last = weighted_benjamini_hochberg(p, np.array([0.25, 1, 1, 1, 1, 4.0]))
    assert heavy_first[0] < benjamini_hochberg(p)[0] < heavy_last[0]
    assert np.isnan(heavy_first[4])
    with pytest.raises(ValueError):
        weighted_benjamini_hochberg(p, np.array([1.0, 0, 1, 1, 1, 1]))


def test_weighted_bh_keeps_the_error_rate_when_weights_come_from_independent_data():
    """Global null, 20 claims, weights from a 'discovery' draw: runs with any q <= 0.05 stay near 5 %."""
    rng = np.random.default_rng(11)
    n_runs, hits = 4000, 0
    for _ in range(n_runs):
        weights = rng.chisquare(1, size=20) + 0.01  # uneven, as from noisy discovery effects
        hits += bool((weighted_benjamini_hochberg(rng.uniform(size=20), weights) <= 0.05).any())
    assert hits / n_runs <= 0.06, hits / n_runs


def test_discovery_weights_follow_the_discovery_effect_and_average_one():
    from spotdiff.analysis.result import Hypothesis

    rng = np.random.default_rng(2)
    Xa, Xb = rng.normal(size=(30, 2)), rng.normal(size=(30, 2))
    Xb[:, 0] += 1.5  # the discovery half backs dimension 0 strongly, dimension 1 not at all
    half = Half(records("a", 30), records("b", 30), {"s": Xa}, {"s": Xb})
    claims = [Hypothesis("dim 0", "b", "test", "s", np.array([1.0, 0.0])),
              Hypothesis("dim 1", "b", "test", "s", np.array([0.0, 1.0])),
              Hypothesis("dim 0, wrong set", "a", "test", "s", np.array([1.0, 0.0]))]

    weights = discovery_weights(claims, half)

    assert weights.mean() == pytest.approx(1.0)
    assert weights[0] > 10 * weights[1] and weights[0] > 10 * weights[2]
    findings = {f.statement: f for f in validate(claims, half, discovery=half)}
    assert findings["dim 0"].weight == pytest.approx(weights[0])


def test_supported_findings_are_ordered_by_effect_and_ties_in_auroc_by_separation():
    from spotdiff.analysis.result import Finding, Hypothesis
    from spotdiff.analysis.validate import separation, sort_findings

    def finding(name, more_in, auroc, q, supported, a, b, space="clip"):
        h = Hypothesis(name, more_in, "test", space, np.ones(3))
        return Finding(h, auroc, q, q, supported, np.asarray(a, float), np.asarray(b, float))

    low, high = np.linspace(0, 1, 10), np.linspace(0, 1, 10)
    # both separate the held-out sets completely (AUROC 1.0); "wide" lies farther apart
    narrow = finding("narrow", "b", 1.0, 1e-12, True, low, high + 1.1)
    wide = finding("wide", "a", 1.0, 1e-9, True, high + 5.0, low)
    weaker = finding("weaker", "b", 0.8, 1e-15, True, low, high + 0.3)
    rejected = [finding(f"no {i}", "b", 0.55, q, False, low, high) for i, q in enumerate((0.4, 0.1))]
    exact = finding("less saturated", "b", 1.0, 1e-13, True, low, high + 9.0, space="measurements")
    assert separation(exact) > separation(wide) > separation(narrow) > 0
    order = [f.statement for f in sort_findings([weaker, *rejected, exact, narrow, wide])]
    assert order == ["wide", "narrow", "less saturated", "weaker", "no 1", "no 0"]


def _same(mine, theirs) -> bool:
    mine, theirs = np.asarray(mine), np.asarray(theirs)
    return mine.shape == theirs.shape and mine.dtype == theirs.dtype and np.array_equal(mine, theirs, equal_nan=True)


def test_the_tests_are_scipy_stats_to_the_last_bit():
    """spotdiff.analysis.stats computes scipy.stats's tests itself (a comparison then never imports scipy.stats):
    the same numbers, bit for bit, with ties, NaNs, float32 scores and samples small enough for the exact
    Mann-Whitney distribution."""
    scipy_stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(0)
    for trial in range(60):
        n, k = int(rng.integers(1, 30)), int(rng.integers(1, 4))
        x = rng.integers(0, 6, size=(n, k)).astype(float) if trial % 2 else rng.normal(size=(n, k))
        if trial % 5 == 0:
            x[rng.integers(n), rng.integers(k)] = np.nan
        assert _same(stats.rankdata(x, axis=0), scipy_stats.rankdata(x, axis=0))
        assert _same(stats.rankdata(x[:, 0]), scipy_stats.rankdata(x[:, 0]))
    for trial in range(300):
        n1, n2 = (int(v) for v in rng.integers(1, 60, size=2))
        dtype = (np.float64, np.float32)[trial % 2]
        neg, pos = ((rng.integers(0, 4, m) if trial % 3 == 0 else rng.normal(size=m)).astype(dtype) for m in (n1, n2))
        assert stats.mann_whitney_greater(neg, pos) == \
            float(scipy_stats.mannwhitneyu(pos, neg, alternative="greater").pvalue)
    for M in range(1, 16):
        for n in range(M + 1):
            for N in range(M + 1):
                k = np.arange(-1, N + 2)
                for function in ("pmf", "cdf", "sf"):
                    assert _same(stats.hypergeom(function, k, M, n, N), getattr(scipy_stats.hypergeom, function)(k, M, n, N))
    for trial in range(400):
        table = rng.integers(0, 40 if trial % 2 else 6, size=(2, 2)).tolist()
        assert stats.fisher_exact(table) == float(scipy_stats.fisher_exact(table).pvalue)
    for trial in range(50):
        n_pos, n_neg = (int(v) for v in rng.integers(1, 100, size=2))
        k_pos, k_neg = rng.integers(0, n_pos + 1, size=5), rng.integers(0, n_neg + 1, size=5)
        assert _same(stats.fisher_greater_counts(k_pos, n_pos, k_neg, n_neg),
                     scipy_stats.hypergeom.sf(k_pos - 1, n_pos + n_neg, k_pos + k_neg, n_pos))
        p = rng.uniform(size=int(rng.integers(1, 40))) ** 3
        p[rng.integers(len(p), size=2)] = p[0]
        assert _same(benjamini_hochberg(p), scipy_stats.false_discovery_control(p, method="bh"))
        aurocs = rng.uniform(size=4)
        se = np.sqrt((n_neg + n_pos + 1) / (12.0 * n_neg * n_pos))
        assert _same(stats.mann_whitney_greater_from_auroc(aurocs, n_neg, n_pos), scipy_stats.norm.sf((aurocs - 0.5) / se))


def test_selective_follow_up_keeps_the_level_its_selection_earned():
    from spotdiff.analysis.stats import selective_rejections, weighted_benjamini_hochberg

    # 13 claims, 5 selected by the first BH; four of them turn out to be echoes (follow-up p = 1)
    p = np.array([0.011, 1, 1, 1, 1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9])
    selected = np.arange(13) < 5
    w = np.ones(13)
    kept = selective_rejections(p, w, selected, 0.05)  # level 0.05 * 5 / 13 = 0.019
    assert kept.tolist() == [True] + [False] * 12
    assert weighted_benjamini_hochberg(p, w)[0] > 0.05  # a second BH would need 0.05 / 13: the echoes cost it
    assert not selective_rejections(p, w, np.zeros(13, bool), 0.05).any()  # nothing selected, nothing kept
    rng = np.random.default_rng(0)
    for _ in range(200):  # never fewer than a second weighted BH over all of them keeps, never an unselected one
        p = rng.uniform(size=20) ** 3
        w = rng.uniform(0.2, 2.0, size=20)
        selected = weighted_benjamini_hochberg(p / 2, w) <= 0.05
        kept = selective_rejections(p, w, selected, 0.05)
        assert not (kept & ~selected).any()
        assert not ((weighted_benjamini_hochberg(p, w) <= 0.05) & selected & ~kept).any()
    with pytest.raises(ValueError):
        selective_rejections(np.ones(3), np.ones(2), np.ones(3, bool), 0.05)
