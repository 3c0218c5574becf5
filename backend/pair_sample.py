"""The fixed sample of pairs on which large groups estimate the figures that need every
pair's output (accuracy, learned-function power, the majority vote's share of the table),
and the labels that say so (the answer table's own sample per cell is in
``backend.answers``). No PyTorch here: the window's panels use the label.
"""

from __future__ import annotations

import numpy as np

SAMPLED_PAIRS = 4096
"""Pairs of the fixed sample on which large groups estimate the output metrics."""


def metric_pair_sample(order: int, seed: int, count: int = SAMPLED_PAIRS) -> np.ndarray | None:
    """A fixed seeded sample of ``count`` distinct flat pairs p = g1·n + g2 (sorted), or
    None when the group has no more pairs than that (every pair is then used)."""
    total = order * order
    if total <= count:
        return None
    rng = np.random.default_rng([int(seed), 0x5A3D])
    return np.sort(rng.choice(total, size=count, replace=False)).astype(np.int64)


def sampled_label(name: str, sampled_pairs: int) -> str:
    """The label of an output figure: "accuracy" or "accuracy, 4096 sampled pairs"."""
    return f"{name}, {sampled_pairs} sampled pairs" if sampled_pairs else name


def sampled_label_forms(name: str, sampled_pairs: int) -> list[str]:
    """``sampled_label`` and shorter forms of it, longest first, for an axis too short
    for the whole: "accuracy, 4096 sampled pairs", "accuracy (4096 pairs)", "accuracy…"
    (the last says that there is more, which a tooltip then gives)."""
    if not sampled_pairs:
        return [name]
    return [sampled_label(name, sampled_pairs), f"{name} ({sampled_pairs} pairs)", f"{name}…"]


def answers_label(pairs_per_cell: int) -> str:
    """The answer table's label: "answers" (every pair) or "answers, 4 sampled pairs per
    cell"."""
    return f"answers, {pairs_per_cell} sampled pairs per cell" if pairs_per_cell else "answers"
