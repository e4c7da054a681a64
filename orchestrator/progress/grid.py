"""A progress snapshot aggregated by the grid's axes, so a grid of any size reads at a glance.

- counts of cells per state, trial-rounds per hour, and an ETA from the measured time per
  round of each budget (budgets differ by an order of magnitude in training cost, so one
  global mean would mislead while the cheap budgets finish first);
- one group per architecture x acquisition: cells done / total per budget, mean NME;
- problems: failed, retrying or stopped cells with their error line, and cells much slower
  than their peers (the other seeds of the same architecture, acquisition and budget) with
  the slowness factor;
- per-node use, from the latest round each node reported;
- once at least three seeds of a configuration have finished, each acquisition's AUBC so
  far and its corrected verdicts against random (:mod:`orchestrator.progress.standing`).
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from orchestrator.progress.snapshot import CellProgress, Snapshot
from orchestrator.progress.standing import Standings, standings
from orchestrator.report.stats import MIN_SEEDS

#: A cell whose mean round time is this many times its peers' median is flagged slow.
SLOW_FACTOR = 2.0
#: Peers (same architecture, acquisition and budget: the other seeds, with measured rounds)
#: needed before flagging.
MIN_PEERS = 3


@dataclass
class GroupRow:
    """One architecture x acquisition."""

    arch: str
    acquisition: str
    done: dict[int, int] = field(default_factory=dict)  # budget -> cells done
    total: dict[int, int] = field(default_factory=dict)  # budget -> cells
    nmes: list[float] = field(default_factory=list)  # latest finished NME of each cell

    @property
    def mean_nme(self) -> float | None:
        return statistics.fmean(self.nmes) if self.nmes else None


@dataclass
class Problem:
    kind: str  # ERROR | RETRY | STOPPED | RETRIED (failed before, finished since) | SLOW
    label: str
    detail: str


@dataclass
class NodeUse:
    host: str
    cells_running: int
    usage: dict[str, float | None]


@dataclass
class GridView:
    states: Counter
    rounds_per_hour: float | None
    eta: float | None
    budgets: list[int]
    groups: list[GroupRow]
    problems: list[Problem]
    nodes: list[NodeUse]
    standings: Standings | None = None


def _mean_round_seconds(cells: list[CellProgress]) -> dict[int, float]:
    """Mean measured round time per budget."""
    per: dict[int, list[float]] = defaultdict(list)
    for c in cells:
        per[c.budget].extend(c.round_seconds())
    return {b: statistics.fmean(v) for b, v in per.items() if v}


def estimate_eta(snap: Snapshot) -> float | None:
    """Seconds left: the rounds left of each budget x that budget's measured mean round
    time, spread over the trials running now (None before any round was measured)."""
    means = _mean_round_seconds(snap.cells)
    if not means or snap.complete:
        return None
    fallback = statistics.fmean(means.values())
    work = sum(max(0, c.rounds_total - c.rounds_done) * means.get(c.budget, fallback)
               for c in snap.cells if c.state not in ("ERROR", "STOPPED"))
    running = sum(c.state in ("RUNNING", "RETRY") for c in snap.cells)
    return work / max(1, running)


def rounds_per_hour(snap: Snapshot) -> float | None:
    elapsed, done = snap.elapsed(), snap.done_since_start()
    return 3600.0 * done / elapsed if elapsed and done else None


def _groups(cells: list[CellProgress]) -> list[GroupRow]:
    groups: dict[tuple[str, str], GroupRow] = {}
    for c in cells:
        g = groups.setdefault((c.arch, c.acquisition), GroupRow(c.arch, c.acquisition))
        g.total[c.budget] = g.total.get(c.budget, 0) + 1
        g.done[c.budget] = g.done.get(c.budget, 0) + (c.state == "DONE")
        if c.nme is not None:
            g.nmes.append(c.nme)
    return list(groups.values())


def _slow(cells: list[CellProgress]) -> list[Problem]:
    peers: dict[tuple[str, str, int], list[tuple[CellProgress, float]]] = defaultdict(list)
    for c in cells:
        secs = c.round_seconds()
        if secs:
            peers[(c.arch, c.acquisition, c.budget)].append((c, statistics.fmean(secs)))
    out = []
    for group in peers.values():
        if len(group) < MIN_PEERS:
            continue
        median = statistics.median(s for _, s in group)
        for c, s in group:
            if median > 0 and s >= SLOW_FACTOR * median:
                out.append(Problem("SLOW", c.label, f"{s / median:.1f}x slower than peers "
                                   f"({s:.0f} s vs {median:.0f} s per round)"))
    return sorted(out, key=lambda p: -float(p.detail.split("x", 1)[0]))


def _problems(cells: list[CellProgress]) -> list[Problem]:
    order = {"ERROR": 0, "RETRY": 1, "STOPPED": 2}
    flagged = [c for c in cells if c.state in order or c.problem]
    flagged.sort(key=lambda c: order.get(c.state, 3))
    out = [Problem(c.state if c.state in order else "RETRIED", c.label,
                   c.problem or "ended before its last round") for c in flagged]
    return out + _slow(cells)


def _nodes(cells: list[CellProgress]) -> list[NodeUse]:
    latest: dict[str, CellProgress] = {}
    running: Counter = Counter()
    for c in cells:
        host = c.where
        if not host:
            continue
        running[host] += c.state in ("RUNNING", "RETRY")
        prev = latest.get(host)
        if c.last_write and (prev is None or prev.last_write is None
                             or c.last_write > prev.last_write):
            latest[host] = c
    return [NodeUse(h, running[h], latest[h].node_usage if h in latest else {})
            for h in sorted(running)]


def _standings(snap: Snapshot) -> Standings | None:
    """The standings, once some configuration (architecture, acquisition, budget) has
    MIN_SEEDS finished seeds: before that nothing is read or tested."""
    done = [c for c in snap.cells if c.state == "DONE"]
    per = Counter((c.arch, c.acquisition, c.budget) for c in done)
    if not per or max(per.values()) < MIN_SEEDS:
        return None
    return standings(snap.rounds, [c.cell_id for c in done], snap.nme_split,
                     key=(snap.folder, snap.name))


def grid_view(snap: Snapshot) -> GridView:
    """Aggregate a snapshot by the grid's axes."""
    return GridView(
        states=Counter(c.state for c in snap.cells),
        rounds_per_hour=rounds_per_hour(snap),
        eta=estimate_eta(snap),
        budgets=sorted({c.budget for c in snap.cells}),
        groups=_groups(snap.cells),
        problems=_problems(snap.cells),
        nodes=_nodes(snap.cells),
        standings=_standings(snap),
    )
