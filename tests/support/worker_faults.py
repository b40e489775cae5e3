"""Objects that fail in a worker process the ways native code does: a signal, a hang, garbage, no memory.

Imported by name in the worker's child ("worker_faults:Faulty"), so this folder is on sys.path
(tests/conftest.py), which spawned children inherit; it holds no tests. Each fault is the real thing:
the signal is delivered to the child, the hang sleeps, the garbage is sent through the pipe.
"""

from __future__ import annotations

import os
import resource
import signal
import time

from spotdiff.models.vlm.runtime import VisionLanguageModel


def die(signum: int) -> None:
    """End this process by ``signum``, as a faulting instruction or the out-of-memory killer would."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # no core file from a test
    os.kill(os.getpid(), signum)
    time.sleep(60)  # a signal to oneself is delivered at once; never reached


class Unreadable:
    """Pickles fine in the child, fails to unpickle in the parent."""

    def __reduce__(self):
        return _refuse, ("not for reading",)


def _refuse(text: str):
    raise ValueError(text)


class Faulty:
    """Answers like a well-behaved object until asked to fail."""

    def __init__(self, greeting: str = "hello", die_at_start: int | None = None):
        if die_at_start is not None:
            die(die_at_start)
        self.greeting = greeting

    def hello(self, name: str) -> str:
        return f"{self.greeting}, {name}"

    def pid(self) -> int:
        return os.getpid()

    def die(self, signum: int) -> None:
        die(signum)

    def hang(self) -> None:
        time.sleep(3600)

    def run_out_of_memory(self) -> None:
        raise MemoryError("cannot allocate 12 GiB")

    def refuse(self) -> None:
        from spotdiff.errors import ModelLoadError

        raise ModelLoadError("tiny", "/models/tiny.gguf", "it is not a GGUF file")

    def unpicklable(self):
        return lambda: "a closure cannot cross a pipe"

    def unreadable(self):
        return Unreadable()

    def count(self, n: int, then: str | None = None, signum: int = signal.SIGILL):
        """Yield 0..n-1, then return "done" — or, with ``then``, die / hang / send garbage instead."""
        for i in range(n):
            yield i
        if then == "die":
            die(signum)
        if then == "hang":
            time.sleep(3600)
        if then == "garbage":
            yield "forty-two"  # not what the caller asked for
        return "done"


# --- vision-language models that fail as llama.cpp can: after a few tokens, before the first, at load ---


class _FaultyVLM(VisionLanguageModel):
    after_tokens = 3

    def stream(self, messages, **kwargs):
        for i, piece in enumerate(super().stream(messages, **kwargs)):
            if i == self.after_tokens:
                yield self.fault()
            yield piece

    def fault(self):
        """What happens after ``after_tokens`` pieces: the process dies, hangs, or this is sent as a piece."""
        raise NotImplementedError


class SigillVLM(_FaultyVLM):
    def fault(self):
        die(signal.SIGILL)


class SigkillVLM(_FaultyVLM):
    def fault(self):
        die(signal.SIGKILL)


class HangingVLM(VisionLanguageModel):
    """Stuck before its first token, as if in native code reading the prompt (whatever the machine's speed)."""

    def stream(self, messages, **kwargs):
        time.sleep(3600)
        yield from super().stream(messages, **kwargs)


class GarbageVLM(_FaultyVLM):
    def fault(self):
        return 42  # not a piece of text


class SigillAtLoadVLM(VisionLanguageModel):
    def __init__(self, *args, **kwargs):
        die(signal.SIGILL)
