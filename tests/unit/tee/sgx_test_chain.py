"""SGX DCAP quotes signed by a TEST certificate chain (our own root CA), for the verifier's refusal cases.

The quote keeps the genuine recorded quote's header, QE report and QE auth data, and the genuine PCK leaf's
SGX extension (FMSPC, TCB components), so dcap-qvl runs every check it runs on a real quote; only the keys are
ours: a test root, a PCK CA, a PCK leaf signing the QE report, an attestation key signing the enclave report,
a TCB signing key signing the TCB info and QE identity, and the two CRLs. ``verify_with_root_ca`` with the
test root accepts them; Intel's pinned root never does.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import struct
from dataclasses import dataclass, field
from pathlib import Path

import dcap_qvl
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

DATA = Path(__file__).resolve().parents[2] / "data" / "tee"
GENUINE_QUOTE = (DATA / "genuine_sgx_quote.bin").read_bytes()
GENUINE_COLLATERAL = (DATA / "genuine_sgx_collateral.json").read_text()
SGX_EXTENSION = x509.ObjectIdentifier("1.2.840.113741.1.13.1")
HEADER, BODY = 48, 384  # quote v3: header, then the ISV enclave report body
DAY = dt.timedelta(days=1)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn), x509.NameAttribute(NameOID.ORGANIZATION_NAME, "PowerFL TEST")])


def _raw(signature_der: bytes) -> bytes:
    r, s = decode_dss_signature(signature_der)
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def _sign(key: ec.EllipticCurvePrivateKey, data: bytes) -> bytes:
    return _raw(key.sign(data, ec.ECDSA(hashes.SHA256())))


def _pem(*certs: x509.Certificate) -> str:
    return "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in certs)


def _genuine_pck_extension() -> x509.UnrecognizedExtension:
    quote = dcap_qvl.parse_quote(GENUINE_QUOTE)
    leaf = x509.load_pem_x509_certificates(quote.cert_chain_pem_bytes())[0]
    return x509.UnrecognizedExtension(SGX_EXTENSION, leaf.extensions.get_extension_for_oid(SGX_EXTENSION).value.value)


@dataclass
class SgxTestChain:
    """A test root and its CAs, valid around ``now``; ``revoked``/``expired`` break the PCK leaf on purpose."""

    now: dt.datetime
    revoked: bool = False
    expired: bool = False
    keys: dict[str, ec.EllipticCurvePrivateKey] = field(default_factory=dict)
    certs: dict[str, x509.Certificate] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("root", "pck_ca", "pck", "tcb"):
            self.keys[name] = ec.generate_private_key(ec.SECP256R1())
        self._cert("root", "PowerFL TEST SGX Root CA", "root", ca=True)
        self._cert("pck_ca", "PowerFL TEST SGX PCK Processor CA", "root", ca=True)
        self._cert("tcb", "PowerFL TEST SGX TCB Signing", "root", ca=False)
        self._cert("pck", "PowerFL TEST SGX PCK Certificate", "pck_ca", ca=False, extension=_genuine_pck_extension())

    def _cert(self, name: str, cn: str, issuer: str, *, ca: bool, extension: x509.ExtensionType | None = None) -> None:
        start, end = self.now - DAY, self.now + 365 * DAY
        if name == "pck" and self.expired:
            start, end = self.now - 400 * DAY, self.now - DAY
        subject = _name(cn)
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject if issuer == name else self.certs[issuer].subject)
            .public_key(self.keys[name].public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=not ca,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=ca,
                    crl_sign=ca,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )  # fmt: skip
        )
        if extension is not None:
            builder = builder.add_extension(extension, critical=False)
        self.certs[name] = builder.sign(self.keys[issuer], hashes.SHA256())

    def root_der(self) -> bytes:
        return self.certs["root"].public_bytes(serialization.Encoding.DER)

    def _crl(self, issuer: str, revoke: x509.Certificate | None) -> bytes:
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.certs[issuer].subject)
            .last_update(self.now - DAY)
            .next_update(self.now + 30 * DAY)
            .add_extension(x509.CRLNumber(1), critical=False)
        )
        if revoke is not None:
            entry = x509.RevokedCertificateBuilder().serial_number(revoke.serial_number).revocation_date(self.now - DAY)
            builder = builder.add_revoked_certificate(entry.build())
        return builder.sign(self.keys[issuer], hashes.SHA256()).public_bytes(serialization.Encoding.DER)

    def _signed_json(self, genuine: str, tcb_status: str) -> tuple[str, bytes]:
        body = json.loads(genuine)
        body["issueDate"] = (self.now - DAY).strftime("%Y-%m-%dT%H:%M:%SZ")
        body["nextUpdate"] = (self.now + 30 * DAY).strftime("%Y-%m-%dT%H:%M:%SZ")
        for level in body["tcbLevels"]:
            level["tcbStatus"] = tcb_status if "sgxtcbcomponents" in level.get("tcb", {}) else "UpToDate"
            level.pop("advisoryIDs", None)
        text = json.dumps(body, separators=(",", ":"))
        return text, _sign(self.keys["tcb"], text.encode())

    def collateral(self, tcb_status: str = "UpToDate") -> str:
        """Collateral for quotes of this chain: TCB info and QE identity re-signed, both CRLs, as dcap-qvl's JSON."""
        genuine = json.loads(GENUINE_COLLATERAL)
        tcb_info, tcb_sig = self._signed_json(genuine["tcb_info"], tcb_status)
        qe_identity, qe_sig = self._signed_json(genuine["qe_identity"], "UpToDate")
        chain = _pem(self.certs["tcb"], self.certs["root"])
        return dcap_qvl.QuoteCollateralV3(
            pck_crl_issuer_chain=_pem(self.certs["pck_ca"], self.certs["root"]),
            root_ca_crl=self._crl("root", None),
            pck_crl=self._crl("pck_ca", self.certs["pck"] if self.revoked else None),
            tcb_info_issuer_chain=chain, tcb_info=tcb_info, tcb_info_signature=tcb_sig,
            qe_identity_issuer_chain=chain, qe_identity=qe_identity, qe_identity_signature=qe_sig,
        ).to_json()  # fmt: skip

    def quote(self, *, mr_enclave: bytes, mr_signer: bytes, report_data: bytes, debug: bool = False,
              isv_prod_id: int = 0, isv_svn: int = 0) -> bytes:  # fmt: skip
        """A v3 SGX quote of an enclave with these identities, signed through this chain."""
        g = GENUINE_QUOTE
        body = bytearray(g[HEADER : HEADER + BODY])
        body[48] = 0x05 | (0x02 if debug else 0)  # attributes: INIT | MODE64BIT (| DEBUG)
        body[64:96], body[128:160] = mr_enclave, mr_signer
        body[256:260] = struct.pack("<HH", isv_prod_id, isv_svn)
        body[320:384] = report_data
        signed = g[:HEADER] + bytes(body)
        attestation = ec.generate_private_key(ec.SECP256R1())
        point = attestation.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)[
            1:
        ]
        at = HEADER + BODY + 4 + 64 + 64  # the QE report
        qe_report = bytearray(g[at : at + BODY])
        (auth_len,) = struct.unpack_from("<H", g, at + BODY + 64)
        qe_auth = g[at + BODY + 66 : at + BODY + 66 + auth_len]
        qe_report[320:384] = hashlib.sha256(point + qe_auth).digest() + bytes(32)
        chain = _pem(self.certs["pck"], self.certs["pck_ca"], self.certs["root"]).encode()
        auth = (
            _sign(attestation, signed) + point + bytes(qe_report) + _sign(self.keys["pck"], bytes(qe_report))
            + struct.pack("<H", auth_len) + qe_auth + struct.pack("<HI", 5, len(chain)) + chain
        )  # fmt: skip
        return signed + struct.pack("<I", len(auth)) + auth
