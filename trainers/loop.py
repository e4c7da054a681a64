"""The active-learning loop of one cell, as a plain function (no Ray).

    L0 = 10 seeded random pool images
    for each round r:
        train the supervised stage from the pretrained auto-encoder, from scratch
        evaluate on every test split (NME / FR / AUC)
        if not the last round: stream the unlabeled pool through the model, score it,
                               select K = sizes[r+1] - sizes[r] items
        report the round (one callback), then the loop state (labeled order, round, RNG)

Everything a round needs to restart lives in `LoopState`; model weights are rebuilt by
retraining, as the protocol demands. Round 0 depends only on the seed, not on the
acquisition, so its trained model is cached by content hash and shared between cells that
differ only by acquisition.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

import acquisition
from trainers.cell import CellConfig
from trainers.data_loading import load_data
from trainers.datasets.cropset import CropSet
from trainers.device import resolve_device
from trainers.metrics import nme, summarize
from trainers.pretrain_cache import ensure_autoencoder
from trainers.round_cache import RoundZeroCache
from trainers.supervised import evaluate, fit, predict

INITIAL_SEED_SALT = 0x5CAF


@dataclass
class LoopState:
    """The restart point of a cell: next round to run, labeled pool indices in acquisition
    order with the round each was added, and the acquisition RNG state."""

    round: int
    labeled: list[int]
    added_round: list[int]
    rng_state: dict[str, Any]

    def to_json(self) -> str:
        return json.dumps(
            {"round": self.round, "labeled": self.labeled, "added_round": self.added_round,
             "rng_state": self.rng_state}
        )

    @classmethod
    def from_json(cls, text: str) -> LoopState:
        d = json.loads(text)
        return cls(int(d["round"]), [int(i) for i in d["labeled"]],
                   [int(r) for r in d["added_round"]], d["rng_state"])

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


def initial_state(cell: CellConfig, pool_size: int) -> LoopState:
    """L0: sizes[0] distinct pool indices drawn from the cell's seed (not its acquisition)."""
    n0 = cell.budget.sizes[0]
    if cell.budget.final > pool_size:
        raise ValueError(
            f"budget final size {cell.budget.final} is larger than the pool ({pool_size} images)"
        )
    rng = np.random.default_rng([cell.seed, INITIAL_SEED_SALT])
    l0 = rng.choice(pool_size, size=n0, replace=False)
    return LoopState(0, [int(i) for i in l0], [0] * n0, rng.bit_generator.state)


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
class PoolPass:
    """What one streamed pass over the pool keeps: per-item scores, features and predicted
    landmarks (never the heatmaps themselves)."""

    scores: np.ndarray | None = None
    features: np.ndarray | None = None
    landmarks: np.ndarray | None = None


def _score_pool(
    model: torch.nn.Module,
    pool: CropSet,
    labeled_mask: np.ndarray,
    acq: Any,
    cell: CellConfig,
    device: torch.device,
) -> PoolPass:
    """Stream the pool through the model, chunk by chunk, keeping only per-item results."""
    needs = acq.needs
    out = PoolPass()
    if not needs:
        return out
    # Features of labeled items are the k-center start; heatmap scores only matter unlabeled.
    idx = np.arange(len(pool)) if "features" in needs else np.flatnonzero(~labeled_mask)
    if "heatmaps" in needs:
        out.scores = np.zeros(len(pool), dtype=np.float64)
    out.landmarks = np.full((len(pool), pool.num_landmarks, 2), np.nan, dtype=np.float32)
    for chunk in predict(model, pool, idx, batch_size=cell.trainer.eval_batch_size,
                         device=device, amp=cell.trainer.amp):
        rows = chunk["indices"]
        out.landmarks[rows] = chunk["landmarks"].cpu().numpy()
        if out.scores is not None:
            out.scores[rows] = acq.score(chunk["heatmaps"])
        if "features" in needs:
            f = chunk["features"].cpu().numpy()
            if out.features is None:
                out.features = np.zeros((len(pool), f.shape[1]), dtype=np.float32)
            out.features[rows] = f
    return out


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
    """
    dev = resolve_device(device)
    cache_dir = Path(cache_dir)
    say = log or (lambda _msg: None)
    acq = acquisition.get(cell.acquisition.name, **cell.acquisition.params)
    pool, tests = load_data(cell.data, cell.model.input_size, cache_dir)
    if state is None:
        state = initial_state(cell, len(pool))
    sizes = cell.budget.sizes
    if len(state.labeled) != sizes[min(state.round, len(sizes) - 1)] and state.round < len(sizes):
        raise ValueError(
            f"checkpoint holds {len(state.labeled)} labeled items for round {state.round}, "
            f"but the budget schedule says {sizes[state.round]}: it belongs to another cell"
        )
    ae_path = ensure_autoencoder(cell, pool, cache_dir, log=say)
    baseline = mean_shape_baseline(pool, tests)
    round0 = RoundZeroCache(cache_dir)

    while state.round < len(sizes):
        r = state.round
        labeled = np.asarray(state.labeled, dtype=np.int64)
        seed = round_seed(cell, r)
        torch.manual_seed(seed)
        model = _fresh_model(cell, pool.num_landmarks, ae_path)

        def train(model: torch.nn.Module = model, labeled: np.ndarray = labeled,
                  seed: int = seed, r: int = r) -> dict:
            say(f"round {r}: training on {len(labeled)} labeled images")
            return fit(model, pool, labeled, cell.trainer, seed=seed, device=dev)

        if r == 0:
            # Round 0 depends on the seed, not the acquisition: train it once per content key.
            train_stats, reused = round0.get_or_train(round0.key(cell, ae_path, labeled),
                                                       model, train)
        else:
            train_stats, reused = train(), False
        metrics = {}
        for split, test in tests.items():
            res = evaluate(model, test, batch_size=cell.trainer.eval_batch_size, device=dev,
                           amp=cell.trainer.amp, subpixel=cell.trainer.subpixel)
            metrics[split] = {k: res[k] for k in ("nme", "fr", "auc")}
            metrics[split]["_errors"] = res["errors"]
        _derive_splits(cell, metrics)
        for m in metrics.values():
            m.pop("_errors", None)

        result = RoundResult(
            round=r, n_labeled=len(labeled), labeled=[int(i) for i in labeled],
            metrics=metrics, baseline=baseline,
            train_seconds=float(train_stats["train_seconds"]), score_seconds=0.0,
            final_loss=float(train_stats["final_loss"]), reused_round0=reused,
        )
        rng = state.rng()
        if r + 1 < len(sizes):
            k = sizes[r + 1] - sizes[r]
            mask = np.zeros(len(pool), dtype=bool)
            mask[labeled] = True
            t0 = time.perf_counter()
            scored = _score_pool(model, pool, mask, acq, cell, dev)
            chosen = acq.select(k, labeled=mask, scores=scored.scores,
                                features=scored.features, rng=rng)
            result.score_seconds = time.perf_counter() - t0
            sel = acq.last_selection
            result.selected = [int(i) for i in chosen]
            result.selected_scores = [float(s) for s in sel["score"]]
            result.selected_ranks = [int(x) for x in sel["rank"]]
            if scored.landmarks is not None:
                result.selected_predictions = [
                    scored.landmarks[i].reshape(-1).tolist() for i in result.selected
                ]
        new_state = LoopState(
            round=r + 1,
            labeled=state.labeled + result.selected,
            added_round=state.added_round + [r + 1] * len(result.selected),
            rng_state=rng.bit_generator.state,
        )
        report(result, new_state)
        state = new_state
        del model
    return state


def _derive_splits(cell: CellConfig, metrics: dict[str, dict[str, Any]]) -> None:
    """300-W "full" is common + challenging: computed from their per-image errors."""
    if cell.data.name == "300w" and {"common", "challenging"} <= metrics.keys():
        errs = np.concatenate([metrics["common"]["_errors"], metrics["challenging"]["_errors"]])
        metrics["full"] = {**summarize(errs), "_errors": errs}


def _fresh_model(cell: CellConfig, num_landmarks: int, ae_path: Path) -> torch.nn.Module:
    from trainers.models import build_model, load_pretrained

    model = build_model(cell.arch, num_landmarks=num_landmarks,
                        input_size=cell.model.input_size, width=cell.model.width)
    load_pretrained(model, ae_path)
    return model

