"""Hetero NN: the real protocol in memory (guest and host in one process), against the same network trained centrally.

Trains guest and host with ``algorithms.hetero_nn`` over ``memory_parties`` (the same messages, codec and checks
as over Kafka, no broker), each party's Paillier chunks on 2 threads; in the same run the same network (same
seeds, same batches; each host's interactive weight a product of two factors drawn alike) on the joined columns
in one process (``hetero_nn.central``), without encryption or defences. Records at the host every gradient row
it decrypts and scores the norm attack (a row's mean gradient norm as its label score: positives, the minority,
get larger gradients) by its plain AUC and its AUC beyond the best host-features-only classifier (bench.attack), and
the direction attack (each batch's principal axis of the rows, oriented by the labels). ``--mode simulated``: the
encrypted mode's host view without Paillier, for settings searches (``simulated``).
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np

from bench.attack import GUEST, HOST, conditional_auc, host_only_scores, load, raise_failures

# epochs, batch_size, learning_rate, bottom_hidden, top_hidden per data set
SETTINGS = {
    "breast": (10, 64, 0.01, [16], [8]),
    "default_credit": (5, 512, 0.005, [32], [16]),
    "a9a": (5, 512, 0.005, [32], [16]),
}
DEFENCES = {"default": {}, "clip": {"epsilon": None, "equalize_norms": False}, "none": {"max_norm": None, "epsilon": None}}


def federated(data: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """Fit in memory; the guest's test scores, the host's received gradient rows (in batch order), seconds."""
    from airflow_provider_powerfl.algorithms.hetero_nn import HeteroNN
    from airflow_provider_powerfl.algorithms.hetero_nn.host import HostSession
    from airflow_provider_powerfl.algorithms.paillier_kernels import ThreadChunkMap
    from airflow_provider_powerfl.federation.memory import memory_parties, run_parties

    g = data["n_guest"]
    train = {GUEST: data["X"][:, :g], HOST: data["X"][:, g:]}
    test = {GUEST: data["T"][:, :g], HOST: data["T"][:, g:]}
    parties = memory_parties(f"bench-hnn-{int(time.time())}", {GUEST: "guest", HOST: "host"})
    received: list[np.ndarray] = []
    real = HostSession.recv_backward

    def recording(session: HostSession, n_rows: int, plan: Any) -> np.ndarray:
        received.append(real(session, n_rows, plan))
        return received[-1]

    models = {pid: HeteroNN(party=parties[pid], executor=ThreadChunkMap(2), timeout=None, **params) for pid in train}
    HostSession.recv_backward = recording  # type: ignore[method-assign]
    start, cpu = time.perf_counter(), time.process_time()
    try:
        raise_failures(run_parties({pid: (lambda pid=pid: models[pid].fit(train[pid], data["y"] if pid == GUEST else None))
                            for pid in train}, timeout=86400.0))  # fmt: skip
    finally:
        HostSession.recv_backward = real  # type: ignore[method-assign]
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    scores = raise_failures(
        run_parties({pid: (lambda pid=pid: models[pid].predict_proba(test[pid])) for pid in test}, timeout=3600.0)
    )
    return {"scores": scores[GUEST][:, 1], "received": received, "seconds": seconds, "cpu": cpu, "epochs": len(models[GUEST].loss_history_),
            "loss": models[GUEST].loss_history_}  # fmt: skip


def simulated(data: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """``federated``'s result from the encrypted mode's host view without Paillier, in seconds instead of minutes.

    The host's W = V U is fixed (two orthogonal factors rounded like the secret ones, drawn from the seed, not the
    OS CSPRNG), its bottom outputs and the guest's defended rows are encoded at the protocol's 2^-12, and the host
    backpropagates e = g~ W^T, as in encrypted mode; the guest's defences are the estimator's (same sigma)."""
    from airflow_provider_powerfl.algorithms.hetero_nn.central import fit_predict_central
    from airflow_provider_powerfl.algorithms.hetero_nn.defences import noise_multiplier
    from airflow_provider_powerfl.algorithms.hetero_nn.links import LocalLink
    from airflow_provider_powerfl.algorithms.hetero_nn.packing import VALUE_FRAC_BITS

    received: list[np.ndarray] = []

    def encoded(x: np.ndarray) -> np.ndarray:
        return np.ldexp(np.rint(np.ldexp(x, VALUE_FRAC_BITS)), -VALUE_FRAC_BITS)

    class HostView(LocalLink):
        def forward(self, rows: np.ndarray, split: str) -> np.ndarray:
            return encoded(self.bottom.forward(self.data[split][rows], training=split == "train")) @ self.weights

        def backward(self, delta: np.ndarray, sent: np.ndarray) -> None:
            received.append(encoded(sent) @ self.weights.T)
            self.bottom.backward(received[-1] / len(delta))

    epsilon, delta = params.get("epsilon", 16.0), params.get("delta", 1e-5)
    sigma = 0.0 if epsilon is None else noise_multiplier(epsilon, delta, params["max_iter"])
    g = data["n_guest"]
    start, cpu = time.perf_counter(), time.process_time()
    scores = fit_predict_central({GUEST: data["X"][:, :g], HOST: data["X"][:, g:]}, GUEST, data["y"],
                                 {GUEST: data["T"][:, :g], HOST: data["T"][:, g:]}, link=HostView, sigma=sigma,
                                 **{k: v for k, v in params.items() if k != "mode"})  # fmt: skip
    return {"scores": scores, "received": received, "seconds": time.perf_counter() - start,
            "cpu": time.process_time() - cpu, "epochs": params["max_iter"], "loss": []}  # fmt: skip


def attacks(data: dict[str, Any], received: list[np.ndarray], params: dict[str, Any], epochs: int) -> dict[str, Any]:
    """The host's best guesses of each training row's label from the gradient rows it received: by their norms, and
    by their direction (per batch, the rows' principal axis, uncentred, oriented by the batch's labels: an oracle,
    so an upper bound; a row's score is its mean projection on it over the epochs)."""
    from sklearn.metrics import roc_auc_score

    from airflow_provider_powerfl.algorithms.hetero_nn.protocol import Plan

    n, y = len(data["y"]), data["y"]
    plan = Plan(n, 0, min(params["batch_size"], n), epochs, params["random_state"], "encrypted", 4)
    order = [rows for epoch in range(epochs) for rows in plan.batches(epoch)]
    norm, direction, counts = np.zeros(n), np.zeros(n), np.zeros(n)
    for rows, grads in zip(order, received, strict=True):
        norm[rows] += np.linalg.norm(grads, axis=1)
        projection = grads @ np.linalg.eigh(grads.T @ grads)[1][:, -1]
        direction[rows] += projection if np.dot(projection - projection.mean(), y[rows]) >= 0 else -projection
        counts[rows] += 1
    score = norm / np.maximum(counts, 1)
    baseline = host_only_scores(data["X"][:, data["n_guest"] :], y)
    if roc_auc_score(y, score) < 0.5:  # the attacker picks the direction (larger or smaller norms for label 1)
        score = -score
    beyond = conditional_auc(y, score, baseline)
    return {"norm_attack_auc": round(float(roc_auc_score(y, score)), 4),
            "norm_attack_auc_beyond_host": None if beyond is None else round(beyond, 4),
            "direction_attack_auc": round(float(roc_auc_score(y, direction / np.maximum(counts, 1))), 4)}  # fmt: skip


def run(args: argparse.Namespace) -> dict[str, Any]:
    from sklearn.metrics import roc_auc_score

    from airflow_provider_powerfl.algorithms.hetero_nn.central import fit_predict_central

    epochs, batch, lr, bottom, top = SETTINGS[args.dataset]
    epochs = args.epochs or epochs
    data = load(args.dataset, args.rows)
    params = {"max_iter": epochs, "batch_size": batch, "learning_rate": lr, "bottom_hidden": bottom, "top_hidden": top,
              "interactive_units": args.units, "key_length": args.key_length, "random_state": args.seed,
              "mode": args.mode, **DEFENCES[args.defence]}  # fmt: skip
    for name in ("max_norm", "epsilon"):
        if getattr(args, name) is not None:
            params[name] = None if getattr(args, name) <= 0 else getattr(args, name)
    if args.equalize is not None:
        params["equalize_norms"] = args.equalize == "on"
    fed = simulated(data, params) if args.mode == "simulated" else federated(data, params)
    g = data["n_guest"]
    central_params = {k: v for k, v in params.items() if k not in ("mode", "max_norm", "epsilon", "equalize_norms")}
    start = time.perf_counter()
    central = fit_predict_central({GUEST: data["X"][:, :g], HOST: data["X"][:, g:]}, GUEST, data["y"],
                                  {GUEST: data["T"][:, :g], HOST: data["T"][:, g:]}, **central_params)  # fmt: skip
    central_seconds = time.perf_counter() - start
    federated_auc = float(roc_auc_score(data["y_test"], fed["scores"]))
    centralized_auc = float(roc_auc_score(data["y_test"], central))
    result = {
        "bench": "hetero-nn", "dataset": args.dataset, "mode": args.mode, "defence": args.defence,
        "defences": {k: params.get(k, "default") for k in ("max_norm", "epsilon", "equalize_norms")}, "train_rows": len(data["y"]),
        "epochs": fed["epochs"], "batch_size": batch, "interactive_units": args.units, "key_length": args.key_length,
        "federated_auc": round(federated_auc, 4), "centralized_auc": round(centralized_auc, 4),
        "auc_difference": round(federated_auc - centralized_auc, 4),
        "seconds_per_epoch": round(fed["seconds"] / fed["epochs"], 2), "fit_seconds": round(fed["seconds"], 1),
        "cpu_seconds_per_epoch": round(fed["cpu"] / fed["epochs"], 2),  # both parties' CPU (one process): load-independent
        "centralized_seconds_per_epoch": round(central_seconds / epochs, 3), "loss_history": [round(v, 5) for v in fed["loss"]],
        **attacks(data, fed["received"], params, fed["epochs"]),
    }  # fmt: skip
    if args.against == "fate":
        result.update(_against_fate(args, epochs, batch, lr, fed["seconds"]))
    print(f"{args.dataset} {args.mode} defence {args.defence}: federated AUC {result['federated_auc']} vs centralized "
          f"{result['centralized_auc']}; {result['seconds_per_epoch']} s/epoch at {args.key_length} bits; norm attack AUC "
          f"{result['norm_attack_auc']} (beyond host-only model {result['norm_attack_auc_beyond_host']}), direction attack "
          f"{result['direction_attack_auc']}")  # fmt: skip
    return result


def _against_fate(args: argparse.Namespace, epochs: int, batch: int, lr: float, seconds: float) -> dict[str, Any]:
    """FATE 2.2's hetero NN (SSHE interactive layer) on the same split, network, epochs, batches and key size, after ours."""
    from bench import fate

    if args.dataset == "breast":
        raise SystemExit("--against fate: FATE's baseline reads default_credit or a9a")
    theirs = fate.run(argparse.Namespace(algorithm="hetero-nn", dataset=args.dataset, epochs=epochs, batch_size=batch,
                                         learning_rate=lr, trees=0, depth=0, bins=0, key_length=args.key_length, rows=args.rows))  # fmt: skip
    return {"fate_auc": theirs["auc"], "fate_fit_seconds": theirs["fit_seconds"], "fate_wall_seconds": theirs["wall_seconds"],
            "fate_seconds_per_epoch": theirs["epoch_seconds"], "fate_load": [theirs["load_before"], theirs["load_after"]],
            "speedup_vs_fate": round(theirs["fit_seconds"] / seconds, 2)}  # fmt: skip


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", default="breast", choices=tuple(SETTINGS))
    parser.add_argument("--mode", default="encrypted", choices=("encrypted", "plaintext", "simulated"),
                        help="simulated: encrypted mode's host view in one process, no Paillier (settings searches)")  # fmt: skip
    parser.add_argument("--defence", default="default", choices=tuple(DEFENCES),
                        help="default: max_norm 1 and epsilon 16; clip: max_norm only; none")  # fmt: skip
    parser.add_argument("--max-norm", type=float, default=None, help="override the setting's max_norm (0: None)")
    parser.add_argument("--epsilon", type=float, default=None, help="override the setting's epsilon (0: None)")
    parser.add_argument(
        "--equalize",
        default=None,
        choices=("on", "off"),
        help="override equalize_norms: every row brought to norm max_norm (default: off)",
    )
    parser.add_argument("--epochs", type=int, default=None, help="max_iter (default per data set)")
    parser.add_argument("--units", type=int, default=4, help="interactive_units")
    parser.add_argument("--key-length", type=int, default=2048, help="Paillier key bits of each party")
    parser.add_argument("--rows", type=int, default=None, help="a seeded subset of the training rows (default: all)")
    parser.add_argument("--seed", type=int, default=7, help="random_state: batch order and layer initialisation")
    parser.add_argument("--against", default=None, choices=("fate",),
                        help="then run FATE 2.2's hetero NN the same way (scripts/fate-baseline run-nn) and compare")  # fmt: skip
    parser.add_argument("--json", action="store_true", help="accepted for scripts: the last line printed is always the JSON")
