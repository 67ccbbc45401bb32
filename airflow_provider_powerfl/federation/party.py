"""A party's view of one job: the only object protocols use to talk to other parties."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from airflow_provider_powerfl.exceptions import ConfigError, FederationError
from airflow_provider_powerfl.federation import codec
from airflow_provider_powerfl.federation.envelope import Header, sign_head, split
from airflow_provider_powerfl.federation.errors import ClockSkewed, OwnInboxUnreachable, PeerFailed, PeerSilent, RecvTimeout
from airflow_provider_powerfl.federation.inbox import DEFAULT_MAX_AGE, MAX_CLOCK_SKEW, Inbox
from airflow_provider_powerfl.federation.keys import SigningKey, VerifyKey
from airflow_provider_powerfl.federation.transport import Transport

if TYPE_CHECKING:
    from airflow_provider_powerfl.federation.registry import PartyRegistry

log = logging.getLogger(__name__)

# Large enough that per-chunk signing and Kafka request overhead vanish,
# small enough to stay far below the brokers' 16 MiB message limit.
DEFAULT_CHUNK_SIZE = 4 << 20
_POLL_SLICE = 1.0  # seconds; recv without timeout polls in slices of this
# Reserved tag of the one message a failing party sends every peer. It carries the exception's
# class name only: an error message may quote a raw value of the data, which stays home.
FAILED_TAG = "powerfl/failed"
# Reserved tag of the empty message a party sends every peer every silence_timeout / HEARTBEATS_PER_SILENCE
# seconds, so a peer killed outright (no failure notice) is noticed within silence_timeout.
ALIVE_TAG = "powerfl/alive"
HEARTBEATS_PER_SILENCE = 10
DEFAULT_SILENCE_TIMEOUT = 30.0  # Kafka-backed parties (from_registry); seconds
# Seconds a failing party tries to deliver its failure notice (and what else it sent) before it closes: a peer
# out of reach (a cut network) finds it silent instead
FAREWELL_TIMEOUT = 5.0


def peers_know(exc: BaseException) -> bool:
    """The peers need no failure notice for ``exc``: a peer's failure caused it, or a party told them already."""
    return isinstance(exc, PeerFailed) or getattr(exc, "peers_told", False)


class Party:
    """One party in one job attempt: sends signed objects to peers and receives theirs in order."""

    def __init__(
        self,
        party_id: str,
        roles: Mapping[str, str],
        job_id: str,
        attempt: int,
        transport: Transport,
        signing_key: SigningKey,
        verify_keys: Mapping[str, VerifyKey],
        *,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        max_age: float = DEFAULT_MAX_AGE,
        clock: Callable[[], float] = time.time,
        silence_timeout: float | None = None,
        nonce: bytes,
    ) -> None:
        """``nonce``: the run's (from the invitation); every message sent carries it and every message received
        must. ``silence_timeout``: seconds a peer that has been heard from may stay silent while this party waits
        on it before recv raises PeerSilent; this party then also sends heartbeats. None: neither."""
        if party_id not in roles:
            raise ConfigError(f"party {party_id!r} is not among the parties of job {job_id!r}: {sorted(roles)}")
        missing = sorted(set(roles) - set(verify_keys) - {party_id})
        if missing:
            raise ConfigError(f"job {job_id!r} has no public key for parties {missing}")
        if chunk_size <= 0:
            raise ConfigError(f"chunk_size must be positive, got {chunk_size}")
        if silence_timeout is not None and not silence_timeout > 0:
            raise ConfigError(f"silence_timeout must be a number of seconds > 0, got {silence_timeout!r}")
        self.party_id = party_id
        self.role = roles[party_id]
        self.job_id = job_id
        self.attempt = attempt
        self.transport = transport
        self._roles = dict(roles)
        self._key = signing_key
        self._chunk_size = chunk_size
        self._clock = clock
        peer_keys = {p: k for p, k in verify_keys.items() if p in roles and p != party_id}
        self.inbox = Inbox(party_id, job_id, attempt, peer_keys, max_age=max_age, clock=clock, nonce=nonce)
        self.nonce = self.inbox.nonce
        self._next_seq: dict[tuple[str, str], int] = {}
        self._unflushed = False
        self._peer_failure: tuple[str, str] | None = None  # (peer, its error's class) once told
        # one lock per (dst, tag) stream, not one for all: a heartbeat stuck on an unreachable peer's
        # broker must not hold this party's messages to the other peers
        self._stream_locks: dict[tuple[str, str], threading.Lock] = {}
        self._stream_locks_guard = threading.Lock()
        self._silence_timeout = silence_timeout
        self._own_seen_down = float("-inf")  # when a probe last found this party's own broker down (monotonic)
        self._stop_beating = threading.Event()
        self._heartbeat: threading.Thread | None = None
        if silence_timeout is not None:
            self._heartbeat = threading.Thread(
                target=self._beat, args=(silence_timeout / HEARTBEATS_PER_SILENCE,),
                name=f"powerfl-heartbeat-{party_id}", daemon=True,
            )  # fmt: skip
            self._heartbeat.start()

    @classmethod
    def from_registry(
        cls,
        registry: PartyRegistry,
        party_id: str,
        signing_key: SigningKey,
        job_id: str,
        attempt: int,
        roles: Mapping[str, str] | None = None,
        *,
        nonce: bytes,
        **options: object,
    ) -> Party:
        """A Kafka-backed party; `roles` picks the job's parties (default: every registry party, its first role).

        It sends heartbeats and notices a silent peer after DEFAULT_SILENCE_TIMEOUT unless
        ``silence_timeout`` says otherwise.
        """
        from airflow_provider_powerfl.federation.kafka_transport import KafkaTransport

        options.setdefault("silence_timeout", DEFAULT_SILENCE_TIMEOUT)

        roles = dict(roles) if roles is not None else registry.roles()
        for peer in roles:
            registry.get(peer)  # names an unknown party
        transport = KafkaTransport(registry, party_id, job_id, [p for p in roles if p != party_id])
        verify_keys = {p: registry.get(p).verify_key() for p in roles if p != party_id}
        return cls(party_id, roles, job_id, attempt, transport, signing_key, verify_keys, nonce=nonce, **options)  # type: ignore[arg-type]

    def peers(self, role: str | None = None) -> list[str]:
        """The other parties of the job, sorted; only those with `role` if given."""
        return sorted(p for p, r in self._roles.items() if p != self.party_id and (role is None or r == role))

    def role_of(self, party_id: str) -> str:
        try:
            return self._roles[party_id]
        except KeyError:
            raise ConfigError(f"party {party_id!r} is not among the parties of job {self.job_id!r}") from None

    def send(self, dst: str, tag: str, obj: object) -> None:
        """Encode, chunk, sign and publish `obj` to `dst`; returns once queued, not delivered."""
        self._check_peer(dst)
        parts, total = codec.encode(obj)
        chunks = list(split(parts, total, self._chunk_size))
        stream = (dst, tag)
        with self._stream_lock(stream):
            seq = self._next_seq.get(stream, 0)
            self._next_seq[stream] = seq + 1
            now = self._clock()
            for index, (offset, pieces) in enumerate(chunks):
                # a slice of array data goes out as it is; only runs of small parts are joined
                payload = pieces[0] if len(pieces) == 1 else b"".join(pieces)
                header = Header(
                    self.job_id, self.attempt, tag, seq, index, len(chunks), offset, total, self.party_id, dst, now, self.nonce
                )
                self.transport.publish(dst, sign_head(header, [payload], self._key), payload)
            if tag != ALIVE_TAG:  # nobody waits for a heartbeat: recv need not flush (and block) for one
                self._unflushed = True

    def _stream_lock(self, stream: tuple[str, str]) -> threading.Lock:
        with self._stream_locks_guard:
            return self._stream_locks.setdefault(stream, threading.Lock())

    def recv(self, src: str, tag: str, timeout: float | None = None) -> object:
        """The next object `src` sent with `tag`, in send order; RecvTimeout after `timeout` seconds,
        PeerFailed or PeerSilent as soon as a peer failed or went silent."""
        self._check_peer(src)
        waiting_since = time.monotonic()
        deadline = None if timeout is None else waiting_since + timeout
        if self._unflushed:  # a peer may be waiting for what we sent before answering
            self._flush(tag, waiting_since, deadline, timeout)
            self._unflushed = False
        while True:
            found, obj = self.inbox.pop(src, tag)
            if found:
                return obj
            self._raise_if_a_peer_failed()
            self._raise_if_silent(src, tag, waiting_since)
            remaining = _POLL_SLICE if deadline is None else deadline - time.monotonic()
            if remaining <= 0:
                raise RecvTimeout(src, self.party_id, self.job_id, self.attempt, tag, timeout or 0.0)
            drained = True
            for wire, payload in self.transport.poll(min(remaining, _POLL_SLICE)):
                self.inbox.accept(wire, payload)
                drained = False
            if drained:  # judged on all that arrived: a message accepted after a skewed one clears it
                self._raise_if_clock_skewed()
            self._drop_heartbeats()

    def _flush(self, tag: str, waiting_since: float, deadline: float | None, timeout: float | None) -> None:
        """Deliver what this party sent, in slices: a peer failing, falling silent (PeerSilent: during a cut our
        sends wait as long as its heartbeats do) or the recv deadline ends the wait, not Kafka's delivery timeout."""
        while not self.transport.flush(_POLL_SLICE):
            for wire, payload in self.transport.poll(0):  # a peer's failure notice or heartbeat
                self.inbox.accept(wire, payload)
            self._raise_if_a_peer_failed()
            for peer in self.peers():
                self._raise_if_silent(peer, tag, waiting_since)
            if deadline is not None and time.monotonic() > deadline:
                raise RecvTimeout(self.peers()[0], self.party_id, self.job_id, self.attempt, tag, timeout or 0.0)
            self._drop_heartbeats()

    def close(self, timeout: float | None = None) -> None:
        """Stop the heartbeats, deliver pending messages (for `timeout` seconds at most; None: while every peer
        heard from is still heard, i.e. the silence timeout bounds a wait on an unreachable broker) and release the
        transport."""
        self._stop_beating.set()
        if self._heartbeat is not None:  # a heartbeat stuck on an unreachable broker must not hold the close
            self._heartbeat.join(timeout=_POLL_SLICE)
        if timeout is None and self._silence_timeout is not None:
            try:
                self._flush("(closing)", time.monotonic(), None, None)
            except FederationError as exc:
                log.warning("party %s closes with messages undelivered: %s", self.party_id, exc)
                timeout = 0.0
        self.transport.close(timeout)

    def __enter__(self) -> Party:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        """Close; leaving on an error first tells every peer, so their recv fails at once (PeerFailed)."""
        try:
            if exc is not None:
                self.tell_peers_failed(exc)
        finally:
            self.close(FAREWELL_TIMEOUT if exc is not None else None)

    def tell_peers_failed(self, exc: BaseException) -> None:
        """Send every peer this party's failure (the error's class only), unless a peer's failure caused it
        or they were told of ``exc`` already (``exc.peers_told``, set here once told or tried for FAREWELL_TIMEOUT)."""
        if peers_know(exc):
            return
        error = type(exc).__name__
        try:
            for peer in self.peers():
                self.send(peer, FAILED_TAG, {"error": error})
            if not self.transport.flush(FAREWELL_TIMEOUT):  # a peer out of reach: it finds this party silent
                log.warning("party %s could not tell its peers that it failed within %gs", self.party_id, FAREWELL_TIMEOUT)
            # told, or tried as long as it is worth: a second try (spark_jobs' tell_peers_failed, with a party of its
            # own) would wait on the same unreachable broker again
            exc.peers_told = True  # type: ignore[attr-defined]
        except Exception:  # the peers fall back on their recv timeout
            log.exception("party %s could not tell its peers that it failed", self.party_id)

    def _raise_if_a_peer_failed(self) -> None:
        """Raise PeerFailed once a peer's failure message has arrived, on this and every later recv."""
        if self._peer_failure is None:
            for peer in self.peers():
                found, obj = self.inbox.pop(peer, FAILED_TAG)
                if found:
                    error = obj.get("error") if isinstance(obj, dict) else None
                    # a class name; str() of anything else may raise (an int of over 4300 digits)
                    self._peer_failure = (peer, error[:200] if isinstance(error, str) else "an unnamed error")
                    break
        if self._peer_failure is not None:
            raise PeerFailed(self._peer_failure[0], self.party_id, self.job_id, self.attempt, self._peer_failure[1])

    def _beat(self, interval: float) -> None:
        """Heartbeat thread: an empty message to every peer now and every ``interval`` seconds until close."""
        failing = False
        while True:
            try:
                for peer in self.peers():
                    self.send(peer, ALIVE_TAG, None)
                failing = False
            except Exception:  # the main thread meets a broken transport on its own sends and polls
                if not failing:  # once per streak, not every interval
                    log.warning("party %s could not send a heartbeat", self.party_id, exc_info=True)
                failing = True
            if self._stop_beating.wait(interval):
                return

    def _drop_heartbeats(self) -> None:
        """Heartbeats matter by their arrival (Inbox.last_heard) only: discard them."""
        for peer in self.peers():
            while self.inbox.pop(peer, ALIVE_TAG)[0]:
                pass

    def _raise_if_silent(self, src: str, tag: str, waiting_since: float) -> None:
        """PeerSilent when ``src``, heard from before, has sent nothing for silence_timeout while we polled
        (OwnInboxUnreachable when this party's own inbox is what cannot be read).

        Polling time counts from ``waiting_since``: messages that waited in Kafka while this party
        computed are not silence. A peer never heard from may not have started yet; the recv
        timeout covers it. Past half the timeout each poll probes this party's own broker: while it is down
        nothing can arrive, so the peer's silence counts again from the last probe that found it down (a
        broker restart shorter than the timeout is not the peer's silence); down for the whole timeout is
        OwnInboxUnreachable, so the wait stays bounded.
        """
        heard = self.inbox.last_heard.get(src)
        if self._silence_timeout is None or heard is None:
            return
        now = time.monotonic()
        silent_for = now - max(heard, waiting_since)
        if silent_for <= self._silence_timeout / 2:
            return
        why = self.transport.own_inbox_unreachable()
        if why is not None:
            self._own_seen_down = now
            if silent_for > self._silence_timeout:
                raise OwnInboxUnreachable(src, self.party_id, self.job_id, self.attempt, tag, now - heard, why)
        elif now - max(heard, waiting_since, self._own_seen_down) > self._silence_timeout:
            raise PeerSilent(src, self.party_id, self.job_id, self.attempt, tag, now - heard)

    def _raise_if_clock_skewed(self) -> None:
        """ClockSkewed when a peer's last word was a signed message dated beyond the allowed skew: the rest will be too."""
        for peer, (ahead, at) in self.inbox.skewed.items():
            if at >= self.inbox.last_heard.get(peer, float("-inf")):
                raise ClockSkewed(peer, self.party_id, self.job_id, self.attempt, ahead, MAX_CLOCK_SKEW)

    def _check_peer(self, party_id: str) -> None:
        if party_id == self.party_id or party_id not in self._roles:
            raise ConfigError(f"party {party_id!r} is not a peer of party {self.party_id} in job {self.job_id!r}")

    def __repr__(self) -> str:
        return f"Party({self.party_id!r}, role={self.role!r}, job={self.job_id!r}, attempt={self.attempt})"
