"""A local GGUF model behind llama-cpp-python: loaded once, asked many times, freed on close.

Manners: every answer streams token by token, so closing the generator cancels it at the next
token; each call has a time budget; the context is sized for the images a prompt holds; threads =
the cores this process may use. Answers can be held to a JSON schema, which llama.cpp turns into a
grammar, so even a model with random weights gives parseable JSON.

llama_cpp is imported on first use: ``import engine`` stays light and works without it.
"""

from __future__ import annotations

import ctypes
import json
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

from ...errors import ModelLoadError, VLMAnswerError, VLMRuntimeError, VLMTimeoutError
from ...parallel import available_cores
from ...progress import Progress, Work
from ...worker import WAITING

#: chat_handler names of the registry -> llama_cpp.llama_chat_format classes. "mtmd" is generic:
#: it reads the chat template inside the GGUF and works for any model llama.cpp's mtmd supports.
CHAT_HANDLERS = {
    "mtmd": "MTMDChatHandler",
    "llava-1.5": "Llava15ChatHandler",
    "llava-1.6": "Llava16ChatHandler",
    "qwen2.5-vl": "Qwen25VLChatHandler",
    "minicpm-v-2.6": "MiniCPMv26ChatHandler",
    "moondream": "MoondreamChatHandler",
    "nanollava": "NanoLlavaChatHandler",
}
INSTALL_HINT = "Install it with: pip install 'spotdiff[vlm]' (llama-cpp-python >= 0.3.36 compiles llama.cpp, ~4 min)."
GGUF_MAGIC = b"GGUF"


def default_threads() -> int:
    """The cores this process may run on (its affinity), or ``$SPOTDIFF_VLM_THREADS`` when set.

    llama.cpp's threads spin-wait on each other: on a machine whose cores are busy with other work,
    fewer threads than cores can be many times faster (measured: SmolLM2-135M, 2 cores under a load
    of 5, 2 threads 1-2 tokens/s, 1 thread 45-57 tokens/s). The variable is for such machines.
    """
    env = os.environ.get("SPOTDIFF_VLM_THREADS", "").strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    return available_cores()


def import_llama_cpp(model: str = "(none)"):
    try:
        import llama_cpp.llama_chat_format  # lazy: an optional extra, ~4 min to build (the handlers live here)
    except ImportError as e:
        raise VLMRuntimeError(model, f"llama-cpp-python is not installed ({e})", INSTALL_HINT) from e
    return llama_cpp


def _quiet_mtmd(llama_cpp) -> None:
    """Send mtmd's log through llama-cpp-python's filter, as llama.cpp's own log already goes.

    Without it every prompt with images prints its tokenisation and timings to stderr, whatever
    ``verbose`` says; with it, verbose=False leaves errors only.
    """
    try:
        from llama_cpp import _logger, mtmd_cpp  # lazy: as in import_llama_cpp
    except ImportError:  # an older llama-cpp-python without mtmd: nothing to quiet
        return
    for setter in ("mtmd_log_set", "mtmd_helper_log_set"):
        if hasattr(mtmd_cpp, setter):
            getattr(mtmd_cpp, setter)(_logger.llama_log_callback, ctypes.c_void_p(0))


def check_gguf(name: str, path: Path) -> None:
    """Refuse, with a clear reason, a file that is not a GGUF at all (truncated, HTML error page, …)."""
    try:
        with open(path, "rb") as fp:
            head = fp.read(8)
    except OSError as e:
        raise ModelLoadError(name, path, f"cannot read it ({e})") from e
    if head[:4] != GGUF_MAGIC:
        raise ModelLoadError(
            name, path, f"it is not a GGUF file: it starts with {head[:4]!r}, expected {GGUF_MAGIC!r}. "
            "The file is damaged or not the one the registry names; delete it and pull it again")
    if len(head) < 8:
        raise ModelLoadError(name, path, "it is a truncated GGUF file (no header); delete it and pull it again")


def describe_mismatch(model_path: Path, mmproj_path: Path) -> str | None:
    """Why an image projector does not fit a language model, read from the two GGUF headers, or None."""
    try:
        from gguf import GGUFReader  # lazy: gguf comes with the same optional extra
    except ImportError:
        return None
    try:
        text, proj = GGUFReader(str(model_path)), GGUFReader(str(mmproj_path))
    except (OSError, ValueError) as e:
        return f"cannot read the GGUF headers ({e})"

    def value(reader, key):
        field = reader.fields.get(key)
        if field is None:
            return None
        part = field.parts[field.data[0]]
        return bytes(part).decode("utf-8", "replace") if field.types and field.types[0].name == "STRING" \
            else part.tolist()[0]

    arch = value(text, "general.architecture")
    if value(proj, "general.architecture") != "clip" or not value(proj, "clip.has_vision_encoder"):
        return f"'{mmproj_path.name}' is not an image projector (no clip vision encoder in it)"
    n_text = value(text, f"{arch}.embedding_length")
    n_proj = value(proj, "clip.vision.projection_dim")
    if n_text is not None and n_proj is not None and n_text != n_proj:
        return (f"the projector '{mmproj_path.name}' makes {n_proj}-dimensional image embeddings but the language "
                f"model has {n_text} dimensions: the two files belong to different models")
    return None


@dataclass(frozen=True)
class Timing:
    """How one answer went. prompt_s: until the first answer token (images encoded, prompt read)."""

    prompt_s: float
    total_s: float
    n_tokens: int
    n_images: int
    stopped: str  # "done", "max_tokens", "cancelled", "budget", "error"

    @property
    def tokens_per_s(self) -> float:
        gen = self.total_s - self.prompt_s
        return self.n_tokens / gen if gen > 0 else float("nan")


class Answering:
    """answer() and ask_json() on top of a model's stream of answer pieces: Progress per token, a time
    budget, cancel by close(), ``last_timing_``, JSON. Shared by VisionLanguageModel (in this process)
    and spotdiff.models.vlm.isolated.IsolatedVLM (in a worker process).

    A subclass has ``name``, ``time_budget_s`` and ``last_timing_``, and ``stream()`` or ``_pieces()``.
    """

    name: str
    time_budget_s: float
    last_timing_: Timing | None

    def _pieces(self, messages: Sequence[dict], *, schema: dict | None, max_tokens: int, temperature: float,
                time_budget_s: float) -> Iterator[str | object]:
        """The answer's pieces; a worker also yields spotdiff.worker.WAITING while it works on the next one."""
        return self.stream(messages, schema=schema, max_tokens=max_tokens, temperature=temperature)

    def answer(self, messages: Sequence[dict], *, schema: dict | None = None, max_tokens: int = 256,
               temperature: float = 0.0, time_budget_s: float | None = None) -> Work[str]:
        """The whole answer as text; yields Progress("vlm", n_tokens, max_tokens) per token.

        Raises VLMTimeoutError when the time budget runs out (checked at every token); closing the
        generator cancels the answer. ``last_timing_`` records how it went.
        """
        budget = self.time_budget_s if time_budget_s is None else float(time_budget_s)
        n_images = _count_images(messages)
        yield Progress("vlm", 0, max_tokens, f"{self.name}: reading the prompt and {n_images} image(s)")
        start = time.perf_counter()
        first = None
        pieces: list[str] = []
        stopped = "error"
        stream = self._pieces(messages, schema=schema, max_tokens=max_tokens, temperature=temperature,
                              time_budget_s=budget)
        try:
            for piece in stream:
                now = time.perf_counter()
                if piece is WAITING:  # (in a worker) still reading the prompt, or between two tokens
                    doing = f"{len(pieces)} tokens" if pieces else \
                        f"reading the prompt and {n_images} image(s), {now - start:.0f} s"
                    yield Progress("vlm", len(pieces), max_tokens, f"{self.name}: {doing}")
                    continue
                first = first if first is not None else now
                pieces.append(piece)
                if now - start > budget:
                    stopped = "budget"
                    raise VLMTimeoutError(self.name, budget, len(pieces))
                yield Progress("vlm", len(pieces), max_tokens, f"{self.name}: {len(pieces)} tokens")
            stopped = "max_tokens" if len(pieces) >= max_tokens else "done"
        except (GeneratorExit, KeyboardInterrupt):
            stopped = "cancelled"
            raise
        finally:
            stream.close()
            end = time.perf_counter()
            self.last_timing_ = Timing(prompt_s=round((first or end) - start, 4), total_s=round(end - start, 4),
                                       n_tokens=len(pieces), n_images=n_images, stopped=stopped)
        return "".join(pieces)

    def ask_json(self, messages: Sequence[dict], schema: dict, *, max_tokens: int = 512, temperature: float = 0.0,
                 time_budget_s: float | None = None) -> Work[Any]:
        """The answer parsed as JSON that follows ``schema``; VLMAnswerError if it does not parse."""
        text = yield from self.answer(messages, schema=schema, max_tokens=max_tokens, temperature=temperature,
                                      time_budget_s=time_budget_s)
        try:
            return json.loads(text)
        except json.JSONDecodeError as e:
            cut = self.last_timing_ is not None and self.last_timing_.stopped == "max_tokens"
            reason = f"stopped at max_tokens={max_tokens} before the JSON was complete" if cut else str(e)
            raise VLMAnswerError(self.name, text, reason) from e


class VisionLanguageModel(Answering):
    """One GGUF language model, with the image projector that lets it see (``mmproj_path``) or without.

    Parameters
    ----------
    model_path : the language model GGUF
    mmproj_path : its image projector GGUF; None for a text-only model (it then takes no images)
    name : registry name, used in messages
    chat_handler : a key of CHAT_HANDLERS; ignored without mmproj (the GGUF's own chat template is used)
    n_ctx : context length in tokens; must hold the prompt, every image's tokens and the answer
    n_threads : threads for prompt and generation; default: the cores this process may use
    time_budget_s : default limit for one answer, prompt included
    config : the registry's VLMConfig when opened through it (how big the images it is shown should be)

    The model is loaded in the constructor; a wrong or corrupt file raises ModelLoadError there, not
    at the first question. Calls are serialised by a lock. ``close()`` frees the memory.

    It runs in this process, so a crash of llama.cpp ends the process; spotdiff.models.vlm.isolated.IsolatedVLM
    runs it in a worker process instead (what ModelHost.vlm gives by default).
    """

    def __init__(self, model_path: Path | str, mmproj_path: Path | str | None = None, *, name: str | None = None,
                 chat_handler: str = "mtmd", n_ctx: int = 4096, n_threads: int | None = None, n_batch: int = 512,
                 time_budget_s: float = 300.0, seed: int = 0, verbose: bool = False, config=None):
        self.model_path = Path(model_path)
        self.mmproj_path = Path(mmproj_path) if mmproj_path is not None else None
        self.name = name or self.model_path.stem
        self.chat_handler = chat_handler
        self.n_ctx = int(n_ctx)
        self.n_threads = n_threads or default_threads()
        self.time_budget_s = float(time_budget_s)
        self.seed = seed
        self.config = config  # the registry's VLMConfig (image size, multi-image) when opened from it
        self.last_timing_: Timing | None = None
        self._lock = threading.Lock()
        self._llama = None

        llama_cpp = import_llama_cpp(self.name)
        for path in filter(None, (self.model_path, self.mmproj_path)):
            check_gguf(self.name, path)
        handler = None
        if self.mmproj_path is not None:
            _quiet_mtmd(llama_cpp)
            cls_name = CHAT_HANDLERS.get(chat_handler)
            if cls_name is None:
                raise ModelLoadError(self.name, self.model_path,
                                     f"unknown chat_handler {chat_handler!r}; expected one of {sorted(CHAT_HANDLERS)}")
            cls = getattr(llama_cpp.llama_chat_format, cls_name, None)
            if cls is None:
                raise VLMRuntimeError(self.name, f"llama-cpp-python {llama_cpp.__version__} has no {cls_name}",
                                      "Upgrade it: pip install -U 'llama-cpp-python>=0.3.36'.")
            handler = cls(clip_model_path=str(self.mmproj_path), verbose=verbose)
        try:
            self._llama = llama_cpp.Llama(
                model_path=str(self.model_path), chat_handler=handler, n_ctx=self.n_ctx, n_batch=n_batch,
                n_ubatch=n_batch, n_threads=self.n_threads, n_threads_batch=self.n_threads, n_gpu_layers=0,
                seed=seed, verbose=verbose)
        except (ValueError, RuntimeError, OSError) as e:
            raise ModelLoadError(self.name, self.model_path, f"llama.cpp cannot load it ({e}); the file may be "
                                 "incomplete or of an architecture this llama-cpp-python does not know") from e
        if handler is not None and hasattr(handler, "_init_mtmd_context"):
            # The handlers load the projector lazily, at the first image; load it now so a wrong
            # mmproj fails here with a reason rather than in the middle of a comparison.
            try:
                handler._init_mtmd_context(self._llama)
            except (ValueError, RuntimeError) as e:
                reason = describe_mismatch(self.model_path, self.mmproj_path) or str(e)
                self.close()
                raise ModelLoadError(self.name, self.mmproj_path, f"llama.cpp cannot use it as the image projector "
                                     f"of {self.model_path.name}: {reason}") from e

    @property
    def sees_images(self) -> bool:
        return self.mmproj_path is not None

    def stream(self, messages: Sequence[dict], *, schema: dict | None = None, max_tokens: int = 256,
               temperature: float = 0.0) -> Iterator[str]:
        """Yield the answer piece by piece. Close the iterator to stop generation at the next token.

        messages : OpenAI-style chat messages; image parts are {"type": "image_url", "image_url": {"url": data-URI}}
        schema : a JSON schema the answer must follow (enforced by a grammar), or None for free text
        """
        llama = self._require()
        if not self.sees_images and _count_images(messages):
            raise VLMRuntimeError(self.name, "the prompt holds images but this model has no image projector (mmproj)",
                                  "Use a vision-language model entry, or send text only.")
        kwargs: dict[str, Any] = dict(messages=list(messages), stream=True, max_tokens=max_tokens,
                                      temperature=temperature, seed=self.seed)
        if schema is not None:
            kwargs["response_format"] = {"type": "json_object", "schema": schema}
        with self._lock:
            chunks = None
            try:
                chunks = llama.create_chat_completion(**kwargs)
                for chunk in chunks:
                    piece = chunk["choices"][0]["delta"].get("content")
                    if piece:
                        yield piece
            except (ValueError, RuntimeError) as e:  # llama-cpp-python reports a full context, a bad image, ...
                raise VLMRuntimeError(self.name, f"llama.cpp stopped: {e}",
                                      f"The context holds {self.n_ctx} tokens; fewer or smaller images or a larger "
                                      "n_ctx may help.") from e
            finally:
                close = getattr(chunks, "close", None)
                if close is not None:
                    close()

    def close(self) -> None:
        """Free the model, its context and the projector (idempotent)."""
        llama, self._llama = self._llama, None
        if llama is not None:
            llama.close()

    def _require(self):
        if self._llama is None:
            raise VLMRuntimeError(self.name, "the model was closed", "Open it again (ModelHost.vlm).")
        return self._llama

    def __enter__(self) -> "VisionLanguageModel":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        vision = f", mmproj={self.mmproj_path.name!r}" if self.mmproj_path else ""
        return f"VisionLanguageModel({self.name!r}, {self.model_path.name!r}{vision}, n_ctx={self.n_ctx})"


def _count_images(messages: Sequence[dict]) -> int:
    n = 0
    for message in messages:
        content = message.get("content")
        if isinstance(content, list):
            n += sum(1 for part in content if isinstance(part, dict) and part.get("type") == "image_url")
    return n


def context_size(n_images: int, image_tokens: int, *, prompt_tokens: int = 1024, answer_tokens: int = 512,
                 limit: int | None = None) -> int:
    """Tokens a context needs for ``n_images`` images, the text of the prompt and the answer.

    Rounded up to a multiple of 256; capped at ``limit`` (what the model was trained for).
    """
    need = n_images * image_tokens + prompt_tokens + answer_tokens
    need = -(-need // 256) * 256
    return min(need, limit) if limit else need
