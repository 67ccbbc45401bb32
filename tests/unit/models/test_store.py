from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from airflow_provider_powerfl.exceptions import ConfigError, DataError
from airflow_provider_powerfl.models import (
    ModelCorruptError,
    ModelExistsError,
    ModelNotFoundError,
    PeerModel,
    list_versions,
    load_model,
    save_model,
    store,
)

MODEL = "job-1/10000/hetero_lr"


def _save(root: Path | str, **overrides: Any):
    kwargs: dict[str, Any] = {
        "job_id": "job-1",
        "party_id": "10000",
        "role": "guest",
        "algorithm": "hetero_lr",
        "model_state": {
            "coef": np.array([0.1, -2.5, 1e-300]),
            "intercept": np.float64(0.25),
            "counts": np.arange(6, dtype=np.int32).reshape(2, 3),
            "mask": np.array([True, False]),
            "bin_edges": [np.array([-np.inf, 0.5, np.inf])],
            "epochs": 7,
            "converged": True,
            "note": None,
        },
        "feature_names": ["x0", "x1", "x2"],
        "encoding": {"scaler": "standard", "mean": [1.0, 2.0, 3.0], "std": np.array([1.0, 0.5, 2.0])},
        "metrics": {"auc": 0.81, "ks": 0.5, "ks_threshold": None, "lift_table": [{"bin": 1}], "loss": {"last": 0.4}},
        "peers": [PeerModel("20000", "job-1/20000/hetero_lr", 3)],
    }
    kwargs.update(overrides)
    return save_model(root, **kwargs)


def test_round_trip(tmp_path: Path) -> None:
    ref = _save(tmp_path)
    assert (ref.model_id, ref.version, ref.path) == (MODEL, 1, tmp_path / "job-1" / "10000" / "hetero_lr" / "v1")
    assert str(ref) == f"{MODEL}@v1"
    model = load_model(tmp_path, MODEL)
    assert model.ref == ref
    state = model.state
    assert state["coef"].dtype == np.float64 and np.array_equal(state["coef"], [0.1, -2.5, 1e-300])
    assert state["counts"].dtype == np.int32 and state["counts"].shape == (2, 3)
    assert state["mask"].dtype == np.bool_ and state["mask"].tolist() == [True, False]
    assert state["bin_edges"][0].tolist() == [-np.inf, 0.5, np.inf]
    assert (state["intercept"], state["epochs"], state["converged"], state["note"]) == (0.25, 7, True, None)
    assert (model.job_id, model.party_id, model.role, model.algorithm) == ("job-1", "10000", "guest", "hetero_lr")
    assert model.feature_names == ["x0", "x1", "x2"]
    assert model.encoding["std"].tolist() == [1.0, 0.5, 2.0] and model.encoding["mean"] == [1.0, 2.0, 3.0]
    assert model.metrics == {"auc": 0.81, "ks": 0.5, "ks_threshold": None}  # scalars only
    assert model.peers == [PeerModel("20000", "job-1/20000/hetero_lr", 3)]
    assert model.manifest["format_version"] == store.FORMAT_VERSION
    assert sorted(p.name for p in ref.path.iterdir()) == ["model.json", "state.json"]
    assert not stat.S_IMODE((ref.path / "state.json").stat().st_mode) & 0o222


def test_manifest_is_strict_json(tmp_path: Path) -> None:
    ref = _save(tmp_path)
    manifest = json.loads((ref.path / "model.json").read_text(), parse_constant=lambda c: pytest.fail(c))
    assert manifest["state"]["file"] == "state.json" and len(manifest["state"]["sha256"]) == 64
    assert manifest["created_at"].endswith("+00:00")


def test_versions_increase_and_latest_is_newest(tmp_path: Path) -> None:
    refs = [_save(tmp_path, model_state={"coef": np.array([float(i)])}) for i in range(3)]
    assert [r.version for r in refs] == [1, 2, 3]
    assert list_versions(tmp_path, MODEL) == [1, 2, 3]
    assert load_model(tmp_path, MODEL).state["coef"].tolist() == [2.0]
    assert load_model(tmp_path, MODEL, version=1).state["coef"].tolist() == [0.0]
    other = _save(tmp_path, party_id="20000", role="host")
    assert other.version == 1 and other.model_id == "job-1/20000/hetero_lr"
    assert list_versions(tmp_path, "job-1/30000/hetero_lr") == []


def test_overwrite_is_refused(tmp_path: Path) -> None:
    ref = _save(tmp_path)
    before = (ref.path / "state.json").read_bytes()
    with pytest.raises(ModelExistsError, match=r"version 1 already exists.*immutable"):
        _save(tmp_path, version=1, model_state={"coef": np.array([9.0])})
    assert (ref.path / "state.json").read_bytes() == before
    assert _save(tmp_path, version=5).version == 5
    assert _save(tmp_path).version == 6


def test_lost_race_takes_the_next_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _save(tmp_path)
    real_rename = os.rename
    raced: list[int] = []

    def racing(src: Any, dst: Any) -> None:
        if not raced:  # another writer installs v2 just before we do
            raced.append(1)
            _save(tmp_path, model_state={"by": "other"})
        real_rename(src, dst)

    monkeypatch.setattr(store.os, "rename", racing)
    ref = _save(tmp_path)
    assert ref.version == 3
    assert load_model(tmp_path, MODEL, version=2).state == {"by": "other"}
    assert list_versions(tmp_path, MODEL) == [1, 2, 3]
    assert [p.name for p in ref.path.parent.iterdir() if p.name.startswith(".")] == []


def test_checksum_corruption_is_detected(tmp_path: Path) -> None:
    ref = _save(tmp_path)
    state = ref.path / "state.json"
    os.chmod(state, 0o644)
    state.write_text(state.read_text().replace("-2.5", "-2.6"))
    with pytest.raises(ModelCorruptError, match=r"state.json: sha256 .* does not match .*/v1/model.json"):
        load_model(tmp_path, MODEL)
    with pytest.raises(DataError):  # corruption is a DataError too
        load_model(tmp_path, MODEL)


@pytest.mark.parametrize(
    "damage,match",
    [
        (lambda p: (p / "model.json").unlink(), r"model.json: manifest missing"),
        (lambda p: (p / "state.json").unlink(), r"state.json: cannot be read"),
        (lambda p: _rewrite(p / "model.json", "{not json"), r"model.json: not JSON"),
        (lambda p: _edit(p / "model.json", format_version=99), r"model.json: format_version 99 is not supported"),
        (lambda p: _edit(p / "model.json", format="other"), r"model.json: not a powerfl-model manifest"),
        (lambda p: _edit(p / "model.json", version=2), r"model.json: describes .* version 2"),
        (lambda p: _edit(p / "model.json", drop="feature_names"), r"model.json: field 'feature_names' missing"),
        (lambda p: _edit(p / "model.json", state={"file": "../x", "sha256": "0"}), r"model.json: field 'state'"),
    ],
)
def test_damaged_artifacts_name_the_file(tmp_path: Path, damage: Any, match: str) -> None:
    ref = _save(tmp_path)
    damage(ref.path)
    with pytest.raises(ModelCorruptError, match=match):
        load_model(tmp_path, MODEL)


def _rewrite(path: Path, text: str) -> None:
    os.chmod(path, 0o644)
    path.write_text(text)


def _edit(path: Path, drop: str | None = None, **changes: Any) -> None:
    manifest = json.loads(path.read_text())
    manifest.update(changes)
    if drop:
        del manifest[drop]
    _rewrite(path, json.dumps(manifest))


def test_missing_models_and_versions(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match="no versions under"):
        load_model(tmp_path, MODEL)
    _save(tmp_path)
    with pytest.raises(ModelNotFoundError, match=r"version 4: .*v4 does not exist"):
        load_model(tmp_path, MODEL, version=4)
    with pytest.raises(LookupError):
        load_model(tmp_path, "job-1/99999/hetero_lr")


def test_failed_save_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(path: Any, mode: int) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(store.os, "chmod", boom)
    with pytest.raises(OSError, match="disk full"):
        _save(tmp_path)
    model_dir = tmp_path / "job-1" / "10000" / "hetero_lr"
    assert list(model_dir.iterdir()) == []
    monkeypatch.undo()
    assert _save(tmp_path).version == 1


def test_file_uri_root(tmp_path: Path) -> None:
    ref = _save(f"file://{tmp_path}")
    assert ref.path == tmp_path / "job-1" / "10000" / "hetero_lr" / "v1"
    assert load_model(tmp_path.as_uri(), MODEL).ref.version == 1
    with pytest.raises(ConfigError, match="root: only local paths"):
        _save("s3://bucket/models")


@pytest.mark.parametrize(
    "overrides,match",
    [
        ({"job_id": "../etc"}, "job_id: '../etc' is not usable"),
        ({"party_id": "a/b"}, "party_id"),
        ({"algorithm": ""}, "algorithm"),
        ({"role": "boss"}, "role: expected one of guest|host|arbiter"),
        ({"model_state": {"x": object()}}, r"model_state\['x'\]: object cannot be stored"),
        ({"model_state": {"big": np.array([2**70], dtype=object)}}, r"model_state\['big'\]: numpy dtype object"),
        ({"model_state": {1: 2}}, "model_state: key 1 is not a string"),
        ({"model_state": {"__ndarray__": 1}}, "reserved"),
        ({"encoding": {"mean": float("nan")}}, "encoding"),
        ({"metrics": {"auc": float("nan")}}, "metrics"),
        ({"feature_names": ["a", "a"]}, "feature_names: expected distinct strings"),
        ({"peers": [("20000", "m", 1)]}, r"peers\[0\]: expected a PeerModel"),
        ({"version": 0}, "version: expected an integer >= 1"),
    ],
)
def test_bad_arguments_are_config_errors(tmp_path: Path, overrides: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        _save(tmp_path, **overrides)
    assert not (tmp_path / "job-1").exists() or not any((tmp_path / "job-1").rglob("model.json"))


def test_bad_model_id_and_version_on_load(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="model_id: expected '<job_id>/<party_id>/<algorithm>'"):
        load_model(tmp_path, "job-1/10000")
    with pytest.raises(ConfigError, match="model_id part 2"):
        load_model(tmp_path, "job-1/../hetero_lr")
    with pytest.raises(ConfigError, match="version: expected 'latest'"):
        load_model(tmp_path, MODEL, version="newest")
