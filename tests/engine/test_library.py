"""The feature library and its proposer: verdicts kept, confirmed features proposed again."""

import hashlib
from pathlib import Path

import numpy as np
import pytest

from spotdiff.errors import InvalidParameterError
from spotdiff.analysis.library import FeatureLibrary, LibraryError, data_dir, verdict_for
from spotdiff.pipeline import CompareRequest, compare_steps, default_proposers
from spotdiff.progress import run
from spotdiff.analysis.proposers import ConceptBankProposer, Evidence, LibraryProposer, SpaceEvidence
from spotdiff.analysis.proposers.concept_bank import contrast_vectors, embed_phrases
from spotdiff.analysis.result import Finding, Hypothesis
from spotdiff.synthetic.synth import synth


def finding(statement="blurrier", more_in="b", space="measurements", source="measurements", auroc=0.9):
    h = Hypothesis(statement, more_in, source, space, np.ones(3))
    return Finding(h, auroc, 0.001, 0.004, True, np.zeros(10, np.float32), np.ones(12, np.float32))


def pair(root: Path, plants, n=24, seed=0) -> CompareRequest:
    run(synth(root, plants=plants, n_per_set=n, seed=seed, image_size=64))
    return CompareRequest(set_a=(root / "set_a",), set_b=(root / "set_b",), model="measurements",
                          n_permutations=50)


def test_library_lives_in_spotdiff_data(tmp_path, monkeypatch):
    monkeypatch.setenv("SPOTDIFF_DATA", str(tmp_path / "here"))
    assert data_dir() == tmp_path / "here"
    with FeatureLibrary() as library:
        assert not library.exists() and library.entries() == ()
        library.record(finding(), "confirmed", model="measurements")
    assert (tmp_path / "here" / "library.sqlite").is_file()


def test_verdicts_keep_statement_model_evidence_and_note():
    with FeatureLibrary() as library:
        entry = library.record(finding(), "confirmed", "seen in the scanner logs", model="ViT-B-32",
                               evidence={"set_a": "old", "set_b": "new"})
    with FeatureLibrary() as library:
        (again,) = library.history()
    assert again == entry
    assert (again.statement, again.more_in, again.space, again.model, again.note) == (
        "blurrier", "b", "measurements", "ViT-B-32", "seen in the scanner logs")
    assert again.evidence["heldout_auroc"] == 0.9 and again.evidence["q_value"] == 0.004
    assert (again.evidence["n_heldout_a"], again.evidence["n_heldout_b"]) == (10, 12)
    assert again.evidence["set_b"] == "new" and again.evidence["date"][:2] == "20"


def test_latest_verdict_counts_and_forget_restores_the_earlier():
    with FeatureLibrary() as library:
        first = library.record(finding(), "confirmed", model="m")
        later = library.record(finding(statement="Blurrier"), "rejected", "crop artefact", model="m")
        assert library.verdict_for("BLURRIER", "measurements") == later
        assert library.confirmed() == () and library.rejected() == (later,)
        library.forget(later.id)
        assert library.verdict_for("blurrier", "measurements") == first
    assert verdict_for("blurrier", "measurements").confirmed
    assert verdict_for("sharper", "measurements") is None


def test_text_verdicts_carry_across_text_spaces_but_not_into_measurements():
    with FeatureLibrary() as library:
        library.record(finding("a dog", space="ViT-B-32", source="concept-bank"), "rejected", model="ViT-B-32")
        assert library.verdict_for("a dog", "ViT-L-14").rejected
        assert library.verdict_for("a dog", "measurements") is None


def test_unknown_verdict_and_unwritable_folder_are_refused(tmp_path):
    with FeatureLibrary() as library:
        with pytest.raises(InvalidParameterError):
            library.record(finding(), "maybe", model="m")
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(LibraryError, match="SPOTDIFF_DATA"):
        FeatureLibrary(blocker / "sub").record(finding(), "confirmed", model="m")


def test_default_proposers_read_a_library_given_to_them_only_when_something_is_confirmed():
    with FeatureLibrary() as library:
        assert not any(isinstance(p, LibraryProposer) for p in default_proposers(library=library))
        library.record(finding(), "rejected", model="m")
        assert not any(isinstance(p, LibraryProposer) for p in default_proposers(library=library))
        library.record(finding("darker"), "confirmed", model="m")
        assert isinstance(default_proposers(library=library)[0], LibraryProposer)
        # the user's library is never read implicitly: the same call gives the same proposers anywhere
        assert not any(isinstance(p, LibraryProposer) for p in default_proposers())


def test_confirmed_measurement_is_proposed_again_and_validated(tmp_path):
    first = run(compare_steps(pair(tmp_path / "one", [("blur", 0.6)])))
    blurrier = next(f for f in first.supported if f.statement == "blurrier")
    with FeatureLibrary() as library:
        library.record(blurrier, "confirmed", model=first.settings["model"])

    # new sets where A, not B, is the blurrier one: the claim's side comes from the discovery half
    second = pair(tmp_path / "two", [("blur", 0.6)], seed=5)
    swapped = CompareRequest(set_a=second.set_b, set_b=second.set_a, model="measurements", n_permutations=50)
    assert not any(f.source == "library" for f in run(compare_steps(swapped)).findings)  # not passed: not read
    with FeatureLibrary() as library:
        result = run(compare_steps(swapped, library=library))
    again = next(f for f in result.findings if f.source == "library")
    assert (again.statement, again.more_in, again.hypothesis.space) == ("blurrier", "a", "measurements")
    assert again.supported and again.heldout_auroc > 0.8
    assert "confirmed in the feature library" in again.hypothesis.evidence
    # the measurement proposer's own claim of the same thing did not crowd it out
    assert len([f for f in result.findings if f.statement == "blurrier" and f.more_in == "a"]) == 1


class HashedWords:
    """A small real text encoder: hashed bag of words, unit rows (enough to place phrases)."""

    def __init__(self, dim=64):
        self.dim = dim

    def embed_text(self, texts):
        out = np.zeros((len(texts), self.dim), np.float32)
        for i, text in enumerate(texts):
            for word in text.lower().replace(".", "").split():
                out[i, int(hashlib.sha256(word.encode()).hexdigest(), 16) % self.dim] += 1.0
        return out / np.linalg.norm(out, axis=1, keepdims=True)


def test_text_statement_gets_the_concept_bank_vector_and_the_discovery_side():
    bank = ("a dog", "a cat", "a red car", "snow", "a beach at sunset", "a night street")
    encoder = HashedWords()
    space = SpaceEvidence("tiny-clip", np.zeros((1, 64)), np.zeros((1, 64)), (), (), text_encoder=encoder,
                          prompt_templates=("a photo of {}.",))
    V = contrast_vectors(embed_phrases(space, bank))
    rng = np.random.default_rng(0)
    X_a = rng.normal(size=(30, 64)) + 3 * V[3]  # set A has more snow
    X_b = rng.normal(size=(30, 64))
    space = SpaceEvidence("tiny-clip", X_a, X_b, (), (), text_encoder=encoder, prompt_templates=("a photo of {}.",))
    evidence = Evidence(spaces={"tiny-clip": space}, separability=())
    entry = FeatureLibrary()
    entry.record(finding("snow", more_in="b", space="ViT-B-32", source="concept-bank"), "confirmed", model="ViT-B-32")
    proposer = LibraryProposer(entry.confirmed(), reference_phrases=bank)
    (h,) = proposer.propose(evidence)
    assert (h.statement, h.more_in, h.source, h.space) == ("snow", "a", "library", "tiny-clip")
    np.testing.assert_allclose(h.vector, V[3], atol=1e-6)
    # and the concept bank, given the same vocabulary, says the same
    bank_claims = {x.statement: x for x in ConceptBankProposer(bank).propose(evidence)}
    np.testing.assert_allclose(bank_claims["snow"].vector, h.vector, atol=1e-6)
    entry.close()
