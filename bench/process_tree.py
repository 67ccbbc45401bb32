"""Stop a benchmark's whole process tree when the benchmark is interrupted.

Benchmarks run their parties as child processes (multiprocessing or spark-submit)
that start crypto workers, JVMs and Python workers of their own. Python's default
SIGTERM handling ends only `powerfl bench` itself and leaves that tree computing for
nobody; under :func:`children_stopped_on_signal` SIGTERM/SIGINT first stops every
descendant, then unwinds the benchmark with :class:`BenchInterrupted`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator
from typing import Self

import psutil

GRACE_SECONDS = 5.0  # a Spark JVM runs its shutdown hooks on SIGTERM; SIGKILL after this


class BenchInterrupted(BaseException):
    """SIGTERM/SIGINT reached the benchmark; its child processes are already gone.

    A BaseException like KeyboardInterrupt, so no ``except Exception`` in a benchmark swallows it.
    """

    def __init__(self, signum: int, stopped: int, killed: int) -> None:
        self.signum = signum
        name = signal.Signals(signum).name
        forced = f", {killed} of them killed after {GRACE_SECONDS:.0f} s" if killed else ""
        super().__init__(f"stopped by {name}; terminated {stopped} child processes{forced}")


# multiprocessing's resource tracker ignores SIGTERM; it exits by itself once every process
# using it is gone, after unlinking the semaphores they leaked, so it is left to do that
_RESOURCE_TRACKER = "from multiprocessing.resource_tracker import main"


def _to_stop(proc: psutil.Process, session: int) -> bool:
    """A descendant to stop: not a resource tracker, nor in another session (scripts/kafka
    starts brokers with setsid so that they outlive it)."""
    try:
        return os.getsid(proc.pid) == session and _RESOURCE_TRACKER not in " ".join(proc.cmdline())
    except (OSError, psutil.Error):
        return False


def stop_descendants(grace: float = GRACE_SECONDS) -> tuple[int, int]:
    """Terminate this process's descendants (see _to_stop); ``(terminated, killed)``.

    All are suspended first, so none forks a new process or is orphaned (and lost from
    the tree) while the others are being stopped; then each gets SIGTERM and SIGCONT,
    and whatever is still running after ``grace`` seconds gets SIGKILL.
    """
    me, session = psutil.Process(), os.getsid(0)
    frozen: dict[int, psutil.Process] = {}
    while new := [p for p in me.children(recursive=True) if p.pid not in frozen and _to_stop(p, session)]:
        for proc in new:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.suspend()
            frozen[proc.pid] = proc
    for proc in frozen.values():
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.terminate()
            proc.resume()
    _, alive = psutil.wait_procs(list(frozen.values()), timeout=grace)
    for proc in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()
    psutil.wait_procs(alive, timeout=grace)
    return len(frozen), len(alive)


@contextlib.contextmanager
def children_stopped_on_signal() -> Iterator[None]:
    """On SIGTERM/SIGINT inside the block: stop all descendants, then raise BenchInterrupted."""
    if threading.current_thread() is not threading.main_thread():  # signal handlers live in the main thread
        yield
        return
    signums = (signal.SIGTERM, signal.SIGINT)

    def handler(signum: int, _frame: object) -> None:
        for s in signums:  # a second Ctrl-C must not cut the clean-up short
            signal.signal(s, signal.SIG_IGN)
        raise BenchInterrupted(signum, *stop_descendants())

    previous = {s: signal.signal(s, handler) for s in signums}
    try:
        yield
    finally:
        for s, old in previous.items():
            signal.signal(s, old)


class Sampler:
    """Calls ``_sample`` every ``interval`` seconds in a thread while the ``with`` block runs, and once at its end:
    the benchmarks' process-tree readings (CPU seconds, peak memory) that no rusage of reaped children gives."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name=type(self).__name__, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._sample()
        self._done.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._done.wait(self.interval):
            self._sample()

    def _sample(self) -> None:
        raise NotImplementedError


class TreeCpu(Sampler):
    """CPU seconds of every descendant of this process, sampled while the benchmark runs.

    Why: /usr/bin/time (rusage of reaped children) misses processes no ancestor waits for, such as
    pyspark's daemon and its Python workers, which a Spark JVM leaves to init at exit: on a9a that
    was about half the CPU. Each process's latest (user + system) reading counts; one that lives
    less than ``interval`` seconds between two samples is missed.
    """

    def __init__(self, interval: float = 1.0) -> None:
        super().__init__(interval)
        self.readings: dict[tuple[int, float], float] = {}  # (pid, create time) -> latest CPU seconds

    @property
    def seconds(self) -> float:
        return sum(self.readings.values())

    def _sample(self) -> None:
        for proc in psutil.Process().children(recursive=True):
            with contextlib.suppress(psutil.Error):
                times = proc.cpu_times()
                self.readings[(proc.pid, proc.create_time())] = times.user + times.system
