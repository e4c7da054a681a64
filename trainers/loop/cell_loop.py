"""The active-learning loop of one cell, as a plain function (no Ray).

    L0 = 10 seeded random pool images
    for each round r:
        train the supervised stage from the pretrained auto-encoder, from scratch
        evaluate on every test split (NME / FR / AUC)
        if not the last round: stream the unlabeled pool through the model, score it,
                               select K = sizes[r+1] - sizes[r] items
        report the round (one callback), then the loop state (labeled order, round, RNG)

`run_cell` is this loop; one round is `_run_round`: `_train`, `_evaluate`, `_select`.

Everything a round needs to restart lives in `LoopState`; model weights are rebuilt by
retraining, as the protocol demands. Round 0 depends only on the seed, not on the
acquisition, so its trained model is cached by content hash and shared between cells that
differ only by acquisition.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

import acquisition
from trainers.caches.autoencoder import ensure_autoencoder
from trainers.caches.round0 import RoundZeroCache
from trainers.config.cell import CellConfig, DataConfig
from trainers.datasets import get_dataset
from trainers.datasets.cropset import CropSet
from trainers.loop import pool_inputs
from trainers.loop.data_loading import load_data
from trainers.loop.pool_inputs import PassSettings
from trainers.loop.state import LoopState, RoundResult, Selection
from trainers.loop.warm_start import WarmStarts, kcenter_picks, latent_features
from trainers.training.device import precision_tag, resolve_device
from trainers.training.metrics import nme, summarize
from trainers.training.supervised import evaluate, fit

if TYPE_CHECKING:
    from trainers.models.fabrec import FabRec

INITIAL_SEED_SALT = 0x5CAF


def initial_state(cell: CellConfig, pool_size: int) -> LoopState:
    """L0: sizes[0] distinct pool indices drawn from the cell's seed (not its acquisition)."""
    n0 = cell.budget.sizes[0]
    if cell.budget.final > pool_size:
        raise ValueError(
            f"budget final size {cell.budget.final} is larger than the pool ({pool_size} images)"
        )
    rng = initial_rng(cell.seed)
    l0 = rng.choice(pool_size, size=n0, replace=False)
    return LoopState(0, [int(i) for i in l0], rng.bit_generator.state)


def initial_rng(seed: int) -> np.random.Generator:
    """The generator L0 is drawn from (and the acquisitions continue): the seed alone.

    An annotation project's cold start draws from it too, so that with the same seed and
    pool it proposes the grid's L0.
    """
    return np.random.default_rng([seed, INITIAL_SEED_SALT])


def round_seed(cell: CellConfig, r: int) -> int:
    """Seed of the model init and batch order of round r (independent of the acquisition)."""
    return int(np.random.default_rng([cell.seed, r, 7]).integers(2**31 - 1))


def mean_shape_baseline(pool: CropSet, tests: dict[str, CropSet]) -> dict[str, float]:
    """NME of the average pool shape placed on every test crop (a sanity floor)."""
    mean = pool.landmarks.astype(np.float64).mean(0)
    out = {}
    for split, t in tests.items():
        pred = t.landmarks_to_original(np.repeat(mean[None], len(t), 0))
        gt = t.landmarks_to_original(t.landmarks.astype(np.float64))
        out[split] = float(nme(pred, gt, eyes=t.eye_idx).mean())
    return out


@dataclass
class _CellContext:
    """What every round of a cell reads: the data, the acquisition, the device, the
    pretrained auto-encoder and the round-0 cache."""

    cell: CellConfig
    pool: CropSet
    tests: dict[str, CropSet]
    acq: Any
    device: torch.device
    ae_path: Path
    baseline: dict[str, float]
    round0: RoundZeroCache
    say: Callable[[str], None]
    warm: WarmStarts


def run_cell(
    cell: CellConfig,
    *,
    cache_dir: Path,
    report: Callable[[RoundResult, LoopState], None],
    state: LoopState | None = None,
    device: str = "auto",
    log: Callable[[str], None] | None = None,
) -> LoopState:
    """Run (or continue from `state`) the active-learning loop of `cell`.

    Args:
        cell: the cell configuration.
        cache_dir: shared cache for data, pretrained auto-encoders and round-0 models.
        report: called once per finished round with its result and the state to resume
            from (the next round); the orchestrator writes rows and a checkpoint there.
        state: a state from an earlier `report` to resume from; None starts at L0.
        device: "auto", "cpu" or "cuda[:i]".
        log: optional progress messages.

    Returns:
        The final state (round == number of rounds).

    Raises:
        ValueError: the pool is smaller than the budget, or `state` belongs to another cell.
    """
    ctx, state = _open_cell(cell, state, Path(cache_dir), device, log or (lambda _msg: None))
    while state.round < len(cell.budget.sizes):
        result, state = _run_round(ctx, state)
        report(result, state)
    return state


def _open_cell(cell: CellConfig, state: LoopState | None, cache_dir: Path, device: str,
               say: Callable[[str], None]) -> tuple[_CellContext, LoopState]:
    """Load the data and check the start state, then pretrain (or find) the auto-encoder.

    Returns:
        The cell's context and the state of the first round to run.
    """
    pool, tests = load_data(cell.data, cell.model.input_size, cache_dir)
    fresh = state is None
    state = _start_state(cell, state, len(pool))  # before the costly auto-encoder
    ctx = open_context(cell, pool, tests, cache_dir, device, say)
    if cell.l0 == "kcenter" and fresh:
        state = _kcenter_start(ctx, state)
    return ctx, state


def open_context(cell: CellConfig, pool: CropSet, tests: dict[str, CropSet], cache_dir: Path,
                 device: str, say: Callable[[str], None]) -> _CellContext:
    """The context rounds read, for a pool loaded by the caller (a grid cell's data set, or
    an annotation project's images); pretrains (or finds) the auto-encoder.
    """
    dev = resolve_device(device)
    acq = acquisition.get(cell.acquisition.name, **cell.acquisition.params)
    ae_path = ensure_autoencoder(cell, pool, cache_dir, device=str(dev), log=say)
    return _CellContext(cell, pool, tests, acq, dev, ae_path, mean_shape_baseline(pool, tests),
                        RoundZeroCache(cache_dir), say, WarmStarts(cache_dir, cell.cell_id()))


def train_round(ctx: _CellContext, r: int, labeled: np.ndarray
                ) -> tuple[FabRec, dict, bool]:
    """Round r's model trained on `labeled` (pool indices, in acquisition order), exactly as
    `run_cell` trains it; see `_train`."""
    return _train(ctx, r, labeled)


def select_round(ctx: _CellContext, model: FabRec, labeled: np.ndarray, k: int,
                 rng: np.random.Generator) -> Selection:
    """The `k` items the cell's acquisition picks outside `labeled`, as `run_cell` picks
    them; see `_select`."""
    return _select(ctx, model, labeled, k, rng)


def _kcenter_start(ctx: _CellContext, state: LoopState) -> LoopState:
    """L0 by k-center-greedy on the auto-encoder's latent code (replaces the random draw;
    the RNG continues from where the seed's stream stands after it)."""
    rng = np.random.default_rng([ctx.cell.seed, INITIAL_SEED_SALT])
    model = _fresh_model(ctx.cell, ctx.pool.num_landmarks, ctx.ae_path)
    feats = latent_features(model, ctx.pool, batch_size=ctx.cell.trainer.eval_batch_size,
                            device=ctx.device)
    l0, _ = kcenter_picks(feats, ctx.cell.budget.sizes[0], np.zeros(len(ctx.pool), bool), rng)
    return LoopState(0, [int(i) for i in l0], rng.bit_generator.state)


def _start_state(cell: CellConfig, state: LoopState | None, pool_size: int) -> LoopState:
    """L0 for a new run; a resumed state only when its labeled set fits the budget."""
    if state is None:
        return initial_state(cell, pool_size)
    sizes = cell.budget.sizes
    if state.round < len(sizes) and len(state.labeled) != sizes[state.round]:
        raise ValueError(
            f"checkpoint holds {len(state.labeled)} labeled items for round {state.round}, "
            f"but the budget schedule says {sizes[state.round]}: it belongs to another cell"
        )
    return state


def _run_round(ctx: _CellContext, state: LoopState) -> tuple[RoundResult, LoopState]:
    """Train, evaluate and (unless it is the last round) select: one round of the loop.

    The model lives only inside this call, so it is freed before the next round builds one.
    """
    r, sizes = state.round, ctx.cell.budget.sizes
    labeled = np.asarray(state.labeled, dtype=np.int64)
    model, train_stats, reused = _train(ctx, r, labeled)
    metrics = _evaluate(ctx, model)
    rng = state.rng()
    selection = Selection()
    if r + 1 < len(sizes):
        selection = _select(ctx, model, labeled, sizes[r + 1] - sizes[r], rng)
    result = RoundResult(
        round=r, n_labeled=len(labeled), labeled=[int(i) for i in labeled],
        metrics=metrics, baseline=ctx.baseline,
        train_seconds=float(train_stats["train_seconds"]), score_seconds=selection.seconds,
        final_loss=float(train_stats["final_loss"]), selected=selection.indices,
        selected_scores=selection.scores, selected_ranks=selection.ranks,
        selected_predictions=selection.predictions, reused_round0=reused,
    )
    next_state = LoopState(round=r + 1, labeled=state.labeled + selection.indices,
                           rng_state=rng.bit_generator.state)
    return result, next_state


def _train(ctx: _CellContext, r: int, labeled: np.ndarray) -> tuple[FabRec, dict, bool]:
    """A fresh model from the auto-encoder (or, warm-started, round r-1's model) trained on
    `labeled` (round 0: from the cache).

    Returns:
        (the trained model, its training statistics, True when round-0 weights were reused).
    """
    seed = round_seed(ctx.cell, r)
    torch.manual_seed(seed)  # the head's initial weights
    model = _fresh_model(ctx.cell, ctx.pool.num_landmarks, ctx.ae_path)
    trainer, warm = ctx.cell.trainer, ctx.cell.trainer.init == "warm"
    if warm and r > 0:
        ctx.warm.load_into(r - 1, model)
        trainer = dataclasses.replace(trainer, steps=trainer.warm_steps or trainer.steps)

    def train() -> dict:
        ctx.say(f"round {r}: training on {len(labeled)} labeled images")
        return fit(model, ctx.pool, labeled, trainer, seed=seed, device=ctx.device)

    reused = False
    if r == 0:
        # Round 0 depends on the seed, not the acquisition: train it once per content key.
        key = ctx.round0.key_for(ctx.cell, ctx.ae_path, labeled,
                                 precision_tag(ctx.device, trainer.amp))
        stats, reused = ctx.round0.get_or_train(key, model, train)
    else:
        stats = train()
    if warm and r + 1 < len(ctx.cell.budget.sizes):
        ctx.warm.save(r, model)
    return model, stats, reused


def _evaluate(ctx: _CellContext, model: FabRec) -> dict[str, dict[str, float]]:
    """NME / FR / AUC of every test split, plus the splits derived from them."""
    trainer = ctx.cell.trainer
    metrics: dict[str, dict[str, float]] = {}
    errors: dict[str, np.ndarray] = {}
    for split, test in ctx.tests.items():
        res = evaluate(model, test, batch_size=trainer.eval_batch_size, device=ctx.device,
                       amp=trainer.amp, subpixel=trainer.subpixel)
        metrics[split] = {k: res[k] for k in ("nme", "fr", "auc")}
        errors[split] = res["errors"]
    metrics.update(derived_splits(ctx.cell.data, errors))
    return metrics


def derived_splits(data: DataConfig, errors: dict[str, np.ndarray]
                   ) -> dict[str, dict[str, float]]:
    """Splits made of others, from their per-image errors: 300-W "full" is common +
    challenging (its NME is the image-weighted mean of theirs, not the mean of two NMEs).

    Args:
        data: the cell's data set.
        errors: per-image NME of each evaluated split.

    Returns:
        The summary (`trainers.training.metrics.summarize`) of each derived split; {} when none.
    """
    derived = get_dataset(data.name).derived_splits
    return {split: summarize(np.concatenate([errors[p] for p in parts]))
            for split, parts in derived.items() if set(parts) <= errors.keys()}


def _select(ctx: _CellContext, model: FabRec, labeled: np.ndarray, k: int,
            rng: np.random.Generator) -> Selection:
    """Score the unlabeled pool with `model` and let the acquisition choose `k` items."""
    mask = np.zeros(len(ctx.pool), dtype=bool)
    mask[labeled] = True
    t0 = time.perf_counter()
    settings = PassSettings.of(ctx.cell, ctx.acq, len(labeled), ctx.device)
    scored = score_pool(model, ctx.pool, mask, ctx.acq, settings)
    chosen = ctx.acq.select(k, labeled=mask, scores=scored.scores, features=scored.features,
                            rng=rng)
    seconds = time.perf_counter() - t0
    sel = ctx.acq.last_selection
    indices = [int(i) for i in chosen]
    predictions = ([] if scored.landmarks is None
                   else [scored.landmarks[i].reshape(-1).tolist() for i in indices])
    return Selection(indices, [float(s) for s in sel["score"]], [int(x) for x in sel["rank"]],
                     predictions, seconds)


@dataclass
class PoolPass:
    """What one streamed pass over the pool keeps: per-item scores, features and predicted
    landmarks (never the heatmaps themselves)."""

    scores: np.ndarray | None = None
    features: np.ndarray | None = None
    landmarks: np.ndarray | None = None


def score_pool(model: FabRec, pool: CropSet, labeled_mask: np.ndarray, acq: Any,
                settings: PassSettings) -> PoolPass:
    """Stream the pool through the model, chunk by chunk, keeping only per-item results.

    Each chunk becomes an `acquisition.PoolChunk` of the acquisition's per-item needs, its
    labeled-set needs (computed once, before the first chunk) and the predicted norm.
    """
    needs = settings.needs
    out = PoolPass()
    if not needs:
        return out
    # Features of labeled items are the k-center start; scores only matter unlabeled.
    idx = np.arange(len(pool)) if "features" in needs else np.flatnonzero(~labeled_mask)
    per_item = needs & acquisition.PER_ITEM_INPUTS.keys()
    labeled_extras = pool_inputs.labeled_inputs(model, pool, labeled_mask, settings)
    if acq.is_score_based:
        out.scores = np.zeros(len(pool), dtype=np.float64)
    out.landmarks = np.full((len(pool), pool.num_landmarks, 2), np.nan, dtype=np.float32)
    for chunk in pool_inputs.stream_pool(model, pool, idx, settings):
        rows = chunk["indices"]
        out.landmarks[rows] = chunk["landmarks"].cpu().numpy()
        if out.scores is not None:
            inputs = {key: chunk[key] for key in per_item}
            pc = acquisition.PoolChunk(norm=chunk["norm"], **inputs, **labeled_extras)
            out.scores[rows] = acq.score_chunk(pc)
        if "features" in needs:
            f = chunk["features"].cpu().numpy()
            if out.features is None:
                out.features = np.zeros((len(pool), f.shape[1]), dtype=np.float32)
            out.features[rows] = f
    return out


def _fresh_model(cell: CellConfig, num_landmarks: int, ae_path: Path) -> FabRec:
    from trainers.models import build_model, load_pretrained

    model = build_model(cell.arch, num_landmarks=num_landmarks,
                        input_size=cell.model.input_size, width=cell.model.width)
    load_pretrained(model, ae_path)
    return model

