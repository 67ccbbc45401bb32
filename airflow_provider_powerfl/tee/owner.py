"""A data owner's slices going in and its results coming back: sealed under a fresh data key of this job."""

from __future__ import annotations

import json
import os
from typing import Any

from airflow_provider_powerfl.tee.errors import NOT_CONFIDENTIAL, SealError
from airflow_provider_powerfl.tee.sealing import KEY_BYTES, Slice, open_sealed, seal, split_context


def seal_slices(job_id: str, party_id: str, operation: str, slices: dict[str, Slice]) -> tuple[bytes, dict[str, bytes]]:
    """(fresh data key, split -> sealed slice); the key leaves only wrapped to an attested enclave."""
    data_key = os.urandom(KEY_BYTES)
    sealed = {
        split: seal(part.to_bytes(), data_key, split_context(job_id, party_id, operation, split))
        for split, part in slices.items()
    }
    return data_key, sealed


def open_result(sealed: bytes, data_key: bytes, job_id: str, party_id: str, operation: str) -> dict[str, Any]:
    """This owner's outputs from the enclave; a simulated run's carry the NOT CONFIDENTIAL notice."""
    plain = open_sealed(sealed, data_key, split_context(job_id, party_id, operation, "result"), f"party {party_id}'s result")
    result = json.loads(plain)
    if not isinstance(result, dict) or not isinstance(result.get("confidential"), bool):
        raise SealError(f"party {party_id}'s result: not an enclave result")
    if not result["confidential"] and result.get("notice") != NOT_CONFIDENTIAL:
        result["notice"] = NOT_CONFIDENTIAL
    return result
