"""Paillier throughput, ours vs python-paillier (phe) on the same key, per core (one crypto thread).

Reports encryptions/s (public key, and owner CRT), decryptions/s, gradient rows/s for
X^T [[r]] (ours: the native multi-exponentiation of crypto/_multiexp.c over a whole
mini-batch; phe: its naive sum(x_ij * enc_r_i) loop on fewer rows, whose cost is linear in
rows, so rows/s carries over per row), and the floor gmpy2.powmod(r, n, n^2)/s of textbook encryption.
The headline gradient shape is hetero LR's (algorithms/hetero_lr/estimator.py: 1024-row mini-batches,
real-valued features at 2^-20); other shapes are reported beside it. Measurements of ours
and phe alternate in rounds so a busy machine affects both alike. The threads dimension
(``--threads 1,2``) times encryption, decryption, X^T c and SecureBoost's histogram products on
each thread count of the process-wide crypto pool (crypto/parallel.py) alternately, with the CPU
seconds each used, and checks every count gives the same residues.
"""

from __future__ import annotations

import argparse
import os
import resource
import secrets
import time
from collections.abc import Callable
from typing import Any

import gmpy2
import numpy as np

from airflow_provider_powerfl.algorithms.secureboost.histograms import _bin_chunk
from airflow_provider_powerfl.crypto import parallel
from airflow_provider_powerfl.crypto.encoding import encode
from airflow_provider_powerfl.crypto.paillier import TABLE_MIN_COUNT
from airflow_provider_powerfl.crypto.paillier_private import generate_keypair
from airflow_provider_powerfl.crypto.vector import EncryptedVector


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--key-bits", type=int, default=2048, help="Paillier modulus size (default 2048)")
    parser.add_argument("--encryptions", type=int, default=150, help="values encrypted by us per round")
    parser.add_argument("--phe-encryptions", type=int, default=10, help="values encrypted by phe per round")
    parser.add_argument("--rows", type=int, default=1024, help="rows of X for our X^T [[r]] (hetero LR's batch_size)")
    parser.add_argument("--phe-rows", type=int, default=16, help="rows of X for phe's naive loop")
    parser.add_argument("--features", type=int, default=10, help="columns of X")
    parser.add_argument("--feature-frac-bits", type=int, default=20, help="fixed-point scale 2^-k of X (hetero LR's X_FRAC_BITS)")
    parser.add_argument("--no-extra-shapes", action="store_true", help="only the headline gradient shape")
    parser.add_argument("--rounds", type=int, default=6, help="alternating rounds of short slices (rates use the total time)")
    parser.add_argument("--threads", default="1,2", help="comma-separated crypto thread counts timed side by side ('' skips)")
    parser.add_argument(
        "--thread-values", type=int, default=600, help="values per encryption/decryption call of the threads dimension"
    )
    parser.add_argument("--histogram-rows", type=int, default=2048, help="rows of the histogram products (20 features x 32 bins)")


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


def _cpu_s() -> float:
    """CPU seconds of this process so far, every thread's."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _load() -> str:
    return "/".join(f"{v:.1f}" for v in os.getloadavg())


def _gradient_case(
    pk: Any,
    sk: Any,
    rng: np.random.Generator,
    rows: int,
    phe_rows: int,
    features: int,
    frac_bits: int,
    binary: bool,
    rounds: int,
) -> dict[str, Any]:
    """Ours over ``rows`` rows vs phe's naive loop over ``phe_rows``, alternating; results checked after timing.

    binary: 0/1 features at density 0.11 (a9a-like), used by us unscaled and given to phe as Python
    ints (phe's cheapest case); otherwise standard-normal features, phe gets floats.
    """
    X = (rng.random((rows, features)) < 0.11).astype(np.int64) if binary else rng.normal(size=(rows, features))
    frac_bits = 0 if binary else frac_bits
    phe_X = X[:phe_rows].tolist()
    residual = rng.normal(scale=0.5, size=rows)
    enc_r = EncryptedVector.encrypt(sk, residual)
    phe_pk, phe_sk = pk.to_phe(), sk.to_phe()
    phe_r = [phe_pk.encrypt(float(v)) for v in residual[:phe_rows]]

    def phe_gradient() -> list[Any]:
        out = []
        for j in range(features):
            acc = phe_r[0] * phe_X[0][j]
            for i in range(1, phe_rows):
                acc = acc + phe_r[i] * phe_X[i][j]
            out.append(acc)
        return out

    load = _load()
    cases = {"ours": (rows, lambda: enc_r.xt_dot(X, frac_bits=frac_bits)), "phe": (phe_rows, phe_gradient)}
    rates = _rounds(rounds, cases)
    # correctness of what was timed: both agree with numpy (ours on X as quantised)
    got = enc_r.xt_dot(X, frac_bits=frac_bits).decrypt(sk)
    X_quantised = np.ldexp(np.array(encode(X, frac_bits), dtype=np.float64), -frac_bits).reshape(X.shape)
    np.testing.assert_allclose(got, X_quantised.T @ residual, rtol=1e-6, atol=1e-6)
    phe_got = [phe_sk.decrypt(c) for c in phe_gradient()]
    np.testing.assert_allclose(phe_got, X[:phe_rows].T @ residual[:phe_rows], rtol=1e-9, atol=1e-9)
    return {
        "rows": rows,
        "features": features,
        "features_kind": "binary 0/1, density 0.11" if binary else "standard normal",
        "feature_frac_bits": frac_bits,
        "rows_per_s": round(rates["ours"], 1),
        "phe_rows": phe_rows,
        "phe_rows_per_s": round(rates["phe"], 1),
        "ratio_vs_phe": round(rates["ours"] / rates["phe"], 2),
        "load_before": load,
    }


def _keys(key_bits: int) -> tuple[Any, Any, float]:
    """A key pair with its fixed-base combs built (the public one timed), as the figures below need."""
    pk, sk = generate_keypair(key_bits, allow_insecure_key_length=key_bits < 2048)
    teeth, tables = pk.comb
    print(f"key: {pk.n_bits} bits, obfuscator exponent >= {pk.obfuscator_bits} bits, comb {teeth}-bit teeth x {tables} tables")
    print(f"load average (1/5/15 min) at start: {_load()}")

    start = time.perf_counter()
    hs_table = pk.hs_table
    table_s = time.perf_counter() - start
    sk.raw_encrypt_many([0] * TABLE_MIN_COUNT)  # builds the owner's CRT tables (fewer values use no tables)
    print(
        f"fixed-base comb built in {table_s:.2f} s: {hs_table.exp_bits}-bit exponents, "
        f"{hs_table.n_digits} multiplications + {hs_table.steps - 1} squarings per power, "
        f"{hs_table.entries} entries (~{hs_table.entries * pk.ciphertext_bytes / 2**20:.0f} MiB)"
    )
    return pk, sk, table_s


def _primitive_rates(args: argparse.Namespace, pk: Any, sk: Any, rng: np.random.Generator) -> tuple[dict[str, float], str]:
    """Per-second rates of encryption, decryption, the powmod floor, ciphertext checks and rerandomization, ours and
    phe's, and the load average before them."""
    phe_pk, phe_sk = pk.to_phe(), sk.to_phe()
    values = rng.normal(size=args.encryptions)
    phe_values = values[: args.phe_encryptions].tolist()
    ours_vec = EncryptedVector.encrypt(pk, values)
    phe_cts = [phe_pk.encrypt(v) for v in phe_values]
    nsq = pk.nsquare
    floor_bases = [gmpy2.mpz(secrets.randbelow(int(pk.n))) for _ in range(20)]
    batch = EncryptedVector.encrypt(pk, rng.normal(size=args.rows)).ciphertexts.tolist()

    load_enc = _load()
    rates = _rounds(
        args.rounds,
        {
            "encrypt": (args.encryptions, lambda: EncryptedVector.encrypt(pk, values)),
            "encrypt_owner_crt": (args.encryptions, lambda: EncryptedVector.encrypt(sk, values)),
            "phe_encrypt": (len(phe_values), lambda: [phe_pk.encrypt(v) for v in phe_values]),
            "decrypt": (len(ours_vec), lambda: ours_vec.decrypt(sk)),
            "phe_decrypt": (len(phe_cts), lambda: [phe_sk.decrypt(c) for c in phe_cts]),
            "powmod_floor": (len(floor_bases), lambda: [gmpy2.powmod(r, pk.n, nsq) for r in floor_bases]),
            # what a peer's ciphertexts cost before use: the unit check against the old range-only check
            "check_units": (len(batch), lambda: pk.check_ciphertexts(batch, "bench")),
            "check_range": (len(batch), lambda: [0 < c < nsq for c in batch]),
            # towards the key owner: r^n for a uniform r, against the short h_s^r it replaced
            "rerandomize": (len(floor_bases), lambda: pk.rerandomize(floor_bases)),
            "rerandomize_short": (len(floor_bases), lambda: pk.rerandomize_short(floor_bases)),
        },
    )
    for key in ("encrypt", "encrypt_owner_crt", "decrypt"):
        print(f"{key:>18}: {rates[key]:10.1f}/s   phe {rates['phe_' + key.split('_')[0]]:8.1f}/s")
    print(f"{'powmod floor':>18}: {rates['powmod_floor']:10.1f}/s   (load before: {load_enc})")
    print(f"{'unit check':>18}: {rates['check_units']:10.1f}/s   range only {rates['check_range']:10.1f}/s")
    print(f"{'rerandomize r^n':>18}: {rates['rerandomize']:10.1f}/s   short h_s^r {rates['rerandomize_short']:8.1f}/s")
    return rates, load_enc


def _gradient_cases(args: argparse.Namespace, pk: Any, sk: Any, rng: np.random.Generator) -> list[dict[str, Any]]:
    """The headline gradient shape, then (unless --no-extra-shapes) the others, each printed as it is measured."""
    shapes = [(args.rows, args.features, args.feature_frac_bits, False)]
    if not args.no_extra_shapes:
        shapes += [(4096, 10, 20, False), (1000, 10, 16, False), (1024, 10, 0, True)]
    cases = []
    for rows, features, frac_bits, binary in shapes:
        case = _gradient_case(pk, sk, rng, rows, args.phe_rows, features, frac_bits, binary, args.rounds)
        cases.append(case)
        print(
            f"gradient {rows} x {features} {case['features_kind']} at 2^-{frac_bits}: "
            f"{case['rows_per_s']:10.1f} rows/s   phe {case['phe_rows_per_s']:8.1f} rows/s   "
            f"x{case['ratio_vs_phe']}   (load before: {case['load_before']})"
        )
    return cases


def _histogram_case(pk: Any, rows: int, rng: np.random.Generator) -> tuple[Any, list[Any]]:
    """A SecureBoost level's chunks: ``rows`` ciphertexts, 20 features of 32 bins, half the rows off the default
    bin; one chunk per 512 rows (the kernel of algorithms/secureboost/histograms.py) and the products it makes."""
    cts = EncryptedVector.encrypt(pk, rng.normal(size=rows)).ciphertexts.tolist()
    bins = np.where(rng.random((rows, 20)) < 0.5, 0, rng.integers(1, 32, size=(rows, 20))).astype(np.uint8)
    chunks = [(pk.nsquare, cts[i : i + 512], bins[i : i + 512], np.zeros(20, dtype=np.int64)) for i in range(0, rows, 512)]
    products = len(cts) + int(np.count_nonzero(bins))
    return products, chunks


def _thread_rates(args: argparse.Namespace, pk: Any, sk: Any, rng: np.random.Generator) -> dict[str, Any]:
    """Per operation and thread count: rate, CPU seconds per wall second, all counts alternating in each round;
    the residues every count returned compared with one thread's."""
    counts = [int(t) for t in args.threads.split(",") if t.strip()]
    values = rng.normal(size=args.thread_values)
    vec = EncryptedVector.encrypt(sk, values)
    X = rng.normal(size=(args.rows, args.features))
    enc_r = EncryptedVector.encrypt(sk, rng.normal(size=args.rows))
    products, chunks = _histogram_case(pk, args.histogram_rows, rng)
    sk.prepare(len(values))  # the combs, before timing
    pk.prepare(len(values))
    ops: dict[str, tuple[int, Any]] = {
        "encrypt": (len(values), lambda t: EncryptedVector.encrypt(pk, values, n_jobs=t)),
        "encrypt_owner_crt": (len(values), lambda t: EncryptedVector.encrypt(sk, values, n_jobs=t)),
        "decrypt": (len(values), lambda t: vec.decrypt_ints(sk, n_jobs=t)),
        "xt_dot_rows": (args.rows, lambda t: enc_r.xt_dot(X, frac_bits=args.feature_frac_bits, n_jobs=t).ciphertexts.tolist()),
        "histogram_products": (products, lambda t: parallel.map_chunks(lambda c: _bin_chunk(None, c), chunks, t)),
    }
    wall = {(op, t): 0.0 for op in ops for t in counts}
    cpu = dict.fromkeys(wall, 0.0)
    results: dict[tuple[str, int], Any] = {}
    load = _load()
    for _ in range(args.rounds):
        for op, (_, fn) in ops.items():
            for t in counts:
                start, start_cpu = time.perf_counter(), _cpu_s()
                results[op, t] = fn(t)
                wall[op, t] += time.perf_counter() - start
                cpu[op, t] += _cpu_s() - start_cpu
    out: dict[str, Any] = {"counts": counts, "load_before": load, "load_after": _load()}
    for op, (count, _) in ops.items():
        if op in ("decrypt", "xt_dot_rows", "histogram_products"):  # deterministic: the same residues on any count
            assert all(results[op, t] == results[op, counts[0]] for t in counts), f"{op}: thread counts disagree"
        rates = {t: args.rounds * count / wall[op, t] for t in counts}
        out[op] = {
            "per_s": {str(t): round(rates[t], 1) for t in counts},
            "cpu_per_wall": {str(t): round(cpu[op, t] / wall[op, t], 2) for t in counts},
            "speedup": round(rates[counts[-1]] / rates[counts[0]], 2),
        }
        line = "   ".join(f"{t} thr {rates[t]:9.1f}/s (cpu/wall {cpu[op, t] / wall[op, t]:.2f})" for t in counts)
        print(f"{op:>18}: {line}   x{out[op]['speedup']}")
    print(f"threads dimension: load before {load}, after {out['load_after']}")
    return out


def run(args: argparse.Namespace) -> dict[str, Any]:
    pk, sk, table_s = _keys(args.key_bits)
    rng = np.random.default_rng(0)
    threads = _thread_rates(args, pk, sk, rng) if args.threads.strip() else None
    with parallel.limit(1):  # per core, as the figures against phe always were
        rates, load_enc = _primitive_rates(args, pk, sk, rng)
        cases = _gradient_cases(args, pk, sk, rng)
    head = cases[0]
    teeth, tables = pk.comb
    return {
        "bench": "paillier",
        "key_bits": pk.n_bits,
        "obfuscator_bits": pk.hs_table.exp_bits,
        "comb_teeth": teeth,
        "comb_tables": tables,
        "table_build_s": round(table_s, 3),
        "load_at_encrypt": load_enc,
        "encrypt_per_s": round(rates["encrypt"], 1),
        "encrypt_owner_crt_per_s": round(rates["encrypt_owner_crt"], 1),
        "phe_encrypt_per_s": round(rates["phe_encrypt"], 1),
        "decrypt_per_s": round(rates["decrypt"], 1),
        "phe_decrypt_per_s": round(rates["phe_decrypt"], 1),
        "powmod_floor_per_s": round(rates["powmod_floor"], 1),
        "check_units_per_s": round(rates["check_units"], 1),
        "check_range_per_s": round(rates["check_range"], 1),
        "rerandomize_per_s": round(rates["rerandomize"], 1),
        "rerandomize_short_per_s": round(rates["rerandomize_short"], 1),
        "gradient_rows": head["rows"],
        "gradient_features": head["features"],
        "gradient_feature_frac_bits": head["feature_frac_bits"],
        "gradient_rows_per_s": head["rows_per_s"],
        "phe_gradient_rows": head["phe_rows"],
        "phe_gradient_rows_per_s": head["phe_rows_per_s"],
        "encrypt_ratio_vs_phe": round(rates["encrypt"] / rates["phe_encrypt"], 2),
        "encrypt_owner_crt_ratio_vs_phe": round(rates["encrypt_owner_crt"] / rates["phe_encrypt"], 2),
        "decrypt_ratio_vs_phe": round(rates["decrypt"] / rates["phe_decrypt"], 2),
        "gradient_ratio_vs_phe": head["ratio_vs_phe"],
        "gradient_shapes": cases,
        "threads": threads,
        "load_at_end": _load(),
    }
