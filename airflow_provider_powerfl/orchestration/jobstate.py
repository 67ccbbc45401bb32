"""Job-wide failure and stop: one party's "the job is over" reaches every other party within seconds.

A party publishes a ``failed`` status event of the pseudo task ``__job__``
when one of its tasks fails for good or its run is stopped; every running
step of the other parties watches for it (JobGuard), kills its Spark job and
fails for good with the failing party and reason in its log.

A retried step re-joins the protocol: its ``running`` event carries the new
attempt, and a peer still running an older attempt of that step kills it and
fails with a retryable PeerRestarted, so its own retry runs the same attempt
(protocol messages carry the attempt; an older attempt's are ignored).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence

from airflow_provider_powerfl.exceptions import FederationError, PowerFLError
from airflow_provider_powerfl.federation.events import EventReader, StatusEvent, publish_event
from airflow_provider_powerfl.federation.keys import SigningKey
from airflow_provider_powerfl.federation.registry import PartyRegistry

log = logging.getLogger(__name__)

JOB_TASK = "__job__"
PAUSE_TASK = "__pause__"  # a user paused (``paused``) or resumed (``resumed``) the job at some party
RERUN_TASK = "__rerun__"  # a user reran the failed job at some party (``running``): every party clears its failed steps


class JobFailedElsewhere(FederationError):
    """Another party ended the job (a task failed for good there, or its run was stopped)."""

    def __init__(self, event: StatusEvent) -> None:
        super().__init__(f"job {event.job_id!r} ended by party {event.party_id}: {event.reason or 'no reason given'}")
        self.event = event


class PeerRestarted(FederationError):
    """Another party started a newer attempt of this step; this attempt stops so that its retry joins that one."""

    def __init__(self, event: StatusEvent, attempt: int) -> None:
        super().__init__(
            f"party {event.party_id} restarted task {event.task!r} of job {event.job_id!r} at attempt {event.attempt}; "
            f"stopping attempt {attempt} here so that the retry joins it"
        )
        self.event = event


def peer_restart(events: Iterable[StatusEvent], me: str, task: str, attempt: int) -> StatusEvent | None:
    """The first newer attempt of `task` another party reports running among `events`."""
    for event in events:
        if event.task == task and event.status == "running" and event.party_id != me and event.attempt > attempt:
            return event
    return None


def rerun_since(events: Iterable[StatusEvent], since: float | None = None) -> float | None:
    """When the job was last rerun (its newest ``__rerun__`` among `events`, any party's; `since`: the one known before)."""
    for event in events:
        if event.task == RERUN_TASK and (since is None or event.timestamp > since):
            since = event.timestamp
    return since


def is_void(event: StatusEvent, since: float | None) -> bool:
    """Whether a rerun at `since` made `event` void: what ended or paused the job before it (a success stands)."""
    return since is not None and event.timestamp < since and event.status != "success" and event.task != RERUN_TASK


def current(events: Iterable[StatusEvent]) -> list[StatusEvent]:
    """`events` without the ones the newest rerun made void (failures, job ends, pauses and running steps before it)."""
    events = list(events)
    since = rerun_since(events)
    return [e for e in events if not is_void(e, since)]


def current_known(known: Mapping[tuple[str, str], StatusEvent]) -> dict[tuple[str, str], StatusEvent]:
    """The latest events by (party, task) without the ones the newest rerun among them made void."""
    since = rerun_since(known.values())
    return {key: event for key, event in known.items() if not is_void(event, since)}


def job_failure(events: Iterable[StatusEvent], me: str, since: float | None = None) -> StatusEvent | None:
    """The first job-wide failure another party reports among `events` (none from before a rerun at `since`)."""
    for event in events:
        if event.task == JOB_TASK and event.status == "failed" and event.party_id != me and not is_void(event, since):
            return event
    return None


def job_ended(known: Mapping[tuple[str, str], StatusEvent], parties: Iterable[str]) -> StatusEvent | None:
    """The first of `parties`' ``__job__ failed`` events among the latest events (`known`, by party and task), if one ended the job.

    A job end from before the job's newest rerun (in `known` too) does not count.
    """
    since = rerun_since(known.values())
    for party_id in parties:
        event = known.get((party_id, JOB_TASK))
        if event is not None and event.status == "failed" and not is_void(event, since):
            return event
    return None


def job_pause(events: Iterable[StatusEvent], since: StatusEvent | None = None) -> StatusEvent | None:
    """The newest pause or resume of the job among `events` (any party's, `since` the one known before)."""
    newest = since
    for event in events:
        if event.task == PAUSE_TASK and (newest is None or event.timestamp >= newest.timestamp):
            newest = event
    return newest


def _tell(
    registry: PartyRegistry, signing_key: SigningKey, event: StatusEvent, parties: Sequence[str], what: str, *, nonce: bytes
) -> list[str]:
    """Post `event` to each party's broker (best effort: a party that cannot be reached is logged); the parties told."""
    told = []
    for party_id in parties:
        try:
            publish_event(registry, signing_key, event, [party_id], nonce=nonce, timeout=10.0)
            told.append(party_id)
        except PowerFLError:
            log.exception("could not tell party %s that job %r %s", party_id, event.job_id, what)
    return told


def announce_pause(
    registry: PartyRegistry,
    signing_key: SigningKey,
    job_id: str,
    me: str,
    parties: Sequence[str],
    status: str,
    reason: str,
    *,
    nonce: bytes,
) -> list[str]:
    """Tell every party of the job, this one too, that the job is ``paused`` or ``resumed``; the parties told."""
    event = StatusEvent(job_id, me, PAUSE_TASK, status, 1, reason, time.time())
    return _tell(registry, signing_key, event, parties, f"is {status}", nonce=nonce)


def announce_rerun(
    registry: PartyRegistry, signing_key: SigningKey, job_id: str, me: str, parties: Sequence[str], reason: str, *, nonce: bytes
) -> list[str]:
    """Tell every party of the job, this one too, that a user reran it here; the parties told.

    Each party's flow-server clears its failed steps of the run on it, and the failures, job ends and
    pauses posted before it are void from then on (``current``).
    """
    event = StatusEvent(job_id, me, RERUN_TASK, "running", 1, reason, time.time())
    return _tell(registry, signing_key, event, parties, "was rerun", nonce=nonce)


def announce_job_failure(
    registry: PartyRegistry, signing_key: SigningKey, job_id: str, me: str, peers: Sequence[str], reason: str, *, nonce: bytes
) -> None:
    """Tell every peer that this party ended the job (the run of `nonce`); best effort, a peer that cannot be
    reached is logged."""
    event = StatusEvent(job_id, me, JOB_TASK, "failed", 1, reason, time.time())
    _tell(registry, signing_key, event, peers, "ended", nonce=nonce)


class JobGuard:
    """
    Background reader of this party's job events; once a peer ends the job, calls `on_failure` every second until stopped.

    With `task` set, a peer running a newer attempt than `attempt` of that task
    calls `on_failure` too (with that ``running`` event).
    """

    def __init__(
        self,
        registry: PartyRegistry,
        me: str,
        job_id: str,
        on_failure: Callable[[StatusEvent], None],
        poll: float = 0.5,
        *,
        task: str | None = None,
        attempt: int = 1,
        nonce: bytes,
    ) -> None:
        self._registry = registry
        self._nonce = nonce
        self._me = me
        self._job_id = job_id
        self._on_failure = on_failure
        self._poll = poll
        self._task = task
        self._attempt = attempt
        self._stop = threading.Event()
        self.failure: StatusEvent | None = None
        self._thread = threading.Thread(target=self._run, name=f"powerfl-job-guard-{job_id}", daemon=True)

    def start(self) -> JobGuard:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        try:
            reader = EventReader(self._registry, self._me, self._job_id, nonce=self._nonce)
        except PowerFLError:
            log.exception("job guard of %r cannot read events; peers' failures will not stop this task", self._job_id)
            return
        try:
            since = None  # a rerun voids the job ends before it: the whole topic first, then what comes
            try:
                events = reader.read_all(30.0)
            except PowerFLError:
                log.warning("job guard of %r could not read its topic to the end at once; reading on", self._job_id)
                events = []
            while not self._stop.is_set():
                since = rerun_since(events, since)
                failure = job_failure(events, self._me, since)
                if failure is None and self._task is not None:
                    failure = peer_restart(events, self._me, self._task, self._attempt)
                if failure is not None:
                    self.failure = failure
                    log.error("%s", failure.describe())
                    break
                events = reader.poll(self._poll)
            # repeat: a step process started just after the first call must not outlive the job
            while self.failure is not None and not self._stop.is_set():
                self._on_failure(self.failure)
                self._stop.wait(1.0)
        except Exception:  # never kill the task from the guard thread itself
            log.exception("job guard of %r stopped reading events", self._job_id)
        finally:
            reader.close()
