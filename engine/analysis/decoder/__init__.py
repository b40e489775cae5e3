"""A decoder that has learned, across comparisons whose answers were known, to say what a learned difference is:
it ranks the statements a comparison could make from the discovery half's numbers (spotdiff.analysis.decoder.features)."""

from .features import FEATURES, SHARE_BINS, Candidates, candidates, share_bin
from .model import Decoder, Example, top1_accuracy

__all__ = ["FEATURES", "SHARE_BINS", "Candidates", "Decoder", "Example", "candidates", "share_bin", "top1_accuracy"]
