"""Dormant neurons: those whose weights stayed near their (small) initial size.

A neuron m is dormant when ‖(a_m, b_m, c_m)‖ = (‖a_m‖² + ‖b_m‖² + ‖c_m‖²)^½ is below
DORMANT_SHARE times the largest such norm over the neurons. Under a small
initialisation (the AGF regime) such neurons have not been recruited yet: their power
rows show the noise of their initial weights, not something learned.
"""

from __future__ import annotations

import numpy as np

DORMANT_SHARE = 0.01


def neuron_sizes(norms: np.ndarray) -> np.ndarray:
    """‖(a_m, b_m, c_m)‖ from the per-layer norms (3, M): (M,)."""
    return np.sqrt(np.sum(np.square(np.asarray(norms, dtype=np.float64)), axis=0))


def dormant_neurons(norms: np.ndarray, share: float = DORMANT_SHARE) -> np.ndarray:
    """(M,) bool: size below ``share`` × the largest size (none when all are zero)."""
    sizes = neuron_sizes(norms)
    if sizes.size == 0 or not np.isfinite(sizes).all() or sizes.max() <= 0:
        return np.zeros(sizes.shape, dtype=bool)
    return sizes < share * sizes.max()
