from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from airflow_provider_powerfl.evaluation import evaluate_binary, plots, write_report
from airflow_provider_powerfl.exceptions import ConfigError, DataError

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _inputs() -> tuple[np.ndarray, np.ndarray, list[float]]:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    s = np.clip(rng.normal(0.35 + 0.3 * y, 0.2), 0, 1)
    return y, s, [0.69, 0.61, 0.58, 0.57]


def test_report_files(tmp_path: Path) -> None:
    y, s, loss = _inputs()
    metrics = evaluate_binary(y, s, loss_history=loss)
    out = write_report(tmp_path / "report", metrics, y, s, loss)
    assert sorted(p.name for p in out.iterdir()) == ["ks.png", "loss.png", "metrics.json", "roc.png"]
    assert json.loads((out / "metrics.json").read_text()) == metrics
    for name in ("roc.png", "ks.png", "loss.png"):
        data = (out / name).read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 1000
    assert [p.name for p in tmp_path.iterdir()] == ["report"]  # no temp dir left


def test_no_loss_history_no_loss_png(tmp_path: Path) -> None:
    y, s, _ = _inputs()
    out = write_report(tmp_path / "r", evaluate_binary(y, s), y, s)
    assert sorted(p.name for p in out.iterdir()) == ["ks.png", "metrics.json", "roc.png"]


def test_failure_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    y, s, loss = _inputs()

    def boom(*args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(plots, "plot_loss", boom)
    with pytest.raises(OSError, match="disk full"):
        write_report(tmp_path / "report", evaluate_binary(y, s), y, s, loss)
    assert list(tmp_path.iterdir()) == []


def test_failed_overwrite_keeps_the_old_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    y, s, loss = _inputs()
    out = write_report(tmp_path / "report", {"auc": 1.0}, y, s)
    monkeypatch.setattr(plots, "plot_ks", lambda *a: (_ for _ in ()).throw(RuntimeError("killed")))
    with pytest.raises(RuntimeError, match="killed"):
        write_report(out, {"auc": 2.0}, y, s, loss, overwrite=True)
    assert json.loads((out / "metrics.json").read_text()) == {"auc": 1.0}
    assert [p.name for p in tmp_path.iterdir()] == ["report"]


def test_existing_report_is_refused_unless_overwrite(tmp_path: Path) -> None:
    y, s, loss = _inputs()
    out = write_report(tmp_path / "report", {"auc": 1.0}, y, s)
    with pytest.raises(ConfigError, match="already exists"):
        write_report(out, {"auc": 2.0}, y, s)
    write_report(out, {"auc": 2.0}, y, s, loss, overwrite=True)
    assert json.loads((out / "metrics.json").read_text()) == {"auc": 2.0}
    assert (out / "loss.png").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["report"]


@pytest.mark.parametrize(
    "metrics,y,s,match",
    [
        ({"auc": float("nan")}, [0, 1], [0.1, 0.9], "metrics: not strict JSON"),
        ({"x": object()}, [0, 1], [0.1, 0.9], "metrics: not strict JSON"),
        ({}, [1, 1], [0.1, 0.9], "y_true: all 2 labels are 1"),
        ({}, [0, 1], [0.1], "y_true has 2 values but y_score has 1"),
    ],
)
def test_bad_report_inputs(tmp_path: Path, metrics: dict, y: list, s: list, match: str) -> None:
    with pytest.raises(DataError, match=match):
        write_report(tmp_path / "r", metrics, y, s)
    assert list(tmp_path.iterdir()) == []


def test_metrics_alone_do_not_import_matplotlib() -> None:
    import subprocess
    import sys

    code = (
        "import sys, airflow_provider_powerfl.evaluation as e; e.evaluate_binary([0, 1], [0.2, 0.9]); "
        "print('matplotlib' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
