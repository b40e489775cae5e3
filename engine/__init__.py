"""spotdiff engine: how do two sets of images differ? No Qt here.

The public API — what the desktop app and other callers may use — is ``__all__``.
Data flows: images → embeddings → directions → hypotheses → validated findings → report.
"""

from .cache import EmbeddingCache
from .errors import (
    Cancelled,
    EmptyImageSetError,
    ImageSetError,
    ImageSetNotFoundError,
    InputError,
    InvalidParameterError,
    ModelError,
    SpotdiffError,
    UnknownModelError,
    UnreadableImageError,
    VLMAnswerError,
    VLMError,
    VLMRuntimeError,
    VLMTimeoutError,
    WeightsIntegrityError,
    WeightsNotFoundError,
)
from .host import ModelHost
from .images import ImageRecord, ImageSet, SkippedFile, find_leaks, open_image, scan_image_set, thumbnail
from .medical import ReadOptions
from .pipeline import CompareRequest, compare
from .progress import Progress, run
from .proposers import ConceptBankProposer, Evidence, MeasurementProposer, Proposer, SpaceEvidence
from .result import Cluster, Direction, Finding, Hypothesis, Leak, Result, Separability

__all__ = [
    "Cancelled", "Cluster", "CompareRequest", "ConceptBankProposer", "Direction", "EmbeddingCache",
    "EmptyImageSetError", "Evidence", "Finding", "Hypothesis", "ImageRecord", "ImageSet", "ImageSetError",
    "ImageSetNotFoundError", "InputError", "InvalidParameterError", "Leak", "MeasurementProposer", "ModelError",
    "ModelHost", "Progress", "Proposer", "Result", "Separability", "SkippedFile", "SpaceEvidence", "SpotdiffError",
    "UnknownModelError", "UnreadableImageError", "WeightsIntegrityError", "WeightsNotFoundError", "compare",
    "find_leaks", "open_image", "run", "scan_image_set", "thumbnail", "ReadOptions",
    "list_models", "get_model_spec", "availability", "write_reports",
    "FeatureLibrary", "LibraryEntry", "LibraryError", "LibraryProposer", "data_dir", "verdict_for",
    "EmbeddingMap", "embedding_map", "default_model", "describe", "describe_link", "describe_test", "verdict", "heatmap_layer",
    "ordered_findings",
    "VLMAnswerError", "VLMError", "VLMRuntimeError", "VLMTimeoutError", "VLMProposer", "VisionLanguageModel",
]


def __getattr__(name):
    # heavier pieces load on first use, so `import engine` stays light
    if name == "VLMProposer":
        from .proposers.vlm import VLMProposer

        return VLMProposer
    if name == "VisionLanguageModel":
        from .vlm import VisionLanguageModel

        return VisionLanguageModel
    if name in ("list_models", "get_model_spec", "availability"):
        from . import models

        return getattr(models, name)
    if name == "write_reports":
        from .cli import write_reports

        return write_reports
    if name in ("FeatureLibrary", "LibraryEntry", "LibraryError", "data_dir", "verdict_for"):
        from . import library

        return getattr(library, name)
    if name == "LibraryProposer":
        from .proposers.library import LibraryProposer

        return LibraryProposer
    if name in ("EmbeddingMap", "embedding_map"):
        from . import projection

        return getattr(projection, name)
    if name == "default_model":
        from .cli import default_model

        return default_model
    if name == "heatmap_layer":
        from .heatmap import finding_layer

        return finding_layer
    if name in ("describe", "describe_link", "describe_test", "verdict", "ordered_findings"):
        from . import report

        return getattr(report, name)
    raise AttributeError(f"module 'engine' has no attribute {name!r}")
