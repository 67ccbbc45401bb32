"""Hetero NN's shared protocol pieces (docs/protocols/hetero_nn.md): version, tags, the guest's plan, checked receives."""

from __future__ import annotations

import zlib
from dataclasses import asdict, dataclass

import numpy as np

from airflow_provider_powerfl.exceptions import FederationError
from airflow_provider_powerfl.federation.party import Party

PROTOCOL_VERSION = 1
MODES = ("encrypted", "plaintext")


def tag(name: str) -> str:
    return f"hetero_nn.{name}"


@dataclass(frozen=True)
class Plan:
    """What the guest decides and every host follows: rows, batches, epochs, mode and the interactive width."""

    n_rows: int
    n_valid: int
    batch_size: int
    max_iter: int
    seed: int
    mode: str
    units: int

    @property
    def n_batches(self) -> int:
        return max(1, self.n_rows // self.batch_size)

    @property
    def smallest_batch(self) -> int:
        return self.n_rows // self.n_batches

    def batches(self, epoch: int) -> list[np.ndarray]:
        order = np.random.default_rng([self.seed, epoch]).permutation(self.n_rows)
        return np.array_split(order, self.n_batches)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def chunks(n_rows: int, size: int) -> list[np.ndarray]:
    """Rows 0..n_rows-1 in order, ``size`` at a time: validation and prediction passes."""
    return [np.arange(s, min(s + size, n_rows)) for s in range(0, n_rows, size)]


def init_rng(random_state: int | None, party_id: str) -> np.random.Generator:
    """A party's initialisation and dropout generator: from ``random_state`` and its id, else the OS's entropy."""
    return np.random.default_rng(None if random_state is None else [random_state, zlib.crc32(party_id.encode())])


def recv_dict(party: Party, src: str, name: str) -> dict:
    obj = party.recv(src, tag(name))
    if not isinstance(obj, dict):
        raise FederationError(f"party {src} sent {type(obj).__name__} as {tag(name)}, expected a dict")
    return obj


def recv_rows(party: Party, src: str, name: str, shape: tuple[int, int]) -> np.ndarray:
    """A (rows x units) float array ``src`` sent as ``name``, finite and of the agreed shape (plaintext mode)."""
    obj = party.recv(src, tag(name))
    if not isinstance(obj, np.ndarray) or obj.dtype != np.float64 or obj.shape != shape or not np.all(np.isfinite(obj)):
        raise FederationError(f"party {src} sent a malformed {tag(name)}: expected finite float64 of shape {shape}")
    return obj
