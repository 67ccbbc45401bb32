"""Accepted paths of the key release: the recorded genuine quote, a bound test-chain quote, simulation by switch."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import numpy as np
import pytest

from airflow_provider_powerfl.exceptions import ConfigError
from airflow_provider_powerfl.tee.dcap import DcapVerifier
from airflow_provider_powerfl.tee.errors import NOT_CONFIDENTIAL, AttestationRefused, SealError
from airflow_provider_powerfl.tee.policy import TeePolicy, load_tee_policy
from airflow_provider_powerfl.tee.sealing import Slice, context, open_sealed, seal, unwrap_key
from airflow_provider_powerfl.tee.simulated import Measurement, SimulatedAttester
from tests.unit.tee.sgx_test_chain import GENUINE_COLLATERAL, GENUINE_QUOTE
from tests.unit.tee.tee_fixtures import ENCLAVE_HOST, MR_ENCLAVE, MR_SIGNER, app_key, platform, policy

PINNED = dt.datetime(2025, 7, 1, tzinfo=dt.UTC).timestamp()  # tests/data/tee/README.md
GENUINE_MR_ENCLAVE = "33d8736db756ed4997e04ba358d27833188f1932ff7b1d156904d3f560452fbb"


def test_the_recorded_genuine_quote_verifies_against_intels_root_at_its_pinned_time() -> None:
    claims = DcapVerifier(clock=lambda: PINNED).verify(GENUINE_QUOTE, GENUINE_COLLATERAL, "10000")
    assert (claims.platform, claims.mr_enclave, claims.debug) == ("sgx-dcap", GENUINE_MR_ENCLAVE, False)
    assert claims.mr_signer == "815f42f11cf64430c30bab7816ba596a1da0130c3b028b673133a66cf9a3e0e6"
    assert claims.tcb_status == "ConfigurationAndSWHardeningNeeded"
    assert claims.advisory_ids == ("INTEL-SA-00289", "INTEL-SA-00615")
    assert claims.report_data.startswith(b"Hello, world!")


def test_a_bound_test_chain_quote_releases_a_key_only_the_enclave_unwraps() -> None:
    sgx = platform()
    owner = sgx.owner()
    enclave_key, public = app_key()
    data_key, aad = bytes(range(32)), context("job-1", owner.party_id, "train_lr")
    nonce = owner.challenge()
    release = owner.release(sgx.evidence(public, nonce), requester=ENCLAVE_HOST, operation="train_lr", data_key=data_key, aad=aad)
    assert release.confidential and release.claims.mr_enclave == MR_ENCLAVE.hex()
    assert release.claims.mr_signer == MR_SIGNER.hex()
    assert unwrap_key(release.wrapped_key, enclave_key, aad, "key") == data_key
    with pytest.raises(SealError):  # another job's context
        unwrap_key(release.wrapped_key, enclave_key, context("job-2", owner.party_id, "train_lr"), "key")


def test_simulated_evidence_is_released_only_by_the_switch_and_says_not_confidential(caplog) -> None:
    sgx = platform()
    owner = sgx.owner(policy(accept_simulated=True))
    _, public = app_key()
    attester = SimulatedAttester(Measurement(MR_ENCLAVE.hex(), MR_SIGNER.hex()))
    evidence = attester.evidence(public, owner.challenge())
    assert evidence.platform == "simulated" and evidence.simulated_report["notice"] == NOT_CONFIDENTIAL
    with caplog.at_level(logging.WARNING):
        release = owner.release(evidence, requester=ENCLAVE_HOST, operation="train_gbdt", data_key=bytes(32), aad=b"a")
    assert not release.confidential
    assert "NOT CONFIDENTIAL" in caplog.text


def test_a_sealed_slice_opens_only_under_its_key_and_context() -> None:
    part = Slice(ids=np.array(["a", "b"]), features=np.array([[1.0, 2.0], [3.0, 4.0]]), labels=np.array([0.0, 1.0]))
    key = bytes(range(32))
    sealed = seal(part.to_bytes(), key, b"ctx")
    opened = Slice.from_bytes(open_sealed(sealed, key, b"ctx", "slice"), "slice")
    assert list(opened.ids) == ["a", "b"] and np.array_equal(opened.features, part.features)
    with pytest.raises(SealError):
        open_sealed(sealed, key, b"other", "slice")
    with pytest.raises(SealError):
        open_sealed(sealed[:-1] + bytes([sealed[-1] ^ 1]), key, b"ctx", "slice")


def test_the_policy_comes_from_the_partys_file_and_names_a_bad_field(tmp_path: Path) -> None:
    path = tmp_path / "tee.yaml"
    path.write_text("allowed_mr_enclave: ['" + MR_ENCLAVE.hex() + "']\nallowed_operations: [train_lr]\n")
    assert load_tee_policy(path).allowed_operations == ("train_lr",)
    assert load_tee_policy(path).accept_simulated is False
    path.write_text("allow_debug: true\n")
    with pytest.raises(ConfigError, match="allow_debug"):
        load_tee_policy(path)
    path.write_text("allowed_tcb_statuses: [Revoked]\n")
    with pytest.raises(ConfigError, match="allowed_tcb_statuses"):
        load_tee_policy(path)


def test_the_default_policy_releases_nothing() -> None:
    sgx = platform()
    owner = sgx.owner(TeePolicy())  # every field at its default
    _, public = app_key()
    with pytest.raises(AttestationRefused, match="party"):
        owner.release(sgx.evidence(public, owner.challenge()), requester=ENCLAVE_HOST, operation="train_lr",
                      data_key=bytes(32), aad=b"a")  # fmt: skip
