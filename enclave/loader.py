"""The loader: refuse to start the enclave app if any trusted file differs from the measured manifest.

``python -m enclave.loader MEASURED.json`` re-hashes every file the measured manifest's
``sgx.trusted_files`` name and compares with the measurement (a changed, missing or added file refuses, naming
it), refuses a manifest with ``sgx.debug = true``, and only then runs the enclave process (``enclave.main``). Under Gramine on SGX the
same check is Gramine's own (a trusted file whose hash differs cannot be opened) and the measurement is the
hardware's; here the loader is what enforces it. Bytecode caches are never read (``PYTHONPYCACHEPREFIX`` points
to the measured cache, itself a trusted directory; nothing is written), so only hashed code runs.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import tomllib
from pathlib import Path
from typing import Any

from airflow_provider_powerfl.exceptions import PowerFLError
from enclave.manifest import hash_trusted_files

REFUSED = 3  # exit status of a refused start


class LoadRefused(PowerFLError):
    """The enclave app does not match its measurement; names the file or setting."""


def check(measured: dict[str, Any]) -> None:
    """Raise LoadRefused unless every trusted file hashes as measured and debug is off."""
    manifest = tomllib.loads(measured["manifest"])
    if manifest.get("sgx", {}).get("debug", True) is not False:
        raise LoadRefused("the manifest does not set sgx.debug = false: a debug enclave's memory is readable")
    expected: dict[str, str] = measured["trusted_files"]
    try:
        actual = hash_trusted_files(manifest)
    except PowerFLError as exc:
        raise LoadRefused(f"trusted file missing: {exc}") from exc
    for path in sorted(set(expected) | set(actual)):
        if path not in actual:
            raise LoadRefused(f"trusted file {path} is missing")
        if path not in expected:
            raise LoadRefused(f"file {path} is not in the measurement")
        if actual[path] != expected[path]:
            raise LoadRefused(
                f"trusted file {path} differs from its measurement (sha256 {actual[path]}, measured {expected[path]})"
            )


def _measured_bytecode_cache() -> None:
    """Re-run this process reading bytecode only from the manifest's measured cache (or none), writing none."""
    cache = tempfile.gettempdir() + "/powerfl-enclave-no-pycache"
    if len(sys.argv) > 1:
        try:
            env_of = tomllib.loads(json.loads(Path(sys.argv[1]).read_text())["manifest"]).get("loader", {}).get("env", {})
            cache = env_of.get("PYTHONPYCACHEPREFIX", cache)
        except (OSError, ValueError, KeyError):
            pass  # main() reports the unreadable file
    if sys.pycache_prefix == cache and sys.dont_write_bytecode:
        return
    env = {**os.environ, "PYTHONPYCACHEPREFIX": cache, "PYTHONDONTWRITEBYTECODE": "1"}
    os.execve(sys.executable, [sys.executable, "-m", "enclave.loader", *sys.argv[1:]], env)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args:
        print("usage: python -m enclave.loader MEASURED.json", file=sys.stderr)
        return 2
    measured_path = Path(args[0])
    try:
        measured = json.loads(measured_path.read_text())
        check(measured)
    except (OSError, ValueError, KeyError, LoadRefused) as exc:
        print(f"enclave loader: refused to start: {exc}", file=sys.stderr)
        return REFUSED
    from enclave.main import main as enclave_main

    return enclave_main(str(measured_path))


if __name__ == "__main__":
    _measured_bytecode_cache()
    raise SystemExit(main())
