"""Versioned, immutable per-party model artifacts on the local filesystem.

Layout under ``root``::

    <job_id>/<party_id>/<algorithm>/v<N>/model.json   manifest
                                         /state.json   this party's state

``model_id`` is ``"<job_id>/<party_id>/<algorithm>"``; ``N`` counts 1, 2, ...
per model id. A version is written in a hidden temporary directory next to
it and renamed into place, so it is complete or absent; it is never
rewritten. An artifact holds only its own party's state: the guest's lists
each host's party id and model reference (``peers``), never host weights.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from airflow_provider_powerfl import __version__
from airflow_provider_powerfl.exceptions import ConfigError
from airflow_provider_powerfl.jobs.spec import ROLES
from airflow_provider_powerfl.models import codec
from airflow_provider_powerfl.models.errors import ModelCorruptError, ModelExistsError, ModelNotFoundError

log = logging.getLogger(__name__)

FORMAT = "powerfl-model"
FORMAT_VERSION = 1
MANIFEST_FILE = "model.json"
STATE_FILE = "state.json"
# Path-safe: no separators, no leading dot (so never "." / ".." or hidden).
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:+@=-]*")
_VERSION_DIR = re.compile(r"v([1-9][0-9]*)")
# Attempts at the next free version when another writer takes it first.
_SAVE_RETRIES = 8


@dataclass(frozen=True)
class ModelRef:
    """Where one version of a model is: ``model_id``, ``version`` and its directory."""

    model_id: str
    version: int
    path: Path

    def __str__(self) -> str:
        return f"{self.model_id}@v{self.version}"


@dataclass(frozen=True)
class PeerModel:
    """Another party's model this one works with, by reference only."""

    party_id: str
    model_id: str
    version: int

    def to_dict(self) -> dict[str, Any]:
        return {"party_id": self.party_id, "model_id": self.model_id, "version": self.version}


@dataclass(frozen=True)
class LoadedModel:
    """A verified artifact: manifest fields and the decoded state."""

    ref: ModelRef
    job_id: str
    party_id: str
    role: str
    algorithm: str
    created_at: str
    feature_names: list[str]
    encoding: dict[str, Any]
    metrics: dict[str, Any] | None
    peers: list[PeerModel]
    state: dict[str, Any]
    manifest: dict[str, Any] = field(repr=False)


# ------------------------------------------------------------------ paths
def _root(root: str | os.PathLike[str]) -> Path:
    text = os.fspath(root)
    if "://" in text:
        parsed = urlparse(text)
        if parsed.scheme != "file" or parsed.netloc not in ("", "localhost"):
            raise ConfigError(f"root: only local paths and file:// URIs are supported, got {text!r}")
        text = unquote(parsed.path)
    if not text:
        raise ConfigError("root: must not be empty")
    return Path(text)


def _name(field_name: str, value: Any) -> str:
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise ConfigError(
            f"{field_name}: {value!r} is not usable in a path (letters, digits and _ . : + @ = -, not starting with . or -)"
        )
    return value


def make_model_id(job_id: str, party_id: str, algorithm: str) -> str:
    return "/".join((_name("job_id", job_id), _name("party_id", party_id), _name("algorithm", algorithm)))


def _model_dir(root: Path, model_id: str) -> Path:
    parts = model_id.split("/") if isinstance(model_id, str) else []
    if len(parts) != 3:
        raise ConfigError(f"model_id: expected '<job_id>/<party_id>/<algorithm>', got {model_id!r}")
    return root.joinpath(*(_name(f"model_id part {i + 1}", p) for i, p in enumerate(parts)))


def version_dir(root: str | os.PathLike[str], model_id: str, version: int) -> Path:
    """Where version `version` of `model_id` lives under `root` (its names checked: no path leaves the root)."""
    return _model_dir(_root(root), model_id) / f"v{version}"


def list_versions(root: str | os.PathLike[str], model_id: str) -> list[int]:
    """The complete versions of ``model_id``, ascending (empty if none)."""
    directory = _model_dir(_root(root), model_id)
    if not directory.is_dir():
        return []
    found = (_VERSION_DIR.fullmatch(entry.name) for entry in directory.iterdir() if entry.is_dir())
    return sorted(int(match.group(1)) for match in found if match)


# ------------------------------------------------------------------ save
def _metrics_summary(metrics: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The scalar entries of a metrics dict (tables and curves stay in the report)."""
    if metrics is None:
        return None
    return {str(k): v for k, v in metrics.items() if v is None or isinstance(v, (bool, int, float, str))}


def save_model(
    root: str | os.PathLike[str],
    *,
    job_id: str,
    party_id: str,
    role: str,
    algorithm: str,
    model_state: Mapping[str, Any],
    feature_names: Sequence[str],
    encoding: Mapping[str, Any],
    metrics: Mapping[str, Any] | None = None,
    peers: Sequence[PeerModel] = (),
    version: int | None = None,
) -> ModelRef:
    """Write a new version of this party's model and return where it is.

    :param model_state: this party's learned state only (e.g. its own
        weights); numpy arrays are kept exact.
    :param feature_names: this party's features, in the order of the state.
    :param encoding: how raw features were turned into model inputs
        (scaling, binning, label mapping), strict JSON.
    :param metrics: evaluation metrics; only scalar entries are kept.
    :param peers: the other parties' model references (guest: its hosts).
    :param version: write exactly this version (refused if it exists);
        default: the next one.
    :raises ModelExistsError: ``version`` is already written.
    """
    model_id = make_model_id(job_id, party_id, algorithm)
    names = _checked_arguments(role, model_state, feature_names, peers, version)
    state_bytes = codec.dumps(dict(model_state), allow_nan=True, path="model_state")
    summary = _metrics_summary(metrics)
    for name, value in (("encoding", dict(encoding)), ("metrics", summary)):
        codec.dumps(value, allow_nan=False, path=name)  # names the field before the manifest would fail
    body = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model_id": model_id,
        "version": None,  # set per attempt below
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "provider_version": __version__,
        "job_id": job_id,
        "party_id": party_id,
        "role": role,
        "algorithm": algorithm,
        "feature_names": names,
        "encoding": dict(encoding),
        "metrics": summary,
        "peers": [peer.to_dict() for peer in peers],
        "state": {"file": STATE_FILE, "sha256": hashlib.sha256(state_bytes).hexdigest(), "bytes": len(state_bytes)},
    }
    return _write_version(_root(root), model_id, body, state_bytes, version)


def _checked_arguments(
    role: str, model_state: Any, feature_names: Sequence[str], peers: Sequence[PeerModel], version: int | None
) -> list[str]:
    """save_model's arguments checked, each refusal naming its argument; the feature names as a list."""
    if role not in ROLES:
        raise ConfigError(f"role: expected one of {'|'.join(ROLES)}, got {role!r}")
    if not isinstance(model_state, Mapping):
        raise ConfigError(f"model_state: expected a dict, got {type(model_state).__name__}")
    names = list(feature_names)
    if not all(isinstance(n, str) for n in names) or len(set(names)) != len(names):
        raise ConfigError("feature_names: expected distinct strings")
    for i, peer in enumerate(peers):
        if not isinstance(peer, PeerModel):
            raise ConfigError(f"peers[{i}]: expected a PeerModel, got {type(peer).__name__}")
    if version is not None and (isinstance(version, bool) or not isinstance(version, int) or version < 1):
        raise ConfigError(f"version: expected an integer >= 1, got {version!r}")
    return names


def _write_version(base: Path, model_id: str, body: dict[str, Any], state_bytes: bytes, version: int | None) -> ModelRef:
    """Install ``version`` (or the next free one, retried when another writer takes it) and return its reference."""
    directory = _model_dir(base, model_id)
    directory.mkdir(parents=True, exist_ok=True)
    for _ in range(_SAVE_RETRIES):
        number = version if version is not None else max(list_versions(base, model_id), default=0) + 1
        target = directory / f"v{number}"
        if target.exists():
            if version is not None:
                raise _exists(model_id, target)
            continue
        body["version"] = number
        manifest = codec.dumps(body, allow_nan=False, path="manifest", indent=1)
        if _install(directory, target, {STATE_FILE: state_bytes, MANIFEST_FILE: manifest}):
            ref = ModelRef(model_id, number, target)
            log.info("saved model %s (%s, %d state bytes) at %s", ref, body["role"], len(state_bytes), target)
            return ref
        if version is not None:
            raise _exists(model_id, target)
    raise ModelExistsError(f"model {model_id}: other writers took {_SAVE_RETRIES} versions in a row; try again")


def _exists(model_id: str, target: Path) -> ModelExistsError:
    return ModelExistsError(f"model {model_id} version {target.name[1:]} already exists at {target}; versions are immutable")


def _install(directory: Path, target: Path, files: Mapping[str, bytes]) -> bool:
    """Write ``files`` into a temp dir and rename it to ``target``; False if taken."""
    staging = Path(tempfile.mkdtemp(prefix=f".tmp-{target.name}-", dir=directory))
    try:
        for name, data in files.items():
            path = staging / name
            with open(path, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(path, 0o444)  # a guard against editing in place
        os.chmod(staging, 0o755)
        try:
            os.rename(staging, target)
        except OSError:
            if target.exists():  # another writer won this version
                shutil.rmtree(staging, ignore_errors=True)
                return False
            raise
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    _fsync_dir(directory)
    return True


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# ------------------------------------------------------------------ load
def load_model(root: str | os.PathLike[str], model_id: str, version: int | str = "latest") -> LoadedModel:
    """Read one version (default the newest), verifying format and checksum.

    :raises ModelNotFoundError: no such model or version.
    :raises ModelCorruptError: a file is missing, unreadable, of another
        format, or the state does not match the manifest's sha256.
    """
    base = _root(root)
    directory = _model_dir(base, model_id)
    if version == "latest":
        versions = list_versions(base, model_id)
        if not versions:
            raise ModelNotFoundError(f"model {model_id}: no versions under {directory}")
        number = versions[-1]
    elif isinstance(version, int) and not isinstance(version, bool) and version >= 1:
        number = version
    else:
        raise ConfigError(f"version: expected 'latest' or an integer >= 1, got {version!r}")
    target = directory / f"v{number}"
    if not target.is_dir():
        raise ModelNotFoundError(f"model {model_id} version {number}: {target} does not exist")

    manifest_path = target / MANIFEST_FILE
    manifest = _read_manifest(manifest_path)
    if manifest.get("model_id") != model_id or manifest.get("version") != number:
        raise ModelCorruptError(
            f"{manifest_path}: describes {manifest.get('model_id')!r} version {manifest.get('version')!r}, "
            f"not {model_id!r} version {number} (copied or moved?)"
        )
    state_path = target / manifest["state"]["file"]
    try:
        state_bytes = state_path.read_bytes()
    except OSError as exc:
        raise ModelCorruptError(f"{state_path}: cannot be read ({exc.strerror or exc})") from None
    digest = hashlib.sha256(state_bytes).hexdigest()
    if digest != manifest["state"]["sha256"]:
        raise ModelCorruptError(f"{state_path}: sha256 {digest} does not match {manifest['state']['sha256']} in {manifest_path}")
    try:
        state = codec.decode(json.loads(state_bytes))
    except (ValueError, TypeError, KeyError) as exc:
        raise ModelCorruptError(f"{state_path}: not a model state ({exc})") from None
    return LoadedModel(
        ref=ModelRef(model_id, number, target),
        job_id=manifest["job_id"],
        party_id=manifest["party_id"],
        role=manifest["role"],
        algorithm=manifest["algorithm"],
        created_at=manifest["created_at"],
        feature_names=list(manifest["feature_names"]),
        encoding=codec.decode(manifest["encoding"]),
        metrics=manifest["metrics"],
        peers=[PeerModel(p["party_id"], p["model_id"], p["version"]) for p in manifest["peers"]],
        state=state,
        manifest=manifest,
    )


_REQUIRED = (
    "format", "format_version", "model_id", "version", "created_at", "job_id", "party_id", "role",
    "algorithm", "feature_names", "encoding", "metrics", "peers", "state",
)  # fmt: skip


def _read_manifest(path: Path) -> dict[str, Any]:
    try:
        manifest = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise ModelCorruptError(f"{path}: manifest missing") from None
    except OSError as exc:
        raise ModelCorruptError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    except ValueError as exc:
        raise ModelCorruptError(f"{path}: not JSON ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ModelCorruptError(f"{path}: not a {FORMAT} manifest")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ModelCorruptError(
            f"{path}: format_version {manifest.get('format_version')!r} is not supported (this provider reads {FORMAT_VERSION})"
        )
    missing = [key for key in _REQUIRED if key not in manifest]
    if missing:
        raise ModelCorruptError(f"{path}: field {missing[0]!r} missing")
    state = manifest["state"]
    if not (isinstance(state, dict) and isinstance(state.get("file"), str) and isinstance(state.get("sha256"), str)
            and _NAME.fullmatch(state["file"])):  # fmt: skip
        raise ModelCorruptError(f"{path}: field 'state' must name a file and its sha256")
    return manifest
