"""spotdiff.worker: a real child process that dies by a signal, hangs, runs out of memory or sends garbage.

The faults are real (tests/worker_faults.py: the signal is delivered, the hang sleeps, the garbage
crosses the pipe); after each, the same Worker answers again from a new child. One worker serves
the module, so the ~1.5 s start of a child is paid only where a test needs a new one.
"""

from __future__ import annotations

import pickle
import signal
import threading
import time

import pytest

from spotdiff import errors
from spotdiff.errors import (Cancelled, ModelLoadError, SpotdiffError, WorkerCrashedError, WorkerError,
                           WorkerProtocolError, WorkerTimeoutError)
from spotdiff.worker import WAITING, RemoteTraceback, Worker, describe_exit


@pytest.fixture(scope="module")
def worker():
    with Worker("worker_faults:Faulty", {"greeting": "hi"}, name="faulty") as w:
        w.start()
        yield w


def answers_again(worker: Worker, pid_before: int) -> None:
    """The worker's next call starts a new child, which answers."""
    assert worker.call("hello", ("again",)) == "hi, again"
    assert worker.pid != pid_before and worker.call("pid") == worker.pid


def test_calls_and_streams_come_back_from_the_child(worker):
    assert worker.call("hello", ("you",)) == "hi, you"
    assert worker.call("pid") == worker.pid and worker.alive
    pieces = worker.stream("count", (4,))
    assert list(pieces) == [0, 1, 2, 3]
    assert run_stream(worker.stream("count", (2,))) == ([0, 1], "done")  # the generator's return value too
    assert "faulty" in repr(worker) and f"pid={worker.pid}" in repr(worker)


def run_stream(stream):
    got = []
    try:
        while True:
            got.append(next(stream))
    except StopIteration as stop:
        return got, stop.value


def test_closing_a_stream_stops_the_childs_generator_and_keeps_the_child(worker):
    pid = worker.pid
    stream = worker.stream("count", (1000,))
    assert [next(stream) for _ in range(3)] == [0, 1, 2]
    stream.close()
    assert worker.pid == pid and worker.call("hello", ("after",)) == "hi, after"


def test_an_exception_raised_on_purpose_comes_back_as_itself_and_the_child_serves_on(worker):
    pid = worker.pid
    with pytest.raises(ModelLoadError, match="it is not a GGUF file") as caught:
        worker.call("refuse")
    assert caught.value.model == "tiny" and caught.value.reason == "it is not a GGUF file"
    assert isinstance(caught.value.__cause__, RemoteTraceback) and "def refuse" not in str(caught.value)
    assert "raise ModelLoadError" in str(caught.value.__cause__)  # the child's traceback, for the log
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        worker.call("nope")
    assert worker.pid == pid


@pytest.mark.parametrize("signum, reason", [
    (signal.SIGILL, "illegal instruction (signal 4)"),
    (signal.SIGKILL, "killed (signal 9), most likely by the system because memory ran out"),
    (signal.SIGSEGV, "segmentation fault (signal 11)"),
])
def test_a_child_killed_by_a_signal_is_reported_by_name_and_restarted(worker, signum, reason):
    pid = worker.pid
    with pytest.raises(WorkerCrashedError) as caught:
        worker.call("die", (signum,))
    e = caught.value
    assert e.reason.startswith(reason) and e.signal == signal.Signals(signum).name and e.exitcode == -signum
    assert str(e).startswith(f"Worker process 'faulty' died while calling die(): {reason}")
    assert not worker.alive
    answers_again(worker, pid)


def test_a_child_that_dies_mid_stream_is_reported_and_restarted(worker):
    pid = worker.pid
    stream = worker.stream("count", (3,), {"then": "die"})
    assert [next(stream) for _ in range(3)] == [0, 1, 2]
    with pytest.raises(WorkerCrashedError, match="illegal instruction"):
        next(stream)
    answers_again(worker, pid)


def test_a_child_that_hangs_past_its_budget_is_killed(worker):
    pid = worker.pid
    start = time.monotonic()
    with pytest.raises(WorkerTimeoutError, match="sent nothing within its time budget of 0.5 s") as caught:
        worker.call("hang", timeout_s=0.5)
    assert time.monotonic() - start >= 0.5 and caught.value.budget_s == 0.5  # it waited out the budget
    assert caught.value.reason == "no reply within its time budget of 0.5 s"
    answers_again(worker, pid)


def test_a_stream_that_hangs_past_its_budget_is_killed_and_ticks_while_it_waits(worker):
    pid = worker.pid
    stream = worker.stream("count", (2,), {"then": "hang"}, timeout_s=0.8, tick_s=0.1)
    got = []
    with pytest.raises(WorkerTimeoutError):
        for piece in stream:
            got.append(piece)
    assert got[:2] == [0, 1] and got.count(WAITING) >= 4 and set(got[2:]) == {WAITING}
    answers_again(worker, pid)


def test_closing_a_stream_whose_child_is_busy_kills_the_child(worker):
    pid = worker.pid
    stream = worker.stream("count", (1,), {"then": "hang"}, tick_s=0.05)
    assert next(stream) == 0 and next(stream) is WAITING
    stream.close()  # what a cancelled comparison does
    assert not worker.alive  # killed, not left to finish (how soon: a timing, not asserted here)
    answers_again(worker, pid)


@pytest.mark.parametrize("method, problem", [
    ("unpicklable", "cannot be pickled"),
    ("unreadable", "a message that cannot be unpickled (ValueError('not for reading'))"),
])
def test_a_reply_that_cannot_cross_the_pipe_is_garbage(worker, method, problem):
    pid = worker.pid
    with pytest.raises(WorkerProtocolError, match=problem.replace("(", r"\(").replace(")", r"\)")):
        worker.call(method)
    answers_again(worker, pid)


def test_a_reply_of_the_wrong_type_is_garbage(worker):
    pid = worker.pid
    with pytest.raises(WorkerProtocolError, match="expected str, got int 0"):
        list(worker.stream("count", (3,), returns=str))  # 0 is an int too: the first piece is refused
    answers_again(worker, pid)
    with pytest.raises(WorkerProtocolError, match="expected int, got str .forty-two."):
        list(worker.stream("count", (1,), {"then": "garbage"}, returns=int))


def test_memory_error_in_the_child_is_a_crash(worker):
    pid = worker.pid
    with pytest.raises(WorkerCrashedError, match=r"ran out of memory \(MemoryError: cannot allocate 12 GiB\)"):
        worker.call("run_out_of_memory")
    answers_again(worker, pid)


def test_kill_from_another_thread_cancels_the_waiting_call(worker):
    pid = worker.pid
    threading.Timer(0.3, worker.kill).start()
    with pytest.raises(Cancelled, match="calling hang"):
        worker.call("hang")
    answers_again(worker, pid)


def test_a_child_that_dies_while_building_its_object_is_reported_and_tried_again():
    with Worker("worker_faults:Faulty", {"die_at_start": signal.SIGILL}, name="doomed") as doomed:
        for _ in range(2):
            with pytest.raises(WorkerCrashedError, match="died while starting .*illegal instruction"):
                doomed.start()
        assert doomed.n_starts_ == 2 and not doomed.alive
    with Worker("worker_faults:Nothing", name="typo") as typo, pytest.raises(AttributeError, match="Nothing"):
        typo.start()


def test_close_ends_the_child_and_a_later_call_starts_it_again():
    w = Worker("worker_faults:Faulty", name="short-lived")
    with w:
        assert w.call("hello", ("x",)) == "hello, x"
        process = w._process
    assert not w.alive and process is not None and w.pid is None
    w.close()  # idempotent
    assert w.call("hello", ("y",)) == "hello, y" and w.n_starts_ == 2
    w.close()


def test_exit_descriptions():
    assert describe_exit(-4) == "illegal instruction (signal 4)"
    assert describe_exit(-6) == "aborted (signal 6)"
    assert describe_exit(3) == "exit code 3"
    assert describe_exit(0xC000001D) == "illegal instruction (exit code 0xc000001d)"


def test_worker_errors_pickle_with_their_facts_and_hang_in_the_drawn_tree():
    for error in [WorkerCrashedError("w", "starting", "illegal instruction (signal 4)", exitcode=-4, signal="SIGILL"),
                  WorkerTimeoutError("w", "calling f()", 2.5), WorkerProtocolError("w", "calling f()", "garbage"),
                  ModelLoadError("m", "/x.gguf", "broken")]:
        copy = pickle.loads(pickle.dumps(error))
        assert type(copy) is type(error) and str(copy) == str(error) and vars(copy) == vars(error)
    for cls in (WorkerError, WorkerCrashedError, WorkerTimeoutError, WorkerProtocolError, errors.VLMStoppedError):
        assert issubclass(cls, SpotdiffError) and cls.__name__ in errors.__doc__
    assert issubclass(errors.VLMStoppedError, errors.VLMRuntimeError)
