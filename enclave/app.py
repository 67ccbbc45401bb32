"""The trusted application: inside the enclave, the only place the parties' plaintext rows meet.

Given the enclave's private key and, per data owner, its sealed train/test slices and its data key wrapped to
the enclave, it unwraps each key, opens each slice (context-bound: job, party, operation, split), joins the
slices on the aligned ids in the label owner's row order, trains, and returns only the agreed outputs, each
sealed under its owner's data key: the test AUC to every owner, each owner its own columns' LR weights (the
label owner also the intercept), and the label owner the GBDT's or NN's test scores. Nothing else leaves.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from airflow_provider_powerfl.exceptions import DataError
from airflow_provider_powerfl.tee.errors import NOT_CONFIDENTIAL
from airflow_provider_powerfl.tee.sealing import Slice, context, open_sealed, seal, split_context, unwrap_key
from enclave.train import auc, fit_and_score

log = logging.getLogger("enclave.app")
SPLITS = ("train", "test")


@dataclass(frozen=True)
class OwnerInput:
    """What one data owner sent: its data key wrapped to the enclave, and its slices sealed under that key."""

    party_id: str
    wrapped_key: bytes
    sealed: dict[str, bytes]  # split -> sealed Slice


def _open(key: X25519PrivateKey, job_id: str, operation: str, owner: OwnerInput) -> tuple[bytes, dict[str, Slice]]:
    data_key = unwrap_key(owner.wrapped_key, key, context(job_id, owner.party_id, operation), f"party {owner.party_id}'s key")
    slices = {}
    for split in SPLITS:
        what = f"party {owner.party_id}'s {split} slice"
        plain = open_sealed(owner.sealed[split], data_key, split_context(job_id, owner.party_id, operation, split), what)
        slices[split] = Slice.from_bytes(plain, what)
    return data_key, slices


def join(slices: dict[str, Slice]) -> tuple[np.ndarray, np.ndarray, dict[str, slice]]:
    """Columns of every party side by side in the label owner's row order, the labels, each party's column range."""
    owners = [pid for pid, s in slices.items() if s.labels is not None]
    if len(owners) != 1:
        raise DataError(f"exactly one party must hold labels, got {owners or 'none'}")
    order = slices[owners[0]].ids
    blocks, ranges, at = [], {}, 0
    for pid in [owners[0], *sorted(p for p in slices if p != owners[0])]:
        part = slices[pid]
        row = {v: k for k, v in enumerate(part.ids)}
        if len(row) != len(part.ids) or set(row) != set(order):
            raise DataError(f"party {pid}'s ids are not the aligned ids of the label owner {owners[0]}")
        blocks.append(part.features[[row[i] for i in order]])
        ranges[pid] = slice(at, at + part.features.shape[1])
        at += part.features.shape[1]
    return np.hstack(blocks), np.asarray(slices[owners[0]].labels, dtype=np.float64), ranges


def _outputs(operation: str, model: Any, scores: np.ndarray, metric: float, ranges: dict[str, slice], label_owner: str,
             confidential: bool) -> dict[str, dict[str, Any]]:  # fmt: skip
    """Each owner's agreed outputs, in plain types."""
    notice = {} if confidential else {"notice": NOT_CONFIDENTIAL}
    out: dict[str, dict[str, Any]] = {
        pid: {"operation": operation, "auc": metric, "confidential": confidential, **notice} for pid in ranges
    }
    if operation == "train_lr":
        for pid, cols in ranges.items():
            out[pid]["weights"] = {k: model[k][cols].tolist() for k in ("mean", "std", "coef")}
        out[label_owner]["intercept"] = model["intercept"]
    else:
        out[label_owner]["test_scores"] = scores.tolist()
    return out


def run(key: X25519PrivateKey, job_id: str, operation: str, params: dict[str, Any], owners: list[OwnerInput],
        confidential: bool) -> dict[str, bytes]:  # fmt: skip
    """Sealed outputs per owner; raises PowerFLError (SealError, DataError) naming the party at fault."""
    opened = {o.party_id: _open(key, job_id, operation, o) for o in owners}
    X, y, ranges = join({pid: s["train"] for pid, (_, s) in opened.items()})
    T, y_test, _ = join({pid: s["test"] for pid, (_, s) in opened.items()})
    label_owner = next(iter(ranges))
    model, scores = fit_and_score(operation, X, y, T, params, ranges)
    metric = auc(y_test, scores)
    log.info("%s on %d x %d rows/columns: test AUC %.6f", operation, X.shape[0], X.shape[1], metric)
    outputs = _outputs(operation, model, scores, metric, ranges, label_owner, confidential)
    return {
        pid: seal(json.dumps(out).encode(), opened[pid][0], split_context(job_id, pid, operation, "result"))
        for pid, out in outputs.items()
    }
