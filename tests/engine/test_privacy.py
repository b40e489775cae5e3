"""No patient-identifying DICOM field reaches a record, a report, the console, a log or the cache."""

from __future__ import annotations

import logging
import shutil
import warnings
from pathlib import Path

import pydicom
import pytest

from spotdiff.apps.cli import main
from spotdiff.io.images import scan_image_set
from spotdiff.synthetic.medical import FAKE_PATIENT_FIELDS, fake_patient, write_dicom_set
from spotdiff.io.medical.tags import ALLOWED, DIGESTED, PATIENT_FIELDS, tag_digest
from spotdiff.progress import run

N = 12
HOSPITALS = {"a": "Saint Qzwhatever Hospital", "b": "Qzbury Royal Infirmary"}


def fake_values() -> set[str]:
    """Every fake identifier written into the files, and the parts a report might print on their own."""
    out = set(HOSPITALS.values())
    for label in "ab":
        for i in range(N):
            for value in fake_patient(label, i).values():
                out.add(value)
                out.update(part for part in value.replace("^", " ").split() if len(part) >= 6)
    return out


@pytest.fixture(scope="module")
def patients(tmp_path_factory) -> Path:
    """Two sets of DICOM files full of fake patient data; B also from another hospital and scanner."""
    root = tmp_path_factory.mktemp("ward")
    for label in "ab":
        tags = {"InstitutionName": HOSPITALS[label], "PatientAge": "ABCZ"}  # ABCZ: invalid, pydicom would warn
        if label == "b":
            tags["Manufacturer"] = "ACME MEDICAL"
        with warnings.catch_warnings():  # writing the invalid age warns here; reading it must not
            warnings.simplefilter("ignore")
            write_dicom_set(root / label, N, label=label, seed=ord(label), tags=tags)
    return root


def test_the_allowed_tags_and_the_patient_fields_are_disjoint():
    assert not ALLOWED & PATIENT_FIELDS
    assert set(FAKE_PATIENT_FIELDS) <= PATIENT_FIELDS


def test_records_carry_only_allowed_tags(patients):
    records = run(scan_image_set(patients / "a", "a")).images
    written = pydicom.dcmread(records[0].path)

    assert written.PatientName == fake_patient("a", 0)["PatientName"]  # the files really hold them
    secrets = fake_values()
    for record in records:
        tags = dict(record.metadata)
        assert set(tags) <= ALLOWED
        assert not any(secret in value for value in tags.values() for secret in secrets)
        assert tags["InstitutionName"] == tag_digest("InstitutionName", HOSPITALS["a"])


@pytest.mark.slow
@pytest.mark.parametrize("pseudonymise", [False, True])
def test_reports_console_logs_and_cache_name_no_patient(patients, tmp_path, capsys, caplog, monkeypatch,
                                                        pseudonymise):
    # Patient folders are often named after the patient; with --pseudonymise even that path is hidden.
    named = tmp_path / ("Qzxlowski_Vernadette" if pseudonymise else "sets")
    shutil.copytree(patients, named)
    cache = tmp_path / "cache"
    monkeypatch.setenv("SPOTDIFF_CACHE", str(cache))
    out = tmp_path / "report"
    caplog.set_level(logging.DEBUG)

    args = ["compare", str(named / "a"), str(named / "b"), "--out", str(out), "-q", "--permutations", "19"]
    assert main(args + (["--pseudonymise"] if pseudonymise else [])) == 0

    console = capsys.readouterr()
    texts = {
        "report.json": (out / "report.json").read_text(encoding="utf-8"),
        "report.html": (out / "report.html").read_text(encoding="utf-8"),
        "stdout": console.out, "stderr": console.err, "log": caplog.text,
    }
    texts.update({f"cache/{p.name}": p.read_bytes().decode("latin-1") for p in cache.rglob("*") if p.is_file()})
    secrets = fake_values() | ({"Qzxlowski_Vernadette"} if pseudonymise else set())
    leaks = {(where, secret) for where, text in texts.items() for secret in secrets if secret in text}
    assert not leaks

    # what the reports do say about the hospitals: a digest, as a possible confounder
    digest = tag_digest("InstitutionName", HOSPITALS["b"])
    assert f"InstitutionName = {digest}" in texts["report.json"]
    assert "Manufacturer = ACME MEDICAL" in texts["report.html"]


def test_digested_tags_name_no_site():
    assert set(DIGESTED) == {"InstitutionName", "StationName", "ProtocolName", "SeriesDescription"}
    digest = tag_digest("InstitutionName", "Saint Qzwhatever Hospital")
    assert digest.startswith("#") and len(digest) == 7 and "Qz" not in digest
