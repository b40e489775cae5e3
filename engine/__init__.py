"""spotdiff: how do two sets of images differ? Said in plain words, each claim checked on held-out images.

    >>> import spotdiff
    >>> result = spotdiff.compare("set_a/", "set_b/")    # a Result
    >>> print(result.supported[0])                     # the strongest difference that held up
    >>> result.save("report")                          # report.json + report.html

The public API — what the desktop app (``spotdiff.gui``) and other callers may use — is ``__all__``.
The engine holds no Qt. Its layers, each importing only those below it (import-linter checks them,
see pyproject.toml): apps (cli, demo, selftest, bench) › api, cluster › projection › pipeline › comparison ›
report › analysis › models › synthetic › io › errors, progress, params, spaces.
Data flows: images → embeddings → directions → hypotheses → validated findings → report.
"""

from . import runtime  # noqa: F401  first: OpenMP's wait policy is read when torch or scikit-learn loads
from .analysis.heatmap import finding_layer as heatmap_layer
from .analysis.library import FeatureLibrary, LibraryEntry, data_dir, verdict_for
from .analysis.proposers import ConceptBankProposer, Evidence, MeasurementProposer, Proposer, SpaceEvidence
from .analysis.proposers.library import LibraryProposer
from .analysis.proposers.vlm import VLMProposer
from .analysis.result import Cluster, Direction, Finding, Hypothesis, Separability
from .api import compare
from .apps.console import write_reports
from .apps.embedded import compare_embedded_steps
from .comparison import Result
from .errors import (
    Cancelled,
    EmptyImageSetError,
    ImageSetError,
    ImageSetNotFoundError,
    InputError,
    InvalidParameterError,
    LibraryError,
    ModelError,
    SpotdiffError,
    UnknownModelError,
    UnreadableImageError,
    VLMAnswerError,
    VLMError,
    VLMRuntimeError,
    VLMStoppedError,
    VLMTimeoutError,
    WeightsIntegrityError,
    WeightsNotFoundError,
    WorkerCrashedError,
    WorkerError,
    WorkerProtocolError,
    WorkerTimeoutError,
)
from .io.images import ImageRecord, ImageSet, Leak, SkippedFile, find_leaks, open_image, scan_image_set, thumbnail
from .io.medical import ReadOptions
from .models.cache import EmbeddingCache
from .models.host import ModelHost
from .models.registry import availability, default_model, get_model_spec, list_models
from .models.vlm import VisionLanguageModel
from .pipeline import CompareRequest, compare_steps
from .progress import Progress, run
from .projection import EmbeddingMap, embedding_map
from .report import describe, describe_link, describe_test, ordered_findings, verdict

__all__ = [
    # comparing
    "compare", "compare_steps", "compare_embedded_steps", "CompareRequest", "Result", "Finding", "Hypothesis", "Separability", "Direction",
    "Cluster", "Leak", "Progress", "run", "ModelHost", "EmbeddingCache", "write_reports",
    # images
    "ImageRecord", "ImageSet", "SkippedFile", "ReadOptions", "find_leaks", "open_image", "scan_image_set", "thumbnail",
    # models
    "availability", "default_model", "get_model_spec", "list_models", "VisionLanguageModel",
    # proposers
    "Proposer", "Evidence", "SpaceEvidence", "ConceptBankProposer", "MeasurementProposer", "LibraryProposer",
    "VLMProposer",
    # the feature library
    "FeatureLibrary", "LibraryEntry", "data_dir", "verdict_for",
    # words and pictures
    "describe", "describe_link", "describe_test", "ordered_findings", "verdict", "EmbeddingMap", "embedding_map", "heatmap_layer",
    # errors
    "SpotdiffError", "InputError", "ImageSetError", "ImageSetNotFoundError", "EmptyImageSetError",
    "UnreadableImageError", "InvalidParameterError", "ModelError", "UnknownModelError", "WeightsNotFoundError",
    "WeightsIntegrityError", "LibraryError", "VLMError", "VLMRuntimeError", "VLMTimeoutError", "VLMAnswerError",
    "VLMStoppedError", "WorkerError", "WorkerCrashedError", "WorkerTimeoutError", "WorkerProtocolError", "Cancelled",
]
