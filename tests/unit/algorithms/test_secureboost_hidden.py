"""SecureBoost's hidden instance space: the host never learns node membership, the model stays the plaintext GBDT's."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from airflow_provider_powerfl.algorithms.secureboost import GradientBoostedTrees
from airflow_provider_powerfl.algorithms.secureboost.local import CandidateLayout
from airflow_provider_powerfl.algorithms.secureboost.protocol import HostServer
from airflow_provider_powerfl.crypto.errors import MalformedCiphertextError
from airflow_provider_powerfl.crypto.paillier_private import generate_keypair
from airflow_provider_powerfl.exceptions import FederationError
from airflow_provider_powerfl.federation.memory import memory_parties
from bench.attack_secureboost import run_secureboost_attack
from tests.unit.algorithms import test_secureboost_privacy as privacy
from tests.unit.algorithms.test_secureboost_privacy import KEY, PARAMS, _fit

breast = privacy.breast  # the fixture


def test_hidden_model_is_the_plaintext_gbdt_and_the_host_sees_no_membership(breast: dict[str, np.ndarray]) -> None:
    d = breast
    models, raw, seen = _fit(d, {**PARAMS, "hide_instance_space": True}, PARAMS)
    plain = GradientBoostedTrees(**PARAMS).fit(np.hstack([d["guest"], d["host"]]), d["y"])
    expected = plain.decision_function(np.hstack([d["guest_test"], d["host_test"]]))
    np.testing.assert_allclose(raw, expected, rtol=0, atol=1e-9)
    n = len(d["y"])
    ops = {m["op"] for m in seen}
    assert (
        ops <= {"setup", "tree", "hist_all", "split_all", "finish", "predict", "cuts", "end"}
        and "hist_all" in ops
        and "split_all" in ops
    )
    for m in seen:
        assert "assign" not in m and "rows" not in m and "nodes" not in m  # no membership, no sampled row ids
        if m["op"] == "hist_all":
            assert len(m["gh"]) == m["n_nodes"] * n  # every row, every built node
    assert models[list(models)[1]].splits_  # the host kept its splits, so the model uses host features


def _server(n_rows: int = 8) -> tuple[HostServer, Any, Any]:
    parties = memory_parties("sbt-hidden", {"g": "guest", "h": "host"})
    server = HostServer(parties["h"], "g", None)
    bins = np.tile(np.arange(4), n_rows // 4)[:, None]
    public, private = generate_keypair(KEY, allow_insecure_key_length=True)
    server.setup_training(bins, np.array([4]), [np.array([0.5, 1.5, 2.5])], public, 1)
    assert len(CandidateLayout(np.array([4]))) == 3
    return server, public, private


def test_host_checks_every_hidden_command() -> None:
    server, public, _ = _server()
    n = len(server.bins)
    with pytest.raises(FederationError, match="sampled rows"):
        server._on_tree({"op": "tree", "hidden": True, "n_sampled": n + 1})
    server._on_tree({"op": "tree", "hidden": True, "n_sampled": n})
    zeros = public.raw_encrypt_many([0] * n)
    with pytest.raises(FederationError, match="out of place"):  # the root level builds one node
        server._on_hist_all({"n_nodes": 2, "gh": np.array(list(zeros) * 2, dtype=object)})
    with pytest.raises(MalformedCiphertextError):
        server._on_hist_all({"n_nodes": 1, "gh": np.array([public.n] + list(zeros)[1:], dtype=object)})
    server._on_hist_all({"n_nodes": 1, "gh": np.array(list(zeros), dtype=object)})
    with pytest.raises(FederationError, match="more than this level"):
        server._on_split_all({"ties": np.array([0, 1]), "sizes": np.array([1, 1])})
    answer = server._on_split_all({"ties": np.array([2, 0, 1]), "sizes": np.array([3])})
    threshold = server.splits[int(answer["split_ids"][0])]
    assert threshold == (0, 0.5)  # of equal-gain candidates, the first in column order
    cut = np.unpackbits(answer["left"], axis=1, count=n)[0].astype(bool)
    np.testing.assert_array_equal(cut, server.bins[:, 0] <= 0)  # every row's cut
    with pytest.raises(FederationError, match="more than this level"):  # one split command per level
        server._on_split_all({"ties": np.array([0]), "sizes": np.array([1])})
    server.data["predict"] = np.arange(5, dtype=np.float64)[:, None]
    with pytest.raises(FederationError, match="does not hold"):
        server._on_cuts({"data": "predict", "split_ids": np.array([7])})
    out = np.unpackbits(server._on_cuts({"data": "predict", "split_ids": np.array([0])})["left"], axis=1, count=5)
    np.testing.assert_array_equal(out[0], [1, 0, 0, 0, 0])


def test_attack_bench_hidden_setting_leaves_no_partition() -> None:
    out = run_secureboost_attack("breast", "hidden", trees=2, depth=2, key_length=KEY)
    assert out["attack_auc_partition"] == out["attack_auc_first_tree"] == out["attack_auc_sampling"] == 0.5
    assert out["params"]["hide_instance_space"] is True and out["federated_auc"] == out["plaintext_gbdt_auc"]
    shown = run_secureboost_attack("breast", "shown", trees=2, depth=2, key_length=KEY)
    assert out["guest_encryptions"] == 2 * shown["guest_encryptions"]  # depth 2: the root and one child per tree
    default = run_secureboost_attack("breast", "default", trees=2, depth=2, key_length=KEY)
    assert default["params"]["hide_instance_space"] is True and default["attack_auc_partition"] == 0.5
