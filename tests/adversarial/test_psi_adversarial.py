"""A dishonest partner in RSA-PSI and the joint query: every deviation fails with a named error at
both parties, before anything of the honest party is signed, unblinded or returned.

The honest party runs the real protocol; the dishonest one is scripted message by message. Each
party runs inside ``with party:``, as the job steps do, so a failing honest party tells its peer:
the peer's next recv raises PeerFailed, which also shows that nothing more reached it.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import gmpy2
import numpy as np
import pytest

from airflow_provider_powerfl.algorithms.alignment import align, streams
from airflow_provider_powerfl.algorithms.alignment.errors import ProtocolViolation, QueryLimitExceeded, RsaPeerError
from airflow_provider_powerfl.algorithms.alignment.joint_query import query_rows, serve_rows
from airflow_provider_powerfl.algorithms.alignment.rsa import int_vector
from airflow_provider_powerfl.crypto import rsa_blind
from airflow_provider_powerfl.exceptions import ConfigError
from airflow_provider_powerfl.federation.errors import PeerFailed
from airflow_provider_powerfl.federation.memory import memory_parties, run_parties
from airflow_provider_powerfl.federation.party import Party

GUEST, HOST = "10000", "20000"
ROLES = {GUEST: "guest", HOST: "host"}
TIMEOUT = 30.0
IDS = list(range(40))


@pytest.fixture(scope="module")
def key() -> rsa_blind.RsaSigningKey:
    return rsa_blind.RsaSigningKey.generate(2048)


def _run(work: dict[str, Callable[[Party], object]]) -> dict[str, object]:
    """Each party's result or the exception it raised; every party runs inside ``with party:``."""
    parties = memory_parties("job-adversarial", ROLES)

    def guarded(party_id: str) -> Callable[[], object]:
        def go() -> object:
            with parties[party_id] as party:
                return work[party_id](party)

        return go

    return run_parties({party_id: guarded(party_id) for party_id in work}, timeout=120.0)


def _key_message(public: rsa_blind.RsaPublicKey, proof: list[int]) -> dict:
    return {"n": public.n, "e": public.e, "proof": proof}


def _leaky_modulus() -> int:
    """A 2048-bit n = p q with 65537 | p - 1: blinding under it would show the signer x^((p-1)/e) mod p."""
    rng = random.Random(7)
    while True:
        p = 2 * rsa_blind.PUBLIC_EXPONENT * (rng.getrandbits(1007) | 1 << 1006) + 1  # >= 2^1023
        if gmpy2.is_prime(p):
            return p * int(gmpy2.next_prime(1 << 1024 | rng.getrandbits(1024)))


# -- RSA-PSI: a dishonest host (the signer) ---------------------------------------------------------


def _psi_host(script: Callable[[Party], None], last: str = "psi/rsa/blind") -> Callable[[Party], object]:
    """Agrees to RSA-PSI, runs `script`, then waits on tag `last`: PeerFailed once the guest stopped."""

    def host(party: Party) -> object:
        party.recv(GUEST, "psi/hello", timeout=TIMEOUT)
        party.send(GUEST, "psi/hello", {"ok": True})
        script(party)
        return party.recv(GUEST, last, timeout=TIMEOUT)

    return host


def _psi_guest(party: Party) -> object:
    return align(party, IDS, protocol="rsa", timeout=TIMEOUT)


def _assert_guest_refused(out: dict, error: type, *needles: str) -> None:
    err = out[GUEST]
    assert isinstance(err, error), err
    assert f"party {HOST}" in str(err) and all(n in str(err) for n in needles), err
    assert isinstance(out[HOST], PeerFailed) and out[HOST].error == type(err).__name__


def test_rsa_key_with_another_exponent_is_refused(key: rsa_blind.RsaSigningKey) -> None:
    message = _key_message(rsa_blind.RsaPublicKey(key.public_key.n, e=3), [1] * rsa_blind.KEY_PROOF_ROUNDS)
    out = _run({GUEST: _psi_guest, HOST: _psi_host(lambda p: p.send(GUEST, "psi/rsa/key", message))})
    _assert_guest_refused(out, RsaPeerError, "psi/rsa/key", "exponent 3 refused")


def test_rsa_key_below_2048_bits_is_refused_even_with_a_valid_proof() -> None:
    small = rsa_blind.RsaSigningKey.generate(1024)
    message = _key_message(small.public_key, rsa_blind.key_proof(small))
    out = _run({GUEST: _psi_guest, HOST: _psi_host(lambda p: p.send(GUEST, "psi/rsa/key", message))})
    _assert_guest_refused(out, RsaPeerError, "psi/rsa/key", "1024 bits refused")


def test_rsa_modulus_that_would_unblind_is_refused_by_the_key_proof() -> None:
    message = _key_message(rsa_blind.RsaPublicKey(_leaky_modulus()), [2] * rsa_blind.KEY_PROOF_ROUNDS)  # no true proof exists
    out = _run({GUEST: _psi_guest, HOST: _psi_host(lambda p: p.send(GUEST, "psi/rsa/key", message))})
    _assert_guest_refused(out, RsaPeerError, "psi/rsa/key", "key proof")


def _answer(key: rsa_blind.RsaSigningKey, tamper: Callable[[list[int]], list[int]]) -> Callable[[Party], None]:
    """An honest key and proof, then the signatures of the guest's blinded ids, tampered with."""

    def script(party: Party) -> None:
        party.send(GUEST, "psi/rsa/key", _key_message(key.public_key, rsa_blind.key_proof(key)))
        party.recv(GUEST, "psi/rsa/blind", timeout=TIMEOUT)  # header
        blinded = [int(v) for v in party.recv(GUEST, "psi/rsa/blind", timeout=TIMEOUT)]
        party.send(GUEST, "psi/rsa/signed", int_vector(tamper(rsa_blind.sign(key, blinded))))

    return script


@pytest.mark.parametrize(
    "tamper, error, needle",
    [
        (lambda s: [s[0] + 1] + s[1:], RsaPeerError, "does not verify"),  # one forged signature
        (lambda s: [1] * len(s), RsaPeerError, "does not verify"),  # garbage in range
        (lambda s: s + s[:1], ProtocolViolation, f"expected a vector of {len(IDS)} big integers"),  # oversize
        (lambda s: s[:-1], ProtocolViolation, f"expected a vector of {len(IDS)} big integers"),  # undersize
        (lambda s: [0] + s[1:], ProtocolViolation, "outside (0, n)"),
    ],
    ids=["forged", "garbage", "oversize", "undersize", "out-of-range"],
)
def test_bad_signatures_are_refused_before_use(key: rsa_blind.RsaSigningKey, tamper, error: type, needle: str) -> None:
    out = _run({GUEST: _psi_guest, HOST: _psi_host(_answer(key, tamper))})
    _assert_guest_refused(out, error, "psi/rsa/signed", needle)


def test_honest_answer_passes_the_checks(key: rsa_blind.RsaSigningKey) -> None:
    """The scripted host untampered (and an empty set of its own): the checks refuse deviations, not the protocol."""

    def script(party: Party) -> None:
        _answer(key, lambda s: s)(party)
        streams.send_header(party, GUEST, "psi/rsa/y", 0, rsa_blind.TOKEN_BYTES)

    out = _run({GUEST: _psi_guest, HOST: _psi_host(script, last="psi/rsa/pos")})
    assert out[GUEST].size == 0 and len(out[HOST]) == 0, out


# -- RSA-PSI: a dishonest guest (the requester) -----------------------------------------------------


def _psi_guest_sending(head: dict, batches: list[Callable[[int], list[int]]]) -> Callable[[Party], object]:
    def guest(party: Party) -> object:
        party.send(HOST, "psi/hello", {"version": 1, "protocol": "rsa", "reveal": "ids"})
        party.recv(HOST, "psi/hello", timeout=TIMEOUT)
        n = party.recv(HOST, "psi/rsa/key", timeout=TIMEOUT)["n"]
        party.send(HOST, "psi/rsa/blind", head)
        for batch in batches:
            party.send(HOST, "psi/rsa/blind", int_vector(batch(n)))
        return party.recv(HOST, "psi/rsa/signed", timeout=TIMEOUT)  # PeerFailed: nothing was signed

    return guest


@pytest.mark.parametrize(
    "head, batches, needle",
    [
        ({"batches": 5, "rows": 2}, [], "with 1 <= b <= r"),
        ({"batches": 1, "rows": 2}, [lambda n: [2, 3, 4]], "at most 2 big integers"),
        ({"batches": 1, "rows": 2}, [lambda n: [2, n]], "outside (0, n)"),
    ],
    ids=["more-batches-than-rows", "oversize-batch", "out-of-range"],
)
def test_host_signs_nothing_for_a_malformed_request(head: dict, batches: list, needle: str) -> None:
    out = _run({GUEST: _psi_guest_sending(head, batches), HOST: lambda party: align(party, IDS, protocol="rsa", timeout=TIMEOUT)})
    err = out[HOST]
    assert isinstance(err, ProtocolViolation) and needle in str(err) and f"party {GUEST}" in str(err), err
    assert isinstance(out[GUEST], PeerFailed)


# -- joint query ------------------------------------------------------------------------------------

TABLE = [f"id{i}" for i in range(30)]
ROWS = np.arange(30 * 2, dtype=float).reshape(30, 2)


def test_querier_asking_more_than_max_asked_is_refused_at_both_parties() -> None:
    out = _run(
        {
            GUEST: lambda party: query_rows(party, HOST, TABLE[:6], timeout=TIMEOUT),
            HOST: lambda party: serve_rows(party, GUEST, TABLE, ROWS, max_asked=5, timeout=TIMEOUT),
        }
    )
    for err in out.values():
        assert isinstance(err, QueryLimitExceeded), err
        assert f"querier {GUEST}" in str(err) and f"host {HOST}" in str(err) and "6 ids" in str(err) and "max_asked=5" in str(err)
        assert (err.asked, err.max_asked) == (6, 5)


def test_padding_counts_against_max_asked() -> None:
    out = _run(
        {
            GUEST: lambda party: query_rows(party, HOST, TABLE[:2], pad_to=8, timeout=TIMEOUT),
            HOST: lambda party: serve_rows(party, GUEST, TABLE, ROWS, max_asked=5, timeout=TIMEOUT),
        }
    )
    assert all(isinstance(err, QueryLimitExceeded) and err.asked == 8 for err in out.values()), out


def test_querier_ignoring_the_announced_cap_gets_nothing_signed() -> None:
    """A querier that sends 6 blinded values anyway: the host refuses on the count, before reading them."""

    def querier(party: Party) -> object:
        party.send(HOST, "query/blind", {"rows": 6})
        party.send(HOST, "query/blind", int_vector([2 + i for i in range(6)]))
        return party.recv(HOST, "query/signed", timeout=TIMEOUT)

    out = _run({GUEST: querier, HOST: lambda party: serve_rows(party, GUEST, TABLE, ROWS, max_asked=5, timeout=TIMEOUT)})
    assert isinstance(out[HOST], QueryLimitExceeded) and f"querier {GUEST}" in str(out[HOST])
    assert isinstance(out[GUEST], PeerFailed) and out[GUEST].error == "QueryLimitExceeded"


def test_max_asked_must_be_positive() -> None:
    parties = memory_parties("job-q", ROLES)
    with pytest.raises(ConfigError, match="max_asked must be a positive int"):
        serve_rows(parties[HOST], GUEST, TABLE, ROWS, max_asked=0)


def _query_host(tamper: Callable[[list[int]], list[int]], key: rsa_blind.RsaSigningKey) -> Callable[[Party], object]:
    """Serves an empty table honestly, then answers the blinded ids with tampered signatures."""

    def host(party: Party) -> object:
        party.send(GUEST, "query/key", _key_message(key.public_key, rsa_blind.key_proof(key)))
        party.send(GUEST, "query/table", {"rows": 0, "width": 2, "max_asked": 100})
        party.send(GUEST, "query/tags", {"rows": 0, "width": 16})
        party.send(GUEST, "query/sealed", {"rows": 0, "width": 12 + 16 + 16})
        party.recv(GUEST, "query/blind", timeout=TIMEOUT)
        blinded = [int(v) for v in party.recv(GUEST, "query/blind", timeout=TIMEOUT)]
        party.send(GUEST, "query/signed", int_vector(tamper(rsa_blind.sign(key, blinded))))
        return party.recv(GUEST, "query/blind", timeout=TIMEOUT)  # PeerFailed

    return host


@pytest.mark.parametrize(
    "tamper, error, needle",
    [
        (lambda s: s[::-1], RsaPeerError, "does not verify"),  # real signatures, swapped ids
        (lambda s: s + s[:1], ProtocolViolation, "expected a vector of 3 big integers"),
    ],
    ids=["swapped", "oversize"],
)
def test_query_signatures_are_checked(key: rsa_blind.RsaSigningKey, tamper, error: type, needle: str) -> None:
    out = _run({GUEST: lambda party: query_rows(party, HOST, ["a", "b", "c"], timeout=TIMEOUT), HOST: _query_host(tamper, key)})
    err = out[GUEST]
    assert isinstance(err, error) and needle in str(err) and "query/signed" in str(err) and f"party {HOST}" in str(err), err
    assert isinstance(out[HOST], PeerFailed)


def test_query_key_with_another_exponent_is_refused(key: rsa_blind.RsaSigningKey) -> None:
    def host(party: Party) -> object:
        party.send(GUEST, "query/key", _key_message(rsa_blind.RsaPublicKey(key.public_key.n, e=17), [1] * 8))
        return party.recv(GUEST, "query/blind", timeout=TIMEOUT)

    out = _run({GUEST: lambda party: query_rows(party, HOST, ["a"], timeout=TIMEOUT), HOST: host})
    assert isinstance(out[GUEST], RsaPeerError) and "exponent 17 refused" in str(out[GUEST]), out[GUEST]
    assert isinstance(out[HOST], PeerFailed)


def test_a_stream_announcing_billions_of_rows_costs_only_the_rows_that_arrive():
    """recv_rows used to allocate the header's claim (2^31 rows x 32 bytes = 64 GiB) before any row came."""
    import tracemalloc

    parties = memory_parties("adv-stream", {GUEST: "guest", HOST: "host"})
    streams.send_header(parties[HOST], GUEST, "t", streams.MAX_ROWS, 32)
    streams.send_batch(parties[HOST], GUEST, "t", np.zeros((2, 32), dtype=np.uint8))
    parties[HOST].send(GUEST, "t", np.zeros((2, 31), dtype=np.uint8))  # then a batch of the wrong width
    tracemalloc.start()
    try:
        with pytest.raises(ProtocolViolation, match="expected a uint8 batch"):
            streams.recv_rows(parties[GUEST], HOST, "t", 32, timeout=10)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20, f"{peak} bytes held for a 2-row stream"
