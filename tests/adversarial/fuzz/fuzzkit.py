"""Shared settings and strategies of the fuzz tests: reproducible, bounded, and aimed at what a peer controls.

Every fuzz test states one property: an input either parses or raises the
project's own error (PowerFLError), never anything else, never hangs and
never allocates more than its own size suggests.
"""

from __future__ import annotations

import struct
import tempfile
import tracemalloc
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import gmpy2
import numpy as np
import yaml
from hypothesis import HealthCheck, settings, strategies as st
from hypothesis.extra import numpy as hnp

from airflow_provider_powerfl.exceptions import ConfigError, PowerFLError


def fuzz(max_examples: int) -> settings:
    """Derandomized and database-free, so CI replays exactly the same inputs; the deadline catches hangs."""
    return settings(
        max_examples=max_examples,
        derandomize=True,
        database=None,
        deadline=timedelta(seconds=30),  # catches a hang; an honest parse took 10 s once at load 22 on 2 cores
        print_blob=False,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )


def parses_or_own_error(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[bool, Any]:
    """(True, result) or (False, the PowerFLError raised); any other exception fails the test as it is."""
    try:
        return True, fn(*args, **kwargs)
    except PowerFLError as exc:
        return False, exc


def peak_allocation(fn: Callable[[], Any]) -> int:
    """Bytes `fn` had allocated at its peak (numpy's buffers included: numpy reports them to tracemalloc)."""
    tracemalloc.start()
    try:
        fn()
    except PowerFLError:
        pass
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return peak


# Values a length or count field is most likely to be mishandled at.
INTERESTING_U64 = (0, 1, 2, 7, 8, 0xFF, 0xFFFF, 1 << 31, (1 << 32) - 1, 1 << 32, 1 << 40, 1 << 48, (1 << 48) + 1,
                   (1 << 63) - 1, 1 << 63, (1 << 64) - 1)  # fmt: skip

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
)
# What yaml.safe_load or json.loads can hand a parser: plain values, lists and mappings (keys not always strings).
json_like = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12) | st.integers(), inner, max_size=4),
    max_leaves=20,
)
# The same with string keys only, as a JSON object or a codec-encoded dict has them.
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20,
)
# What Party.send accepts: plain values, numeric arrays and big-int vectors (ciphertexts), nested.
_numeric_dtypes = st.sampled_from(["bool", "int8", "<u2", ">i4", "<i8", "<u8", "<f2", ">f4", "<f8", "<c16"]).map(np.dtype)
_arrays = hnp.arrays(_numeric_dtypes, hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4))
# and ints past 4300 digits, which str() and repr() refuse (built by map: hypothesis reprs its strategies)
_bigints = st.integers(min_value=-(1 << 600), max_value=1 << 600) | st.sampled_from([1, -1]).map(lambda sign: sign << 20000)
_intvecs = st.lists(_bigints | st.integers(0, 1 << 520).map(gmpy2.mpz), max_size=6).map(
    lambda items: np.array(items, dtype=object)
)
_leaves = st.one_of(
    st.none(), st.booleans(), _bigints, st.floats(), st.binary(max_size=40), st.text(max_size=20), _arrays, _intvecs
)
sendable = st.recursive(
    _leaves,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.lists(inner, max_size=4).map(tuple)
        | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def mutated_bytes(draw: st.DrawFn, data: bytes) -> bytes:
    """`data` after a few of the mutations a forger or a broken link makes: bit flips, cuts, inserts, length fields."""
    out = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "truncate", "insert", "delete", "u64", "u32", "byte"]))
        at = draw(st.integers(0, len(out)))
        if op == "flip" and out:
            bit = draw(st.integers(0, 8 * len(out) - 1))
            out[bit // 8] ^= 1 << (bit % 8)
        elif op == "truncate":
            del out[at:]
        elif op == "insert":
            out[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif op == "delete":
            del out[at : at + draw(st.integers(1, 16))]
        elif op == "u64":
            out[at : at + 8] = struct.pack("<Q", draw(st.sampled_from(INTERESTING_U64)))
        elif op == "u32":
            out[at : at + 4] = struct.pack("<I", draw(st.sampled_from(INTERESTING_U64)) & 0xFFFFFFFF)
        elif op == "byte":
            out[at : at + 1] = bytes([draw(st.integers(0, 255))])
    return bytes(out)


@st.composite
def mutated_tree(draw: st.DrawFn, tree: Any, values: st.SearchStrategy[Any] = json_like) -> Any:
    """A copy of a nested mapping/list with one node replaced (by one of `values`), dropped, or given an extra key."""
    if isinstance(tree, dict) and tree:
        key = draw(st.sampled_from(sorted(tree, key=str)))
        op = draw(st.sampled_from(["descend", "replace", "drop", "add"]))
        out = dict(tree)
        if op == "descend":
            out[key] = draw(mutated_tree(tree[key], values))
        elif op == "replace":
            out[key] = draw(values)
        elif op == "drop":
            del out[key]
        else:
            out[draw(st.text(max_size=12))] = draw(values)
        return out
    if isinstance(tree, list) and tree:
        index = draw(st.integers(0, len(tree) - 1))
        out_list = list(tree)
        op = draw(st.sampled_from(["descend", "replace", "drop", "duplicate"]))
        if op == "descend":
            out_list[index] = draw(mutated_tree(tree[index], values))
        elif op == "replace":
            out_list[index] = draw(values)
        elif op == "drop":
            del out_list[index]
        else:
            out_list.append(tree[index])
        return out_list
    return draw(values)


@st.composite
def mutated_trees(draw: st.DrawFn, tree: Any, values: st.SearchStrategy[Any] = json_like) -> Any:
    """One to three mutations of `tree` in a row."""
    for _ in range(draw(st.integers(1, 3))):
        tree = draw(mutated_tree(tree, values))
    return tree


def yaml_texts(good: Any, *tricky: str) -> st.SearchStrategy[str]:
    """A YAML document: any text, a mutated ``good`` one, or one of ``tricky`` (what PyYAML's constructors choke on)."""
    return st.one_of(
        st.text(max_size=200),
        mutated_trees(good).map(lambda tree: yaml.safe_dump(tree, allow_unicode=True)),
        st.sampled_from(tricky),
    )


def utf8(text: str) -> bytes:
    """``text`` as a file's bytes, lone surrogates kept (so the reader meets invalid UTF-8 too)."""
    return text.encode("utf-8", "surrogatepass")


def loads_or_names_file(load: Callable[[Path], Any], raw: bytes, name: str) -> None:
    """Write ``raw`` as file ``name`` and ``load`` it: it parses, or the ConfigError names the file."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(raw)
        ok, out = parses_or_own_error(load, path)
        if not ok:
            assert isinstance(out, ConfigError) and str(path) in str(out), f"{type(out).__name__}: {out}"
