"""The whole comparison's outcome: what was compared, how, and every finding — with its reports.

Sits above the report package so that ``Result.save`` and ``Result.to_dict`` can write them; the
analysis layer below knows only findings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import numpy as np

from .analysis.domain import DomainCheck
from .analysis.heatmap import Heatmap
from .analysis.result import Cluster, Direction, Finding, Separability
from .io.images import ImageSet, Leak, SkippedFile
from .report import describe, to_json_dict, write_html, write_json


@dataclass(frozen=True)
class Result:
    """Everything one comparison found, in the order the data flowed.

    embeddings : space name -> ndarray of shape (n_a + n_b, dim), set A's images first, in
        ``set_a.images + set_b.images`` order (for maps of all images; empty when not kept)
    heatmaps : (spotdiff.analysis.heatmap.item_key(finding or direction, side), image content_hash) ->
        spotdiff.analysis.heatmap.Heatmap: where in each shown exemplar its finding or direction lies
        (supported findings and directions of a CLIP space only; empty when not made)
    domain : whether the images belong to the model's domain (spotdiff.analysis.domain.DomainCheck; its
        ``message`` is the line to show when not), or None for a model without a domain reference
    """

    set_a: ImageSet
    set_b: ImageSet
    settings: dict
    leaks: tuple[Leak, ...]
    separability: tuple[Separability, ...]
    directions: tuple[Direction, ...]
    clusters: tuple[Cluster, ...]
    findings: tuple[Finding, ...]
    timings: dict
    warnings: tuple[str, ...] = ()
    embeddings: Mapping[str, np.ndarray] = field(default_factory=dict, repr=False, compare=False)
    heatmaps: Mapping[tuple[str, str], Heatmap] = field(default_factory=dict, repr=False, compare=False)
    domain: DomainCheck | None = None

    @property
    def skipped(self) -> tuple[SkippedFile, ...]:
        return self.set_a.skipped + self.set_b.skipped

    @property
    def supported(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.supported)

    def to_dict(self, *, pseudonymise_paths: bool = False) -> dict:
        """What report.json holds (docs/report-schema.md), as plain Python data."""
        return to_json_dict(self, pseudonymise_paths=pseudonymise_paths)

    def save(self, folder: Path | str, *, pseudonymise_paths: bool = False) -> Path:
        """Write report.json and report.html into ``folder`` (made if missing); returns the folder."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        write_json(self, folder / "report.json", pseudonymise_paths=pseudonymise_paths)
        write_html(self, folder / "report.html", pseudonymise_paths=pseudonymise_paths)
        return folder

    def __repr__(self) -> str:
        """One line a notebook can read: the sets, the verdict, the supported findings."""
        model = self.settings.get("model", "?")
        head = (f"Result({len(self.set_a)} images in A vs {len(self.set_b)} in B, model {model!r}: "
                f"{len(self.supported)} of {len(self.findings)} findings supported")
        shown = [describe(f) for f in self.supported[:3]]
        more = f"; +{len(self.supported) - 3} more" if len(self.supported) > 3 else ""
        return head + (": " + "; ".join(shown) + more if shown else "") + ")"
