"""Acquisition differences: tag features, the proposer, Fisher/Mann–Whitney validation in the one
FDR family, and the planted-confounder comparison end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest

from spotdiff.io.images import ImageRecord
from spotdiff.analysis.acquisition import ACQUISITION, MAX_LEVELS, acquisition_space
from spotdiff.report.wording import describe_acquisition
from spotdiff.synthetic.medical import write_dicom_set
from spotdiff.pipeline import CompareRequest, compare_steps
from spotdiff.progress import run
from spotdiff.analysis.proposers import Evidence, SpaceEvidence
from spotdiff.analysis.proposers.acquisition import AcquisitionProposer
from spotdiff.report import describe, to_html, to_json_dict
from spotdiff.analysis.stats import benjamini_hochberg
from spotdiff.analysis.validate import Half, Split, validate


def meta(**tags) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, str(v)) for k, v in tags.items()))


# --- the feature space -------------------------------------------------------------------------


def test_categories_numbers_and_missing_values_become_named_columns():
    rows = [meta(Manufacturer="GE", KVP=120, Modality="CT"), meta(Manufacturer="SIEMENS", KVP=100, Modality="CT"),
            meta(KVP=140, Modality="CT"), meta(Manufacturer="GE", Modality="CT")]

    space = acquisition_space(rows)

    assert space.feature_names == ("KVP", "KVP not recorded", "Manufacturer = (not recorded)",
                                   "Manufacturer = GE", "Manufacturer = SIEMENS")  # Modality is constant
    assert space.kinds == ("number", "missing", "level", "level", "level")
    np.testing.assert_array_equal(space.X[:, 0], [120, 100, 140, 120])  # missing -> the median
    np.testing.assert_array_equal(space.X[:, 3], [1, 0, 0, 1])
    assert acquisition_space([meta(Modality="CT")] * 3) is None and acquisition_space([(), ()]) is None


def test_rare_levels_are_pooled():
    rows = [meta(SoftwareVersions=f"v{i}") for i in range(MAX_LEVELS + 5)]

    names = acquisition_space(rows).feature_names

    assert len(names) == MAX_LEVELS + 1 and "SoftwareVersions = (other)" in names


# --- proposer and validation ---------------------------------------------------------------------


def planted(n: int, share_a: float, share_b: float, seed: int, kvp_shift: float = 0.0):
    """Metadata of n images per set, 'Manufacturer = ACME' in the given shares, KVP optionally shifted."""
    rng = np.random.default_rng(seed)
    rows = []
    for share, shift in ((share_a, 0.0), (share_b, kvp_shift)):
        for _ in range(n):
            rows.append(meta(Manufacturer="ACME" if rng.random() < share else "GE",
                             KVP=float(np.round(rng.normal(120 + shift, 10))), Modality="CT"))
    return acquisition_space(rows)


def propose_and_validate(space, n: int, seed: int):
    split = Split.make(n, n, seed=seed)
    X_a, X_b = space.X[:n], space.X[n:]
    records = tuple(ImageRecord(f"/x/{i}.dcm", str(i), 1, 1, "DICOM") for i in range(n))

    def evidence_of(X, mask):
        return X[~mask]

    evidence = Evidence({ACQUISITION: SpaceEvidence(ACQUISITION, evidence_of(X_a, split.heldout_a),
                                                    evidence_of(X_b, split.heldout_b), (), (),
                                                    feature_names=space.feature_names)}, ())
    hypotheses = AcquisitionProposer().propose(evidence)
    held = Half(tuple(r for r, h in zip(records, split.heldout_a) if h),
                   tuple(r for r, h in zip(records, split.heldout_b) if h),
                   {ACQUISITION: X_a[split.heldout_a]}, {ACQUISITION: X_b[split.heldout_b]})
    return hypotheses, validate(hypotheses, held)


def test_a_planted_share_is_found_with_fishers_test_and_worded_as_shares():
    hypotheses, findings = propose_and_validate(planted(60, 0.1, 0.8, seed=1), 60, seed=1)

    acme = next(f for f in findings if f.statement == "Manufacturer = ACME")
    assert acme.supported and acme.more_in == "b" and acme.hypothesis.test == "fisher"
    assert "Manufacturer = GE" not in [h.statement for h in hypotheses]  # the same claim turned round
    share_b, share_a = acme.scores_b.mean(), acme.scores_a.mean()
    assert describe(acme) == f"{100 * share_b:.0f} % of B vs {100 * share_a:.0f} % of A: Manufacturer = ACME"


def test_a_planted_numeric_shift_is_found_with_mann_whitney():
    _, findings = propose_and_validate(planted(60, 0.5, 0.5, seed=2, kvp_shift=15), 60, seed=2)

    kvp = next(f for f in findings if f.statement == "higher KVP")
    assert kvp.supported and kvp.hypothesis.test == "mann-whitney"
    med_b, med_a = np.median(kvp.scores_b), np.median(kvp.scores_a)
    assert med_b > med_a + 8
    assert describe(kvp) == f"Set B: higher KVP (median {med_b:.4g} in B vs {med_a:.4g} in A)"


def test_fisher_and_mann_whitney_p_values_share_one_fdr_family():
    _, findings = propose_and_validate(planted(40, 0.2, 0.7, seed=3, kvp_shift=8), 40, seed=3)

    tests = {f.hypothesis.test for f in findings}
    q = benjamini_hochberg(np.array([f.p_value for f in findings]))
    assert tests == {"fisher", "mann-whitney"}
    np.testing.assert_allclose([f.q_value for f in findings], q)


def test_false_positives_stay_rare_when_acquisition_does_not_differ():
    n_runs, n = 200, 30
    runs_with_a_finding = 0
    for seed in range(n_runs):
        _, findings = propose_and_validate(planted(n, 0.4, 0.4, seed=1000 + seed), n, seed=seed)
        runs_with_a_finding += any(f.supported for f in findings)

    assert runs_with_a_finding / n_runs <= 0.07


def test_describe_acquisition_handles_empty_scores():
    assert describe_acquisition("Manufacturer = GE", "b", np.ones(1), np.array([]), np.array([])) == \
        "Manufacturer = GE"


# --- end to end: DICOM files re-tagged with another manufacturer ---------------------------------


@pytest.fixture(scope="module")
def planted_dicom(tmp_path_factory):
    root = tmp_path_factory.mktemp("scanners")
    write_dicom_set(root / "a", 30, label="a", seed=1)
    write_dicom_set(root / "b", 30, label="b", seed=2, tags={"Manufacturer": "ACME MEDICAL", "KVP": 140}, share=0.8)
    return root


def test_a_retagged_manufacturer_is_a_supported_acquisition_finding(planted_dicom):
    request = CompareRequest(model="measurements", set_a=planted_dicom / "a", set_b=planted_dicom / "b", use_cache=False,
                             n_permutations=19)

    result = run(compare_steps(request))

    acme = next(f for f in result.findings if f.statement == "Manufacturer = ACME MEDICAL")
    assert acme.supported and acme.more_in == "b" and acme.source == "acquisition" and acme.hypothesis.test == "fisher"
    assert 0.6 <= acme.scores_b.mean() <= 1.0 and acme.scores_a.mean() == 0.0
    assert not any(f.supported for f in result.findings if f.source == "measurements")  # pixels do not differ
    assert any(s.space == ACQUISITION for s in result.separability)

    doc = to_json_dict(result)
    [entry] = [f for f in doc["findings"] if f["statement"] == "Manufacturer = ACME MEDICAL"]
    assert entry["shares"]["a"] == 0.0 and entry["shares"]["b"] >= 0.6 and entry["source"] == "acquisition"
    assert "shares" not in next(f for f in doc["findings"] if f["source"] == "measurements")

    page = to_html(result)
    confounders = page.split('<section id="confounders">')[1].split("</section>")[0]
    assert "Possible confounders" in confounders
    assert f"{round(100 * acme.scores_b.mean())} % of B vs 0 % of A: Manufacturer = ACME MEDICAL" in confounders
    findings_table = page.split('<section id="findings">')[1].split("</section>")[0]
    assert "ACME" not in findings_table and "Every claim tested was about how the images were made" in findings_table


def test_acquisition_can_be_switched_off(planted_dicom):
    request = CompareRequest(model="measurements", set_a=planted_dicom / "a", set_b=planted_dicom / "b", use_cache=False,
                             n_permutations=19, acquisition=False)

    result = run(compare_steps(request))

    assert not any(f.source == "acquisition" for f in result.findings)
    assert ACQUISITION not in json.dumps(to_json_dict(result)["separability"])
