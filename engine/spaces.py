"""The names of a comparison's spaces: where each image has a vector, and a claim is scored.

A model's own space is named after the model ("toy-shapes", "ViT-B-32"); these are the spaces every
comparison may have besides it.
"""

from __future__ import annotations

#: named, interpretable image statistics (brightness, sharpness, ...); also the model that needs no weights
MEASUREMENTS = "measurements"
#: the images' acquisition tags (DICOM scanner, protocol, ...), tested as possible confounders
ACQUISITION = "acquisition"
#: each image's score from the region detectors fitted on the discovery half (spotdiff.analysis.regions); only
#: region claims are scored in it, and it takes no part in the separability test or the directions
REGIONS = "regions"
#: spaces of exact values (pixel statistics, metadata) rather than a model's view of the content
EXACT_SPACES = (MEASUREMENTS, ACQUISITION)
