"""The scale and defaults benchmarks' own arithmetic: per-row cost ratios, the plot, the id-hash test split."""

from __future__ import annotations

import argparse
import json

import numpy as np

from bench.defaults import is_test_row
from bench.scale import per_row_ratios, run


def _entry(algorithm: str, rows: int, cpu_s: float) -> dict:
    return {"algorithm": algorithm, "rows": rows, "cpu_s": cpu_s, "peak_rss_mb_max": rows / 1000}


def test_per_row_ratios_are_against_each_algorithms_smallest_run():
    entries = [_entry("psi", 1_000_000, 1200.0), _entry("psi", 100_000, 100.0), _entry("hetero_lr", 100_000, 50.0)]
    assert per_row_ratios(entries) == {"psi": {"100000": 1.0, "1000000": 1.2}, "hetero_lr": {"100000": 1.0}}


def test_from_json_merges_runs_and_plots(tmp_path):
    runs = [tmp_path / "a.json", tmp_path / "b.json"]
    runs[0].write_text("log line\n" + json.dumps({"entries": [_entry("psi", 100_000, 100.0)]}))
    runs[1].write_text(json.dumps({"entries": [_entry("psi", 1_000_000, 900.0)]}))
    args = argparse.Namespace(from_json=runs, plot=tmp_path / "scale.png")
    result = run(args)
    assert result["per_row_cpu_vs_smallest"] == {"psi": {"100000": 1.0, "1000000": 0.9}}
    assert len(result["entries"]) == 2
    assert (tmp_path / "scale.png").read_bytes()[:4] == b"\x89PNG"


def test_test_rows_are_a_fifth_chosen_by_id_alike_everywhere():
    ids = np.array([f"u{10**12 + i}" for i in range(5000)], dtype=object)
    chosen = is_test_row(ids)
    assert 0.17 < chosen.mean() < 0.23
    assert np.array_equal(chosen[::-1], is_test_row(ids[::-1]))
