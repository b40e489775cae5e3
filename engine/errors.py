"""The one exception tree of spotdiff.

Every error the engine raises on purpose derives from :class:`SpotdiffError`;
each carries the facts it reports as attributes, so a CLI or a GUI can build
its own message from them. ``str(error)`` says what was found, what was
expected, and what to do.

    SpotdiffError
    ├── InputError                      bad input from the user (CLI exit code 2)
    │   ├── ImageSetError
    │   │   ├── ImageSetNotFoundError   a folder or file that does not exist
    │   │   ├── EmptyImageSetError      too few readable images in a set
    │   │   ├── UnreadableImageError    one file that cannot be decoded (skipped, with its reason)
    │   │   └── ImageListError          a list or manifest of image paths that cannot be read (spotdiff embed)
    │   ├── StoreError                  an embedding store (spotdiff embed --out) that cannot be used as asked
    │   └── InvalidParameterError       an option with an impossible value
    ├── ModelError
    │   ├── UnknownModelError           a name that is not in the registry
    │   ├── WeightsNotFoundError        registry entry known, weights file absent
    │   ├── WeightsIntegrityError       a weights file whose sha256 does not match
    │   ├── WeightsDownloadError        weights asked for but the hub cannot supply them
    │   ├── ModelLoadError              a file that exists but cannot be loaded (also a corrupt GGUF)
    │   └── VLMError                    a vision-language model cannot give a usable answer
    │       ├── VLMRuntimeError         llama-cpp-python missing, too old, or failing mid-answer
    │       │   └── VLMStoppedError     its worker process died, hung or sent garbage (from a WorkerError)
    │       ├── VLMTimeoutError         an answer ran past its time budget
    │       └── VLMAnswerError          an answer that is not the JSON asked for
    ├── LibraryError                    the feature library cannot be opened or written
    ├── CacheError                      the embedding cache cannot be used at all
    ├── ExtraMissingError               a command needs an optional extra that is not installed
    ├── WorkerError                     a worker process (spotdiff.worker) stopped; the next call starts a new one
    │   ├── WorkerCrashedError          it died: a signal (SIGILL, the out-of-memory SIGKILL, ...), MemoryError, exit
    │   ├── WorkerTimeoutError          it sent nothing within a call's time budget and was killed
    │   └── WorkerProtocolError         it sent a reply that cannot be read or is not what was asked for
    └── Cancelled                       the user stopped a run

Every error pickles with its facts (a worker process sends them to its parent as they are).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence


class SpotdiffError(Exception):
    """Base class of every error spotdiff raises on purpose."""

    def __reduce__(self):
        # The subclasses' __init__ take facts, not the message, so the default (cls(*args)) cannot
        # rebuild them: rebuild from the message and the facts instead.
        return _rebuild, (type(self), self.args, self.__dict__)


def _rebuild(cls: type, args: tuple, facts: dict) -> SpotdiffError:
    error = cls.__new__(cls)
    error.args = args
    error.__dict__.update(facts)
    return error


class InputError(SpotdiffError):
    """The user's input cannot be used as given."""


class ImageSetError(InputError):
    """An image set cannot be read as a set of images."""


class ImageSetNotFoundError(ImageSetError):
    def __init__(self, path: Path | str):
        self.path = Path(path)
        super().__init__(
            f"Image set '{self.path}' does not exist; expected a folder of images or an image file. "
            "Check the path and try again."
        )


class EmptyImageSetError(ImageSetError):
    def __init__(self, folder: Path | str, readable: int, skipped: int, needed: int):
        self.folder = Path(folder)
        self.readable = readable
        self.skipped = skipped
        self.needed = needed
        noun = "image" if readable == 1 else "images"
        super().__init__(
            f"Image set '{self.folder}' has {readable} readable {noun} ({skipped} skipped, see the list "
            f"of skipped files); at least {needed} are needed, half to find differences and half to "
            "check them. Add more images to the set."
        )


class UnreadableImageError(ImageSetError):
    """One file cannot be decoded as an image; a scan lists it as skipped with ``reason``."""

    def __init__(self, path: Path | str, reason: str):
        self.path = Path(path)
        self.reason = reason
        super().__init__(
            f"Cannot read '{self.path}' as an image: {reason}. Expected a complete JPEG, PNG, TIFF, "
            "BMP, WebP, GIF, DICOM, NIfTI or .npy file; re-export it or remove it from the set."
        )


class ImageListError(ImageSetError):
    """A text file, CSV or Parquet manifest of image paths that cannot be read as one."""

    def __init__(self, path: Path | str, problem: str):
        self.path = Path(path)
        self.problem = problem
        super().__init__(
            f"Image list '{self.path}' cannot be used: {problem}. Expected a folder, a text file with one image "
            "path a line, or a .csv / .parquet manifest with a 'path' column; fix the file or name a folder."
        )


class StoreError(InputError):
    """An embedding store (``spotdiff embed --out``) that cannot be written, resumed or compared as asked."""

    def __init__(self, path: Path | str, problem: str, fix: str):
        self.path = Path(path)
        self.problem = problem
        self.fix = fix
        super().__init__(f"Embedding store '{self.path}' {problem}. {fix}")


class InvalidParameterError(InputError, ValueError):
    """An option with an impossible value; also a ValueError, as in scikit-learn."""

    def __init__(self, name: str, value: object, expected: str):
        self.name = name
        self.value = value
        self.expected = expected
        super().__init__(f"Invalid value {value!r} for {name}: expected {expected}.")


class ModelError(SpotdiffError):
    """A model cannot be found, trusted or loaded."""


class UnknownModelError(ModelError):
    def __init__(self, name: str, known: Sequence[str]):
        self.name = name
        self.known = tuple(known)
        super().__init__(
            f"Unknown model {name!r}. Known models: {', '.join(self.known)}. "
            "Run 'spotdiff models' to see which are available on this machine."
        )


class WeightsNotFoundError(ModelError):
    def __init__(self, model: str, filename: str, searched: Sequence[Path], hint: str):
        self.model = model
        self.filename = filename
        self.searched = tuple(Path(p) for p in searched)
        self.hint = hint
        where = "; ".join(str(p) for p in self.searched) or "(nowhere)"
        super().__init__(
            f"Weights for model {model!r} not found: no file {filename!r} in {where}. {hint}"
        )


class WeightsIntegrityError(ModelError):
    def __init__(self, model: str, path: Path | str, expected: str, found: str):
        self.model = model
        self.path = Path(path)
        self.expected = expected
        self.found = found
        super().__init__(
            f"Refusing to load weights for model {model!r}: '{self.path}' has sha256 {found}, "
            f"expected {expected}. The file is damaged or not the published one; delete it and run "
            f"'spotdiff models pull {model}' or copy the right file in its place."
        )


class WeightsDownloadError(ModelError):
    def __init__(self, model: str, repo: str, reason: str, hint: str):
        self.model = model
        self.repo = repo
        self.reason = reason
        self.hint = hint
        super().__init__(
            f"Cannot download weights for model {model!r} from Hugging Face repo {repo!r}: {reason}. {hint}"
        )


class ModelLoadError(ModelError):
    def __init__(self, model: str, path: Path | str, reason: str):
        self.model = model
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"Cannot load model {model!r} from '{self.path}': {reason}")


class VLMError(ModelError):
    """A vision-language model was loaded but cannot give a usable answer."""


class VLMRuntimeError(VLMError):
    def __init__(self, model: str, reason: str, hint: str = ""):
        self.model = model
        self.reason = reason
        self.hint = hint
        super().__init__(f"Vision-language model {model!r} cannot run: {reason}. {hint}".strip())


class VLMStoppedError(VLMRuntimeError):
    """The model's worker process stopped mid-question: it died, hung past the budget or sent garbage.

    ``reason`` is the worker's (e.g. "illegal instruction (signal 4)"); the WorkerError is the
    ``__cause__``. The process is started again, and the model loaded again, at the next question.
    """

    def __init__(self, model: str, reason: str, hint: str = ""):
        self.model = model
        self.reason = reason
        self.hint = hint
        VLMError.__init__(self, f"Vision-language model {model!r} stopped: {reason}. {hint}".strip())


class VLMTimeoutError(VLMError):
    def __init__(self, model: str, budget_s: float, n_tokens: int):
        self.model = model
        self.budget_s = budget_s
        self.n_tokens = n_tokens
        super().__init__(
            f"Vision-language model {model!r} ran past its time budget of {budget_s:g} s after "
            f"{n_tokens} answer tokens; the answer is incomplete and was dropped. Allow more time "
            "(time_budget_s) or use a smaller model."
        )


class VLMAnswerError(VLMError):
    def __init__(self, model: str, answer: str, reason: str):
        self.model = model
        self.answer = answer
        self.reason = reason
        shown = answer if len(answer) <= 200 else answer[:199] + "…"
        super().__init__(
            f"Vision-language model {model!r} gave an answer that is not the JSON asked for ({reason}): "
            f"{shown!r}. The answer is ignored; if this repeats, raise max_tokens or use another model."
        )


class LibraryError(SpotdiffError):
    """The feature library file cannot be opened or written."""

    def __init__(self, path: Path | str, reason: str):
        self.path = Path(path)
        self.reason = reason
        super().__init__(
            f"Feature library '{self.path}' cannot be used: {reason}. "
            "Set SPOTDIFF_DATA to a writable folder, or move the file aside to start a new library."
        )


class CacheError(SpotdiffError):
    def __init__(self, path: Path | str, reason: str):
        self.path = Path(path)
        self.reason = reason
        super().__init__(
            f"Embedding cache '{self.path}' cannot be used: {reason}. "
            "Set SPOTDIFF_CACHE to a writable folder or pass --no-cache."
        )


class ExtraMissingError(SpotdiffError):
    """A command needs a package of an optional extra (``pip install 'spotdiff[cluster]'``) that is missing."""

    def __init__(self, module: str, extra: str, needed_for: str):
        self.module = module
        self.extra = extra
        self.needed_for = needed_for
        super().__init__(f"{needed_for} needs {module}, which is not installed here; it is part of the optional extra "
                         f"[{extra}]: pip install 'spotdiff[{extra}]'.")


class WorkerError(SpotdiffError):
    """A worker process (spotdiff.worker) could not answer and was stopped; its next call starts a new one.

    ``reason`` says what happened in a few words ("illegal instruction (signal 4)"), ``doing``
    what the worker was asked ("starting", "calling answer()").
    """

    def __init__(self, worker: str, doing: str, reason: str, message: str):
        self.worker = worker
        self.doing = doing
        self.reason = reason
        super().__init__(message)


class WorkerCrashedError(WorkerError):
    def __init__(self, worker: str, doing: str, reason: str, *, exitcode: int | None = None,
                 signal: str | None = None):
        self.exitcode = exitcode
        self.signal = signal  # "SIGILL", "SIGKILL", ... when a signal ended it
        super().__init__(worker, doing, reason, (
            f"Worker process {worker!r} died while {doing}: {reason}. What it was doing is lost; the next call "
            "starts a new process. If it dies again, what it runs does not work on this machine: see the log."))


class WorkerTimeoutError(WorkerError):
    def __init__(self, worker: str, doing: str, budget_s: float):
        self.budget_s = budget_s
        super().__init__(worker, doing, f"no reply within its time budget of {budget_s:g} s", (
            f"Worker process {worker!r} sent nothing within its time budget of {budget_s:g} s while {doing}, "
            "so it was killed; the next call starts a new process. Allow more time if the work is only slow."))


class WorkerProtocolError(WorkerError):
    def __init__(self, worker: str, doing: str, problem: str):
        self.problem = problem
        super().__init__(worker, doing, f"a reply that cannot be used ({problem})", (
            f"Worker process {worker!r} sent a reply that cannot be used while {doing}: {problem}; it was expected "
            "to follow spotdiff.worker's protocol, so it was killed and the next call starts a new process. This is a "
            "bug in what it runs: please report it."))


class Cancelled(SpotdiffError):
    """The user stopped a run; nothing was written that is not consistent."""

    def __init__(self, stage: str = ""):
        self.stage = stage
        super().__init__(f"Cancelled during {stage}." if stage else "Cancelled.")
