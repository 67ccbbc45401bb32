"""A peer whose clock runs beyond the allowed skew ahead: its messages are refused, and the receiver says why at
once instead of waiting out its recv timeout; a forged future-dated message changes nothing."""

from __future__ import annotations

import time

import pytest

from airflow_provider_powerfl.federation.envelope import new_nonce
from airflow_provider_powerfl.federation.errors import ClockSkewed, RecvTimeout
from airflow_provider_powerfl.federation.inbox import MAX_CLOCK_SKEW
from airflow_provider_powerfl.federation.keys import SigningKey
from airflow_provider_powerfl.federation.memory import MemoryHub, MemoryTransport
from airflow_provider_powerfl.federation.party import Party

GUEST, HOST = "10000", "20000"
ROLES = {GUEST: "guest", HOST: "host"}


def _parties(guest_ahead: float, keys: dict[str, SigningKey], nonce: bytes, hub: MemoryHub | None = None) -> dict[str, Party]:
    hub = hub or MemoryHub(ROLES, [])
    public = {p: k.public_key for p, k in keys.items()}
    clocks = {GUEST: lambda: time.time() + guest_ahead, HOST: time.time}
    return {p: Party(p, ROLES, "job-1", 1, MemoryTransport(hub, p), keys[p], public, clock=clocks[p], nonce=nonce) for p in ROLES}


def test_a_peer_clock_beyond_the_window_fails_the_recv_at_once_saying_so() -> None:
    parties = _parties(MAX_CLOCK_SKEW + 600, {p: SigningKey.generate() for p in ROLES}, new_nonce())
    parties[GUEST].send(HOST, "gradient", 1)
    started = time.monotonic()
    with pytest.raises(
        ClockSkewed, match=rf"party {GUEST}'s messages are dated 9\d\ds ahead of party {HOST}'s clock, beyond the 300s allowed"
    ):
        parties[HOST].recv(GUEST, "gradient", timeout=30)
    assert time.monotonic() - started < 5
    assert parties[HOST].inbox.rejected == {"from the future": 1}
    # the skewed party itself accepts the other's messages: they look 900 s old, within max_age
    parties[HOST].send(GUEST, "loss", 2)
    assert parties[GUEST].recv(HOST, "loss", timeout=5) == 2


def test_a_skew_within_the_window_and_a_forged_future_message_are_no_clock_error() -> None:
    keys = {p: SigningKey.generate() for p in ROLES}
    nonce, hub = new_nonce(), MemoryHub(ROLES, [])
    parties = _parties(MAX_CLOCK_SKEW - 60, keys, nonce, hub)
    parties[GUEST].send(HOST, "gradient", 1)
    assert parties[HOST].recv(GUEST, "gradient", timeout=5) == 1
    # the guest's id, clock far ahead and the run's nonce, but another key: into the host's real inbox
    intruder = _parties(MAX_CLOCK_SKEW + 600, {GUEST: SigningKey.generate(), HOST: keys[HOST]}, nonce, hub)
    intruder[GUEST].send(HOST, "gradient", 1)
    with pytest.raises(RecvTimeout):
        parties[HOST].recv(GUEST, "gradient", timeout=0.5)
    assert parties[HOST].inbox.rejected == {"from the future": 1}
