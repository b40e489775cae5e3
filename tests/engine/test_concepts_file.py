"""The shipped concept bank (engine/data/concepts.txt) is well-formed.

Format: UTF-8, one phrase per line; a line starting with "# " is a section
header ("# section: NAME"); blank lines are ignored. Sub-sections are written
"# section: GROUP / SUB" (e.g. "# section: medical / dermatology"); the
phrases of all sub-sections count towards their group.
"""

from __future__ import annotations

import importlib.resources
from collections import OrderedDict

import pytest

HEADER_PREFIX = "# "


def _read_text() -> str:
    resource = importlib.resources.files("spotdiff") / "data" / "concepts.txt"
    return resource.read_text(encoding="utf-8")


def _parse(text: str) -> "OrderedDict[str, list[str]]":
    """Section header (without "# ") -> its phrases, in file order."""
    sections: OrderedDict[str, list[str]] = OrderedDict()
    current: str | None = None
    for lineno, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        if raw.startswith(HEADER_PREFIX):
            current = raw[len(HEADER_PREFIX):].strip()
            assert current, f"line {lineno}: empty section header"
            assert current not in sections, f"line {lineno}: repeated section {current!r}"
            sections[current] = []
            continue
        assert current is not None, f"line {lineno}: phrase {raw!r} before any section header"
        sections[current].append(raw)
    return sections


def _group(header: str) -> str:
    name = header.split(":", 1)[1] if ":" in header else header
    return name.split("/", 1)[0].strip().lower()


@pytest.fixture(scope="module")
def sections() -> "OrderedDict[str, list[str]]":
    return _parse(_read_text())


@pytest.fixture(scope="module")
def phrases(sections) -> list[str]:
    return [p for ps in sections.values() for p in ps]


def test_file_is_utf8_and_ends_with_newline():
    resource = importlib.resources.files("spotdiff") / "data" / "concepts.txt"
    data = resource.read_bytes()
    data.decode("utf-8")
    assert data.endswith(b"\n")
    assert b"\r" not in data


def test_headers_name_sections(sections):
    for header in sections:
        assert header.startswith("section: "), header
        assert header[len("section: "):].strip(), header


def test_enough_phrases(phrases):
    assert len(phrases) >= 1000, len(phrases)


def test_no_duplicates_case_insensitive(phrases):
    seen: dict[str, str] = {}
    dups = []
    for p in phrases:
        key = p.casefold()
        if key in seen:
            dups.append(p)
        seen.setdefault(key, p)
    assert not dups, f"duplicate phrases: {dups}"


def test_phrases_are_well_formed(phrases):
    bad = []
    for p in phrases:
        if (
            not p
            or p != p.strip()
            or p.startswith("#")
            or not 1 <= len(p.split()) <= 6
            or "  " in p
            or "\t" in p
            or p != p.lower()
        ):
            bad.append(p)
    assert not bad, f"malformed phrases: {bad}"


def test_no_section_is_empty(sections):
    empty = [h for h, ps in sections.items() if not ps]
    assert not empty, f"empty sections: {empty}"


def test_medical_section_is_large(sections):
    medical = [h for h in sections if "medical" in h.lower()]
    assert medical, "no section header mentions 'medical'"
    by_group: dict[str, int] = {}
    for h in medical:
        by_group[_group(h)] = by_group.get(_group(h), 0) + len(sections[h])
    assert max(by_group.values()) >= 250, by_group


def test_medical_subsections_cover_modalities(sections):
    medical = " | ".join(h.lower() for h in sections if "medical" in h.lower())
    for topic in (
        "dermatology",
        "x-ray",
        "brain",
        "histopathology",
        "retina",
        "endoscopy",
        "ultrasound",
        "artefact",
    ):
        assert topic in medical, f"no medical sub-section about {topic!r}"


@pytest.mark.parametrize(
    "phrase",
    [
        "small rectangles",
        "blurry",
        "a watermark",
        "text overlay",
        "dogs",
        "snow",
        "a red object",
        "a blue background",
        "a checkerboard pattern",
        "a centered object",
        "empty background",
        "motion blur",
        "pixel art",
        "a blue-white veil",
        "pleural effusion",
        "white matter hyperintensities",
        "h&e stain",
        "drusen",
        "burned-in text",
    ],
)
def test_expected_phrases_present(phrases, phrase):
    assert phrase in set(phrases)
