"""A VisionLanguageModel that runs in a worker process of its own, so llama.cpp cannot take the app down.

llama.cpp is native code: built for instructions a CPU lacks (AMX in some virtual machines), short
of memory, or stuck, it kills or freezes the process it runs in. Here that process is an
spotdiff.worker.Worker: the model is loaded there once, answers stream back token by token, and a
crash, a hang past the time budget or a garbled reply becomes a VLMStoppedError for the question
being asked; the next question starts the worker again and reloads the model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator, Sequence

from ...errors import VLMStoppedError, WorkerCrashedError, WorkerError, WorkerTimeoutError
from ...worker import WAITING, Worker
from .runtime import Answering, Timing, default_threads

#: What the worker builds: "module:callable" with VisionLanguageModel's signature and interface
RUNTIME = "spotdiff.models.vlm.runtime:VisionLanguageModel"
#: A worker that sends no token for its time budget and this long is stuck in native code: it is killed
HANG_GRACE_S = 1.0
#: How often a waiting answer reports progress (and can be cancelled)
TICK_S = 0.25


class IsolatedVLM(Answering):
    """VisionLanguageModel's interface (answer, ask_json, stream, close, ...), its work done in a worker process.

    Parameters: those of VisionLanguageModel, and
    runtime : the "module:callable" the worker builds (default RUNTIME)

    The model is loaded in the constructor, so a wrong file raises ModelLoadError here, with the
    message the worker's loader gave. An answer's time budget is checked at every token (VLMTimeoutError,
    the worker stays); a worker that sends nothing for the budget plus HANG_GRACE_S is killed
    (VLMStoppedError). Closing an answer stops the worker at its next token, or kills it if it is
    busy for longer than a second: cancel never waits on llama.cpp.
    """

    def __init__(self, model_path: Path | str, mmproj_path: Path | str | None = None, *, name: str | None = None,
                 chat_handler: str = "mtmd", n_ctx: int = 4096, n_threads: int | None = None, n_batch: int = 512,
                 time_budget_s: float = 300.0, seed: int = 0, verbose: bool = False, config=None,
                 runtime: str | None = None):
        self.model_path = Path(model_path)
        self.mmproj_path = Path(mmproj_path) if mmproj_path is not None else None
        self.name = name or self.model_path.stem
        self.chat_handler = chat_handler
        self.n_ctx = int(n_ctx)
        self.n_threads = n_threads or default_threads()  # the worker may use the cores this process may
        self.time_budget_s = float(time_budget_s)
        self.seed = seed
        self.config = config
        self.last_timing_: Timing | None = None
        kwargs = dict(model_path=self.model_path, mmproj_path=self.mmproj_path, name=self.name,
                      chat_handler=chat_handler, n_ctx=self.n_ctx, n_threads=self.n_threads, n_batch=n_batch,
                      time_budget_s=self.time_budget_s, seed=seed, verbose=verbose, config=config)
        # loading reads the whole file: as long as an answer may take, and at least a minute
        self.worker = Worker(runtime or RUNTIME, kwargs, name=self.name,
                             start_timeout_s=max(60.0, self.time_budget_s))
        try:
            self.worker.start()
        except WorkerError as e:
            raise self._stopped(e) from e

    @property
    def sees_images(self) -> bool:
        return self.mmproj_path is not None

    def stream(self, messages: Sequence[dict], *, schema: dict | None = None, max_tokens: int = 256,
               temperature: float = 0.0) -> Iterator[str]:
        """Yield the answer piece by piece, as VisionLanguageModel.stream; close it to stop at the next token."""
        return (yield from self._pieces(messages, schema=schema, max_tokens=max_tokens, temperature=temperature,
                                        time_budget_s=self.time_budget_s, tick_s=None))

    def _pieces(self, messages: Sequence[dict], *, schema: dict | None, max_tokens: int, temperature: float,
                time_budget_s: float, tick_s: float | None = TICK_S) -> Iterator[str | object]:
        pieces = self.worker.stream(
            "stream", (list(messages),), dict(schema=schema, max_tokens=max_tokens, temperature=temperature),
            timeout_s=time_budget_s + HANG_GRACE_S, returns=str, tick_s=tick_s)
        try:
            yield from pieces
        except WorkerTimeoutError as e:  # its own budget, not the worker's (which has the grace added)
            raise VLMStoppedError(self.name, f"no answer within its time budget of {time_budget_s:g} s",
                                  _hint(e)) from e
        except WorkerError as e:
            raise self._stopped(e) from e
        finally:
            pieces.close()

    def close(self) -> None:
        """Stop the worker, which frees the model (idempotent; a later question would start it again)."""
        self.worker.close()

    def _stopped(self, error: WorkerError) -> VLMStoppedError:
        return VLMStoppedError(self.name, error.reason, _hint(error))

    def __enter__(self) -> "IsolatedVLM":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        vision = f", mmproj={self.mmproj_path.name!r}" if self.mmproj_path else ""
        where = f"pid={self.worker.pid}" if self.worker.alive else "worker stopped"
        return f"IsolatedVLM({self.name!r}, {self.model_path.name!r}{vision}, n_ctx={self.n_ctx}, {where})"


def _hint(error: WorkerError) -> str:
    """What to do about a stopped worker, by how it stopped."""
    if isinstance(error, WorkerCrashedError) and error.signal == "SIGILL":
        return ("llama.cpp was built with instructions this CPU cannot run (AMX in a virtual machine is a known "
                "case): reinstall llama-cpp-python with scripts/install.sh, which builds it without them.")
    if isinstance(error, WorkerCrashedError) and (error.signal == "SIGKILL" or "MemoryError" in error.reason):
        return "Memory most likely ran out: close other programs or use a smaller model."
    if isinstance(error, WorkerTimeoutError):
        return "Allow more time (time_budget_s) or use a smaller model."
    return "Its process starts again at the next question; if this repeats, use another model and see the log."
