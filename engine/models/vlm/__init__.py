"""Local vision-language models (GGUF through llama-cpp-python) that put contrasts into words.

runtime   VisionLanguageModel: load once, stream answers with cancel and a time budget, JSON by grammar
isolated  IsolatedVLM: the same, in a worker process of its own (what ModelHost.vlm gives by default)
registry  kind "vlm" registry entries: language model + image projector files, context and image sizes
grids     labelled "Set A" / "Set B" exemplar grids
prompts   the question, the answer's JSON schema, reading statements out of an answer
tiny      writes a tiny random-weight GGUF pair (text model + projector) that runs the whole image path

What a model says is a proposal: spotdiff.analysis.proposers.vlm turns it into hypotheses that are checked on
held-out images like any other. llama_cpp is imported on first use only.
"""

from .prompts import ANSWER_SCHEMA, ANSWER_TOKENS, Hints, Statement, read_statements
from .isolated import IsolatedVLM
from .runtime import Timing, VisionLanguageModel, context_size, default_threads

__all__ = ["ANSWER_SCHEMA", "ANSWER_TOKENS", "Hints", "IsolatedVLM", "Statement", "Timing", "VisionLanguageModel",
           "context_size", "default_threads", "read_statements"]
