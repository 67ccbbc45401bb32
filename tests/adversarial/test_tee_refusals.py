"""Every evidence a data owner must refuse is refused, naming the check, and no key leaves (issue 25).

The quotes are real SGX DCAP quote structures, signed through a test certificate chain (tests/unit/tee/
sgx_test_chain.py) and verified by dcap-qvl against that root; the recorded genuine quote is verified against
Intel's pinned root at its pinned time.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from airflow_provider_powerfl.tee.dcap import DcapVerifier
from airflow_provider_powerfl.tee.errors import AttestationRefused
from airflow_provider_powerfl.tee.evidence import Evidence
from airflow_provider_powerfl.tee.release import KeyOwner, check_claims
from airflow_provider_powerfl.tee.simulated import Measurement, SimulatedAttester
from tests.unit.tee.sgx_test_chain import GENUINE_COLLATERAL, GENUINE_QUOTE
from tests.unit.tee.tee_fixtures import ENCLAVE_HOST, MR_ENCLAVE, MR_SIGNER, app_key, platform, policy

PINNED = dt.datetime(2025, 7, 1, tzinfo=dt.UTC).timestamp()
GENUINE_MR_ENCLAVE = "33d8736db756ed4997e04ba358d27833188f1932ff7b1d156904d3f560452fbb"
GENUINE_MR_SIGNER = "815f42f11cf64430c30bab7816ba596a1da0130c3b028b673133a66cf9a3e0e6"


def _release(owner: KeyOwner, evidence: Evidence, operation: str = "train_lr", requester: str = ENCLAVE_HOST):
    return owner.release(evidence, requester=requester, operation=operation, data_key=bytes(32), aad=b"ctx")


def _refused(owner: KeyOwner, evidence: Evidence, check: str, **kw: str) -> AttestationRefused:
    with pytest.raises(AttestationRefused) as caught:
        _release(owner, evidence, **kw)
    assert caught.value.check == check, str(caught.value)
    return caught.value


@pytest.mark.parametrize(
    ("quote_fields", "check"),
    [
        ({"mr_enclave": bytes(32)}, "MRENCLAVE"),
        ({"mr_signer": bytes(32)}, "MRSIGNER"),
        ({"isv_svn": 1}, "ISV SVN"),  # the policy below asks for 2
    ],
)
def test_an_enclave_the_policy_does_not_name_is_refused(quote_fields: dict, check: str) -> None:
    sgx = platform()
    owner = sgx.owner(policy(min_isv_svn=2))
    _, public = app_key()
    fields = {"isv_svn": 2, **quote_fields}
    _refused(owner, sgx.evidence(public, owner.challenge(), **fields), check)


def test_debug_evidence_is_refused_by_the_verifier_and_by_the_policy() -> None:
    sgx = platform()
    owner = sgx.owner()
    _, public = app_key()
    error = _refused(owner, sgx.evidence(public, owner.challenge(), debug=True), "DCAP quote verification")
    assert "Debug mode" in str(error)
    lenient = sgx.owner(policy(accept_simulated=True))  # a simulated report claiming debug: our own check
    report = SimulatedAttester(Measurement(MR_ENCLAVE.hex(), MR_SIGNER.hex())).evidence(public, lenient.challenge())
    report.simulated_report["debug"] = True
    _refused(lenient, report, "debug")


def test_simulated_evidence_is_refused_under_the_default_policy() -> None:
    sgx = platform()
    owner = sgx.owner()
    _, public = app_key()
    evidence = SimulatedAttester(Measurement(MR_ENCLAVE.hex(), MR_SIGNER.hex())).evidence(public, owner.challenge())
    _refused(owner, evidence, "simulated evidence")


def test_a_replayed_or_foreign_nonce_is_refused() -> None:
    sgx = platform()
    owner = sgx.owner()
    _, public = app_key()
    evidence = sgx.evidence(public, owner.challenge())
    _release(owner, evidence)
    _refused(owner, evidence, "replayed nonce")
    _refused(owner, sgx.evidence(public, bytes(32)), "unknown nonce")


def test_evidence_not_bound_to_the_apps_key_is_refused() -> None:
    sgx = platform()
    owner = sgx.owner()
    _, public = app_key()
    _, other = app_key()
    _refused(owner, sgx.evidence(public, owner.challenge(), bound_to=other), "key binding")
    # the same quote presented for another key: its report data binds the first key
    honest = sgx.evidence(other, owner.challenge())
    _refused(owner, dataclasses.replace(honest, app_public_key=public), "key binding")


def test_the_genuine_quote_binds_no_app_key_and_is_refused_on_binding() -> None:
    owner = KeyOwner(
        "10000",
        policy(allowed_mr_enclave=(GENUINE_MR_ENCLAVE,), allowed_mr_signer=(GENUINE_MR_SIGNER,),
               allowed_tcb_statuses=("ConfigurationAndSWHardeningNeeded",)),
        DcapVerifier(clock=lambda: PINNED),
    )  # fmt: skip
    _, public = app_key()
    evidence = Evidence("sgx-dcap", public, owner.challenge(), quote=GENUINE_QUOTE, collateral=GENUINE_COLLATERAL)
    _refused(owner, evidence, "key binding")


def test_a_tcb_status_or_advisory_outside_the_policy_is_refused() -> None:
    sgx = platform()
    _, public = app_key()
    owner = sgx.owner()
    _refused(owner, sgx.evidence(public, owner.challenge(), tcb_status="OutOfDate"), "TCB status")
    claims = DcapVerifier(clock=lambda: PINNED).verify(GENUINE_QUOTE, GENUINE_COLLATERAL, "10000")
    strict = policy(allowed_mr_enclave=(GENUINE_MR_ENCLAVE,), allowed_mr_signer=(GENUINE_MR_SIGNER,),
                    allowed_tcb_statuses=("ConfigurationAndSWHardeningNeeded",), rejected_advisories=("INTEL-SA-00615",))  # fmt: skip
    with pytest.raises(AttestationRefused, match="INTEL-SA-00615"):
        check_claims(strict, claims, "10000")
    with pytest.raises(AttestationRefused, match="TCB status"):  # the default policy wants UpToDate
        check_claims(policy(allowed_mr_enclave=(GENUINE_MR_ENCLAVE,), allowed_mr_signer=(GENUINE_MR_SIGNER,)), claims, "1")


def test_a_party_or_operation_not_granted_is_refused() -> None:
    sgx = platform()
    owner = sgx.owner(policy(allowed_operations=("train_lr",)))
    _, public = app_key()
    _refused(owner, sgx.evidence(public, owner.challenge()), "party", requester="99999")
    _refused(owner, sgx.evidence(public, owner.challenge()), "operation", operation="train_gbdt")


@pytest.mark.parametrize("broken", ["expired", "revoked"])
def test_an_expired_or_revoked_pck_certificate_is_refused(broken: str) -> None:
    sgx = platform(**{broken: True})
    owner = sgx.owner()
    _, public = app_key()
    error = _refused(owner, sgx.evidence(public, owner.challenge()), "DCAP quote verification")
    assert ("Expired" if broken == "expired" else "Revoked") in str(error), str(error)


def test_expired_collateral_and_a_foreign_root_are_refused() -> None:
    with pytest.raises(AttestationRefused, match="Expired"):  # the genuine quote today: its CRLs expired
        DcapVerifier().verify(GENUINE_QUOTE, GENUINE_COLLATERAL, "10000")
    sgx = platform()
    _, public = app_key()
    evidence = sgx.evidence(public, bytes(32))
    with pytest.raises(AttestationRefused, match="pinned root"):  # a test-chain quote under Intel's root
        DcapVerifier(clock=sgx.now.timestamp).verify(evidence.quote, evidence.collateral, "10000")


def _flips(quote: bytes, dense_until: int, stride: int) -> list[int]:
    return [*range(dense_until), *range(dense_until, len(quote), stride)]


def test_a_flipped_bit_anywhere_in_a_quote_is_refused() -> None:
    """Every byte of the signed part and the QE data, every 5th of the certificate chain; bit ``at % 8``."""
    sgx = platform()
    _, public = app_key()
    evidence = sgx.evidence(public, bytes(32))
    verifier = DcapVerifier(sgx.chain.root_der(), clock=sgx.now.timestamp)
    assert verifier.verify(evidence.quote, evidence.collateral, "10000")  # the unflipped quote verifies
    genuine = DcapVerifier(clock=lambda: PINNED)
    cases = [(verifier, evidence.quote, evidence.collateral, 1052, 5), (genuine, GENUINE_QUOTE, GENUINE_COLLATERAL, 0, 11)]
    accepted = []
    for check, quote, collateral, dense, stride in cases:
        for at in _flips(quote, dense, stride):
            flipped = bytearray(quote)
            flipped[at] ^= 1 << (at % 8)
            try:
                check.verify(bytes(flipped), collateral, "10000")
                accepted.append(at)
            except AttestationRefused:
                pass
    assert accepted == []
