"""align(): every party gets Python's set intersection, in one shared order, and no plaintext crosses."""

from __future__ import annotations

import hashlib
import random
import threading
from collections.abc import Callable, Mapping

import numpy as np
import pytest

from airflow_provider_powerfl.algorithms.alignment import AlignmentResult, align
from airflow_provider_powerfl.algorithms.alignment.errors import ProtocolViolation
from airflow_provider_powerfl.algorithms.alignment.ids import domain
from airflow_provider_powerfl.exceptions import ConfigError, DataError
from airflow_provider_powerfl.federation.memory import memory_parties
from airflow_provider_powerfl.federation.party import Party

TWO = {"10000": "guest", "20000": "host"}
THREE = {"10000": "guest", "20000": "host", "30000": "host"}
TIMEOUT = 60.0


def run_parties(
    roles: Mapping[str, str],
    work: Mapping[str, Callable[[Party], object]],
    capture: list[bytes] | None = None,
    job_id: str = "job-psi",
) -> dict[str, object]:
    """{party_id: result or the exception it raised}."""
    parties = memory_parties(job_id, roles, capture=capture)
    out: dict[str, object] = {}

    def go(party_id: str) -> None:
        try:
            out[party_id] = work[party_id](parties[party_id])
        except Exception as err:  # handed back to the test to assert on
            out[party_id] = err

    threads = [threading.Thread(target=go, args=(p,), daemon=True) for p in work]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return out


def _align_all(roles: dict, inputs: dict, capture: list | None = None, **kw) -> dict[str, AlignmentResult]:
    work = {p: (lambda party, ids=inputs[p]: align(party, ids, timeout=TIMEOUT, **kw)) for p in roles}
    out = run_parties(roles, work, capture)
    for result in out.values():
        if isinstance(result, BaseException):
            raise result
    return out  # type: ignore[return-value]


def _random_ids(rng: random.Random, n: int, universe: int, as_str: bool) -> list:
    return [str(v) if as_str else v for v in (rng.randrange(universe) for _ in range(n))]


def _check_same_intersection(inputs: dict, results: dict[str, AlignmentResult]) -> None:
    expected = set.intersection(*({str(v) for v in ids} for ids in inputs.values()))
    orders = []
    for p, result in results.items():
        assert result.size == len(expected)
        assert len(result.ids) == len(expected)
        assert [inputs[p][i] for i in result.positions] == list(result.ids)
        # positions are first occurrences
        assert all(inputs[p].index(v) == i for v, i in zip(result.ids, result.positions, strict=True))
        orders.append([str(v) for v in result.ids])
    assert set(orders[0]) == expected
    assert all(order == orders[0] for order in orders)


@pytest.mark.parametrize("protocol", ["ecdh", "rsa"])
@pytest.mark.parametrize("seed", [1, 2])
def test_two_parties_match_set_intersection_with_duplicates(protocol: str, seed: int) -> None:
    rng = random.Random(seed)
    inputs = {"10000": _random_ids(rng, 300, 400, as_str=False), "20000": _random_ids(rng, 300, 400, as_str=True)}
    results = _align_all(TWO, inputs, protocol=protocol, batch_size=64)
    _check_same_intersection(inputs, results)
    assert results["10000"].stats["distinct_ids"] == len(set(inputs["10000"]))


def test_three_parties_match_set_intersection() -> None:
    rng = random.Random(3)
    inputs = {p: _random_ids(rng, 400, 500, as_str=p == "30000") for p in THREE}
    results = _align_all(THREE, inputs, batch_size=100)
    _check_same_intersection(inputs, results)
    assert results["10000"].size > 0


@pytest.mark.parametrize("roles", [TWO, THREE])
def test_empty_overlap_and_empty_input(roles: dict) -> None:
    inputs = {p: [f"{p}-{i}" for i in range(50)] for p in roles}
    _check_same_intersection(inputs, _align_all(roles, inputs))
    inputs["20000"] = []
    _check_same_intersection(inputs, _align_all(roles, inputs))


def test_int_and_its_decimal_string_are_one_id() -> None:
    inputs = {"10000": [1, 2, 3, 1], "20000": ["1", "3", "03", "x"]}
    results = _align_all(TWO, inputs)
    assert sorted(results["10000"].ids) == [1, 3]
    assert sorted(results["20000"].ids) == ["1", "3"]
    assert sorted(results["10000"].positions) == [0, 2]


def test_numpy_int_ids() -> None:
    inputs = {"10000": np.arange(0, 1000, 2), "20000": np.arange(0, 1000, 3)}
    results = _align_all(TWO, inputs)
    assert set(results["10000"].ids.tolist()) == set(range(0, 1000, 6))
    assert results["10000"].ids.tolist() == results["20000"].ids.tolist()


@pytest.mark.parametrize("roles", [TWO, THREE])
def test_reveal_size_gives_only_the_size(roles: dict) -> None:
    rng = random.Random(5)
    inputs = {p: _random_ids(rng, 200, 300, as_str=False) for p in roles}
    expected = len(set.intersection(*(set(v) for v in inputs.values())))
    for result in _align_all(roles, inputs, reveal="size").values():
        assert (result.size, result.ids, result.positions) == (expected, None, None)


@pytest.mark.parametrize("protocol, roles", [("ecdh", TWO), ("rsa", TWO), ("ecdh", THREE)])
def test_no_plaintext_id_nor_its_hash_crosses(protocol: str, roles: dict) -> None:
    ids = [f"user-{i:06d}@example.org" for i in range(120)]
    inputs = {p: ids[: 80 + 20 * k] for k, p in enumerate(roles)}
    capture: list[bytes] = []
    _align_all(roles, inputs, capture=capture, protocol=protocol)
    wire = b"".join(capture)
    assert capture
    prefix = domain("job-psi", "psi")
    for value in ids:
        raw = value.encode()
        for needle in (raw, hashlib.sha256(raw).digest(), hashlib.sha256(prefix + raw).digest()):
            assert needle not in wire


def test_disagreeing_parameters_fail_at_both_parties() -> None:
    work = {
        "10000": lambda party: align(party, [1, 2], protocol="ecdh", timeout=TIMEOUT),
        "20000": lambda party: align(party, [1, 2], protocol="ecdh", reveal="size", timeout=TIMEOUT),
    }
    out = run_parties(TWO, work)
    assert all(isinstance(err, ConfigError) and "reveal" in str(err) for err in out.values())


def test_refused_configurations() -> None:
    party = run_parties(TWO, {"10000": lambda p: p})["10000"]
    with pytest.raises(ConfigError, match="protocol"):
        align(party, [1], protocol="dh")
    with pytest.raises(ConfigError, match="reveal='size' needs protocol='ecdh'"):
        align(party, [1], protocol="rsa", reveal="size")
    with pytest.raises(ConfigError, match="batch_size"):
        align(party, [1], batch_size=0)
    with pytest.raises(DataError, match="position 1 is a float"):
        align(party, [1, 2.5])
    multi = run_parties(THREE, {"10000": lambda p: p})["10000"]
    with pytest.raises(ConfigError, match="one host"):
        align(multi, [1], protocol="rsa")


def _fake_host(send_after_hello):
    def host(party):
        party.recv("10000", "psi/hello", timeout=TIMEOUT)
        party.send("10000", "psi/hello", {"ok": True})
        send_after_hello(party)

    return host


@pytest.mark.parametrize(
    "forged, message",
    [
        (lambda p: p.send("10000", "psi/ecdh/y", [1, 2]), "expected a stream header"),
        (lambda p: p.send("10000", "psi/ecdh/y", {"rows": 2, "width": 16}), "expected a stream header with width 32"),
        (
            lambda p: (
                p.send("10000", "psi/ecdh/y", {"rows": 2, "width": 32}),
                p.send("10000", "psi/ecdh/y", np.zeros((3, 32), np.uint8)),
            ),
            "at most 2 rows",
        ),
        (
            lambda p: (
                p.send("10000", "psi/ecdh/y", {"rows": 1, "width": 32}),
                p.send("10000", "psi/ecdh/y", np.zeros((1, 32), np.float64)),
            ),
            "expected a uint8 batch",
        ),
    ],
)
def test_malformed_messages_raise_naming_peer_and_tag(forged, message: str) -> None:
    out = run_parties(
        TWO,
        {"10000": lambda party: align(party, [1, 2, 3], timeout=5.0), "20000": _fake_host(forged)},
    )
    err = out["10000"]
    assert isinstance(err, ProtocolViolation), err
    assert message in str(err) and "party 20000" in str(err) and "psi/ecdh/y" in str(err)


def test_forged_positions_are_refused() -> None:
    """A guest that announces positions the host never sent."""
    out = run_parties(
        TWO,
        {
            "10000": lambda party: (
                party.send("20000", "psi/hello", {"version": 1, "protocol": "ecdh", "reveal": "ids"}),
                party.recv("20000", "psi/hello", timeout=TIMEOUT),
                party.send("20000", "psi/ecdh/x", {"rows": 0, "width": 32}),
                party.send("20000", "psi/ecdh/pos", np.array([0, 99], dtype=np.int64)),
            ),
            "20000": lambda party: align(party, [1, 2, 3], timeout=5.0),
        },
    )
    err = out["20000"]
    assert isinstance(err, ProtocolViolation) and "positions outside [0, 3)" in str(err)
