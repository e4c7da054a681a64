"""The model side of one annotation-project round: train and pick, or pick without a head.

A trained round is the grid loop's own round (`trainers.loop.cell_loop.train_round`, then
`select_round` with the same acquisition and generator), so on the same images, seed and
acquisition it trains the same model and picks the same items as a grid cell. A cold start
(fewer than L0 labeled images) has no head to train: it draws like the grid's L0 (random,
from `initial_rng(seed)`) or runs k-center-greedy on the auto-encoder's latent codes.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from trainers.caches.round0 import RoundZeroCache
from trainers.config.cell import CellConfig
from trainers.loop.cell_loop import (
    RoundResult,
    initial_rng,
    open_context,
    select_round,
    train_round,
)
from trainers.loop.warm_start import kcenter_picks, latent_features
from trainers.projects.pool import ProjectPool
from trainers.training.supervised import predict

if TYPE_CHECKING:
    from trainers.models.fabrec import FabRec


@dataclass
class ProjectStep:
    """What one round chose and trained.

    Attributes:
        kind: "trained", "cold-start-kcenter" or "cold-start-random".
        loop_round: the loop round trained (None for a cold start).
        next_loop_round: the loop round the next trained round runs.
        rng_state: the acquisition generator's state after the picks.
        picks: pool indices, best first.
        scores: the acquisition's score per pick (NaN where it has none).
        landmarks: (K, L, 2) predicted landmarks in original pixels, or None (cold start).
        model: the trained model, or None (cold start).
        result: the round as the result store takes it.
    """

    kind: str
    loop_round: int | None
    next_loop_round: int
    rng_state: Mapping[str, Any]
    picks: list[int]
    scores: list[float]
    landmarks: np.ndarray | None
    model: FabRec | None
    result: RoundResult


@dataclass(frozen=True)
class RoundInputs:
    """What a round starts from: the labeled set (acquisition order), the proposals still
    waiting for annotation, K, and the loop state of the previous round (None: first)."""

    labeled: list[int]
    pending: list[int]
    k: int
    number: int
    loop_round: int
    rng_state: Mapping[str, Any] | None


def _rng(cell: CellConfig, state: Mapping[str, Any] | None) -> np.random.Generator:
    rng = initial_rng(cell.seed)
    if state is not None:
        rng.bit_generator.state = state
    return rng


def cold_start_step(cell: CellConfig, pool: ProjectPool, inputs: RoundInputs, method: str,
                    cache_dir: Path, device: str, say: Callable[[str], None]) -> ProjectStep:
    """K picks without a trained head ("random" or "kcenter"; see the module docstring)."""
    from trainers.caches.autoencoder import ensure_autoencoder
    from trainers.models import build_model, load_pretrained

    rng = _rng(cell, inputs.rng_state)
    n = len(pool.images)
    taken = np.zeros(n, dtype=bool)
    taken[inputs.labeled + inputs.pending] = True
    t0 = time.perf_counter()
    if method == "random":
        candidates = np.flatnonzero(~taken)
        # With nothing taken this is rng.choice(n, K): the grid's L0 when K = L0.
        picks = candidates[rng.choice(len(candidates), size=inputs.k, replace=False)]
        scores = np.full(inputs.k, np.nan)
    else:
        ae = ensure_autoencoder(cell, pool.crops, cache_dir, device=device, log=say)
        model = build_model(cell.arch, 0, cell.model.input_size, cell.model.width)
        load_pretrained(model, ae)
        say(f"k-center-greedy on the latent codes of {n} faces")
        feats = latent_features(model, pool.crops, batch_size=cell.trainer.eval_batch_size,
                                device=device)
        picks, scores = kcenter_picks(feats, inputs.k, taken, rng)
    result = RoundResult(
        round=inputs.number, n_labeled=len(inputs.labeled), labeled=list(inputs.labeled),
        metrics={}, baseline={}, train_seconds=0.0, score_seconds=time.perf_counter() - t0,
        final_loss=float("nan"), selected=[int(i) for i in picks],
        selected_scores=[float(s) for s in scores], selected_ranks=list(range(inputs.k)))
    return ProjectStep(f"cold-start-{method}", None, inputs.loop_round, rng.bit_generator.state,
                       result.selected, result.selected_scores, None, None, result)


def trained_step(cell: CellConfig, pool: ProjectPool, inputs: RoundInputs, round0_dir: Path,
                 cache_dir: Path, device: str, say: Callable[[str], None]) -> ProjectStep:
    """Train on the labeled images, then let the cell's acquisition pick K (as the grid)."""
    ctx = open_context(cell, pool.crops, {}, cache_dir, device, say)
    # Round-0 models are keyed by the labeled faces themselves (a corrected annotation
    # trains anew), and kept in the project.
    ctx = dataclasses.replace(ctx, round0=RoundZeroCache(round0_dir, pool.crops))
    r = inputs.loop_round
    model, stats, reused = train_round(ctx, r, np.asarray(inputs.labeled, dtype=np.int64))
    rng = _rng(cell, inputs.rng_state)
    say(f"scoring {len(pool.images) - len(inputs.labeled)} unlabeled faces "
        f"({cell.acquisition.label()})")
    taken = np.asarray(inputs.labeled + inputs.pending, dtype=np.int64)
    sel = select_round(ctx, model, taken, inputs.k, rng)
    landmarks = predicted_landmarks(model, pool, sel.indices, cell, ctx.device)
    result = RoundResult(
        round=inputs.number, n_labeled=len(inputs.labeled), labeled=list(inputs.labeled),
        metrics={}, baseline={}, train_seconds=float(stats["train_seconds"]),
        score_seconds=sel.seconds, final_loss=float(stats["final_loss"]),
        selected=sel.indices, selected_scores=sel.scores, selected_ranks=sel.ranks,
        selected_predictions=sel.predictions, reused_round0=reused)
    return ProjectStep("trained", r, r + 1, rng.bit_generator.state, sel.indices, sel.scores,
                       landmarks, model, result)


def predicted_landmarks(model: FabRec, pool: ProjectPool, indices: list[int],
                        cell: CellConfig, device: torch.device) -> np.ndarray:
    """(K, L, 2) landmarks of pool rows `indices` in original image pixels (0-based)."""
    idx = np.asarray(indices, dtype=np.int64)
    # Chunks come in the order of `idx`.
    crop_xy = np.concatenate([
        chunk["landmarks"].cpu().numpy()
        for chunk in predict(model, pool.crops, idx, batch_size=cell.trainer.eval_batch_size,
                             device=device, amp=cell.trainer.amp)
    ]).astype(np.float64)
    return pool.crops.landmarks_to_original(crop_xy, idx)
