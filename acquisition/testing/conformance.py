"""The checks of the conformance kit (:mod:`acquisition.testing` is the public entry point).

Each check takes the :class:`Context` (the acquisition, a factory for fresh instances and the
synthetic pool) and returns a :class:`CheckResult`; an exception inside a check becomes a
failed result carrying the check's docstring as what was expected.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from acquisition.base import Acquisition
from acquisition.inputs import PER_ITEM_INPUTS, PoolChunk
from acquisition.registry import check_kind, get, label
from acquisition.registry import check_needs as check_instance_needs
from acquisition.testing.synthetic import SyntheticPool

__all__ = ["CHECKS", "CheckResult", "Context", "measure_cost", "raised", "run"]

K = 5  # items selected per check
_CHUNKINGS = ((1, 8, 9, 23), (16, 32), (5, 10, 15, 20, 25, 30, 35, 40, 45))


@dataclass(frozen=True)
class CheckResult:
    """One check: its name, whether it passed, what it expected and what it got."""

    name: str
    passed: bool
    expected: str
    got: str


@dataclass
class Context:
    factory: Callable[[], Acquisition]
    acq: Acquisition
    name: str
    pool: SyntheticPool

    def scores(self, pool: SyntheticPool | None = None, bounds: Iterable[int] = ()) -> np.ndarray:
        """Scores of the whole pool, streamed in chunks split at ``bounds``."""
        pool = pool or self.pool
        edges = [0, *bounds, pool.n]
        parts = [
            self.acq.score_chunk(pool.chunk(slice(a, b), sorted(self.acq.needs)))
            for a, b in zip(edges[:-1], edges[1:], strict=True)
        ]
        return np.concatenate(parts)

    def select(self, acq: Acquisition, k: int = K, seed: int = 0, scores: Any = None) -> Any:
        inputs: dict[str, Any] = {"labeled": self.pool.labeled}
        if acq.is_score_based:
            inputs["scores"] = self.scores() if scores is None else scores
        if "features" in acq.needs:
            inputs["features"] = self.pool.items["features"]
        return acq.select(k, rng=np.random.default_rng(seed), **inputs)


class _WatchedChunk(PoolChunk):
    """A chunk that records every input read from it (composers share the record)."""

    __slots__ = ("reads",)

    def __init__(self, **inputs: Any) -> None:
        super().__init__(**inputs)
        object.__setattr__(self, "reads", set())

    def __getitem__(self, key: str) -> Any:
        self.reads.add(key)
        return super().__getitem__(key)

    def restrict(self, names: Iterable[str]) -> PoolChunk:
        inner = super().restrict(names)
        object.__setattr__(inner, "reads", self.reads)
        return inner


def run(check: Callable[[Context], CheckResult], context: Context) -> CheckResult:
    try:
        return check(context)
    except Exception as error:
        expected = (check.__doc__ or "").strip()
        return CheckResult(check.__name__.removeprefix("_check_"), False, expected, raised(error))


def raised(error: BaseException) -> str:
    return f"raised {type(error).__name__}: {error}"


def _check_needs(ctx: Context) -> CheckResult:
    """needs is a frozenset subset of NEEDS (set acquisitions: features only), tta_samples >= 1
    when tta_landmarks is needed"""
    check_kind(ctx.name or type(ctx.acq).__name__.lower(), type(ctx.acq))
    check_instance_needs(ctx.acq)
    return CheckResult("needs", True, "", f"declares {sorted(ctx.acq.needs)}")


def _check_reads(ctx: Context) -> CheckResult:
    """reads only the inputs declared in needs (plus norm)"""
    acq = ctx.acq
    if not acq.is_score_based:
        ctx.select(acq)  # features arrive only when declared
        return CheckResult("reads", True, "", "select() ran on the declared inputs only")
    chunk = ctx.pool.chunk(slice(None), sorted(acq.needs), _WatchedChunk)
    with contextlib.suppress(KeyError):  # MissingInputError: the read is in the record
        acq.score_chunk(chunk)
    undeclared = sorted(chunk.reads - acq.needs - {"norm"})
    expected = f"reads within needs {sorted(acq.needs)} + ['norm']"
    got = f"read {sorted(chunk.reads)}" + (f"; undeclared: {undeclared}" if undeclared else "")
    return CheckResult("reads", not undeclared, expected, got)


def _check_finite_scores(ctx: Context) -> CheckResult:
    """(n,) float64 scores, all finite for finite inputs"""
    if not ctx.acq.is_score_based:
        return CheckResult("finite_scores", True, "", "not applicable: set acquisition")
    scores = ctx.scores()
    expected = f"({ctx.pool.n},) float64 finite scores"
    if scores.shape != (ctx.pool.n,) or scores.dtype != np.float64:
        return CheckResult("finite_scores", False, expected, f"{scores.dtype} {scores.shape}")
    bad = np.flatnonzero(~np.isfinite(scores))
    got = f"{bad.size} non-finite (rows {bad[:5].tolist()})" if bad.size else "all finite"
    return CheckResult("finite_scores", not bad.size, expected, got)


def _check_nan_inputs(ctx: Context) -> CheckResult:
    """an item whose inputs are all NaN is refused (ValueError) or scored NaN, which select()
    then refuses; the other items' scores stay as they were"""
    acq, row = ctx.acq, int(np.flatnonzero(~ctx.pool.labeled)[0])
    expected = (_check_nan_inputs.__doc__ or "").strip()
    if not (acq.needs & (set(PER_ITEM_INPUTS) | {"features"})) and not acq.is_score_based:
        return CheckResult("nan_inputs", True, "", "not applicable: no per-item inputs")
    nan_pool = ctx.pool.with_nan_item(row)
    try:
        if not acq.is_score_based:
            Context(ctx.factory, acq, ctx.name, nan_pool).select(acq)
            return CheckResult("nan_inputs", False, expected, "select() accepted NaN features")
        scores = ctx.scores(nan_pool)
    except ValueError as error:
        return CheckResult("nan_inputs", True, expected, f"refused: {error}")
    others = np.arange(ctx.pool.n) != row
    if not np.isnan(scores[row]):
        return CheckResult("nan_inputs", False, expected, f"finite score {scores[row]!r}")
    if not np.allclose(scores[others], ctx.scores()[others], rtol=1e-9, atol=1e-12):
        return CheckResult("nan_inputs", False, expected, "other items' scores changed")
    try:
        ctx.select(acq, scores=scores)
    except ValueError:
        return CheckResult("nan_inputs", True, expected, "scored NaN; select() refused it")
    return CheckResult("nan_inputs", False, expected, "scored NaN but select() accepted it")


def _check_selection(ctx: Context) -> CheckResult:
    """k distinct int64 unlabeled pool indices in range, for k = 1 and k = 5"""
    problems = []
    for k in (1, K):
        picked = np.asarray(ctx.select(ctx.acq, k))
        labeled = ctx.pool.labeled
        if picked.shape != (k,) or picked.dtype != np.int64:
            problems.append(f"k={k}: {picked.dtype} {picked.shape}")
        elif np.unique(picked).size != k or picked.min() < 0 or picked.max() >= labeled.size:
            problems.append(f"k={k}: repeated or out-of-range indices {picked.tolist()}")
        elif labeled[picked].any():
            problems.append(f"k={k}: labeled indices {picked[labeled[picked]].tolist()}")
    got = "; ".join(problems) or f"k=1 and k={K}: distinct unlabeled indices"
    return CheckResult("selection", not problems, (_check_selection.__doc__ or "").strip(), got)


def _check_determinism(ctx: Context) -> CheckResult:
    """the same rng seed gives the same scores and selection, on a fresh or a reused instance"""
    expected = (_check_determinism.__doc__ or "").strip()
    first, second = ctx.factory(), ctx.factory()
    if ctx.acq.is_score_based:
        scores = [Context(ctx.factory, a, ctx.name, ctx.pool).scores() for a in (first, second)]
        if not np.array_equal(scores[0], scores[1]):
            return CheckResult("determinism", False, expected, "two scorings differ")
    picks = [ctx.select(acq, seed=7).tolist() for acq in (first, second, first)]
    same = picks[0] == picks[1] == picks[2]
    got = f"selected {picks[0]}" if same else f"selections differ: {picks}"
    return CheckResult("determinism", same, expected, got)


def _check_chunking(ctx: Context) -> CheckResult:
    """scores (rtol 1e-9) and selection unchanged when the pool is streamed in other chunks"""
    expected = (_check_chunking.__doc__ or "").strip()
    if not ctx.acq.is_score_based:
        return CheckResult("chunking", True, "", "not applicable: set acquisition")
    whole = ctx.scores()
    picked = ctx.select(ctx.acq, scores=whole).tolist()
    for bounds in _CHUNKINGS:
        chunked = ctx.scores(bounds=bounds)
        if not np.allclose(chunked, whole, rtol=1e-9, atol=1e-12):
            worst = int(np.argmax(np.abs(chunked - whole)))
            got = f"chunks split at {list(bounds)}: row {worst} scored {chunked[worst]!r}, "
            return CheckResult("chunking", False, expected, got + f"whole pool {whole[worst]!r}")
        again = ctx.select(ctx.acq, scores=chunked).tolist()
        if again != picked:
            got = f"chunks split at {list(bounds)} select {again}, the whole pool {picked}"
            return CheckResult("chunking", False, expected, got)
    return CheckResult("chunking", True, expected, f"{len(_CHUNKINGS)} chunkings agree")


def _check_round_trip(ctx: Context) -> CheckResult:
    """params survive a JSON result row; acquisition.get(name, **params) rebuilds the same
    class, params, needs and selection"""
    expected = (_check_round_trip.__doc__ or "").strip()
    acq = ctx.acq
    row = json.dumps(
        {"acquisition": acq.name, "params": acq.params, "label": label(acq.name, acq.params)},
        allow_nan=False,
    )
    parsed = json.loads(row)
    rebuilt = get(parsed["acquisition"], **parsed["params"])
    problems = [
        what for what, same in (
            ("class", type(rebuilt) is type(acq)), ("params", rebuilt.params == acq.params),
            ("needs", rebuilt.needs == acq.needs),
            ("tta_samples", rebuilt.tta_samples == acq.tta_samples),
        ) if not same
    ]  # fmt: skip
    if not problems and ctx.select(rebuilt).tolist() != ctx.select(acq).tolist():
        problems.append("selection")
    got = f"row {row}" + (f"; differs in {problems}" if problems else "")
    return CheckResult("round_trip", not problems, expected, got)


CHECKS: tuple[Callable[[Context], CheckResult], ...] = (
    _check_needs,
    _check_reads,
    _check_finite_scores,
    _check_nan_inputs,
    _check_selection,
    _check_determinism,
    _check_chunking,
    _check_round_trip,
)


def measure_cost(ctx: Context, repeats: int = 3) -> dict[str, float]:
    """Microseconds per pool item of scoring (score acquisitions) and of select, best of
    ``repeats``; empty if either fails (the checks report why)."""
    timings: dict[str, Callable[[], object]] = {}
    try:
        scores = ctx.scores() if ctx.acq.is_score_based else None
        if scores is not None:
            timings["score"] = ctx.scores
        timings["select"] = lambda: ctx.select(ctx.acq, scores=scores)
        best = {}
        for name, function in timings.items():
            best[name] = min(_seconds(function) for _ in range(repeats))
    except Exception:
        return {}
    return {name: 1e6 * seconds / ctx.pool.n for name, seconds in best.items()}


def _seconds(function: Callable[[], object]) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start
