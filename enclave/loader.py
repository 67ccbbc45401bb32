"""The loader: refuse to start the enclave app if any trusted file differs from the measured manifest.

``python -m enclave.loader MEASURED.json`` re-hashes every file the measured manifest's
``sgx.trusted_files`` name and compares with the measurement (a changed, missing or added file refuses, naming
it), refuses an unnamed file in a trusted directory of the import path that would be imported instead of or
beside a measured module (``json.py`` planted in site-packages, which precedes the standard library), refuses a
manifest with ``sgx.debug = true``, and only then runs the enclave process (``enclave.main``). Under Gramine on SGX the
same check is Gramine's own (a trusted file whose hash differs cannot be opened) and the measurement is the
hardware's; here the loader is what enforces it. Bytecode caches are never read (``PYTHONPYCACHEPREFIX`` points
to the measured cache, itself a trusted directory; nothing is written), so only hashed code runs.
"""

from __future__ import annotations

import json
import os
import sys
import sysconfig
import tempfile
import tomllib
from pathlib import Path
from typing import Any

from airflow_provider_powerfl.exceptions import PowerFLError
from enclave.manifest import hash_trusted_files

REFUSED = 3  # exit status of a refused start


class LoadRefused(PowerFLError):
    """The enclave app does not match its measurement; names the file or setting."""


def _module_name(entry: Path) -> str | None:
    """The top-level module an import-path entry provides (``json.py``, ``numpy/``, ``_ssl.cpython-311-x86_64-linux-gnu.so``)."""
    if entry.is_dir():
        name = entry.name
    elif entry.suffix in (".py", ".pyc", ".so"):
        name = entry.name.split(".", 1)[0]
    else:
        return None
    return name if name.isidentifier() else None


def import_dirs(manifest: dict[str, Any]) -> list[Path]:
    """The enclave's import path: the manifest's PYTHONPATH, then the standard library and its extensions."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    pythonpath = manifest.get("loader", {}).get("env", {}).get("PYTHONPATH", "")
    return [Path(p) for p in str(pythonpath).split(os.pathsep) if p] + [stdlib, stdlib / "lib-dynload"]


def unnamed_files(manifest: dict[str, Any], trusted: set[str]) -> list[tuple[Path, str]]:
    """(entry, module) for every entry of an import-path directory that the manifest does not name but that provides
    a module a named entry provides too: Python would import it instead of (or beside) the measured code."""
    named: set[str] = set(trusted)
    for path in trusted:  # a directory holding a named file is named as far as it goes
        named.update(str(parent) for parent in Path(path).parents)
    provided: set[str] = set()
    unnamed: list[tuple[Path, str]] = []
    for directory in import_dirs(manifest):
        if not directory.is_dir():
            continue
        for entry in sorted(directory.iterdir()):
            module = _module_name(entry)
            if module is None or entry.name == "__pycache__":
                continue
            if str(entry) in named:
                provided.add(module)
            else:
                unnamed.append((entry, module))
    return [(entry, module) for entry, module in unnamed if module in provided]


def check(measured: dict[str, Any]) -> None:
    """Raise LoadRefused unless every trusted file hashes as measured, no unnamed file shadows one, and debug is off."""
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
    for entry, module in unnamed_files(manifest, set(expected)):
        raise LoadRefused(
            f"file {entry} is in a trusted directory of the enclave's import path but the manifest does not name it "
            f"(it would be imported as module {module!r} instead of or beside the measured one)"
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
