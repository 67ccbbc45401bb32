"""Reading a Gramine manifest: rendering its template and hashing exactly the trusted files it names.

A trusted-file URI ending in ``/`` names every regular file below that directory (Gramine's rule); any other
names one file. Symlinks are hashed as what they point to, and a named path that does not exist is an error:
what the manifest names is what is measured, nothing more and nothing less.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from airflow_provider_powerfl.exceptions import ConfigError

MANIFEST_TEMPLATE = Path(__file__).with_name("powerfl-enclave.manifest.template")


def render(template: str, variables: dict[str, Any]) -> str:
    """The manifest text of ``template`` with ``variables`` (Jinja, as gramine-manifest renders it)."""
    import jinja2  # the measurement tool's alone: the loader, inside the enclave, never renders

    return (
        jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True).from_string(template).render(**variables)
    )


def trusted_paths(manifest: dict[str, Any]) -> list[Path]:
    """Every file the manifest's ``sgx.trusted_files`` names, directories expanded, sorted."""
    files: set[Path] = set()
    for entry in manifest.get("sgx", {}).get("trusted_files", []):
        uri = entry["uri"] if isinstance(entry, dict) else entry
        if not uri.startswith("file:"):
            raise ConfigError(f"manifest: trusted file {uri!r} is not a file: URI")
        path = Path(uri[len("file:") :])
        if uri.endswith("/"):
            if not path.is_dir():
                raise ConfigError(f"manifest: trusted directory {path} does not exist")
            files.update(p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
        elif path.is_file():
            files.add(path)
        else:
            raise ConfigError(f"manifest: trusted file {path} does not exist")
    return sorted(files)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def hash_trusted_files(manifest: dict[str, Any]) -> dict[str, str]:
    """path -> SHA-256 of every trusted file."""
    return {str(path): sha256_file(path) for path in trusted_paths(manifest)}
