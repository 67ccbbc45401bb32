"""Joint query: the querier gets exactly the rows it asked for; nothing it asked crosses in the clear."""

from __future__ import annotations

import hashlib
import threading

import numpy as np
import pytest

from airflow_provider_powerfl.algorithms.alignment.errors import ProtocolViolation
from airflow_provider_powerfl.algorithms.alignment.joint_query import query_rows, serve_rows
from airflow_provider_powerfl.exceptions import ConfigError
from airflow_provider_powerfl.federation.memory import memory_parties

ROLES = {"10000": "guest", "20000": "host"}
TIMEOUT = 60.0


def _query(host_ids, host_rows, asked, capture=None, serve_kw=None, query_kw=None):
    parties = memory_parties("job-q", ROLES, capture=capture)
    served: dict = {}

    def serve() -> None:
        try:
            served["count"] = serve_rows(parties["20000"], "10000", host_ids, host_rows, timeout=TIMEOUT, **(serve_kw or {}))
        except Exception as err:  # handed back to the test
            served["error"] = err

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    result = query_rows(parties["10000"], "20000", asked, timeout=TIMEOUT, **(query_kw or {}))
    thread.join(TIMEOUT)
    return result, served


def test_returns_exactly_the_asked_rows() -> None:
    host_ids = [f"id{i}" for i in range(60)]
    host_rows = np.arange(60 * 4, dtype=float).reshape(60, 4)
    asked = ["id7", "nope", "id59", "id7", "id0"]
    result, served = _query(host_ids, host_rows, asked)
    assert served["count"] == 4  # distinct ids asked; the host learns only this count
    assert result.found.tolist() == [True, False, True, True, True]
    assert np.array_equal(result.rows[[0, 2, 3, 4]], host_rows[[7, 59, 7, 0]])
    assert np.isnan(result.rows[1]).all()
    assert result.size == 4


def test_padding_hides_table_size_and_query_count() -> None:
    capture: list[bytes] = []
    result, served = _query([1, 2, 3], np.eye(3), [2, 9], capture=capture, serve_kw={"pad_to": 50}, query_kw={"pad_to": 20})
    assert served["count"] == 20
    assert result.found.tolist() == [True, False]
    assert np.array_equal(result.rows[0], [0.0, 1.0, 0.0])


def test_no_asked_id_nor_its_hash_crosses() -> None:
    capture: list[bytes] = []
    host_ids = [f"customer-{i:05d}" for i in range(40)]
    _query(host_ids, np.ones((40, 2)), ["customer-00003", "customer-99999"], capture=capture)
    wire = b"".join(capture)
    for value in host_ids + ["customer-99999"]:
        assert value.encode() not in wire
        assert hashlib.sha256(value.encode()).digest() not in wire


def test_empty_table_and_empty_query() -> None:
    result, served = _query([], np.empty((0, 3)), ["a"])
    assert result.found.tolist() == [False] and result.rows.shape == (1, 3)
    result, served = _query(["a"], np.ones((1, 3)), [])
    assert served["count"] == 0 and result.rows.shape == (0, 3)


def test_pad_smaller_than_data_is_refused() -> None:
    parties = memory_parties("job-q", ROLES)
    with pytest.raises(ConfigError, match="pad_to=1"):
        serve_rows(parties["20000"], "10000", [1, 2], np.ones((2, 1)), pad_to=1)


def test_forged_key_is_refused() -> None:
    parties = memory_parties("job-q", ROLES)
    parties["20000"].send("10000", "query/key", {"n": 15, "e": 65537, "proof": [1] * 8})
    with pytest.raises(ProtocolViolation, match="query/key.*modulus"):
        query_rows(parties["10000"], "20000", [1], timeout=5.0)
