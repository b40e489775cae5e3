"""One heavy object in a child process of its own: what crashes, hangs or misbehaves there stays there.

    with Worker("spotdiff.models.vlm.runtime:VisionLanguageModel", {"model_path": path}, name="tiny-vlm") as worker:
        for piece in worker.stream("stream", (messages,), timeout_s=60):  # a method that is a generator
            ...
        worker.call("close")                                              # any other method

The child is started with multiprocessing's "spawn" (a fresh interpreter: none of the parent's
threads, locks or Qt state), builds ``target(**kwargs)`` once and then answers calls on it by
method name over a Pipe. Native code that fails there ends the child, never the caller:

- the child dies (a signal such as SIGILL, the out-of-memory killer's SIGKILL, a MemoryError, an
  exit): WorkerCrashedError, which names the signal ("illegal instruction (signal 4)")
- it sends nothing within a call's time budget: it is killed, WorkerTimeoutError
- it sends a reply that cannot be read, or not of the type asked for: it is killed, WorkerProtocolError

After any of these the worker is stopped and its next call starts a new child (building the object
again). An exception the object raises on purpose comes back as itself, same type and message, and
the child goes on serving. A stream is pulled one piece at a time, as a generator is: closing it
stops the child's generator at its next piece, and a child that does not stop within
``stop_grace_s`` (busy in native code) is killed. ``kill()`` ends the child at once, from any thread.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import multiprocessing
import os
import pickle
import signal
import threading
import time
import traceback
from multiprocessing.connection import Connection, wait
from typing import Any, Generator, Iterator, Mapping

from .errors import Cancelled, WorkerCrashedError, WorkerProtocolError, WorkerTimeoutError

log = logging.getLogger(__name__)


class _Waiting:
    def __repr__(self) -> str:
        return "WAITING"


#: What ``Worker.stream(..., tick_s=...)`` yields while the child is still working on its next piece,
#: so the consumer can report progress, check the time or be closed (cancelled) meanwhile.
WAITING = _Waiting()

# Windows reports a native crash as an exit code, not a signal
_WINDOWS_CRASHES = {0xC000001D: "illegal instruction", 0xC0000005: "access violation",
                    0xC00000FD: "stack overflow", 0xC0000409: "stack buffer overrun"}


class RemoteTraceback(Exception):
    """The child's traceback of an exception it sent back: the ``__cause__`` of that exception here."""

    def __str__(self) -> str:
        return "\n" + self.args[0]


class Worker:
    """A child process that holds ``target(**kwargs)`` and answers calls on it.

    Parameters
    ----------
    target : "package.module:callable", imported and called in the child once per start
    kwargs : its keyword arguments (picklable)
    name : used in messages and in the child's process name
    start_timeout_s : limit for building the object (None: no limit)
    stop_grace_s : how long a stream that was closed, or the worker on ``close()``, may take to stop
        before the child is killed

    One call at a time (a lock; a stream holds it until it ends or is closed). The child starts on
    ``start()`` or the first call, and again on the first call after it stopped. ``n_starts_``
    counts the starts.
    """

    def __init__(self, target: str, kwargs: Mapping[str, Any] | None = None, *, name: str | None = None,
                 start_timeout_s: float | None = None, stop_grace_s: float = 1.0):
        self.target = target
        self.kwargs = dict(kwargs or {})
        self.name = name or target
        self.start_timeout_s = start_timeout_s
        self.stop_grace_s = stop_grace_s
        self.n_starts_ = 0
        self._lock = threading.Lock()
        self._process: multiprocessing.process.BaseProcess | None = None
        self._conn: Connection | None = None
        self._killed = False

    # --- life ------------------------------------------------------------------------------

    @property
    def alive(self) -> bool:
        return self._process is not None and self._process.is_alive()

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def start(self) -> None:
        """Start the child and build the object now, unless it runs already; raises what building raised."""
        with self._lock:
            self._ensure_started()

    def kill(self) -> None:
        """Cancel: end the child at once (SIGKILL), from any thread; a call waiting on it raises Cancelled."""
        process = self._process
        with contextlib.suppress(ValueError):  # the owning thread closed it in the meantime
            if process is not None and process.is_alive():
                self._killed = True
                process.kill()

    def close(self) -> None:
        """Let the child exit (killed when busy or after ``stop_grace_s``); idempotent. A later call starts it again."""
        if not self._lock.acquire(blocking=False):  # a call is running on another thread: end it
            self.kill()
            return
        try:
            if self._process is not None and self._process.is_alive():
                with contextlib.suppress(OSError):  # it may be gone already: then there is nothing to ask
                    self._conn.send(("close",))
                self._process.join(self.stop_grace_s)
            self._discard()
        finally:
            self._lock.release()

    def __enter__(self) -> "Worker":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        state = f"pid={self.pid}" if self.alive else "stopped"
        return f"Worker({self.name!r}, {self.target!r}, {state})"

    # --- calls -----------------------------------------------------------------------------

    def call(self, method: str, args: tuple = (), kwargs: Mapping[str, Any] | None = None, *,
             timeout_s: float | None = None, returns: type | tuple[type, ...] | None = None) -> Any:
        """``object.method(*args, **kwargs)`` in the child; its return value, or the exception it raised.

        timeout_s : limit for the answer (None: no limit); past it the child is killed
        returns : the type(s) the answer must have; anything else is a WorkerProtocolError
        """
        doing = f"calling {method}()"
        with self._lock:
            self._ensure_started()
            until = _deadline(timeout_s)
            self._send(("call", method, tuple(args), dict(kwargs or {})), doing)
            _, value = self._parse(self._receive(until, timeout_s, doing), ("value",), doing)
            return self._checked(value, returns, doing)

    def stream(self, method: str, args: tuple = (), kwargs: Mapping[str, Any] | None = None, *,
               timeout_s: float | None = None, returns: type | tuple[type, ...] | None = None,
               tick_s: float | None = None) -> Generator[Any, None, Any]:
        """Iterate ``object.method(*args, **kwargs)`` (a generator) in the child, one piece per step.

        timeout_s : limit for the whole stream, from its first step; past it the child is killed
        returns : the type(s) each piece must have
        tick_s : when set, yield WAITING every ``tick_s`` seconds the child spends on a piece

        Returns what the child's generator returned. Closing the stream stops the child's generator
        at its next piece (killing the child if it does not stop within ``stop_grace_s``).
        """
        doing = f"streaming {method}()"
        with self._lock:
            self._ensure_started()
            until = _deadline(timeout_s)
            self._send(("stream", method, tuple(args), dict(kwargs or {})), doing)
            running = True  # the child's generator is open
            try:
                while True:
                    message = self._receive(until, timeout_s, doing, tick_s)
                    if message is WAITING:
                        yield WAITING
                        continue
                    running = _kind(message) == "piece"  # after "end" or "error" the child's generator is closed
                    kind, value = self._parse(message, ("piece", "end"), doing)
                    if kind == "end":
                        return value
                    yield self._checked(value, returns, doing)
                    self._send(("next",), doing)
            finally:
                if running and self.alive:
                    self._stop_stream()

    # --- the parent's side of the protocol --------------------------------------------------

    def _ensure_started(self) -> None:
        if self.alive:
            return
        self._discard()
        context = multiprocessing.get_context("spawn")
        conn, child_conn = context.Pipe()
        process = context.Process(target=_serve, args=(child_conn, self.target, self.kwargs),
                                  name=f"spotdiff-worker {self.name}", daemon=True)
        process.start()
        child_conn.close()  # so that the child's end closes when the child dies: recv() sees EOF
        self._process, self._conn, self._killed = process, conn, False
        self.n_starts_ += 1
        doing = f"starting ({self.target})"
        try:
            self._parse(self._receive(_deadline(self.start_timeout_s), self.start_timeout_s, doing), ("ready",), doing)
        except BaseException:  # building the object failed: the child is ending; the next call starts another
            self._discard()
            raise

    def _send(self, message: tuple, doing: str) -> None:
        try:
            self._conn.send(message)
        except (BrokenPipeError, ConnectionResetError):  # it died since its last reply
            self._crashed(doing)

    def _receive(self, until: float | None, budget_s: float | None, doing: str, tick_s: float | None = None):
        """The child's next message, or WAITING after ``tick_s``; the WorkerError when it dies, hangs or garbles."""
        conn, process = self._conn, self._process
        while True:
            left = None if until is None else until - time.monotonic()
            if left is not None and left <= 0:
                self._discard()
                raise WorkerTimeoutError(self.name, doing, budget_s)
            wait_s = left if tick_s is None else (tick_s if left is None else min(left, tick_s))
            ready = wait([conn, process.sentinel], wait_s)
            if conn in ready:
                break
            if process.sentinel in ready:
                self._crashed(doing)
            if tick_s is not None and (left is None or left > tick_s):
                return WAITING
        try:
            return conn.recv()
        except (EOFError, OSError):
            self._crashed(doing)
        except Exception as e:  # noqa: BLE001 - unpickling runs the sender's code, which may raise anything
            self._discard()
            raise WorkerProtocolError(self.name, doing, f"a message that cannot be unpickled ({e!r})") from e

    def _parse(self, message, expected: tuple[str, ...], doing: str) -> tuple[str, Any]:
        """(kind, value) of a reply of one of the ``expected`` kinds; raises what any other kind means."""
        kind = _kind(message)
        if kind in expected and len(message) <= 2:
            return kind, message[1] if len(message) == 2 else None
        if kind == "error" and len(message) == 3 and isinstance(message[1], BaseException):
            error, child_traceback = message[1], message[2]
            error.__cause__ = RemoteTraceback(str(child_traceback))
            raise error  # the child raised it on purpose and goes on serving
        if kind == "fatal" and len(message) == 2:  # it caught a MemoryError and exits
            self._process.join(self.stop_grace_s)
            code = self._process.exitcode
            self._discard()
            raise WorkerCrashedError(self.name, doing, str(message[1]), exitcode=code)
        self._discard()
        if kind == "garbage" and len(message) == 2:
            raise WorkerProtocolError(self.name, doing, str(message[1]))
        raise WorkerProtocolError(self.name, doing, f"expected a {' or '.join(expected)!r} message, "
                                                    f"got {_describe(message)}")

    def _checked(self, value, returns, doing: str):
        if returns is not None and not isinstance(value, returns):
            self._discard()
            names = " or ".join(t.__name__ for t in (returns if isinstance(returns, tuple) else (returns,)))
            raise WorkerProtocolError(self.name, doing, f"expected {names}, got {_describe(value)}")
        return value

    def _stop_stream(self) -> None:
        """Stop the child's generator at its next piece; kill the child if it does not stop in time."""
        until = time.monotonic() + self.stop_grace_s
        try:
            self._conn.send(("stop",))
            while True:
                left = until - time.monotonic()
                if left <= 0 or self._conn not in wait([self._conn, self._process.sentinel], left):
                    break
                if _kind(self._conn.recv()) != "piece":
                    return  # "stopped", or the stream ended (or failed) before the stop reached it
        except Exception as e:  # noqa: BLE001 - a dead or garbled child is killed below, whatever it sent
            log.debug("worker %r did not stop its stream cleanly: %r", self.name, e)
        self._discard()

    def _crashed(self, doing: str):
        process = self._process
        process.join(self.stop_grace_s)  # its pipe closed or its sentinel fired: it is ending
        code = process.exitcode
        killed = self._killed
        self._discard()
        if killed:
            raise Cancelled(f"{doing} in worker {self.name!r}")
        raise WorkerCrashedError(self.name, doing, describe_exit(code), exitcode=code, signal=_signal_name(code))

    def _discard(self) -> None:
        """Forget the child, killing it if it still runs (idempotent)."""
        process, conn, self._process, self._conn = self._process, self._conn, None, None
        if process is not None:
            if process.is_alive():
                process.kill()
            process.join()
            process.close()
        if conn is not None:
            conn.close()


def describe_exit(exitcode: int | None) -> str:
    """How a process ended, in words: "illegal instruction (signal 4)", "exit code 3", ..."""
    if exitcode is None:
        return "it stopped answering"
    if exitcode < 0:
        number = -exitcode
        if number == signal.SIGKILL:
            return ("killed (signal 9), most likely by the system because memory ran out "
                    "(the out-of-memory killer)")
        try:
            text = signal.strsignal(number) or _signal_name(exitcode)
        except ValueError:
            text = None
        text = (text or f"signal {number}").split(":")[0]  # macOS: "Illegal instruction: 4"
        return f"{text[0].lower()}{text[1:]} (signal {number})"
    if exitcode in _WINDOWS_CRASHES:
        return f"{_WINDOWS_CRASHES[exitcode]} (exit code {exitcode:#x})"
    return f"exit code {exitcode}"


def _signal_name(exitcode: int | None) -> str | None:
    if exitcode is None or exitcode >= 0:
        return None
    try:
        return signal.Signals(-exitcode).name
    except ValueError:
        return None


def _kind(message: object) -> str | None:
    return message[0] if isinstance(message, tuple) and message and isinstance(message[0], str) else None


def _deadline(timeout_s: float | None) -> float | None:
    return None if timeout_s is None else time.monotonic() + max(0.0, float(timeout_s))


def _describe(value: object) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 80 else text[:79] + '…'}"


# --- the child's side -------------------------------------------------------------------------


def _serve(conn: Connection, target: str, kwargs: dict) -> None:
    """The child's main loop: build the object, then answer until told to close or the parent is gone."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C is the parent's to handle; it stops us
    try:
        module, _, attribute = target.partition(":")
        subject = getattr(importlib.import_module(module), attribute)(**kwargs)
    except MemoryError as e:
        _send(conn, ("fatal", _out_of_memory(e)))
        return
    except Exception as e:  # noqa: BLE001 - every failure goes back to the parent, which raises it
        _send_error(conn, e)
        return
    if not _send(conn, ("ready",)):
        return
    try:
        while True:
            message = conn.recv()
            kind = message[0]
            if kind == "close":
                return
            if kind == "stop":  # it crossed the end of a stream on the way: nothing left to stop
                continue
            _, method, args, kw = message
            try:
                if kind == "call":
                    ok = _send(conn, ("value", getattr(subject, method)(*args, **kw)))
                else:
                    ok = _serve_stream(conn, getattr(subject, method)(*args, **kw))
            except MemoryError as e:
                _send(conn, ("fatal", _out_of_memory(e)))
                return
            except Exception as e:  # noqa: BLE001 - raised on purpose or not, the parent raises it
                ok = _send_error(conn, e)
            if not ok:
                return
    except (EOFError, OSError):  # the parent is gone
        return


def _serve_stream(conn: Connection, pieces: Iterator) -> bool:
    """Send one piece per request ("stream", then "next"); stop at "stop". False if the child should end."""
    pieces = iter(pieces)
    try:
        while True:
            try:
                piece = next(pieces)
            except StopIteration as stop:
                return _send(conn, ("end", stop.value))
            if not _send(conn, ("piece", piece)):
                return False
            if conn.recv()[0] == "stop":
                close = getattr(pieces, "close", None)
                if close is not None:
                    close()
                return _send(conn, ("stopped",))
    finally:
        close = getattr(pieces, "close", None)
        if close is not None:
            close()


def _send(conn: Connection, message: tuple) -> bool:
    """Send ``message``; a value that cannot be pickled is reported as garbage. False: the child should end."""
    try:
        conn.send(message)
        return True
    except (pickle.PicklingError, TypeError, AttributeError) as e:  # pickling failed: nothing was written
        conn.send(("garbage", f"its reply, {_describe(message[-1])}, cannot be pickled ({e})"))
        return False


def _send_error(conn: Connection, error: Exception) -> bool:
    child_traceback = traceback.format_exc()
    try:
        conn.send(("error", error, child_traceback))
    except (pickle.PicklingError, TypeError, AttributeError):  # an exception that does not pickle
        conn.send(("error", RuntimeError(f"{type(error).__qualname__}: {error}"), child_traceback))
    return True


def _out_of_memory(error: MemoryError) -> str:
    detail = f": {error}" if str(error) else ""
    return f"it ran out of memory (MemoryError{detail}) in process {os.getpid()}"
