"""report.json: a versioned, deterministic, JSON-safe record of one comparison.

The schema is documented field by field in ``docs/report-schema.md``. The same
:class:`~spotdiff.analysis.result.Result` always gives the same bytes: keys are sorted,
separators fixed, floats rounded to 6 significant digits, and nothing time- or
machine-dependent is added beyond what the result itself carries.

Paths can be replaced by stable pseudonyms (:class:`PathNamer`) so a report can be
shared without revealing folder or file names.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import dataclasses
import enum
import hashlib
import json
import math
import re
from collections.abc import Iterable, Mapping
from importlib import metadata
from pathlib import Path
from typing import Callable

import numpy as np

from ..analysis.heatmap import item_key
from ..io.images import ImageRecord
from ..analysis.result import Cluster, Direction, Finding
from ..analysis.subgroups import is_share_claim, share_above
from ..analysis.explain import report_key

if TYPE_CHECKING:
    from ..comparison import Result  # lazy: type hints only (Result writes its reports with this package)

SCHEMA_VERSION = "2.5"
TOOL_NAME = "spotdiff"
N_CLUSTER_MEMBERS = 12
"""Cluster members listed in report.json; the counts n_a, n_b cover them all."""
LOCATION_DECIMALS = 3
"""Decimals of the shares in a region finding's location maps (32 x 32 of them per set)."""

_SIGNIFICANT_DIGITS = 6


def tool_version() -> str:
    """The installed spotdiff version, or ``"0+unknown"`` when running from a bare checkout."""
    try:
        return metadata.version(TOOL_NAME)
    except metadata.PackageNotFoundError:
        return "0+unknown"


def round_float(x: float) -> float | None:
    """``x`` to 6 significant digits; ``None`` (JSON null) for NaN and infinities."""
    x = float(x)
    if not math.isfinite(x):
        return None
    if x == 0.0:
        return 0.0  # also turns -0.0 into 0.0, so equal results print equally
    return float(f"{x:.{_SIGNIFICANT_DIGITS}g}")


def pseudonym(label: str, path: Path, content_hash: str | None = None) -> str:
    """Stable stand-in for a file name: ``"<label>/img-<10 hex>.<ext>"``.

    The hex digits are the start of sha256(content_hash), or of sha256(path) for files
    that were never read; the extension is kept. Two files with identical bytes in one
    set get the same pseudonym: they are the same picture.
    """
    key = content_hash or str(path)
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:10]
    return f"{label}/img-{digest}{Path(path).suffix}"


class PathNamer:
    """Turns paths into the strings a report shows: as given, or as pseudonyms.

    With ``pseudonymise=False`` a path is shown as ``str(path)`` and free text is left
    alone. With ``pseudonymise=True`` every image, skipped file and source folder of the
    result gets a stable pseudonym, and :meth:`text` replaces those paths and file names
    wherever they occur inside free text (warnings, skip reasons, settings). Bare folder
    names inside free text are not replaced: they are too often ordinary words.
    """

    def __init__(self, result: Result, *, pseudonymise: bool = False):
        self.pseudonymise = pseudonymise
        self._names: dict[Path, str] = {}
        self._scrub_map: dict[str, str] = {}
        self._scrub_re: re.Pattern[str] | None = None
        if pseudonymise:
            self._learn(result)

    def _learn(self, result: Result) -> None:
        file_names: dict[Path, str] = {}
        for image_set in (result.set_a, result.set_b):
            label = image_set.label
            for i, source in enumerate(image_set.sources, start=1):
                self._names.setdefault(Path(source), f"{label}/source-{i}")
            for record in image_set.images:
                # by the file's own hash: every frame or slice of one file shares its file's pseudonym
                file_hash = record.content_hash.split("#", 1)[0]
                file_names.setdefault(record.path, pseudonym(label, record.path, file_hash))
            for skipped in image_set.skipped:
                file_names.setdefault(skipped.path, pseudonym(label, skipped.path))
        for leak in result.leaks:
            file_names.setdefault(leak.path_a, pseudonym(result.set_a.label, leak.path_a, leak.content_hash))
            file_names.setdefault(leak.path_b, pseudonym(result.set_b.label, leak.path_b, leak.content_hash))
        self._names.update(file_names)
        # Full paths first, then bare file names (which also occur in messages like
        # "cannot identify image file 'cat.jpg'"); the first occurrence of a name wins.
        for path, name in sorted(self._names.items(), key=lambda item: str(item[0])):
            self._scrub_map.setdefault(str(path), name)
            self._scrub_map.setdefault(path.as_posix(), name)
        for path, name in sorted(file_names.items(), key=lambda item: str(item[0])):
            if path.name:
                self._scrub_map.setdefault(path.name, name.rsplit("/", 1)[-1])

    def path(self, path: Path | str) -> str:
        """How ``path`` appears in the report."""
        path = Path(path)
        if not self.pseudonymise:
            return str(path)
        name = self._names.get(path)
        if name is None:  # a path the result's sets do not know (e.g. a setting)
            digest = hashlib.sha256(str(path).encode("utf-8")).hexdigest()[:10]
            name = f"path-{digest}{path.suffix}"
        return name

    def record(self, record: ImageRecord) -> str:
        """The record's file, and which frame or slice of it: "scan.nii.gz [slice index 40, axis 2]"."""
        return f"{self.path(record.path)} [{record.item}]" if record.item else self.path(record.path)

    def records(self, records: Iterable[ImageRecord], limit: int | None = None) -> list[str]:
        return [self.record(r) for r in list(records)[:limit]]

    def text(self, text: str) -> str:
        """``text`` with every known path and file name replaced by its pseudonym."""
        if not self.pseudonymise or not self._scrub_map:
            return text
        if self._scrub_re is None:
            keys = sorted(self._scrub_map, key=len, reverse=True)  # longest match wins
            # Whole names only: "a.png" must not match inside "data.png" or "a.png2".
            alternatives = "|".join(re.escape(k) for k in keys)
            self._scrub_re = re.compile(rf"(?<![\w.-])(?:{alternatives})(?![\w-])(?!\.\w)")
        return self._scrub_re.sub(lambda m: self._scrub_map[m.group(0)], text)


def json_safe(value: object, namer: PathNamer | None = None) -> object:
    """``value`` as plain JSON types: numpy scalars and arrays, paths, tuples, sets, enums
    and dataclasses converted; floats rounded, NaN as ``None``; dict keys as strings.

    With a pseudonymising ``namer``, paths become pseudonyms and strings are scrubbed.
    """
    text: Callable[[str], str] = namer.text if namer else (lambda s: s)
    path: Callable[[Path], str] = namer.path if namer else str
    if value is None or isinstance(value, (bool, np.bool_)):
        return None if value is None else bool(value)
    if isinstance(value, (int, np.integer)) and not isinstance(value, enum.Enum):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return round_float(value)
    if isinstance(value, str) and not isinstance(value, enum.Enum):
        return text(value)
    if isinstance(value, Path):
        return path(value)
    if isinstance(value, enum.Enum):
        return json_safe(value.value, namer)
    if isinstance(value, np.ndarray):
        return json_safe(value.tolist(), namer)
    if isinstance(value, Mapping):
        return {_key(k, namer): json_safe(v, namer) for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: json_safe(getattr(value, f.name), namer) for f in dataclasses.fields(value)}
    if isinstance(value, (set, frozenset)):
        items = [json_safe(v, namer) for v in value]
        return sorted(items, key=lambda v: json.dumps(v, sort_keys=True))
    if isinstance(value, (list, tuple)):
        return [json_safe(v, namer) for v in value]
    return text(str(value))


def _key(key: object, namer: PathNamer | None) -> str:
    if isinstance(key, Path):
        return namer.path(key) if namer else str(key)
    return str(key)


def ordered_findings(findings: Iterable[Finding]) -> list[Finding]:
    """Report order (spotdiff.analysis.explain.report_order): each top-level supported finding followed by its side
    effects, independent findings first; then the unsupported findings by q-value."""
    return sorted(findings, key=report_key)


def _quartiles(scores: np.ndarray) -> dict:
    scores = np.asarray(scores, dtype=np.float64).ravel()
    scores = scores[np.isfinite(scores)]
    if scores.size == 0:
        return {"median": None, "q1": None, "q3": None}
    q1, median, q3 = np.percentile(scores, [25, 50, 75])
    return {"median": round_float(median), "q1": round_float(q1), "q3": round_float(q3)}


def _peaks(item: Finding | Direction, heatmaps: Mapping) -> dict:
    """Each exemplar's heat-map peak [x, y] in its image's pixels, or None where no map was made."""
    out = {}
    for side in ("a", "b"):
        key = item_key(item, side)
        maps = (heatmaps.get((key, r.content_hash)) for r in getattr(item, f"exemplars_{side}"))
        out[side] = [list(m.peak) if m is not None else None for m in maps]
    return out


def _finding(finding: Finding, namer: PathNamer, heatmaps: Mapping | None = None) -> dict:
    h = finding.hypothesis
    return {
        "statement": h.statement,
        "more_in": h.more_in,
        "source": h.source,
        "space": h.space,
        "evidence": namer.text(h.evidence),
        "rank": h.rank,
        "heldout_auroc": round_float(finding.heldout_auroc),
        "p_value": round_float(finding.p_value),
        "q_value": round_float(finding.q_value),
        "weight": round_float(finding.weight),
        "supported": bool(finding.supported),
        "test": h.test,
        "id": finding.id,
        "independent": bool(finding.independent),
        "p_conditional": round_float(finding.p_conditional),
        "side_effect_of": finding.side_effect_of,
        "aliased_with": finding.aliased_with,
        "via": finding.via,
        "replanted": None if finding.replanted is None else {
            "edit": finding.replanted[0], "into": finding.replanted[1], "strength": round_float(finding.replanted[2]),
            "reproduced": [round_float(x) for x in finding.reproduced]},
        "n_heldout": {"a": int(np.size(finding.scores_a)), "b": int(np.size(finding.scores_b))},
        "score_summary": {"a": _quartiles(finding.scores_a), "b": _quartiles(finding.scores_b)},
        "exemplars": {"a": namer.records(finding.exemplars_a), "b": namer.records(finding.exemplars_b)},
        "exemplar_peaks": _peaks(finding, heatmaps or {}),
        **_shares(finding),
        "region": _region(finding),
    }


def region_key(record: ImageRecord) -> tuple[str, int | None, int | None]:
    """The key of ``record`` in a region finding's ``region.boxes``: (str(path), frame, axis)."""
    return str(record.path), record.frame, record.axis


def region_boxes(finding: Finding, record: ImageRecord) -> tuple[tuple[int, int, int, int], ...]:
    """The regions a region finding's detector finds in ``record``, (x0, y0, x1, y1) in its own pixels, x1 and y1
    exclusive; () for an image without any, and for a finding that is not about regions."""
    summary = finding.region
    return tuple(summary.boxes.get(region_key(record), ())) if summary is not None else ()


def _region(finding: Finding) -> dict | None:
    """A region finding's description (RegionSummary.to_json), its exemplars' boxes in exemplar order, and each
    set's average location map (32 x 32 shares of held-out images); None for any other finding."""
    summary = finding.region
    if summary is None:
        return None

    def boxes(records: Iterable[ImageRecord]) -> list:
        return [[[int(v) for v in box] for box in region_boxes(finding, r)] for r in records]

    def location(side: str) -> list | None:
        grid = summary.location.get(side)
        return None if grid is None else np.round(np.asarray(grid, dtype=np.float64), LOCATION_DECIMALS).tolist()

    return {
        **json_safe(summary.to_json()),
        "exemplar_boxes": {"a": boxes(finding.exemplars_a), "b": boxes(finding.exemplars_b)},
        "location": {side: location(side) for side in ("a", "b")},
    }


def _shares(finding: Finding) -> dict:
    """For a claim about shares (a 0/1 claim such as "Manufacturer = GE", or a subgroup claim), the held-out
    share of each set above its threshold, and a subgroup claim's threshold."""
    h = finding.hypothesis
    if not is_share_claim(h):
        return {}
    out = {"shares": {side: round_float(share_above(h, scores)) if np.size(scores) else None
                      for side, scores in (("a", finding.scores_a), ("b", finding.scores_b))}}
    if h.test == "exceedance":
        out["threshold"] = round_float(h.threshold)
    return out


def _direction(direction: Direction, namer: PathNamer, heatmaps: Mapping | None = None) -> dict:
    return {
        "space": direction.space,
        "index": int(direction.index),
        "discovery_auroc": round_float(direction.discovery_auroc),
        "heldout_auroc": round_float(direction.heldout_auroc),
        "concepts": list(direction.concepts),
        "exemplars": {"a": namer.records(direction.exemplars_a), "b": namer.records(direction.exemplars_b)},
        "exemplar_peaks": _peaks(direction, heatmaps or {}),
        "typical": {"a": namer.records(direction.typical_a), "b": namer.records(direction.typical_b)},
    }


def _cluster(cluster: Cluster, namer: PathNamer) -> dict:
    return {
        "space": cluster.space,
        "index": int(cluster.index),
        "n_a": int(cluster.n_a),
        "n_b": int(cluster.n_b),
        "enrichment": round_float(cluster.enrichment),
        "p_value": round_float(cluster.p_value),
        "more_in": cluster.more_in,
        "members": namer.records(cluster.members, limit=N_CLUSTER_MEMBERS),
    }


def to_json_dict(result: Result, *, pseudonymise_paths: bool = False) -> dict:
    """``result`` as the report.json document (plain JSON types only).

    Vectors and raw scores are left out; each finding carries its held-out counts and
    score quartiles instead. See ``docs/report-schema.md``.
    """
    namer = PathNamer(result, pseudonymise=pseudonymise_paths)
    settings = json_safe(result.settings, namer)
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": TOOL_NAME, "version": tool_version()},
        "model": settings.get("model"),
        "seed": settings.get("seed"),
        "settings": settings,
        "sets": {
            s.label: {
                "sources": [namer.path(p) for p in s.sources],
                "n_images": len(s.images),
                "n_found": s.n_found if s.n_found is not None else len(s.images),
                "n_skipped": len(s.skipped),
            }
            for s in (result.set_a, result.set_b)
        },
        "skipped": [
            {"set": s.label, "path": namer.path(f.path), "reason": namer.text(f.reason)}
            for s in (result.set_a, result.set_b)
            for f in s.skipped
        ],
        "leaks": [
            {"path_a": namer.path(k.path_a), "path_b": namer.path(k.path_b), "content_hash": k.content_hash}
            for k in result.leaks
        ],
        "separability": [
            {
                "space": s.space,
                "auroc": round_float(s.auroc),
                "p_value": round_float(s.p_value),
                "n_permutations": int(s.n_permutations),
            }
            for s in result.separability
        ],
        "directions": [_direction(d, namer, result.heatmaps) for d in result.directions],
        "clusters": [_cluster(c, namer) for c in result.clusters],
        "findings": [_finding(f, namer, result.heatmaps) for f in ordered_findings(result.findings)],
        "domain": result.domain.to_json() if result.domain is not None else None,
        "warnings": [namer.text(w) for w in result.warnings],
        "timings": json_safe(result.timings, namer),
    }


def dumps(document: dict) -> str:
    """The canonical text of a report document: sorted keys, 2-space indent, final newline."""
    return json.dumps(
        document, sort_keys=True, indent=2, separators=(",", ": "), ensure_ascii=False, allow_nan=False
    ) + "\n"


def write_json(result: Result, path: Path | str, *, pseudonymise_paths: bool = False) -> Path:
    """Write report.json for ``result`` to ``path`` (UTF-8) and return the path."""
    path = Path(path)
    text = dumps(to_json_dict(result, pseudonymise_paths=pseudonymise_paths))
    path.write_text(text, encoding="utf-8", newline="\n")
    return path
