"""Numerical checks of an irrep set and its Fourier transform, each returned as a number
(0 for exact arithmetic). Used by the tests and printed by the ``group`` command.

- homomorphism: max |rho(g) rho(h) - rho(gh)| over all pairs (g, h) when n <= 200,
  else over all g and h in a generating set (which implies it for all h, up to rounding)
- unitarity: max |rho(g) rho(g)^dagger - I|
- dimension sum: sum_rho d_rho^2 - n (an integer)
- Schur orthogonality: max |(d/n) sum_g rho(g)_ab conj(sigma(g)_cd) - [rho = sigma] δ_ac δ_bd|
- Fourier unitarity: max |F F^dagger - I| and |F^dagger F - I| of FourierTransform.matrix
- characters: max |(1/n) sum_g chi(g) conj(psi(g)) - [chi = psi]|
- Plancherel: max over a seeded random batch of |sum_rho P_rho(v) - ||v||^2| / ||v||^2
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from backend.groups.fourier import fourier_transform_of
from backend.groups.irreps import IrrepSet

FULL_PAIR_LIMIT = 200


@dataclass(frozen=True)
class VerificationReport:
    homomorphism: float
    unitarity: float
    dimension_sum: int
    schur_orthogonality: float
    fourier_unitarity: float
    character_orthonormality: float
    plancherel: float

    @property
    def worst(self) -> float:
        """Largest of the errors (the dimension-sum defect counted as an error too)."""
        return float(max(abs(value) for value in asdict(self).values()))


def homomorphism_error(irrep_set: IrrepSet) -> float:
    group = irrep_set.group
    n = group.order
    right = np.arange(n) if n <= FULL_PAIR_LIMIT else np.array(group.generating_set())
    worst = 0.0
    for irrep in irrep_set.irreps:
        m = irrep.matrices
        chunk = max(1, 2_000_000 // max(1, len(right) * irrep.dim**2))
        for start in range(0, n, chunk):
            left = np.arange(start, min(n, start + chunk))
            products = m[left][:, None] @ m[right][None, :]  # (c, r, d, d)
            expected = m[group.table[np.ix_(left, right)]]
            worst = max(worst, float(np.abs(products - expected).max()))
    return worst


def unitarity_error(irrep_set: IrrepSet) -> float:
    worst = 0.0
    for irrep in irrep_set.irreps:
        m = irrep.matrices
        gram = m @ np.conj(m.transpose(0, 2, 1))
        worst = max(worst, float(np.abs(gram - np.eye(irrep.dim)).max()))
    return worst


def dimension_sum_defect(irrep_set: IrrepSet) -> int:
    return int((irrep_set.dims**2).sum() - irrep_set.group.order)


def schur_orthogonality_error(irrep_set: IrrepSet) -> float:
    """Gram matrix of all normalised matrix coefficients sqrt(d/n) rho(g)_ab, built from
    the irreps directly (not from the Fourier module)."""
    n = irrep_set.group.order
    columns = np.concatenate(
        [np.sqrt(irrep.dim / n) * irrep.matrices.reshape(n, -1) for irrep in irrep_set.irreps],
        axis=1,
    )
    gram = np.conj(columns.T) @ columns
    return float(np.abs(gram - np.eye(gram.shape[0])).max())


def fourier_unitarity_error(irrep_set: IrrepSet) -> float:
    f = fourier_transform_of(irrep_set).matrix
    identity = np.eye(f.shape[0])
    return float(
        max(
            np.abs(f @ np.conj(f.T) - identity).max(),
            np.abs(np.conj(f.T) @ f - identity).max(),
        )
    )


def character_orthonormality_error(irrep_set: IrrepSet) -> float:
    chi = irrep_set.characters
    gram = chi @ np.conj(chi.T) / irrep_set.group.order
    return float(np.abs(gram - np.eye(len(chi))).max())


def plancherel_error(irrep_set: IrrepSet, batch: int = 64, seed: int = 0) -> float:
    """Relative Plancherel defect on seeded random real and complex batches."""
    n = irrep_set.group.order
    rng = np.random.default_rng(seed)
    transform = fourier_transform_of(irrep_set)
    real = rng.standard_normal((batch, n))
    complex_ = real + 1j * rng.standard_normal((batch, n))
    worst = 0.0
    for v in (real, complex_):
        norm = (np.abs(v) ** 2).sum(axis=1)
        for power in (transform.irrep_power(v), transform.orbit_power(v)):
            worst = max(worst, float((np.abs(power.sum(axis=1) - norm) / norm).max()))
    return worst


def verify(irrep_set: IrrepSet) -> VerificationReport:
    """All checks of an irrep set."""
    return VerificationReport(
        homomorphism=homomorphism_error(irrep_set),
        unitarity=unitarity_error(irrep_set),
        dimension_sum=dimension_sum_defect(irrep_set),
        schur_orthogonality=schur_orthogonality_error(irrep_set),
        fourier_unitarity=fourier_unitarity_error(irrep_set),
        character_orthonormality=character_orthonormality_error(irrep_set),
        plancherel=plancherel_error(irrep_set),
    )
