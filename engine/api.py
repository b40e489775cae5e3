"""``spotdiff.compare``: one call, two sets of images in, a Result out — for notebooks and scripts.

    >>> import spotdiff
    >>> result = spotdiff.compare("photos/malignant", "photos/benign")
    >>> result.supported[0]            # the strongest difference that held up on held-out images
    >>> result.save("report")          # report.json + report.html

The command line and the desktop app drive the same comparison step by step
(:func:`spotdiff.pipeline.compare_steps`: progress, cancel); this runs it to the end.
"""

from __future__ import annotations

import os
from dataclasses import fields
from typing import Callable, Sequence

from .analysis.library import FeatureLibrary
from .comparison import Result
from .errors import InvalidParameterError
from .models.host import ModelHost
from .pipeline import CompareRequest, compare_steps
from .progress import Progress, run

Sets = str | os.PathLike | Sequence[str | os.PathLike]


def compare(set_a: Sets, set_b: Sets, *, model: str | None = None, seed: int = 0,
            library: FeatureLibrary | None = None, on_progress: Callable[[Progress], object] | None = None,
            host: ModelHost | None = None, **options) -> Result:
    """Compare two sets of images and return what differs, every claim checked on held-out images.

    Parameters
    ----------
    set_a, set_b : a folder or image file, or a sequence of them (read only, never modified)
    model : registry name of the embedding model (``spotdiff models`` lists them); default: the
        embedded default, as the command line and the app use
    seed : the seed of the discovery / held-out split and every random step
    library : a feature library whose confirmed features are proposed again; default none (the same
        call gives the same findings on every machine; pass ``spotdiff.FeatureLibrary()`` for yours)
    on_progress : called with each :class:`~spotdiff.progress.Progress`; returning False cancels
        (:class:`~spotdiff.errors.Cancelled` is raised)
    host : a ModelHost to keep models loaded between calls (default: one for this call, closed after)
    **options : any other field of :class:`~spotdiff.pipeline.CompareRequest` (alpha, min_effect, vlm, ...)

    Returns
    -------
    Result : ``.findings`` (supported first), ``.supported``, ``.save(folder)``, ``.to_dict()``

    Raises
    ------
    InvalidParameterError (a ValueError) for an option that is unknown or has an impossible value;
    ImageSetError for a set that cannot be read; ModelError for a model that cannot be found or loaded.
    """
    known = {f.name for f in fields(CompareRequest)} - {"set_a", "set_b", "model", "seed"}
    unknown = sorted(set(options) - known)
    if unknown:
        raise InvalidParameterError(unknown[0], options[unknown[0]], f"one of the options {', '.join(sorted(known))}")
    request = CompareRequest(set_a=_paths(set_a), set_b=_paths(set_b), model=model, seed=seed, **options)
    return run(compare_steps(request, host=host, library=library), on_progress)


def _paths(value: Sets):
    """A sequence of paths as a tuple; anything else as it is, for CompareRequest to check."""
    if isinstance(value, (str, os.PathLike)) or not isinstance(value, Sequence):
        return value
    return tuple(value)
