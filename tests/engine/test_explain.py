"""Explaining away (spotdiff.analysis.explain), tested statistically on simulated claim scores.

Each simulated claim reads one column of a small named space, so its scores are exactly the column: a cause,
echoes that follow it image by image, an independent second difference, and columns that do not differ.
"""

import numpy as np
import pytest

from spotdiff.analysis.explain import explain, residual_shift_p
from spotdiff.io.images import ImageRecord
from spotdiff.analysis.result import Hypothesis
from spotdiff.analysis.validate import Half, Split, validate

pytestmark = pytest.mark.filterwarnings("error")


def records(prefix, n):
    return tuple(ImageRecord(path=f"/{prefix}/{i}.png", content_hash=f"{prefix}{i}", width=1, height=1, format="PNG")
                 for i in range(n))


def explained(Xa, Xb, names, seed=0, more_in=None):
    """validate + explain of one claim per column ("more in b" unless ``more_in`` says otherwise)."""
    split = Split.make(len(Xa), len(Xb), seed=seed)
    ra, rb = records("a", len(Xa)), records("b", len(Xb))

    def half(ma, mb):
        return Half(tuple(r for r, m in zip(ra, ma) if m), tuple(r for r, m in zip(rb, mb) if m),
                       {"sim": Xa[ma]}, {"sim": Xb[mb]})

    held, discovery = half(split.heldout_a, split.heldout_b), half(~split.heldout_a, ~split.heldout_b)
    claims = [Hypothesis(name, (more_in or {}).get(name, "b"), "test", "sim", np.eye(len(names))[j])
              for j, name in enumerate(names)]
    findings = validate(claims, held, discovery=discovery)
    return {f.statement: f for f in explain(findings, discovery, held, seed=seed)}


def simulate(rng, n=50, cause_shift=1.6, second_shift=1.3, n_echoes=3):
    """Columns: cause, echo-1.., second, null-1..3 (set A first, set B second)."""
    def draw(shift):
        content = rng.normal(size=(n, 3))
        cause = content[:, 0] + shift[0]
        echoes = [0.9 * cause + 0.5 * rng.normal(size=n) + 0.3 * content[:, 1] for _ in range(n_echoes)]
        second = content[:, 2] + shift[1]
        nulls = [content[:, 1] + rng.normal(size=n) for _ in range(3)]
        return np.column_stack([cause, *echoes, second, *nulls])

    names = ["cause", *(f"echo-{k}" for k in range(n_echoes)), "second", "null-0", "null-1", "null-2"]
    return draw((0.0, 0.0)), draw((cause_shift, second_shift)), names


def test_residual_shift_p_is_uniform_under_the_null_and_small_for_a_shift_left_after_the_parent():
    rng = np.random.default_rng(0)
    claimed = np.r_[np.zeros(25), np.ones(25)].astype(bool)
    p_null, p_shift = [], []
    for seed in range(200):
        parent = rng.normal(size=50) + 2.0 * claimed
        echo = 0.8 * parent + rng.normal(size=50)  # all of its shift comes through the parent
        p_null.append(residual_shift_p(echo, claimed, parent[:, None], n_permutations=199, seed=seed)[0])
        p_shift.append(residual_shift_p(echo + 1.2 * claimed, claimed, parent[:, None], n_permutations=199,
                                        seed=seed)[0])
    assert np.mean(np.array(p_null) <= 0.05) <= 0.09
    assert np.mean(np.array(p_shift) <= 0.05) >= 0.8


def test_near_synonyms_are_nested_under_the_stronger_claim_and_the_second_difference_is_kept():
    """What restatement folding did, now one case of explaining away: claims ranking the images alike (said for
    either set) are one family; its head stands, the others add nothing and are its side effects; an
    independent shift stays."""
    rng = np.random.default_rng(7)
    n = 60
    base = np.r_[rng.normal(size=n), rng.normal(1.5, 1, size=n)]
    other = np.r_[rng.normal(size=n), rng.normal(1.2, 1, size=n)]
    X = np.column_stack([base, base + 0.1 * rng.normal(size=2 * n), -base, other])
    found = explained(X[:n], X[n:], ["strong", "same, other words", "same, stated for A", "independent"],
                      more_in={"same, stated for A": "a"})
    family = [found[name] for name in ("strong", "same, other words", "same, stated for A")]
    head, = [f for f in family if f.independent]  # whichever the discovery half backs most: they say one thing
    assert head.explained_by is None and found["independent"].independent
    for f in family:
        assert f.supported and (f is head or f.explained_by == head.id)
    ids = [f.id for f in sorted(found.values(), key=lambda f: int(f.id[1:]))]
    assert ids == [f"f{k}" for k in range(1, 5)]


@pytest.mark.slow
def test_simulated_echoes_are_rarely_independent_and_the_second_difference_is_rarely_lost():
    """200 simulations of a cause, three echoes that follow it and an independent second difference
    (25 held-out images per set): an echo is called independent <= 5 % of the time, the second difference
    is lost <= 10 %, the cause's difference (cause or an echo standing for it) is lost <= 10 %, and a column
    that does not differ is an independent finding in <= 5 %."""
    rng = np.random.default_rng(11)
    n_runs, echo_independent, second_lost, cause_lost, null_independent = 200, 0, 0, 0, 0
    for seed in range(n_runs):
        Xa, Xb, names = simulate(rng)
        found = explained(Xa, Xb, names, seed=seed)
        echo_independent += sum(found[f"echo-{k}"].independent for k in range(3))
        second_lost += not found["second"].independent
        cause_lost += not any(found[name].independent for name in ("cause", "echo-0", "echo-1", "echo-2"))
        null_independent += any(found[f"null-{k}"].independent for k in range(3))
    print(f"echo independent {echo_independent / (3 * n_runs):.3f}, second lost {second_lost / n_runs:.3f}, "
          f"cause lost {cause_lost / n_runs:.3f}, "
          f"null independent {null_independent / n_runs:.3f}")
    assert echo_independent / (3 * n_runs) <= 0.05
    assert second_lost / n_runs <= 0.10
    assert null_independent / n_runs <= 0.05
    assert cause_lost / n_runs <= 0.10


def test_a_side_effect_of_a_finding_that_separates_the_sets_completely_is_aliased_with_it():
    """With the sets apart on both claims, either one's within-set slope is extrapolated to explain the other:
    one stands, the other is "aliased with" it, since set membership alone cannot tell an echo from a
    difference of its own (re-planting can, where the cause is an edit: test_explain_images.py)."""
    rng = np.random.default_rng(3)
    n = 60

    def draw(shift):
        cause = rng.normal(size=n) + shift
        return np.column_stack([cause, 0.9 * cause + 0.3 * rng.normal(size=n)])

    found = explained(draw(0.0), draw(8.0), ["cause", "echo"])
    head, = [f for f in found.values() if f.independent]  # which of two aliased claims stands is arbitrary
    other, = [f for f in found.values() if f is not head]
    assert head.explained_by is None and other.supported and not other.independent
    assert other.aliased_with == head.id and other.side_effect_of is None


def test_a_claim_the_regression_alone_tests_is_aliased_with_a_stronger_claim_that_separates_the_sets():
    """A second shift that does not follow the first image by image (no within-set correlation) but sits beside a
    claim on which the held-out sets do not overlap: set membership is then that claim, so the regression cannot
    show the second adds anything; it is aliased with it, not called a difference of its own. Re-planting is
    what can tell them apart (test_explain_images.py: blur and a warm cast)."""
    rng = np.random.default_rng(5)
    n = 60

    def draw(shift, second):
        return np.column_stack([rng.normal(size=n) + shift, rng.normal(size=n) + second])

    found = explained(draw(0.0, 0.0), draw(8.0, 1.5), ["separates", "second"])
    assert found["separates"].independent
    assert found["second"].supported and not found["second"].independent
    assert found["second"].aliased_with == found["separates"].id

