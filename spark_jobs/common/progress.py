"""A training step's progress callback: the estimators' reports, paced and timed, posted as signed progress reports.

The estimator calls the callback at the start, after every unit (epoch or tree) and after every part of a
unit (hetero LR's mini-batches). :class:`StepProgress` passes the start and every completed unit on, and
parts at most once per ``min_interval`` seconds; it adds the elapsed time and an ETA (elapsed time over the
share done, times the share left). A background thread sends the newest report (federation.progress), so a
slow broker never holds the training up; a report still waiting when a newer one comes is replaced.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from airflow_provider_powerfl.algorithms.progress import TrainingProgress
from airflow_provider_powerfl.federation.keys import SigningKey
from airflow_provider_powerfl.federation.progress import ProgressPublisher, ProgressReport
from airflow_provider_powerfl.jobs.spec import TaskSpec
from spark_jobs.common.party import registry_from_spec

log = logging.getLogger(__name__)

MIN_INTERVAL = 1.0  # seconds between two reports of unit parts


class StepProgress:
    """The estimator's ``progress`` callback for one step of one job attempt; `send` gets each paced report."""

    def __init__(
        self,
        spec: TaskSpec,
        step: str,
        send: Callable[[ProgressReport], None],
        *,
        min_interval: float = MIN_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._ids = (spec.job_id, spec.party_id, spec.task_id or step, spec.attempt)  # the Airflow task, else the step
        self._send, self._min_interval, self._clock, self._wall = send, min_interval, clock, wall
        self._start: float | None = None
        self._last: float | None = None

    def __call__(self, progress: TrainingProgress) -> None:
        now = self._clock()
        if self._start is None:
            self._start = now
        unit_end = progress.step == 0  # the start, or a unit completed
        if not unit_end and self._last is not None and now - self._last < self._min_interval:
            return
        self._last = now
        elapsed = now - self._start
        fraction = progress.fraction
        eta = elapsed * (1.0 - fraction) / fraction if fraction else None
        job_id, party_id, task, attempt = self._ids
        self._send(ProgressReport(
            job_id, party_id, task, attempt, progress.unit, int(progress.done),
            None if progress.total is None else int(progress.total), int(progress.step), int(progress.steps),
            None if progress.loss is None else float(progress.loss), None if eta is None else round(float(eta), 3),
            round(float(elapsed), 3), self._wall(),
        ))  # fmt: skip


class BackgroundSender:
    """Sends the newest report given to it on a thread of its own; `close` sends the last one and stops."""

    def __init__(self, publish: Callable[[ProgressReport], None]) -> None:
        self._publish = publish
        self._pending: ProgressReport | None = None
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="powerfl-progress", daemon=True)
        self._thread.start()

    def __call__(self, report: ProgressReport) -> None:
        with self._lock:
            self._pending = report
        self._wake.set()

    def close(self, timeout: float = 10.0) -> None:
        self._closing = True
        self._wake.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            with self._lock:
                report, self._pending = self._pending, None
            if report is not None:
                try:
                    self._publish(report)
                except Exception:  # a report lost is no reason to fail the training
                    log.exception("progress report not sent")
            if self._closing and self._pending is None:
                return


@contextmanager
def step_progress(spec: TaskSpec, step: str) -> Iterator[StepProgress]:
    """The `progress` callback of this party's `step`, reporting to its own broker and (without the loss) its peers'."""
    registry = registry_from_spec(spec)
    peers = [p.id for p in spec.parties if p.id != spec.party_id]
    publisher = ProgressPublisher(
        registry, SigningKey.from_file(spec.private_key), spec.party_id, peers, spec.job_id, bytes.fromhex(spec.nonce)
    )
    sender = BackgroundSender(publisher.publish)
    try:
        yield StepProgress(spec, step, sender)
    finally:
        sender.close()
        publisher.close()
