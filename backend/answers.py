"""The network's answers: the n × n table of margins, bounded, and one pair's vote.

margin(g1, g2) = s[t] − max_{j ≠ t} s[j], where s[j] is the class score of the pair
(f[j] for one-hot, ⟨f, x_j⟩ for a template) and t = index(g1 g2) the correct product;
the pair is answered correctly exactly when the margin is positive.

For groups up to MAX_SIDE elements the table holds every pair. Larger groups are shown
on a MAX_SIDE × MAX_SIDE grid of blocks of consecutive elements: each cell holds the
mean margin and the share of correct pairs of its block (``block_edges``), so the table
stays bounded whatever the order.

On large groups where every pair's output would cost more than a training step (the
exact path's sampled snapshots), each cell is estimated on a fixed seeded sample of k
pairs of its block (``answer_pair_sample``, k = ``ANSWER_PAIRS_PER_CELL``): the cell
holds the mean margin and the share correct of those k pairs, computed a few block rows
at a time from the effective functions (``sampled_answer_table``), never forming the
output of every pair.

The vote of a pair (mathematics reference, §4): the score of class j is the sum over
neurons of s_m σ(a_m(g1) + b_m(g2)) c_m(j); grouping the neurons by their dominant orbit
splits every score into one summand per orbit (``pair_vote``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

MAX_SIDE = 48
"""Largest side of the recorded table (a block grid beyond this order)."""

ANSWER_PAIRS_PER_CELL = 4
"""Most sampled pairs per cell of a sampled answer table (``pairs_per_cell``)."""

ANSWER_COST_SHARE = 1 / 1.5
"""A sampled table's multiply-adds stay below this share of an exact step's."""

ANSWER_CHUNK_PAIRS = 4096
"""Sampled pairs whose scores are held at once (bounded memory: this many × (M + n))."""


def block_edges(n: int, side: int = MAX_SIDE) -> np.ndarray:
    """Element indices where the table's rows (and columns) begin, plus n at the end:
    one element per row up to ``side`` elements, else ``side`` blocks of nearly equal
    size."""
    rows = min(int(n), int(side))
    return np.round(np.linspace(0, n, rows + 1)).astype(np.int64)


def pair_margins(scores: torch.Tensor | np.ndarray, classes: torch.Tensor | np.ndarray
                 ) -> torch.Tensor:
    """margin_p = s_p[t_p] − max_{j ≠ t_p} s_p[j] for scores (P, n) and classes (P,)."""
    scores = torch.as_tensor(scores)
    classes = torch.as_tensor(classes, device=scores.device).reshape(-1, 1)
    right = scores.gather(1, classes)
    others = scores.scatter(1, classes, float("-inf"))
    return (right - others.amax(dim=1, keepdim=True)).reshape(-1)


def block_means(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Mean of a (n, n) table over the blocks [edges[i], edges[i+1]) × [edges[j], …)."""
    values = np.asarray(values, dtype=np.float64)
    starts = edges[:-1]
    sizes = np.diff(edges).astype(np.float64)
    sums = np.add.reduceat(np.add.reduceat(values, starts, axis=0), starts, axis=1)
    return sums / np.outer(sizes, sizes)


def answer_table(scores: torch.Tensor, classes: torch.Tensor, n: int,
                 side: int = MAX_SIDE) -> tuple[np.ndarray, np.ndarray]:
    """(margin, correct) tables (R, R) float32 from the class scores of all n² pairs in
    flat order p = g1·n + g2: per pair when n ≤ ``side``, block means beyond."""
    margins = pair_margins(scores, classes).double().cpu().numpy().reshape(n, n)
    correct = (margins > 0).astype(np.float64)
    if n > side:
        edges = block_edges(n, side)
        margins, correct = block_means(margins, edges), block_means(correct, edges)
    return margins.astype(np.float32), correct.astype(np.float32)


def held_out_table(test_pairs: np.ndarray, n: int, side: int = MAX_SIDE) -> np.ndarray:
    """(R, R) share of held-out pairs in every cell (0 or 1 per pair up to ``side``)."""
    mask = np.zeros(n * n)
    mask[np.asarray(test_pairs, dtype=np.int64)] = 1.0
    mask = mask.reshape(n, n)
    if n > side:
        mask = block_means(mask, block_edges(n, side))
    return mask.astype(np.float32)


@dataclass(frozen=True)
class AnswerSample:
    """The fixed sample behind a sampled answer table: ``pairs`` are flat pairs
    p = g1·n + g2, ``per_cell`` of them for every cell of the ``rows`` × ``rows`` grid,
    cell after cell in row-major order."""

    pairs: np.ndarray  # (rows · rows · per_cell,) int64
    rows: int
    per_cell: int


def pairs_per_cell(step_cost: float, order: int, width: int, side: int = MAX_SIDE) -> int:
    """k for a sampled table: R² cells × k pairs cost R²·k·M·n multiply-adds (M neurons,
    n classes), kept below ``ANSWER_COST_SHARE`` of a step's ``step_cost``; k in
    1..``ANSWER_PAIRS_PER_CELL``. Measured on two threads: S6 at width 2048 takes 4 pairs
    per cell at under half a step's time, S5 at width 1024 takes 2."""
    cells = (len(block_edges(order, side)) - 1) ** 2
    k = int(step_cost * ANSWER_COST_SHARE // (cells * float(width) * float(order)))
    return max(1, min(ANSWER_PAIRS_PER_CELL, k))


def answer_pair_sample(order: int, seed: int, per_cell: int = ANSWER_PAIRS_PER_CELL,
                       side: int = MAX_SIDE) -> AnswerSample:
    """k = min(``per_cell``, pairs of the smallest cell) distinct pairs drawn uniformly in
    every cell of the grid ``block_edges(order, side)``, seeded by ``seed`` (the same
    sample for the same order, seed and grid)."""
    edges = block_edges(order, side)
    rows = len(edges) - 1
    sizes = np.diff(edges)
    k = max(1, min(int(per_cell), int(sizes.min()) ** 2))
    block = np.repeat(np.arange(rows), sizes)  # element -> its block
    cell = (block[:, None] * rows + block[None, :]).reshape(-1)  # flat pair -> its cell
    keys = np.random.default_rng([int(seed), 0xA45E]).random(order * order)
    by_cell = np.lexsort((keys, cell))  # pairs cell by cell, in random order within each
    starts = np.concatenate([[0], np.cumsum(np.bincount(cell, minlength=rows * rows))[:-1]])
    pairs = by_cell[(starts[:, None] + np.arange(k)).reshape(-1)]
    return AnswerSample(pairs.astype(np.int64), rows, k)


def sampled_answer_table(effective: torch.Tensor, scales: torch.Tensor | float,
                         activation: str, table: np.ndarray, sample: AnswerSample,
                         chunk_pairs: int = ANSWER_CHUNK_PAIRS
                         ) -> tuple[np.ndarray, np.ndarray]:
    """(margin, correct) tables (R, R) float32: per cell the mean margin and the share of
    positive margins over its sampled pairs. The class scores of a pair are
    s_p[j] = Σ_m s_m σ(a_m(g1) + b_m(g2)) c_m(j), from the effective functions
    ``effective`` (3, n, M) (a, b, c as columns, any device and dtype) and the output
    scales s (a float or (M,)), for at most ``chunk_pairs`` pairs at a time (whole block
    rows of the grid)."""
    from backend.training.network import activation_value

    a, b, c = effective.unbind(0)
    n = a.shape[0]
    readout = (c * scales).T.contiguous()  # (M, n): s_m c_m(j)
    pairs = torch.as_tensor(sample.pairs, device=a.device)
    classes = torch.tensor(np.asarray(table).reshape(-1), device=a.device)
    row_pairs = sample.rows * sample.per_cell
    step = max(1, int(chunk_pairs) // row_pairs) * row_pairs
    margins = torch.empty(pairs.numel(), dtype=torch.float64)
    for start in range(0, pairs.numel(), step):
        chosen = pairs[start : start + step]
        hidden = a.index_select(0, chosen // n).add_(b.index_select(0, chosen % n))
        scores = activation_value(activation, hidden) @ readout
        margins[start : start + step] = pair_margins(
            scores, classes.index_select(0, chosen)).double().cpu()
    cells = margins.view(sample.rows, sample.rows, sample.per_cell)
    return (cells.mean(dim=2).numpy().astype(np.float32),
            (cells > 0).double().mean(dim=2).numpy().astype(np.float32))


@dataclass
class PairVote:
    """How the neurons vote on one pair: ``per_orbit[O, j]`` is the summed contribution
    of the neurons whose dominant orbit is O to the score of class j."""

    g1: int
    g2: int
    correct: int
    per_orbit: np.ndarray  # (K, n)
    scores: np.ndarray  # (n,) = per_orbit.sum(0)

    @property
    def answer(self) -> int:
        """The class the network outputs (argmax of the scores)."""
        return int(np.argmax(self.scores))

    @property
    def margin(self) -> float:
        others = np.delete(self.scores, self.correct)
        return float(self.scores[self.correct] - others.max()) if others.size else 0.0


def pair_vote(g1: int, g2: int, *, effective: tuple[np.ndarray, np.ndarray, np.ndarray],
              scales: np.ndarray, activation: str, dominant: np.ndarray, num_orbits: int,
              table: np.ndarray) -> PairVote:
    """per_orbit[O, j] = Σ_{m: O*_m = O} s_m σ(a_m(g1) + b_m(g2)) c_m(j), with the
    dominant orbits ``dominant`` (M,) of the moment shown, and the correct class
    table[g1, g2]."""
    from backend.training.network import activation_value

    a, b, c = (np.asarray(x, dtype=np.float64) for x in effective)
    hidden = activation_value(activation, torch.from_numpy(a[:, g1] + b[:, g2])).numpy()
    contributions = (np.asarray(scales, dtype=np.float64) * hidden)[:, None] * c
    membership = np.zeros((int(num_orbits), a.shape[0]))
    membership[np.asarray(dominant, dtype=np.int64), np.arange(a.shape[0])] = 1.0
    per_orbit = membership @ contributions
    return PairVote(int(g1), int(g2), int(table[g1, g2]), per_orbit, per_orbit.sum(axis=0))
