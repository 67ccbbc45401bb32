from __future__ import annotations

import hashlib
import stat
from pathlib import Path

import pytest

from airflow_provider_powerfl.cli import main
from airflow_provider_powerfl.exceptions import ConfigError, CryptoError
from airflow_provider_powerfl.federation.keys import SigningKey, VerifyKey, generate_party_keys


def test_generated_keys_sign_and_verify(tmp_path: Path) -> None:
    private_path, public_path = generate_party_keys(tmp_path / "keys", "10000")
    assert (private_path.name, public_path.name) == ("10000.key", "10000.pub")
    assert stat.S_IMODE(private_path.stat().st_mode) == 0o600
    signer = SigningKey.from_file(private_path)
    digest = hashlib.sha256(b"payload").digest()
    signature = signer.sign(digest)
    verifier = VerifyKey.load(public_path)
    assert verifier.verify(digest, signature)
    assert not verifier.verify(hashlib.sha256(b"other").digest(), signature)
    assert VerifyKey.load(public_path.read_text()).verify(digest, signature)
    assert VerifyKey.from_pem(verifier.pem()).verify(digest, signature)


def test_existing_keys_are_kept_unless_overwrite(tmp_path: Path) -> None:
    private_path, _ = generate_party_keys(tmp_path, "10000")
    before = private_path.read_bytes()
    with pytest.raises(ConfigError, match="10000.key"):
        generate_party_keys(tmp_path, "10000")
    assert private_path.read_bytes() == before
    generate_party_keys(tmp_path, "10000", overwrite=True)
    assert private_path.read_bytes() != before
    assert stat.S_IMODE(private_path.stat().st_mode) == 0o600


def test_bad_party_id_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="party id"):
        generate_party_keys(tmp_path, "../evil")


def test_load_errors_name_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.key"
    with pytest.raises(ConfigError, match="nope.key"):
        SigningKey.from_file(missing)
    junk = tmp_path / "junk.pub"
    junk.write_text("not a key")
    with pytest.raises(CryptoError, match="junk.pub"):
        VerifyKey.load(junk)
    _, public_path = generate_party_keys(tmp_path, "20000")
    with pytest.raises(CryptoError, match="20000.pub"):
        SigningKey.from_file(public_path)


def test_powerfl_keys_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keys", "10000", "--out", str(tmp_path)]) == 0
    assert "10000.key" in capsys.readouterr().out
    assert main(["keys", "10000", "--out", str(tmp_path)]) == 1  # the key exists: one error line, nothing overwritten
    assert capsys.readouterr().err.startswith("powerfl: error: ")
    assert main(["keys", "10000", "--out", str(tmp_path), "--force"]) == 0
