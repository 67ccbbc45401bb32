"""scripts/secretflow-baseline's and bench secretflow's argument and JSON handling (no SecretFlow import, no run)."""

from __future__ import annotations

import argparse
from importlib.machinery import SourceFileLoader
from importlib.util import module_from_spec, spec_from_loader

import pytest

from bench import REPO
from bench.secretflow import baseline_command, combined, settings

TIME_V = """\tUser time (seconds): {user}
\tSystem time (seconds): 1.50
\tElapsed (wall clock) time (h:mm:ss or m:ss): 1:02:03.5
\tMaximum resident set size (kbytes): 614400
"""


@pytest.fixture(scope="module")
def script():
    loader = SourceFileLoader("secretflow_baseline", str(REPO / "scripts" / "secretflow-baseline"))
    module = module_from_spec(spec_from_loader(loader.name, loader))
    loader.exec_module(module)
    return module


def _args(**kw) -> argparse.Namespace:
    base = {"algorithm": "secureboost", "dataset": None, "trees": None, "depth": None, "bins": None, "epochs": 10,
            "batch_size": None, "key_length": 2048, "scheme": "ou", "lr_mode": "ss"}  # fmt: skip
    return argparse.Namespace(**{**base, **kw})


def test_time_v_reads_seconds_and_h_mm_ss(script):
    text = TIME_V.format(user="10.25")
    assert script.time_v(text, "User time (seconds)") == 10.25
    assert script.time_v(text, "Elapsed (wall clock) time (h:mm:ss or m:ss)") == 3723.5
    with pytest.raises(SystemExit, match="Exit status"):
        script.time_v(text, "Exit status")


def test_both_parties_get_the_same_settings_back_from_their_command_line(script):
    args = script.parser().parse_args(["--dataset", "a9a", "--trees", "5", "--depth", "6", "--scheme", "paillier"])
    args.learning_rate = 0.3  # run() fills in the per-algorithm default
    argv = script.party_argv("sgb", args, "host", {"guest": [1, 2], "host": [3, 4]}, "job", "/tmp/out")
    parser = script.parser()
    parser.add_argument("--algorithm")
    back = parser.parse_args(argv)
    got = (back.algorithm, back.role, back.dataset, back.trees, back.depth, back.scheme)
    assert got == ("sgb", "host", "a9a", 5, 6, "paillier")
    assert back.ports == '{"guest": [1, 2], "host": [3, 4]}' and back.learning_rate == 0.3


def test_summary_sums_both_parties_cpu_and_reports_the_guests_fit_and_auc(script):
    args = script.parser().parse_args(["--dataset", "default_credit", "--trees", "4"])
    args.learning_rate = 0.3
    reports = {"guest": TIME_V.format(user="10.0"), "host": TIME_V.format(user="5.0")}
    parties = {"guest": {"fit_seconds": 10.0, "auc": 0.78, "test_rows": 6000}, "host": {"fit_seconds": 9.9}}
    out = script.summary("sgb", args, 12.34, reports, parties, ((1.0, 2.0, 3.0), (4.0, 5.0, 6.0)))
    assert out["cpu_seconds"] == 18.0 and out["party_cpu_seconds"] == {"guest": 11.5, "host": 6.5}
    assert out["peak_rss_mb"] == {"guest": 600, "host": 600}
    assert (out["wall_seconds"], out["auc"], out["tree_seconds"], out["scheme"]) == (12.3, 0.78, 2.5, "ou")
    assert out["load_before"] == [1.0, 2.0, 3.0]


def test_bench_passes_ours_sizes_to_secretflow():
    sgb = _args(dataset="a9a", trees=5)
    shared = settings(sgb)
    assert shared == {"dataset": "a9a", "trees": 5, "depth": 6, "bins": 32, "learning_rate": 0.3, "key_length": 2048}
    cmd = baseline_command(sgb, shared)
    assert cmd[1] == "run-sgb" and cmd[cmd.index("--trees") + 1] == "5" and cmd[cmd.index("--scheme") + 1] == "ou"
    lr = _args(algorithm="hetero-lr", lr_mode="hess", scheme="paillier")
    shared = settings(lr)
    assert (shared["dataset"], shared["batch_size"], shared["learning_rate"]) == ("a9a", 4096, 0.8)
    cmd = baseline_command(lr, shared)
    assert cmd[1] == "run-hesslr" and cmd[cmd.index("--batch-size") + 1] == "4096"


def test_final_json_has_both_sides_and_the_ratio():
    args = _args()
    shared = settings(args)
    sf = {"secretflow_version": "1.14.0b0", "algorithm": "SGB", "wall_seconds": 100.0, "cpu_seconds": 150.0,
          "peak_rss_mb": {"guest": 600, "host": 500}, "fit_seconds": 80.0, "auc": 0.78, "tree_seconds": 2.67,
          "load_before": [3.0, 2.0, 1.0], "load_after": [4.0, 2.0, 1.0]}  # fmt: skip
    ours = {"wall_seconds": 50.0, "cpu_seconds_tree": 90.0, "peak_rss_mb_total": 3000, "fit_seconds": 40.0,
            "federated": 0.79, "seconds_per_tree": 1.33, "load_before": [5.0, 1.0, 1.0], "load_after": [6.0, 1.0, 1.0]}  # fmt: skip
    out = combined(args, shared, ours, sf)
    assert (out["ours_wall_s"], out["secretflow_wall_s"], out["ours_auc"], out["secretflow_auc"]) == (50.0, 100.0, 0.79, 0.78)
    assert out["wall_ratio_secretflow_over_ours"] == 2.0 and out["secretflow_peak_rss_mb"] == 1100
    assert (out["secretflow_scheme"], out["ours_scheme"], out["key_length"]) == ("ou", "paillier", 2048)
    assert "ours_wall_s" not in combined(args, shared, None, sf)
