"""The manifest, the measurement tool and the loader: a tampered trusted file stops the enclave app from starting."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from enclave import loader, manifest, measure

ROOT = Path(__file__).resolve().parents[3]
KEY = rsa.generate_private_key(public_exponent=3, key_size=3072)


def _small_manifest(tmp_path: Path, debug: str = "false") -> str:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "code.py").write_text("print('hi')\n")
    (tmp_path / "lib.so").write_bytes(b"\x7fELF" + bytes(64))
    return (
        f'libos.entrypoint = "{sys.executable}"\nsgx.debug = {debug}\nsgx.isvprodid = 1\nsgx.isvsvn = 2\n'
        f'sgx.remote_attestation = "dcap"\nsgx.trusted_files = ["file:{tmp_path}/app/", "file:{tmp_path}/lib.so"]\n'
    )


def test_the_manifest_names_code_interpreter_and_libraries_with_dcap_and_debug_off(tmp_path: Path) -> None:
    (tmp_path / "m.pycache").mkdir()  # the measured bytecode (empty here: nothing compiled)
    text = manifest.render(manifest.MANIFEST_TEMPLATE.read_text(), measure.values(ROOT, tmp_path / "io", tmp_path / "m.json"))
    parsed = tomllib.loads(text)
    assert parsed["sgx"]["debug"] is False and parsed["sgx"]["remote_attestation"] == "dcap"
    files = {str(p) for p in manifest.trusted_paths(parsed)}
    assert str(ROOT / "enclave" / "app.py") in files and str(ROOT / "airflow_provider_powerfl" / "tee" / "release.py") in files
    assert str(Path(sys.executable).resolve()) in files
    assert any("/sklearn/linear_model/" in f for f in files) and any(f.endswith("/json/decoder.py") for f in files)
    assert parsed["sgx"]["allowed_files"] == [f"file:{tmp_path / 'io'}/"]


def test_the_measurement_covers_exactly_the_named_files_and_the_signer_is_sgxs(tmp_path: Path) -> None:
    measured = measure.measure(_small_manifest(tmp_path), KEY)
    assert sorted(measured["trusted_files"]) == [str(tmp_path / "app" / "code.py"), str(tmp_path / "lib.so")]
    assert measured["mr_signer"] == measure.mr_signer(KEY) and len(measured["mr_enclave"]) == 64
    (tmp_path / "app" / "code.py").write_text("print('other')\n")
    assert measure.measure(_small_manifest_again(tmp_path), KEY)["mr_enclave"] != measured["mr_enclave"]


def _small_manifest_again(tmp_path: Path) -> str:
    return f'sgx.debug = false\nsgx.isvprodid = 1\nsgx.isvsvn = 2\nsgx.trusted_files = ["file:{tmp_path}/app/", "file:{tmp_path}/lib.so"]\n'


@pytest.mark.parametrize("tamper", ["change", "remove", "add"])
def test_a_tampered_trusted_file_refuses_the_start(tmp_path: Path, tamper: str) -> None:
    measured = measure.measure(_small_manifest(tmp_path), KEY)
    loader.check(measured)  # untouched: starts
    code = tmp_path / "app" / "code.py"
    if tamper == "change":
        code.write_text("print('hi') \n")
    elif tamper == "remove":
        code.unlink()
    else:
        (tmp_path / "app" / "extra.py").write_text("")
    with pytest.raises(loader.LoadRefused, match=str(tmp_path / "app")):
        loader.check(measured)


def test_a_debug_manifest_refuses_the_start(tmp_path: Path) -> None:
    with pytest.raises(loader.LoadRefused, match="debug"):
        loader.check(measure.measure(_small_manifest(tmp_path, debug="true"), KEY))


def test_the_loader_process_exits_refused_naming_the_file(tmp_path: Path) -> None:
    measured = tmp_path / "measured.json"
    measured.write_text(json.dumps(measure.measure(_small_manifest(tmp_path), KEY)))
    (tmp_path / "lib.so").write_bytes(b"\x7fELF" + bytes(63) + b"\x01")
    run = subprocess.run(
        [sys.executable, "-m", "enclave.loader", str(measured)], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == loader.REFUSED, run.stderr
    assert f"trusted file {tmp_path / 'lib.so'} differs" in run.stderr


def _import_path_manifest(tmp_path: Path, also: str = "") -> str:
    """A manifest whose import path is app/ then site/, naming the package site/goodmod/ and the module app/mine.py."""
    for d in ("app", "site/goodmod"):
        (tmp_path / d).mkdir(parents=True, exist_ok=True)
    (tmp_path / "app" / "mine.py").write_text("X = 1\n")
    (tmp_path / "site" / "goodmod" / "__init__.py").write_text("Y = 2\n")
    return (
        f'sgx.debug = false\nsgx.isvprodid = 1\nsgx.isvsvn = 2\nloader.env.PYTHONPATH = "{tmp_path}/app:{tmp_path}/site"\n'
        f'sgx.trusted_files = ["file:{tmp_path}/app/mine.py", "file:{tmp_path}/site/goodmod/"{also}]\n'
    )


@pytest.mark.parametrize(
    "planted", ["app/goodmod.py", "app/goodmod", "site/goodmod.cpython-311-x86_64-linux-gnu.so", "app/json.py"]
)
def test_an_unnamed_file_in_a_trusted_directory_of_the_import_path_refuses_the_start(tmp_path: Path, planted: str) -> None:
    """Beside a named file, an unnamed one that Python would import instead of (or beside) a measured module."""
    measured = measure.measure(_import_path_manifest(tmp_path), KEY)
    (tmp_path / "app" / "notes.txt").write_text("not a module\n")
    (tmp_path / "app" / "other.py").write_text("")  # unnamed, but no measured module of that name: never imported
    loader.check(measured)
    if planted == "app/json.py":  # the standard library's json, named in the real manifest, shadowed from app/
        measured = measure.measure(_import_path_manifest(tmp_path, f', "file:{Path(json.__file__).parent}/"'), KEY)
    target = tmp_path / planted
    if planted.endswith("goodmod"):
        target.mkdir()
        (target / "__init__.py").write_text("import os\n")
    else:
        target.write_text("import os\n")
    with pytest.raises(loader.LoadRefused, match=f"file {target} is in a trusted directory.*does not name it"):
        loader.check(measured)
