"""Small DICOM sets with a planted acquisition difference and fake patient data, for tests and demos.

Made from the MR and CT slices pydicom ships (``pydicom.data.get_testdata_file``), so nothing is
downloaded. Every file gets its own pixel noise (distinct content), a fake patient (name, ID, birth
date, accession number, dates, address, physicians) that a privacy test can look for, and whatever
acquisition tags the caller plants.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np
import pydicom
from pydicom.data import get_testdata_file

FAKE_PATIENT_FIELDS = ("PatientName", "PatientID", "PatientBirthDate", "AccessionNumber", "StudyDate",
                       "SeriesDate", "PatientAddress", "ReferringPhysicianName", "OperatorsName", "InstitutionAddress",
                       "OtherPatientIDs", "StudyID")


def fake_patient(label: str, i: int) -> dict[str, str]:
    """Distinctive fake identifiers for image ``i`` of set ``label`` (no real person's data)."""
    tag = f"{label.upper()}{i:03d}"
    return {
        "PatientName": f"Qzxlowski^Vernadette{tag}", "PatientID": f"PIDQZ{tag}", "PatientBirthDate": "19470229",
        "AccessionNumber": f"ACCQZ{tag}", "StudyDate": "20211113", "SeriesDate": "20211113",
        "PatientAddress": f"{i} Quaggastrasse, Zxville", "ReferringPhysicianName": f"Drwhyz^Horatio{tag}",
        "OperatorsName": f"Opqz^Tech{tag}", "InstitutionAddress": "1 Nowhere Lane, Qzburg",
        "OtherPatientIDs": f"OPIDQZ{tag}", "StudyID": f"SIDQZ{tag}",
    }


def write_dicom_set(folder: Path | str, n: int, *, label: str = "a", seed: int = 0, template: str = "MR_small.dcm",
                    tags: Mapping[str, object] | None = None, share: float = 1.0, noise: float = 8.0) -> list[Path]:
    """Write ``n`` DICOM files ``folder/im000.dcm`` ... and return their paths.

    tags : attributes to set (by keyword) on the first ``round(share * n)`` files and on no other,
        e.g. ``{"Manufacturer": "ACME"}``
    noise : standard deviation of the Gaussian noise added to the stored values
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([seed, ord(label[0])])
    source = get_testdata_file(template)
    paths = []
    for i in range(n):
        ds = pydicom.dcmread(source)  # afresh each time: a copy would share its elements
        stored = ds.pixel_array
        info = np.iinfo(stored.dtype)
        noisy = stored.astype(np.float64) + rng.normal(0.0, noise, stored.shape)
        ds.PixelData = np.clip(np.rint(noisy), max(info.min, 0 if ds.PixelRepresentation == 0 else info.min),
                               info.max).astype(stored.dtype).tobytes()
        for keyword, value in fake_patient(label, i).items():
            setattr(ds, keyword, value)
        if tags and i < round(share * n):
            for keyword, value in tags.items():
                setattr(ds, keyword, value)
        path = folder / f"im{i:03d}.dcm"
        ds.save_as(path)
        paths.append(path)
    return paths
