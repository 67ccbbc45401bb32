"""Paillier throughput, ours vs python-paillier (phe) on the same key, single process.

Reports encryptions/s (public key, and owner CRT), decryptions/s, gradient rows/s for
X^T [[r]] (ours: bucket multi-exponentiation over all rows; phe: its naive
sum(x_ij * enc_r_i) loop on fewer rows, whose cost is linear in rows, so rows/s carries
over per row), and the floor gmpy2.powmod(r, n, n^2)/s of textbook encryption.
Measurements of ours and phe alternate in rounds so a busy machine affects both alike.
"""

from __future__ import annotations

import argparse
import secrets
import time
from collections.abc import Callable
from typing import Any

import gmpy2
import numpy as np

from airflow_provider_powerfl.crypto.encoding import encode
from airflow_provider_powerfl.crypto.paillier import generate_keypair
from airflow_provider_powerfl.crypto.vector import EncryptedVector


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--key-bits", type=int, default=2048, help="Paillier modulus size (default 2048)")
    parser.add_argument("--encryptions", type=int, default=400, help="values encrypted by us per round")
    parser.add_argument("--phe-encryptions", type=int, default=30, help="values encrypted by phe per round")
    parser.add_argument("--rows", type=int, default=1000, help="rows of X for our X^T [[r]]")
    parser.add_argument("--phe-rows", type=int, default=30, help="rows of X for phe's naive loop")
    parser.add_argument("--features", type=int, default=10, help="columns of X")
    parser.add_argument("--feature-frac-bits", type=int, default=16, help="fixed-point scale 2^-k of X")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds (rates use the total time)")


def _rate(count: int, fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return count / (time.perf_counter() - start)


def _rounds(rounds: int, tasks: dict[str, tuple[int, Callable[[], Any]]]) -> dict[str, float]:
    """Alternate the tasks for ``rounds`` rounds; rate = total items / total seconds per task."""
    spent = dict.fromkeys(tasks, 0.0)
    for _ in range(rounds):
        for name, (count, fn) in tasks.items():
            spent[name] += count / _rate(count, fn)
    return {name: rounds * tasks[name][0] / spent[name] for name in tasks}


def run(args: argparse.Namespace) -> dict[str, Any]:
    insecure = args.key_bits < 2048
    pk, sk = generate_keypair(args.key_bits, allow_insecure_key_length=insecure)
    phe_pk, phe_sk = pk.to_phe(), sk.to_phe()
    print(f"key: {pk.n_bits} bits, obfuscator exponent {pk.obfuscator_bits} bits, window {pk.window}")

    start = time.perf_counter()
    pk.hs_table  # noqa: B018  (build the public fixed-base table outside the timed loops)
    table_s = time.perf_counter() - start
    sk.raw_encrypt(0)  # builds the owner's CRT tables
    print(f"fixed-base table built in {table_s:.2f} s")

    rng = np.random.default_rng(0)
    values = rng.normal(size=args.encryptions)
    phe_values = values[: args.phe_encryptions].tolist()
    ours_vec = EncryptedVector.encrypt(pk, values)
    phe_cts = [phe_pk.encrypt(v) for v in phe_values]
    nsq = pk.nsquare
    floor_bases = [gmpy2.mpz(secrets.randbelow(int(pk.n))) for _ in range(20)]

    rates = _rounds(
        args.rounds,
        {
            "encrypt": (args.encryptions, lambda: EncryptedVector.encrypt(pk, values)),
            "encrypt_owner_crt": (args.encryptions, lambda: EncryptedVector.encrypt(sk, values)),
            "phe_encrypt": (len(phe_values), lambda: [phe_pk.encrypt(v) for v in phe_values]),
            "decrypt": (len(ours_vec), lambda: ours_vec.decrypt(sk)),
            "phe_decrypt": (len(phe_cts), lambda: [phe_sk.decrypt(c) for c in phe_cts]),
            "powmod_floor": (len(floor_bases), lambda: [gmpy2.powmod(r, pk.n, nsq) for r in floor_bases]),
        },
    )

    X = rng.normal(size=(args.rows, args.features))
    residual = rng.normal(scale=0.5, size=args.rows)
    enc_r = EncryptedVector.encrypt(sk, residual)
    phe_r = [phe_pk.encrypt(float(v)) for v in residual[: args.phe_rows]]
    phe_X = X[: args.phe_rows].tolist()

    def phe_gradient() -> list[Any]:
        out = []
        for j in range(args.features):
            acc = phe_r[0] * phe_X[0][j]
            for i in range(1, args.phe_rows):
                acc = acc + phe_r[i] * phe_X[i][j]
            out.append(acc)
        return out

    grad = _rounds(
        args.rounds,
        {
            "gradient": (args.rows, lambda: enc_r.xt_dot(X, frac_bits=args.feature_frac_bits)),
            "phe_gradient": (args.phe_rows, phe_gradient),
        },
    )
    rates.update(grad)
    # correctness of what was timed: both gradients agree with numpy (ours on X as quantised)
    got = enc_r.xt_dot(X, frac_bits=args.feature_frac_bits).decrypt(sk)
    X_quantised = np.ldexp(np.array(encode(X, args.feature_frac_bits), dtype=np.float64), -args.feature_frac_bits)
    np.testing.assert_allclose(got, X_quantised.reshape(X.shape).T @ residual, rtol=1e-6, atol=1e-6)
    phe_got = [phe_sk.decrypt(c) for c in phe_gradient()]
    np.testing.assert_allclose(phe_got, X[: args.phe_rows].T @ residual[: args.phe_rows], rtol=1e-9)

    result: dict[str, Any] = {
        "bench": "paillier",
        "key_bits": pk.n_bits,
        "obfuscator_bits": pk.obfuscator_bits,
        "window": pk.window,
        "table_build_s": round(table_s, 3),
        "encrypt_per_s": round(rates["encrypt"], 1),
        "encrypt_owner_crt_per_s": round(rates["encrypt_owner_crt"], 1),
        "phe_encrypt_per_s": round(rates["phe_encrypt"], 1),
        "decrypt_per_s": round(rates["decrypt"], 1),
        "phe_decrypt_per_s": round(rates["phe_decrypt"], 1),
        "powmod_floor_per_s": round(rates["powmod_floor"], 1),
        "gradient_rows": args.rows,
        "gradient_features": args.features,
        "gradient_feature_frac_bits": args.feature_frac_bits,
        "gradient_rows_per_s": round(rates["gradient"], 1),
        "phe_gradient_rows": args.phe_rows,
        "phe_gradient_rows_per_s": round(rates["phe_gradient"], 1),
        "encrypt_ratio_vs_phe": round(rates["encrypt"] / rates["phe_encrypt"], 2),
        "encrypt_owner_crt_ratio_vs_phe": round(rates["encrypt_owner_crt"] / rates["phe_encrypt"], 2),
        "decrypt_ratio_vs_phe": round(rates["decrypt"] / rates["phe_decrypt"], 2),
        "gradient_ratio_vs_phe": round(rates["gradient"] / rates["phe_gradient"], 2),
    }
    for key in ("encrypt", "encrypt_owner_crt", "decrypt", "gradient"):
        print(f"{key:>18}: {rates[key]:10.1f}/s   phe {rates['phe_' + key.split('_')[0]]:8.1f}/s")
    print(f"{'powmod floor':>18}: {rates['powmod_floor']:10.1f}/s")
    return result
