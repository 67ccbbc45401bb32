"""Intel SGX DCAP quote verification by dcap-qvl (Phala's Rust verifier, Intel's QVL checks).

The library checks the quote's ECDSA signatures, the PCK certificate chain up to the pinned root (Intel's SGX
Root CA, built into dcap-qvl; a test may pass its own root), the CRLs, the TCB info and QE identity collateral
with their validity windows at ``now``, and refuses debug enclaves. It returns the TCB status; this module
turns its verified report into :class:`Claims`. The clock is injectable so a recorded quote verifies at its
pinned time.
"""

from __future__ import annotations

import hashlib
import json
import struct
import time
from collections.abc import Callable

import dcap_qvl
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from airflow_provider_powerfl.tee.errors import AttestationRefused
from airflow_provider_powerfl.tee.evidence import SGX_ATTRIBUTE_DEBUG, Claims

# quote v3 (SGX): header 48, enclave report 384, signature data length 4, ECDSA signature 64, attestation key 64,
# QE report 384, QE report signature 64, then QE auth data (u16 length) and certification data (u16 type, u32 size)
_AUTH_AT = 48 + 384 + 4 + 64 + 64 + 384 + 64
_PCK_CERT_CHAIN = 5
# SHA-256 of the DER of Intel's SGX Root CA (CN=Intel SGX Root CA, the copy built into dcap-qvl 0.7.0)
INTEL_SGX_ROOT_CA_SHA256 = "44a0196b2b99f889b8e149e95b807a350e7424964399e885a7cbb8ccfab674d3"


def canonical_encoding(quote: bytes, root_sha256: str) -> str | None:
    """Why ``quote`` is not canonically encoded, else None.

    dcap-qvl checks every signature and certificate, but PEM armour (line breaks, labels) and length fields
    may vary without changing what is signed, and the chain's root copy is not used (the pinned root is);
    requiring the one canonical encoding, ending in the pinned root, makes every byte of a quote count.
    """
    if len(quote) < _AUTH_AT + 2 or struct.unpack_from("<I", quote, 432)[0] != len(quote) - 436:
        return "the signature data length does not match the quote's size"
    (auth_len,) = struct.unpack_from("<H", quote, _AUTH_AT)
    at = _AUTH_AT + 2 + auth_len
    if len(quote) < at + 6:
        return "truncated before the certification data"
    cert_type, size = struct.unpack_from("<HI", quote, at)
    chain = quote[at + 6 :]
    if cert_type != _PCK_CERT_CHAIN or size != len(chain):
        return "the certification data is not one PCK certificate chain filling the quote"
    body = chain[:-1] if chain.endswith(b"\0") else chain
    try:
        certs = x509.load_pem_x509_certificates(body)
    except (ValueError, x509.InvalidVersion):  # InvalidVersion is no ValueError: a flipped bit in a version field
        return "the PCK certificate chain is not PEM"
    if b"".join(c.public_bytes(Encoding.PEM) for c in certs) != body:
        return "the PCK certificate chain is not in canonical PEM"
    if not certs or hashlib.sha256(certs[-1].public_bytes(Encoding.DER)).hexdigest() != root_sha256:
        return "the PCK certificate chain does not end in the pinned root CA"
    return None


class DcapVerifier:
    """Verifies SGX DCAP quotes; ``root_ca_der`` None pins Intel's SGX Root CA (dcap-qvl's built-in copy)."""

    def __init__(self, root_ca_der: bytes | None = None, clock: Callable[[], float] = time.time) -> None:
        self._root = root_ca_der
        self._root_sha256 = INTEL_SGX_ROOT_CA_SHA256 if root_ca_der is None else hashlib.sha256(root_ca_der).hexdigest()
        self._clock = clock

    def verify(self, quote: bytes, collateral_json: str, party_id: str) -> Claims:
        """Claims of a quote that verifies now; AttestationRefused names the library's reason otherwise."""
        now = int(self._clock())
        problem = canonical_encoding(quote, self._root_sha256)
        if problem is not None:
            raise AttestationRefused(party_id, "DCAP quote encoding", problem)
        try:
            collateral = dcap_qvl.QuoteCollateralV3.from_json(collateral_json)
            if self._root is None:
                report = dcap_qvl.verify(quote, collateral, now)
            else:
                report = dcap_qvl.verify_with_root_ca(quote, collateral, self._root, now)
        except (ValueError, TypeError, RuntimeError) as exc:
            raise AttestationRefused(party_id, "DCAP quote verification", str(exc)) from exc
        body = json.loads(report.to_json())
        enclave = body.get("report", {}).get("SgxEnclave")
        if enclave is None:
            raise AttestationRefused(party_id, "DCAP quote verification", "not an SGX enclave quote")
        return Claims(
            platform="sgx-dcap",
            mr_enclave=enclave["mr_enclave"].lower(),
            mr_signer=enclave["mr_signer"].lower(),
            isv_prod_id=int(enclave["isv_prod_id"]),
            isv_svn=int(enclave["isv_svn"]),
            debug=bool(bytes.fromhex(enclave["attributes"])[0] & SGX_ATTRIBUTE_DEBUG),
            tcb_status=str(report.status),
            advisory_ids=tuple(report.advisory_ids),
            report_data=bytes.fromhex(enclave["report_data"]),
        )
