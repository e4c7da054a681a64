"""What the active-learning loop keeps between rounds and reports about each one: the
restart point (`LoopState`), one round's measurements and picks (`RoundResult`), and what a
round's acquisition chose (`Selection`)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class LoopState:
    """The restart point of a cell: next round to run, labeled pool indices in acquisition
    order, and the acquisition RNG state.

    The round an item was added follows from its position and the budget schedule (the
    first sizes[0] items are L0, the next sizes[1] - sizes[0] came in round 1, ...).
    """

    round: int
    labeled: list[int]
    rng_state: Mapping[str, Any]  # numpy's BitGenerator.state

    def to_json(self) -> str:
        return json.dumps({"round": self.round, "labeled": self.labeled,
                           "rng_state": self.rng_state})

    @classmethod
    def from_json(cls, text: str) -> LoopState:
        """Read `to_json`'s text; the "added_round" key of older checkpoints is ignored."""
        d = json.loads(text)
        return cls(int(d["round"]), [int(i) for i in d["labeled"]], d["rng_state"])

    def rng(self) -> np.random.Generator:
        g = np.random.default_rng()
        g.bit_generator.state = self.rng_state
        return g


@dataclass
class RoundResult:
    """What one round measured and chose; the orchestrator turns it into result rows."""

    round: int
    n_labeled: int
    labeled: list[int]
    metrics: dict[str, dict[str, float]]
    baseline: dict[str, float]
    train_seconds: float
    score_seconds: float
    final_loss: float
    selected: list[int] = field(default_factory=list)
    selected_scores: list[float] = field(default_factory=list)
    selected_ranks: list[int] = field(default_factory=list)
    # Predicted landmarks (M-crop frame, flattened x0 y0 x1 y1 ...) of each selected item,
    # when the acquisition ran the model over the pool (empty lists otherwise).
    selected_predictions: list[list[float]] = field(default_factory=list)
    reused_round0: bool = False


@dataclass
class Selection:
    """The items one round chose for labeling, with what the acquisition saw of them."""

    indices: list[int] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    ranks: list[int] = field(default_factory=list)
    # Predicted landmarks (M-crop frame, flattened) of each chosen item; empty when the
    # acquisition did not run the model over the pool.
    predictions: list[list[float]] = field(default_factory=list)
    seconds: float = 0.0
