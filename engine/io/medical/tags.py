"""The one list of DICOM attributes spotdiff ever reads into its records: acquisition facts only.

:func:`acquisition_tags` is the only code that copies values out of a DICOM header, and it copies
exactly the keywords of :data:`ALLOWED`. Everything else — patient name, ID, birth date, sex, age,
accession number, every date and time, addresses, physicians, operators, UIDs, free-text comments
— is never copied, so it cannot reach a record, a report, a cache key or a log.

Three kinds of attribute:

* :data:`CATEGORIES` — compared as levels ("Manufacturer = GE MEDICAL SYSTEMS"), Fisher's exact test;
* :data:`NUMBERS` — compared as values (KVP, SliceThickness), Mann–Whitney;
* :data:`DIGESTED` — site and protocol names, which are not about the patient but can name a hospital
  or hold free text a technologist typed: only a short digest is kept ("InstitutionName #3fa2c1"),
  enough to tell sites apart without printing their names. :func:`tag_digest` computes it, so
  whoever holds the data can see which name a digest stands for.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

CATEGORIES: tuple[str, ...] = (
    "Modality", "Manufacturer", "ManufacturerModelName", "SoftwareVersions", "BodyPartExamined",
    "PhotometricInterpretation", "ImageType", "PresentationIntentType", "ViewPosition", "ImageLaterality",
    "PatientPosition", "ScanningSequence", "SequenceVariant", "MRAcquisitionType", "ConvolutionKernel",
    "TransferSyntax",
)
NUMBERS: tuple[str, ...] = (
    "PixelSpacing", "ImagerPixelSpacing", "SliceThickness", "SpacingBetweenSlices", "KVP", "XRayTubeCurrent",
    "ExposureTime", "Exposure", "MagneticFieldStrength", "RepetitionTime", "EchoTime", "InversionTime",
    "FlipAngle", "EchoTrainLength", "Rows", "Columns", "BitsStored", "NumberOfFrames",
)
DIGESTED: tuple[str, ...] = ("InstitutionName", "StationName", "ProtocolName", "SeriesDescription")

ALLOWED: frozenset[str] = frozenset(CATEGORIES + NUMBERS + DIGESTED)
"""Every keyword that may appear in ``ImageRecord.metadata`` for a DICOM file."""

# Never read, whatever a future edit to the lists above says (tests check the two are disjoint).
# DICOM PS3.15 Annex E's Basic Profile names many more; these are the ones most often filled in.
PATIENT_FIELDS: frozenset[str] = frozenset({
    "PatientName", "PatientID", "OtherPatientIDs", "OtherPatientNames", "PatientBirthDate", "PatientBirthTime",
    "PatientSex", "PatientAge", "PatientAddress", "PatientTelephoneNumbers", "PatientMotherBirthName",
    "IssuerOfPatientID", "AccessionNumber", "StudyID", "StudyDate", "SeriesDate", "AcquisitionDate",
    "ContentDate", "StudyTime", "SeriesTime", "AcquisitionTime", "ContentTime", "AcquisitionDateTime",
    "InstitutionAddress", "ReferringPhysicianName", "PerformingPhysicianName", "OperatorsName",
    "RequestingPhysician", "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "FrameOfReferenceUID",
    "DeviceSerialNumber", "PatientComments", "ImageComments", "StudyDescription", "EthnicGroup",
    "PatientWeight", "PatientSize", "MilitaryRank", "MedicalRecordLocator", "RequestedProcedureDescription",
})

MAX_VALUE_CHARS = 64


def tag_digest(keyword: str, value: str) -> str:
    """The stand-in for a :data:`DIGESTED` value: ``"#"`` and 6 hex digits of sha256(keyword=value)."""
    return "#" + hashlib.sha256(f"{keyword}={value}".encode("utf-8")).hexdigest()[:6]


def _text(value: Any) -> str | None:
    """A header value as one short line of text; multi-valued elements joined with backslashes."""
    if value is None:
        return None
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        parts = [_text(v) for v in value]
        text = "\\".join(p for p in parts if p)
    elif isinstance(value, bytes):
        return None  # binary blobs are never acquisition facts worth printing
    else:
        text = str(value)
    text = " ".join(text.split())  # no control characters or newlines in a report
    return text[:MAX_VALUE_CHARS] or None


def _number(value: Any) -> str | None:
    """A numeric element as text; a multi-valued one (PixelSpacing's row\\column) by its mean."""
    items = list(value) if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue" else [value]
    try:
        numbers = [float(v) for v in items if v is not None and str(v).strip() != ""]
    except (TypeError, ValueError):
        return None
    if not numbers or not all(math.isfinite(x) for x in numbers):
        return None
    return f"{sum(numbers) / len(numbers):.6g}"


def acquisition_tags(ds: Any) -> tuple[tuple[str, str], ...]:
    """The :data:`ALLOWED` attributes that ``ds`` (a pydicom Dataset) has, as sorted (keyword, text).

    For enhanced multi-frame files, PixelSpacing and SliceThickness are also looked for in the
    shared functional groups (PixelMeasuresSequence).
    """
    out: dict[str, str] = {}
    for keyword in CATEGORIES:
        if keyword == "TransferSyntax":
            uid = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
            text = getattr(uid, "name", None) or _text(uid)
        else:
            text = _text(ds.get(keyword))
        if text:
            out[keyword] = text
    for keyword in NUMBERS:
        text = _number(ds.get(keyword, None) if keyword in ds else _shared_measure(ds, keyword))
        if text is not None:
            out[keyword] = text
    for keyword in DIGESTED:
        text = _text(ds.get(keyword))
        if text:
            out[keyword] = tag_digest(keyword, text)
    assert out.keys() <= ALLOWED
    return tuple(sorted(out.items()))


def _shared_measure(ds: Any, keyword: str) -> Any:
    if keyword not in ("PixelSpacing", "SliceThickness", "SpacingBetweenSlices"):
        return None
    try:
        return ds.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0].get(keyword)
    except (AttributeError, IndexError, KeyError):
        return None
