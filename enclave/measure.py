"""The measurement tool: render the manifest template, hash exactly the trusted files it names, derive the identity.

``python -m enclave.measure --signer-key K --out measured.json`` writes the measured manifest the loader checks:
the rendered manifest, every trusted file's SHA-256, and the enclave identity the data owners' policies name.
Off SGX, ``mr_enclave`` is this tool's measurement (SHA-256 over the settings that matter and every trusted
file's path and hash), not the hardware's: on an SGX machine ``gramine-sgx-sign`` computes the real MRENCLAVE from
the same manifest (docs/tee.md). ``mr_signer`` is SGX's: SHA-256 of the signing key's RSA-3072 modulus, little-endian.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from enclave.manifest import MANIFEST_TEMPLATE, hash_trusted_files, render

# what the app imports from site-packages (what sys.modules holds after the warm-up below), and the shared
# libraries their extensions load (*.libs); the enclave has no network, so no Kafka client
LIBRARIES = (
    "numpy", "numpy.libs", "scipy", "scipy.libs", "sklearn", "scikit_learn.libs", "joblib", "threadpoolctl.py",
    "cryptography", "cffi", "_cffi_backend.cpython-311-x86_64-linux-gnu.so", "pycparser", "dcap_qvl", "pydantic",
    "pydantic_core", "annotated_types", "typing_extensions.py", "typing_inspection", "yaml", "gmpy2", "gmpy2.libs",
    "Crypto", "blake3", "pandas", "pyarrow", "dateutil", "pytz", "tzdata", "six.py", "charset_normalizer", "cloudpickle",
    "narwhals", "psutil", "rich", "markdown_it", "mdurl", "pygments",
)  # fmt: skip
_STDLIB_LEFT_OUT = {"site-packages", "test", "idlelib", "tkinter", "turtledemo", "ensurepip", "lib2to3", "__pycache__"}
IDENTITY_SETTINGS = ("libos.entrypoint", "loader.argv", "loader.env", "sgx.debug", "sgx.remote_attestation", "sgx.isvprodid",
                     "sgx.isvsvn", "sgx.enclave_size", "sgx.allowed_files")  # fmt: skip


def values(app_root: Path, io_dir: Path, measured: Path) -> dict[str, Any]:
    """The template's variables on this machine (no Gramine: its own entries are left out)."""
    paths = sysconfig.get_paths()
    stdlib = Path(paths["stdlib"])
    libdir = Path(sysconfig.get_config_var("LIBDIR") or "/usr/lib")
    purelib = Path(paths["purelib"])
    return {
        "gramine": None,
        "python": {
            "executable": str(Path(sys.executable).resolve()), "prefix": sys.prefix, "purelib": str(purelib),
            "libpython": [str(p) for p in sorted(libdir.glob("libpython3*.so*"))],
            "stdlib_entries": [_uri_path(p) for p in sorted(stdlib.iterdir()) if p.name not in _STDLIB_LEFT_OUT],
        },
        "app": {"root": str(app_root), "io_dir": str(io_dir), "measured": str(measured), "pycache": str(pycache_dir(measured)), "libraries": [_uri_path(purelib / p) for p in LIBRARIES if (purelib / p).exists()]},
    }  # fmt: skip


def pycache_dir(measured: Path) -> Path:
    """Where the measured bytecode lives: beside the measured manifest."""
    return measured.with_name(measured.stem + ".pycache")


def compile_bytecode(app_root: Path, pycache: Path) -> None:
    """Compile what the app imports into ``pycache`` by importing and running it once on toy data."""
    warm = (
        "import numpy as np; from enclave import main, train; X = np.random.default_rng(0).normal(size=(64, 3)); "
        "y = (X[:, 0] > 0) * 1.0; train.fit_and_score('train_lr', X, y, X, {}); "
        "train.fit_and_score('train_gbdt', X, y, X, {'n_estimators': 2}); "
        "train.fit_and_score('train_nn', X, y, X, {'max_iter': 1}, {'a': slice(0, 2), 'b': slice(2, 3)})"
    )
    env = {**os.environ, "PYTHONPYCACHEPREFIX": str(pycache), "PYTHONPATH": str(app_root)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    subprocess.run([sys.executable, "-c", warm], cwd=app_root, env=env, check=True, timeout=1800)


def _uri_path(path: Path) -> str:
    """A trusted-file path as Gramine writes it: a directory ends in ``/``."""
    return f"{path}/" if path.is_dir() else str(path)


def mr_signer(key: rsa.RSAPrivateKey) -> str:
    """SGX's MRSIGNER: SHA-256 of the 384-byte little-endian modulus of the RSA-3072 signing key."""
    return hashlib.sha256(key.public_key().public_numbers().n.to_bytes(384, "little")).hexdigest()


def measure(manifest_text: str, key: rsa.RSAPrivateKey) -> dict[str, Any]:
    """The measured manifest: text, trusted files' hashes and the identity they give."""
    manifest = tomllib.loads(manifest_text)
    files = hash_trusted_files(manifest)
    settings = {name: _get(manifest, name) for name in IDENTITY_SETTINGS}
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
    for path, sha in sorted(files.items()):
        digest.update(f"{sha}  {path}\n".encode())
    sgx = manifest["sgx"]
    return {
        "manifest": manifest_text, "trusted_files": files, "mr_enclave": digest.hexdigest(), "mr_signer": mr_signer(key),
        "isv_prod_id": sgx["isvprodid"], "isv_svn": sgx["isvsvn"], "debug": sgx["debug"],
    }  # fmt: skip


def _get(manifest: dict[str, Any], dotted: str) -> Any:
    node: Any = manifest
    for part in dotted.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def new_signer_key(path: Path) -> rsa.RSAPrivateKey:
    """An SGX enclave signing key (RSA-3072, e = 3), written to ``path`` (mode 0600)."""
    key = rsa.generate_private_key(public_exponent=3, key_size=3072)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    path.write_bytes(pem)
    path.chmod(0o600)
    return key


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m enclave.measure", description=__doc__)
    parser.add_argument("--signer-key", type=Path, required=True, help="RSA-3072 PEM; created when missing")
    parser.add_argument("--io-dir", type=Path, default=Path("/tmp/powerfl-enclave"), help="the host's sealed I/O directory")
    parser.add_argument("--template", type=Path, default=MANIFEST_TEMPLATE)
    parser.add_argument("--out", type=Path, required=True, help="the measured manifest (JSON) the loader checks")
    args = parser.parse_args(argv)
    if args.signer_key.exists():
        key = serialization.load_pem_private_key(args.signer_key.read_bytes(), password=None)
    else:
        key = new_signer_key(args.signer_key)
    root, out = Path(__file__).resolve().parents[1], args.out.resolve()
    shutil.rmtree(pycache_dir(out), ignore_errors=True)
    compile_bytecode(root, pycache_dir(out))
    text = render(args.template.read_text(), values(root, args.io_dir, out))
    measured = measure(text, key)  # type: ignore[arg-type]
    args.out.write_text(json.dumps(measured, indent=1, sort_keys=True))
    print(
        json.dumps(
            {k: measured[k] for k in ("mr_enclave", "mr_signer", "isv_prod_id", "isv_svn")}
            | {"files": len(measured["trusted_files"])}
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
