from __future__ import annotations

import dataclasses
import threading
import time

import numpy as np
import pytest

from airflow_provider_powerfl.exceptions import ConfigError
from airflow_provider_powerfl.federation import party as party_module
from airflow_provider_powerfl.federation.envelope import Header, new_nonce, open_envelope, seal
from airflow_provider_powerfl.federation.errors import (
    ClockSkewed,
    MalformedMessage,
    OwnInboxUnreachable,
    PeerFailed,
    PeerSilent,
    RecvTimeout,
)
from airflow_provider_powerfl.federation.keys import SigningKey
from airflow_provider_powerfl.federation.memory import MemoryHub, MemoryTransport, memory_parties
from airflow_provider_powerfl.federation.party import ALIVE_TAG, Party

GUEST, HOST, ARBITER = "10000", "20000", "30000"
NONCE = new_nonce()  # the run of the parties built by hand here


@pytest.fixture
def capture() -> list[bytes]:
    return []


@pytest.fixture
def parties(capture: list[bytes]) -> dict[str, Party]:
    return memory_parties("job-1", {GUEST: "guest", HOST: "host", ARBITER: "arbiter"}, capture=capture, chunk_size=64)


def hub_of(party: Party):
    return party.transport.hub  # type: ignore[attr-defined]


def test_identity_peers_and_roles(parties: dict[str, Party]) -> None:
    guest = parties[GUEST]
    assert (guest.party_id, guest.role, guest.job_id, guest.attempt) == (GUEST, "guest", "job-1", 1)
    assert guest.peers() == [HOST, ARBITER]
    assert guest.peers("host") == [HOST]
    assert guest.role_of(ARBITER) == "arbiter"
    with pytest.raises(ConfigError, match="99999"):
        guest.role_of("99999")
    with pytest.raises(ConfigError, match="99999"):
        guest.send("99999", "t", 1)


def test_messages_arrive_in_order_per_sender_and_tag(parties: dict[str, Party]) -> None:
    guest, host, arbiter = parties[GUEST], parties[HOST], parties[ARBITER]
    for i in range(5):
        guest.send(HOST, "a", i)
        guest.send(HOST, "b", -i)
        arbiter.send(HOST, "a", f"arbiter {i}")
    assert [host.recv(GUEST, "b") for _ in range(5)] == [0, -1, -2, -3, -4]
    assert [host.recv(ARBITER, "a") for _ in range(5)] == [f"arbiter {i}" for i in range(5)]
    assert [host.recv(GUEST, "a") for _ in range(5)] == list(range(5))


def test_large_objects_are_chunked_and_reassembled(parties: dict[str, Party], capture: list[bytes]) -> None:
    array = np.random.default_rng(0).random((50, 7))
    parties[GUEST].send(HOST, "x", {"w": array, "note": "chunked"})
    assert len(capture) > 10
    out = parties[HOST].recv(GUEST, "x")
    np.testing.assert_array_equal(out["w"], array)
    assert out["note"] == "chunked"


def test_parties_in_threads_exchange_replies() -> None:
    guest, host = memory_parties("job-2", {GUEST: "guest", HOST: "host"}).values()

    def serve() -> None:
        for _ in range(20):
            host.send(GUEST, "pong", host.recv(GUEST, "ping", timeout=10) * 2)

    thread = threading.Thread(target=serve)
    thread.start()
    replies = []
    for i in range(20):
        guest.send(HOST, "ping", i)
        replies.append(guest.recv(HOST, "pong", timeout=10))
    thread.join()
    assert replies == [2 * i for i in range(20)]


def test_timeout_names_peer_job_tag_and_attempt(parties: dict[str, Party]) -> None:
    with pytest.raises(RecvTimeout) as info:
        parties[HOST].recv(GUEST, "gradients", timeout=0.05)
    message = str(info.value)
    for word in (GUEST, HOST, "job-1", "gradients", "attempt 1"):
        assert word in message


def test_wire_carries_no_plaintext_of_a_marker(parties: dict[str, Party], capture: list[bytes]) -> None:
    parties[GUEST].send(HOST, "t", "visible-marker")
    assert any(b"visible-marker" in wire for wire in capture)  # the channel signs, it does not encrypt
    header = open_envelope(capture[-1]).header
    assert (header.sender, header.receiver, header.job_id, header.tag) == (GUEST, HOST, "job-1", "t")


def test_replayed_bytes_are_delivered_once(parties: dict[str, Party], capture: list[bytes]) -> None:
    guest, host = parties[GUEST], parties[HOST]
    guest.send(HOST, "t", list(range(100)))
    sent = list(capture)
    for wire in sent:
        hub_of(host).deliver(HOST, wire)
    assert host.recv(GUEST, "t") == list(range(100))
    for wire in sent:
        hub_of(host).deliver(HOST, wire)
    with pytest.raises(RecvTimeout):
        host.recv(GUEST, "t", timeout=0.05)
    assert host.inbox.duplicates == 2 * len(sent)
    assert not host.inbox.rejected


def _resealed(wire: bytes, key: SigningKey, **changes: object) -> bytes:
    envelope = open_envelope(wire)
    return seal(dataclasses.replace(envelope.header, **changes), [envelope.payload], key)


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"job_id": "job-other"}, "wrong job"),
        ({"receiver": ARBITER}, "wrong receiver"),
        ({"attempt": 0}, "stale attempt"),
        ({"attempt": 2}, "newer attempt"),
        ({"timestamp": 1.0}, "too old"),
        ({"timestamp": 4e9}, "from the future"),
    ],
)
def test_checked_fields_reject_even_when_correctly_signed(capture: list[bytes], changes: dict[str, object], reason: str) -> None:
    keys = {GUEST: SigningKey.generate(), HOST: SigningKey.generate()}
    parties = _keyed_parties(keys, capture)
    parties[GUEST].send(HOST, "t", "real")
    wire = capture.pop()
    forged = _resealed(wire, keys[GUEST], seq=1, **changes)
    hub_of(parties[HOST]).deliver(HOST, forged)
    hub_of(parties[HOST]).deliver(HOST, wire)
    assert parties[HOST].recv(GUEST, "t", timeout=1) == "real"
    # the guest's own key dating its last word beyond the skew window: its clock is off, and the wait says so
    with pytest.raises(ClockSkewed if reason == "from the future" else RecvTimeout):
        parties[HOST].recv(GUEST, "t", timeout=0.05)
    assert parties[HOST].inbox.rejected == {reason: 1}


def _keyed_parties(keys: dict[str, SigningKey], capture: list[bytes]) -> dict[str, Party]:
    from airflow_provider_powerfl.federation.memory import MemoryHub, MemoryTransport

    roles = {GUEST: "guest", HOST: "host"}
    hub = MemoryHub(roles, capture)
    public = {p: k.public_key for p, k in keys.items()}
    return {p: Party(p, roles, "job-1", 1, MemoryTransport(hub, p), keys[p], public, nonce=NONCE) for p in roles}


def test_forged_signature_and_unknown_sender_are_rejected(parties: dict[str, Party], capture: list[bytes]) -> None:
    guest, host = parties[GUEST], parties[HOST]
    guest.send(HOST, "t", "real")
    wire = capture[-1]
    hub = hub_of(host)
    hub.take(HOST, 0)  # hold the real message back: the forgeries arrive first
    intruder = SigningKey.generate()
    hub.deliver(HOST, _resealed(wire, intruder, seq=1))  # claims to be the guest
    hub.deliver(HOST, _resealed(wire, intruder, seq=1, sender="66666"))
    tampered = bytearray(wire)
    tampered[-1] ^= 1
    hub.deliver(HOST, bytes(tampered))
    hub.deliver(HOST, wire)
    assert host.recv(GUEST, "t", timeout=1) == "real"
    with pytest.raises(RecvTimeout):
        host.recv(GUEST, "t", timeout=0.05)
    assert host.inbox.rejected == {"bad signature": 2, "unknown sender": 1}


def test_a_tampered_copy_of_an_accepted_chunk_is_dropped_as_a_duplicate(parties: dict[str, Party], capture: list[bytes]) -> None:
    guest, host = parties[GUEST], parties[HOST]
    guest.send(HOST, "t", "real")
    assert host.recv(GUEST, "t", timeout=1) == "real"
    tampered = bytearray(capture[-1])
    tampered[-1] ^= 1
    hub_of(host).deliver(HOST, bytes(tampered))  # not hashed: it cannot replace what was accepted
    with pytest.raises(RecvTimeout):
        host.recv(GUEST, "t", timeout=0.05)
    assert host.inbox.duplicates == 1
    assert not host.inbox.rejected


def test_malformed_wire_bytes_are_counted_not_raised(parties: dict[str, Party]) -> None:
    host = parties[HOST]
    for junk in (b"", b"PFL1", b"garbage" * 10, b"PFL1\xff\xff" + bytes(100)):
        hub_of(host).deliver(HOST, junk)
    parties[GUEST].send(HOST, "t", 7)
    assert host.recv(GUEST, "t", timeout=1) == 7
    assert host.inbox.rejected == {"malformed": 4}


def test_undecodable_payload_from_a_real_peer_names_it(capture: list[bytes]) -> None:
    keys = {GUEST: SigningKey.generate(), HOST: SigningKey.generate()}
    parties = _keyed_parties(keys, capture)
    header = Header("job-1", 1, "t", 0, 0, 1, 0, 3, GUEST, HOST, __import__("time").time(), NONCE)
    hub_of(parties[HOST]).deliver(HOST, seal(header, [b"???"], keys[GUEST]))
    with pytest.raises(MalformedMessage, match=f"tag 't' from party {GUEST}"):
        parties[HOST].recv(GUEST, "t", timeout=1)


def test_party_must_know_every_peer_key() -> None:
    from airflow_provider_powerfl.federation.memory import MemoryHub, MemoryTransport

    roles = {GUEST: "guest", HOST: "host"}
    with pytest.raises(ConfigError, match=HOST):
        Party(GUEST, roles, "j", 1, MemoryTransport(MemoryHub(roles), GUEST), SigningKey.generate(), {}, nonce=NONCE)


def test_chunks_that_do_not_tile_their_object_are_refused(capture: list[bytes]) -> None:
    import time

    keys = {GUEST: SigningKey.generate(), HOST: SigningKey.generate()}
    parties = _keyed_parties(keys, capture)
    for index in (0, 1):  # both claim offset 0, so bytes 4..7 would stay uninitialised
        header = Header("job-1", 1, "t", 0, index, 2, 0, 8, GUEST, HOST, time.time(), NONCE)
        hub_of(parties[HOST]).deliver(HOST, seal(header, [b"abcd"], keys[GUEST]))
    with pytest.raises(RecvTimeout):
        parties[HOST].recv(GUEST, "t", timeout=0.05)
    assert parties[HOST].inbox.rejected == {"inconsistent chunk": 1}


def test_array_data_reaches_the_transport_as_slices_and_is_accepted_as_head_and_payload() -> None:
    from airflow_provider_powerfl.federation.memory import MemoryHub, MemoryTransport

    class Recording(MemoryTransport):
        def publish(self, dst: str, head: bytes, payload: object) -> None:
            sent.append((head, payload))

    sent: list[tuple[bytes, object]] = []
    keys = {GUEST: SigningKey.generate(), HOST: SigningKey.generate()}
    roles = {GUEST: "guest", HOST: "host"}
    public = {p: k.public_key for p, k in keys.items()}
    hub = MemoryHub(roles)
    guest = Party(GUEST, roles, "job-1", 1, Recording(hub, GUEST), keys[GUEST], public, chunk_size=1024, nonce=NONCE)
    host = Party(HOST, roles, "job-1", 1, MemoryTransport(hub, HOST), keys[HOST], public, nonce=NONCE)
    array = np.arange(1000, dtype=np.float64)
    guest.send(HOST, "w", array)
    slices = [payload for _, payload in sent if isinstance(payload, memoryview) and len(payload) == 1024]
    assert len(slices) == 7 and all(np.shares_memory(np.frombuffer(s, dtype=np.uint8), array) for s in slices)
    for head, payload in reversed(sent):  # out of order, as (head, payload) like Kafka records
        host.inbox.accept(head, bytes(payload))
    np.testing.assert_array_equal(host.recv(GUEST, "w", timeout=1), array)
    assert not host.inbox.rejected and not host.inbox.duplicates


def test_a_party_leaving_on_an_error_fails_every_peer_at_once(parties: dict[str, Party], capture: list[bytes]) -> None:
    """Peers waiting on the failed party stop with its error's class, not after their timeout; no data value crosses."""
    with pytest.raises(ValueError), parties[HOST]:
        raise ValueError("feature 'income' has a non-numeric value '73,5k' at row 12")
    assert not any(b"73,5k" in wire for wire in capture)
    for waiting in (GUEST, ARBITER):
        with pytest.raises(PeerFailed, match=f"party {HOST} failed \\(ValueError\\)") as caught:
            parties[waiting].recv(HOST, "gradient", timeout=30)
        assert caught.value.src == HOST
    # a party stopping because of a peer's failure does not echo it
    sent = len(capture)
    with pytest.raises(PeerFailed), parties[GUEST]:
        parties[GUEST].recv(HOST, "other", timeout=30)
    assert len(capture) == sent


SILENCE = 1.0  # seconds; heartbeats every 0.1 s


def heartbeating_pair() -> tuple[Party, Party]:
    guest, host = memory_parties("job-alive", {GUEST: "guest", HOST: "host"}, silence_timeout=SILENCE).values()
    return guest, host


def test_a_peer_gone_silent_fails_the_waiting_party_within_the_silence_timeout() -> None:
    """A peer that stops outright (no failure notice) is noticed by its silence, not after the recv timeout."""
    guest, host = heartbeating_pair()
    host.send(GUEST, "hello", 1)
    assert guest.recv(HOST, "hello", timeout=10) == 1
    host.close()  # from the guest's side a killed host looks the same: nothing more arrives
    start = time.monotonic()
    with pytest.raises(PeerSilent) as caught:
        guest.recv(HOST, "gradient", timeout=600)
    assert SILENCE < time.monotonic() - start < SILENCE + 5
    assert caught.value.src == HOST
    for word in (f"party {HOST} has sent nothing", f"party {GUEST} waited", "'gradient'", "job-alive", "attempt 1"):
        assert word in str(caught.value)
    guest.close()


def test_a_party_that_cannot_read_its_own_inbox_says_the_fault_is_its_own() -> None:
    """A party whose own broker is down hears nothing from anyone: it names itself, not the peer, as the fault."""

    class OwnBrokerDown(MemoryTransport):
        def own_inbox_unreachable(self) -> str | None:
            return "its own broker 10.0.0.1:9092 does not answer (inbox powerfl.job-t.10000)"

    guest, host = heartbeating_guest_over(OwnBrokerDown, {GUEST: "guest", HOST: "host"})
    host.send(GUEST, "hello", 1)
    assert guest.recv(HOST, "hello", timeout=10) == 1
    host.close()
    with pytest.raises(OwnInboxUnreachable) as caught:
        guest.recv(HOST, "gradient", timeout=600)
    assert not isinstance(caught.value, PeerSilent)
    for word in (
        f"party {GUEST} has heard nothing from party {HOST}",
        "10.0.0.1:9092 does not answer",
        f"fault is at party {GUEST}",
    ):
        assert word in str(caught.value)
    guest.close()


def test_a_restart_of_the_own_broker_shorter_than_the_silence_timeout_is_not_the_peers_silence() -> None:
    """Nothing arrives while this party's own broker is down: the peer's silence counts again from when a probe last
    found it down, so a peer whose messages arrive soon after the broker is back is waited for (the fault harness's
    broker kill: down 26 s, PeerSilent 4.6 s after its return under the old count)."""
    down, delivered = 0.8 * SILENCE, 1.5 * SILENCE  # the peer's retried message lands after the silence timeout

    class OwnBrokerRestarts(MemoryTransport):
        started = time.monotonic()

        def own_inbox_unreachable(self) -> str | None:
            return "its own broker does not answer" if time.monotonic() - self.started < down else None

        def poll(self, timeout: float) -> list:
            if time.monotonic() - self.started < down:
                time.sleep(min(timeout, 0.05))
                return []
            return super().poll(min(timeout, 0.05))  # judged every 50 ms, as the fault's seconds are by 1 s slices

    guest, host = heartbeating_guest_over(OwnBrokerRestarts, {GUEST: "guest", HOST: "host"})
    host.send(GUEST, "hello", 1)
    assert guest.recv(HOST, "hello", timeout=10) == 1
    OwnBrokerRestarts.started = time.monotonic()
    answer = threading.Timer(delivered, lambda: host.send(GUEST, "result", 42))
    answer.start()
    assert guest.recv(HOST, "result", timeout=30) == 42
    answer.join()
    guest.close()


def test_a_live_peer_computing_longer_than_the_silence_timeout_is_waited_for() -> None:
    """Heartbeats keep a busy peer alive; messages that waited while this party computed are not silence."""
    guest, host = heartbeating_pair()
    host.send(GUEST, "hello", 1)
    assert guest.recv(HOST, "hello", timeout=10) == 1
    time.sleep(3 * SILENCE)  # the guest computes, polling nothing: the host's heartbeats wait in its inbox
    answer = threading.Timer(3 * SILENCE, lambda: host.send(GUEST, "result", 42))
    answer.start()
    assert guest.recv(HOST, "result", timeout=30) == 42
    answer.join()
    assert guest.inbox.pop(HOST, ALIVE_TAG) == (False, None)  # heartbeats are dropped once they arrive
    host.close()
    guest.close()


def test_a_peer_not_heard_from_yet_gets_the_recv_timeout() -> None:
    """Before its first message a peer may not have started: only the recv timeout applies."""
    host_key = SigningKey.generate()
    guest = Party(
        GUEST, {GUEST: "guest", HOST: "host"}, "job-late", 1, MemoryTransport(MemoryHub([GUEST, HOST]), GUEST),
        SigningKey.generate(), {HOST: host_key.public_key}, silence_timeout=0.01, nonce=NONCE,
    )  # fmt: skip
    with pytest.raises(RecvTimeout):
        guest.recv(HOST, "hello", timeout=0.3)
    guest.close()


def test_the_silence_timeout_must_be_positive() -> None:
    with pytest.raises(ConfigError, match="silence_timeout"):
        memory_parties("job-bad", {GUEST: "guest", HOST: "host"}, silence_timeout=0)


def heartbeating_guest_over(transport: type[MemoryTransport], roles: dict[str, str]) -> tuple[Party, Party]:
    """A heartbeating guest publishing through ``transport`` and a plain host, in one in-memory job."""
    keys = {p: SigningKey.generate() for p in roles}
    public = {p: k.public_key for p, k in keys.items()}
    hub = MemoryHub(roles)
    guest = Party(GUEST, roles, "job-t", 1, transport(hub, GUEST), keys[GUEST], public, silence_timeout=SILENCE, nonce=NONCE)
    return guest, Party(HOST, roles, "job-t", 1, MemoryTransport(hub, HOST), keys[HOST], public, nonce=NONCE)


def test_a_heartbeat_stuck_on_one_peer_does_not_hold_messages_to_the_others() -> None:
    """Publishing to an unreachable peer's broker can block (Kafka's max_block_ms); the other peers still get ours."""
    stuck, release = threading.Event(), threading.Event()

    class OneBrokerHangs(MemoryTransport):
        def publish(self, dst: str, head: bytes, payload: object) -> None:
            if dst == ARBITER:
                stuck.set()
                release.wait(30)
            super().publish(dst, head, payload)

    guest, host = heartbeating_guest_over(OneBrokerHangs, {GUEST: "guest", HOST: "host", ARBITER: "arbiter"})
    try:
        assert stuck.wait(10)  # the heartbeat thread now hangs in its publish to the arbiter
        sent = threading.Thread(target=guest.send, args=(HOST, "w", 7))
        sent.start()
        sent.join(5)
        assert not sent.is_alive()
        assert host.recv(GUEST, "w", timeout=5) == 7
    finally:
        release.set()
        guest.close()
        host.close()


def test_recv_does_not_flush_for_heartbeats() -> None:
    """A flush waits for delivery: one queued only for a dead broker's heartbeats would stall every recv."""
    flushes = []

    class CountsFlushes(MemoryTransport):
        def flush(self, timeout: float | None = None) -> bool:
            flushes.append(1)
            return True

    guest, host = heartbeating_guest_over(CountsFlushes, {GUEST: "guest", HOST: "host"})
    try:
        time.sleep(3 * SILENCE / 10)  # a few heartbeats go out
        with pytest.raises(RecvTimeout):
            guest.recv(HOST, "w", timeout=0.2)
        assert not flushes
        guest.send(HOST, "w", 1)
        with pytest.raises(RecvTimeout):
            guest.recv(HOST, "answer", timeout=0.2)
        assert len(flushes) == 1  # its own message is flushed before waiting for the answer
    finally:
        guest.close()
        host.close()


def test_a_cut_network_fails_a_party_stuck_delivering_its_own_messages_within_the_silence_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """During a cut a party's flush before it waits would last Kafka's delivery timeout (300 s); the peer's
    silence ends it (tests/faults' long cut), and the failing party closes without waiting for delivery."""

    class CutOff(MemoryTransport):
        cut = False

        def flush(self, timeout: float | None = None) -> bool:
            if not CutOff.cut:
                return True
            time.sleep(3600 if timeout is None else timeout)  # Kafka's: until its delivery timeout
            return False

    monkeypatch.setattr(party_module, "FAREWELL_TIMEOUT", 0.5)
    guest, host = heartbeating_guest_over(CutOff, {GUEST: "guest", HOST: "host"})
    host_beats = Party(HOST, {GUEST: "guest", HOST: "host"}, "job-t", 1, host.transport, host._key,
                       {GUEST: guest._key.public_key}, silence_timeout=SILENCE, nonce=NONCE)  # fmt: skip
    host_beats.send(GUEST, "hello", 1)
    assert guest.recv(HOST, "hello", timeout=10) == 1
    CutOff.cut = True
    host_beats.close()  # nothing of the host's arrives any more
    guest.send(HOST, "w", 1)
    start = time.monotonic()
    with pytest.raises(PeerSilent, match=f"party {HOST} has sent nothing") as caught, guest:
        guest.recv(HOST, "answer", timeout=600)
    assert SILENCE < time.monotonic() - start < SILENCE + 3
    assert caught.value.peers_told  # tried: the step runner does not try again with a party of its own
    host.close()
