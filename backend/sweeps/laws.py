"""Candidate laws for how neurons share themselves among a group's non-trivial orbits,
and how well observed counts fit them.

For a non-trivial real orbit O with complex irreps of dimension d_O:

- ``∝ d``:               p_O ∝ d_O
- ``∝ d²``:              p_O ∝ d_O²
- ``∝ real dimension``:  p_O ∝ dim_R O = Σ_{ρ ∈ O} d_ρ², the dimension of the orbit's
  subspace of real functions on G (d² for a real irrep, 2d² for a complex pair)
- ``uniform``:           p_O ∝ 1

Fit of pooled counts c_O (N = Σ c_O) to a law p: total variation TV = ½ Σ |c_O/N − p_O|,
and Pearson's χ² = Σ (c_O − N p_O)² / (N p_O) with K − 1 degrees of freedom.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LAWS = ("uniform", "∝ d", "∝ d²", "∝ real dimension")


@dataclass(frozen=True)
class LawFit:
    law: str
    expected: np.ndarray
    """p_O over the non-trivial orbits."""
    total_variation: float
    chi_square: float
    degrees_of_freedom: int


def law_shares(dims: np.ndarray, real_dims: np.ndarray) -> dict[str, np.ndarray]:
    """p_O of every law for orbits of irrep dimension ``dims`` and real dimension
    ``real_dims`` (non-trivial orbits only)."""
    dims = np.asarray(dims, dtype=np.float64)
    weights = {
        "uniform": np.ones_like(dims),
        "∝ d": dims,
        "∝ d²": dims**2,
        "∝ real dimension": np.asarray(real_dims, dtype=np.float64),
    }
    return {law: w / w.sum() for law, w in weights.items()}


def fit(counts: np.ndarray, expected: np.ndarray, law: str = "") -> LawFit:
    counts = np.asarray(counts, dtype=np.float64)
    total = counts.sum()
    observed = counts / total
    chi = float(((counts - total * expected) ** 2 / (total * expected)).sum())
    return LawFit(law, expected, 0.5 * float(np.abs(observed - expected).sum()), chi,
                  counts.size - 1)


def fit_laws(counts: np.ndarray, dims: np.ndarray, real_dims: np.ndarray) -> list[LawFit]:
    """Every law's fit to ``counts``, best (smallest total variation) first."""
    fits = [fit(counts, shares, law) for law, shares in law_shares(dims, real_dims).items()]
    return sorted(fits, key=lambda f: f.total_variation)
