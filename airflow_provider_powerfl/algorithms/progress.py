"""How far a training run is, told to a plain callback as it goes (no transport here: the caller decides).

The estimators take ``progress=callable`` and call it with a :class:`TrainingProgress` at the start of
training, after every unit (hetero LR: epoch; SecureBoost: boosting round) and, where a unit has parts
(hetero LR's mini-batches), after each part. A report holds counters and, where this party already knows
it, the loss: never a data value.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

UNITS = ("epoch", "tree")


@dataclass(frozen=True)
class TrainingProgress:
    unit: str  # "epoch" | "tree"
    done: int  # units completed
    total: int | None  # units at most (training may stop early); None: not known to this party
    step: int = 0  # parts of the unit in progress completed (hetero LR: mini-batches)
    steps: int = 0  # parts per unit (0: the unit has no parts)
    loss: float | None = None  # after the last completed unit, where this party knows it (None elsewhere)

    @property
    def fraction(self) -> float | None:
        """Share of the whole run completed (None without a total)."""
        if not self.total:
            return None
        part = self.step / self.steps if self.steps else 0.0
        return min(1.0, (self.done + part) / self.total)


ProgressCallback = Callable[[TrainingProgress], None]


def report(callback: ProgressCallback | None, progress: TrainingProgress) -> None:
    """Call `callback` (if any) with `progress`."""
    if callback is not None:
        callback(progress)
