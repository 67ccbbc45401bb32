"""A TEE job through real Kafka: two data owners, the enclave host launched by the tee runtime, the enclave
process started through the loader (trusted files re-hashed), simulated attestation accepted by both owners'
explicit switch. The owners' wire capture (everything they publish and receive) holds no feature value, label
or id in plaintext, and the model is the centralized one.
"""

from __future__ import annotations

import threading
import uuid
from pathlib import Path

import numpy as np
import pytest
import yaml

from airflow_provider_powerfl.federation.envelope import new_nonce
from airflow_provider_powerfl.federation.keys import SigningKey, generate_party_keys
from airflow_provider_powerfl.federation.party import Party
from airflow_provider_powerfl.federation.registry import PartyRegistry
from airflow_provider_powerfl.runtimes.tee import host_process, write_host_spec
from airflow_provider_powerfl.tee.dcap import DcapVerifier
from airflow_provider_powerfl.tee.errors import NOT_CONFIDENTIAL
from airflow_provider_powerfl.tee.policy import TeePolicy
from airflow_provider_powerfl.tee.protocol import release_to_enclave
from airflow_provider_powerfl.tee.release import KeyOwner
from airflow_provider_powerfl.tee.sealing import Slice

pytestmark = pytest.mark.integration

GUEST, HOST, ENCLAVE = "10000", "20000", "30000"
ROLES = {GUEST: "guest", HOST: "host", ENCLAVE: "arbiter"}
BROKER_OF = {GUEST: "guest", HOST: "host", ENCLAVE: "host2"}


def _data() -> tuple[dict[str, dict[str, Slice]], np.ndarray]:
    rng = np.random.default_rng(7)
    X = rng.normal(size=(300, 6)) * 100.0
    y = (X @ rng.normal(size=6) + rng.normal(size=300) * 50 > 0).astype(np.float64)
    ids = np.array([f"customer-{i:05d}" for i in range(300)])
    perm = rng.permutation(300)
    slices = {GUEST: {}, HOST: {}}
    for split, rows in (("train", slice(0, 240)), ("test", slice(240, None))):
        slices[GUEST][split] = Slice(ids[rows], X[rows, :3], y[rows])
        host_rows = perm[perm >= 240] if split == "test" else perm[perm < 240]
        slices[HOST][split] = Slice(ids[host_rows], X[host_rows, 3:])
    return slices, X


def _registry(tmp: Path, kafka_brokers: dict[str, str]) -> tuple[Path, dict[str, Path]]:
    """The parties' registry and each party's private key file."""
    files = {p: generate_party_keys(tmp / "keys", p) for p in ROLES}
    doc = {"parties": {p: {"role": r, "bootstrap_servers": kafka_brokers[BROKER_OF[p]], "public_key": str(files[p][1])}
                       for p, r in ROLES.items()}}  # fmt: skip
    path = tmp / "parties.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path, {p: private for p, (private, _) in files.items()}


def _captured(party: Party, wire: list[bytes]) -> Party:
    """Record every head and payload this owner publishes or receives."""
    publish, poll = party.transport.publish, party.transport.poll

    def publishing(dst: str, head: bytes, payload) -> None:
        wire.extend((bytes(head), bytes(payload)))
        publish(dst, head, payload)

    def polling(timeout: float):
        got = list(poll(timeout))
        wire.extend(b for pair in got for b in pair if b)
        return got

    party.transport.publish, party.transport.poll = publishing, polling  # type: ignore[method-assign]
    return party


def test_a_tee_job_over_kafka_moves_only_ciphertexts_and_gives_the_centralized_model(
    tmp_path: Path, kafka_brokers, measured_enclave: Path
) -> None:
    from enclave import train  # the test's centralized reference, in this process (the provider never imports it)

    slices, _ = _data()
    measured = measured_enclave  # the session's measurement (tests/conftest.py)
    identity = yaml.safe_load(measured.read_text())
    policy = TeePolicy(allowed_mr_enclave=(identity["mr_enclave"],), allowed_mr_signer=(identity["mr_signer"],),
                       allowed_parties=(ENCLAVE,), allowed_operations=("train_lr",), accept_simulated=True)  # fmt: skip
    registry_path, keys = _registry(tmp_path, kafka_brokers)
    registry, job, nonce = PartyRegistry.from_yaml(registry_path), f"it-tee-{uuid.uuid4().hex[:10]}", new_nonce()
    spec = write_host_spec(tmp_path / "host.json", party_id=ENCLAVE, registry_path=str(registry_path),
                           private_key_path=str(keys[ENCLAVE]), job_id=job, attempt=1, nonce=nonce,
                           roles=ROLES, measured=str(measured), operation="train_lr", params={})  # fmt: skip
    host = host_process(spec)
    logs: list[str] = []
    outcome: dict[str, object] = {}
    wire: list[bytes] = []

    def owner(pid: str) -> None:
        party = _captured(Party.from_registry(registry, pid, SigningKey.from_file(keys[pid]), job, 1, ROLES, nonce=nonce), wire)
        try:
            outcome[pid] = release_to_enclave(party, ENCLAVE, KeyOwner(pid, policy, DcapVerifier()), "train_lr", slices[pid], 300)
        except BaseException as exc:  # re-raised below
            outcome[pid] = exc
        finally:
            party.close()

    def run_host() -> None:
        try:
            host.run(_ListLog(logs), "enclave host")
        except BaseException as exc:
            outcome[ENCLAVE] = exc

    threads = [threading.Thread(target=f, args=a, daemon=True) for f, a in ((owner, (GUEST,)), (owner, (HOST,)), (run_host, ()))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(400)
    host.kill()
    for pid, value in outcome.items():
        if isinstance(value, BaseException):
            raise AssertionError(f"{pid} failed; host log:\n" + "\n".join(logs[-40:])) from value
    joined = {
        s: np.hstack([slices[GUEST][s].features, _in_order(slices[HOST][s], slices[GUEST][s].ids)]) for s in ("train", "test")
    }
    _, scores = train.fit_and_score("train_lr", joined["train"], slices[GUEST]["train"].labels, joined["test"], {})
    central = train.auc(slices[GUEST]["test"].labels, scores)
    assert outcome[GUEST]["auc"] == outcome[HOST]["auc"] == central
    assert outcome[GUEST]["notice"] == outcome[HOST]["notice"] == NOT_CONFIDENTIAL
    assert any(NOT_CONFIDENTIAL in line for line in logs), logs[-20:]
    _assert_no_plaintext(wire, slices)


class _ListLog:
    def __init__(self, lines: list[str]) -> None:
        self.lines = lines

    def info(self, fmt: str, *args: object) -> None:
        self.lines.append(fmt % args)


def _in_order(part: Slice, ids: np.ndarray) -> np.ndarray:
    row = {v: k for k, v in enumerate(part.ids)}
    return part.features[[row[i] for i in ids]]


def _assert_no_plaintext(wire: list[bytes], slices: dict[str, dict[str, Slice]]) -> None:
    blob = b"".join(wire)
    assert len(blob) > 20_000  # the sealed slices did cross
    for pid, parts in slices.items():
        for split, part in parts.items():
            for i in range(len(part.ids)):
                row = np.ascontiguousarray(part.features[i]).tobytes()
                assert row not in blob, f"{pid}'s {split} row {i} crossed in plaintext"
                assert part.ids[i].encode() not in blob and part.ids[i].encode("utf-32-le") not in blob
            if part.labels is not None:
                assert part.labels[:16].tobytes() not in blob
