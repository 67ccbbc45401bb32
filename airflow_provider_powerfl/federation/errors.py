"""Errors of the federation channel; each names the peer, job, tag or file at fault."""

from __future__ import annotations

from airflow_provider_powerfl.exceptions import FederationError


class RecvTimeout(FederationError, TimeoutError):
    """No message arrived from a peer for a tag within the timeout."""

    def __init__(self, src: str, dst: str, job_id: str, attempt: int, tag: str, timeout: float) -> None:
        super().__init__(
            f"party {dst} waited {timeout:g}s for tag {tag!r} from party {src} "
            f"in job {job_id!r} attempt {attempt} and got nothing"
        )
        self.src = src
        self.job_id = job_id
        self.attempt = attempt
        self.tag = tag


class OwnInboxUnreachable(FederationError):
    """This party heard nothing from a peer because it cannot read its own inbox: the fault is here, not at the peer."""

    def __init__(self, src: str, dst: str, job_id: str, attempt: int, tag: str, silent_for: float, why: str) -> None:
        super().__init__(
            f"party {dst} has heard nothing from party {src} for {silent_for:.0f}s while waiting for tag {tag!r} in "
            f"job {job_id!r} attempt {attempt}: {why}, so no peer's message can reach it; the fault is at party {dst}"
        )
        self.src = src
        self.job_id = job_id
        self.attempt = attempt
        self.tag = tag


class PeerFailed(FederationError):
    """A peer's step failed and said so on the channel (Party.__exit__): stop now instead of waiting out a timeout.

    Not the sensors' PeerTaskFailed, which is a peer's Airflow task reporting failure in a status event.
    """

    def __init__(self, src: str, dst: str, job_id: str, attempt: int, error: str) -> None:
        super().__init__(
            f"party {src} failed ({error}) in job {job_id!r} attempt {attempt}; "
            f"party {dst} stops too (the reason is in party {src}'s log)"
        )
        self.src = src
        self.job_id = job_id
        self.attempt = attempt
        self.error = error


class PeerSilent(FederationError):
    """A peer heard from before has sent nothing, not even a heartbeat, for longer than the silence timeout."""

    def __init__(self, src: str, dst: str, job_id: str, attempt: int, tag: str, silent_for: float) -> None:
        super().__init__(
            f"party {src} has sent nothing, not even a heartbeat, for {silent_for:.0f}s while party {dst} waited "
            f"for tag {tag!r} in job {job_id!r} attempt {attempt}: it stopped or was killed, or the network "
            "to it is down"
        )
        self.src = src
        self.job_id = job_id
        self.attempt = attempt
        self.tag = tag


class ClockSkewed(FederationError):
    """A peer's signed messages are dated beyond the allowed skew ahead of this clock: all are refused, so none can come."""

    def __init__(self, src: str, dst: str, job_id: str, attempt: int, ahead: float, allowed: float) -> None:
        super().__init__(
            f"party {src}'s messages are dated {ahead:.0f}s ahead of party {dst}'s clock, beyond the {allowed:.0f}s "
            f"allowed, so they are refused and job {job_id!r} attempt {attempt} cannot go on: set the parties' "
            "clocks right (NTP)"
        )
        self.src = src
        self.job_id = job_id
        self.attempt = attempt
        self.ahead = ahead


class MalformedMessage(FederationError, ValueError):
    """Bytes that are not a well-formed wire message or encoded object."""
