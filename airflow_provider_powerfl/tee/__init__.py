"""Trusted execution: attestation evidence, its verification and the data owner's key release (docs/tee.md).

Pure Python (cryptography, dcap-qvl, pydantic): no Airflow, no Spark. A data owner seals its aligned slice
under a fresh AES-GCM data key and releases that key, wrapped to the enclave's public key, only after the
enclave's evidence verifies, binds that key to a nonce this owner drew, and matches the owner's own policy.
"""
