"""TEE mode against the encrypted protocols on the same data, in one run.

TEE side: the enclave app measured once (``enclave.measure``, a deployment step, timed apart), then per model a
fresh enclave process launched through the loader (trusted files re-hashed), attested to each data owner
(simulated evidence on this machine: no SGX, so the owners' policy sets accept_simulated and every line says NOT
CONFIDENTIAL), each owner's slice sealed under a fresh AES-GCM key, the key released wrapped to the enclave after
the policy checks, the slices joined on the ids inside, the model trained and each owner's results sealed back.
Its wall time runs from the launch to the owners' opened results. The same training on the plainly joined
columns is the centralized reference: the TEE AUC must equal it (the join and the sealing change nothing).

Encrypted side, same data, same run: ``bench.hetero_lr`` and ``bench.secureboost`` (spark-submitted guest and
host through Kafka, Paillier at ``--key-length``), timed over their train and predict steps (both modes start from
aligned rows). The speedup is their wall over the TEE's, per model; ``speedup_vs_encrypted`` is the smaller.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from airflow_provider_powerfl.tee.dcap import DcapVerifier
from airflow_provider_powerfl.tee.owner import open_result, seal_slices
from airflow_provider_powerfl.tee.policy import TeePolicy
from airflow_provider_powerfl.tee.release import KeyOwner
from airflow_provider_powerfl.tee.sealing import Slice, context
from bench import REPO, hetero_lr as hetero_lr_bench, secureboost as secureboost_bench
from enclave import train
from enclave.host import EnclaveProcess

GUEST, HOST, ENCLAVE_HOST = "10000", "20000", "30000"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", default="default_credit", choices=("default_credit", "breast"))
    parser.add_argument("--key-length", type=int, default=2048, help="Paillier key bits of the encrypted baselines")
    parser.add_argument(
        "--epochs", type=int, default=10, help="encrypted hetero LR's epochs (the TEE's LR runs lbfgs to convergence)"
    )
    parser.add_argument("--trees", type=int, default=30, help="GBDT trees, both sides (FATE's 30 for default_credit)")
    parser.add_argument("--work-dir", type=Path, default=None, help="default: a temporary directory")


def _slices(d: dict[str, np.ndarray]) -> dict[str, dict[str, Slice]]:
    """Each owner's train and test slices; the host's rows in another order, so the enclave's join does work."""
    rng = np.random.default_rng(0)
    out: dict[str, dict[str, Slice]] = {GUEST: {}, HOST: {}}
    for split, suffix in (("train", ""), ("test", "_test")):
        ids = d["ids" + suffix].astype(str)
        out[GUEST][split] = Slice(ids, d["guest" + suffix], d["y" + suffix])
        perm = rng.permutation(len(ids))
        out[HOST][split] = Slice(ids[perm], d["host" + suffix][perm])
    return out


def tee_job(
    measured: Path, slices: dict[str, dict[str, Slice]], operation: str, params: dict[str, Any]
) -> tuple[float, dict[str, Any]]:
    """(seconds, the guest's opened result) of one TEE job, launch to results."""
    identity = json.loads(measured.read_text())
    policy = TeePolicy(allowed_mr_enclave=(identity["mr_enclave"],), allowed_mr_signer=(identity["mr_signer"],),
                       allowed_parties=(ENCLAVE_HOST,), allowed_operations=(operation,), accept_simulated=True)  # fmt: skip
    owners = {pid: KeyOwner(pid, policy, DcapVerifier()) for pid in slices}
    job = f"bench-tee-{operation}-{int(time.time())}"
    start = time.perf_counter()
    with EnclaveProcess(measured) as enclave:
        evidence = enclave.attest(job, operation, params, {pid: owner.challenge() for pid, owner in owners.items()})
        keys, inputs = {}, []
        for pid, owner in owners.items():
            keys[pid], sealed = seal_slices(job, pid, operation, slices[pid])
            release = owner.release(evidence[pid], requester=ENCLAVE_HOST, operation=operation, data_key=keys[pid],
                                    aad=context(job, pid, operation))  # fmt: skip
            inputs.append({"party_id": pid, "wrapped_key": release.wrapped_key, "sealed": sealed})
        results = {pid: open_result(sealed, keys[pid], job, pid, operation) for pid, sealed in enclave.run(inputs).items()}
    return time.perf_counter() - start, results[GUEST]


def _baseline(module: Any, argv: list[str]) -> dict[str, Any]:
    parser = argparse.ArgumentParser()
    module.add_arguments(parser)
    return module.run(parser.parse_args(argv))


def _measure(work: Path) -> tuple[Path, float]:
    measured = work / "enclave.measured.json"
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "enclave.measure", "--signer-key", str(work / "signer.pem"), "--out", str(measured),
                    "--io-dir", str(work / "io")], cwd=REPO, check=True, timeout=3600)  # fmt: skip
    return measured, time.perf_counter() - start


def run(args: argparse.Namespace) -> dict[str, Any]:
    d = secureboost_bench.load_dataset(args.dataset)
    slices = _slices(d)
    X, T = np.hstack([d["guest"], d["host"]]), np.hstack([d["guest_test"], d["host_test"]])
    gbdt = {"n_estimators": args.trees}
    with tempfile.TemporaryDirectory(prefix="powerfl-bench-tee-") as tmp:
        work = args.work_dir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        measured, measure_seconds = _measure(work)
        load_tee = os.getloadavg()[0]
        lr_seconds, lr = tee_job(measured, slices, "train_lr", {})
        gbdt_seconds, boosted = tee_job(measured, slices, "train_gbdt", gbdt)
    central_lr = train.auc(d["y_test"], train.fit_and_score("train_lr", X, d["y"], T, {})[1])
    central_gbdt = train.auc(d["y_test"], train.fit_and_score("train_gbdt", X, d["y"], T, gbdt)[1])
    print(f"TEE (simulated, NOT CONFIDENTIAL): LR {lr_seconds:.1f} s AUC {lr['auc']:.6f} (centralized {central_lr:.6f}); "
          f"GBDT {gbdt_seconds:.1f} s AUC {boosted['auc']:.6f} (centralized {central_gbdt:.6f}); measured once in {measure_seconds:.1f} s",
          flush=True)  # fmt: skip
    common = ["--dataset", args.dataset, "--key-length", str(args.key_length)]
    load_encrypted = [os.getloadavg()[0]]
    hetero = _baseline(hetero_lr_bench, [*common, "--epochs", str(args.epochs)])
    load_encrypted.append(os.getloadavg()[0])
    boost = _baseline(secureboost_bench, [*common, "--trees", str(args.trees)])
    load_encrypted.append(os.getloadavg()[0])
    hetero_seconds = hetero["step_seconds"]["train"] + hetero["step_seconds"]["predict"]
    speedups = {"lr": hetero_seconds / lr_seconds, "gbdt": boost["wall_seconds"] / gbdt_seconds}
    print(f"encrypted: hetero LR {hetero_seconds:.1f} s (AUC {hetero['federated_auc']}), SecureBoost {boost['wall_seconds']:.1f} s "
          f"(AUC {boost['federated']}); speedup LR {speedups['lr']:.1f}x, GBDT {speedups['gbdt']:.1f}x")  # fmt: skip
    return {
        "bench": "tee", "dataset": args.dataset, "platform": "simulated", "notice": lr.get("notice", ""),
        "auc": lr["auc"], "centralized_auc": central_lr, "auc_difference": abs(lr["auc"] - central_lr),
        "gbdt_auc": boosted["auc"], "gbdt_centralized_auc": central_gbdt, "gbdt_auc_difference": abs(boosted["auc"] - central_gbdt),
        "tee_lr_seconds": round(lr_seconds, 2), "tee_gbdt_seconds": round(gbdt_seconds, 2), "measure_seconds": round(measure_seconds, 1),
        "encrypted_lr_seconds": round(hetero_seconds, 1), "encrypted_lr_auc": hetero["federated_auc"], "epochs": args.epochs,
        "encrypted_gbdt_seconds": boost["wall_seconds"], "encrypted_gbdt_auc": boost["federated"], "trees": args.trees,
        "key_length": args.key_length, "speedup_lr": round(speedups["lr"], 1), "speedup_gbdt": round(speedups["gbdt"], 1),
        "speedup_vs_encrypted": round(min(speedups.values()), 1),
        # the 1-minute load when each side started (and at the end): a shared machine's ratio holds only at like loads
        "load_tee": round(load_tee, 1), "load_encrypted": [round(v, 1) for v in load_encrypted],
    }  # fmt: skip
