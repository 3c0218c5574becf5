"""Gauge-invariant alignment of a neuron on a matrix irrep (mathematics reference, §4, §7).

For a neuron whose dominant orbit has irreps of dimension d ≥ 2, the theory says the
Fourier coefficients â, b̂, ĉ at the orbit's representative ρ become rank one and
aligned: ĉ is a positive multiple of b̂ â, and b̂ â is itself rank one only when the
right singular vector of b̂ meets the left singular vector of â. The quantities below do
not depend on the basis chosen for ρ (ρ → UρU† sends X → U X U†) nor on the phases of
singular vectors, so they can be drawn for any group:

- singular-vector overlap o = ‖V_k(b̂)† U_k(â)‖_F / √k, where U_k(â) holds the k top left
  singular vectors of â and V_k(b̂) the k top right singular vectors of b̂; k = 1, and
  k = 2 for quaternionic irreps, whose coefficients of real functions have singular
  values in equal pairs (§7). o ∈ [0, 1]; for k = 1 it is |⟨v₁(b̂), u₁(â)⟩|, → 1;
- rank-one share r₁ = σ₁²/‖X‖_F² (quaternionic: (σ₁² + σ₂²)/‖X‖_F²), → 1;
- alignment phasor z = tr(ĉ† b̂ â)/(‖b̂ â‖_F ‖ĉ‖_F), |z| ≤ 1, → 1.
"""

from __future__ import annotations

import numpy as np


def top_count(indicator: int) -> int:
    """How many singular values make "rank one" for an irrep with this Frobenius–Schur
    indicator: 2 over the quaternions (indicator −1), else 1."""
    return 2 if int(indicator) == -1 else 1


def singular_overlap(a_hat: np.ndarray, b_hat: np.ndarray, k: int = 1) -> np.ndarray:
    """o = ‖V_k(b̂)† U_k(â)‖_F / √k for stacks of (m, d, d) matrices: (m,) in [0, 1].

    U_k(â): the k left singular vectors of â with the largest singular values, i.e. the
    top eigenvectors of â â†; V_k(b̂): the k right singular vectors of b̂ with the largest
    singular values, the top eigenvectors of b̂† b̂ (a batched Hermitian eigensolver is
    several times cheaper than an SVD for these small matrices).
    """
    a_hat = np.asarray(a_hat)
    b_hat = np.asarray(b_hat)
    if a_hat.shape[0] == 0:
        return np.zeros(0)
    left = _top_eigenvectors(a_hat @ _adjoint(a_hat), k)
    right = _top_eigenvectors(_adjoint(b_hat) @ b_hat, k)
    products = _adjoint(right) @ left
    squared = np.sum(np.abs(products) ** 2, axis=(1, 2))
    return np.sqrt(np.clip(squared / k, 0.0, 1.0))


def _adjoint(matrices: np.ndarray) -> np.ndarray:
    swapped = np.swapaxes(matrices, -1, -2)
    return np.conj(swapped) if np.iscomplexobj(matrices) else swapped


def _top_eigenvectors(hermitian: np.ndarray, k: int) -> np.ndarray:
    """The eigenvectors of the k largest eigenvalues, as columns (..., d, k)."""
    _, vectors = np.linalg.eigh(hermitian)  # ascending eigenvalues
    return vectors[..., -k:]


def rank_one_share(blocks: np.ndarray, k: int = 1) -> np.ndarray:
    """r₁ = (σ₁² + … + σ_k²)/‖X‖_F² of each matrix in ``blocks`` (..., d, d); 1 for 0."""
    values = np.linalg.svd(np.asarray(blocks), compute_uv=False)
    squares = values**2
    total = squares.sum(axis=-1)
    top = squares[..., :k].sum(axis=-1)
    return np.where(total > 0, top / np.where(total > 0, total, 1.0), 1.0)


def alignment_phasor(a_hat: np.ndarray, b_hat: np.ndarray, c_hat: np.ndarray) -> np.ndarray:
    """z = tr(ĉ† b̂ â)/(‖b̂ â‖_F ‖ĉ‖_F) for stacks (m, d, d): (m,) complex (0 where undefined)."""
    product = np.asarray(b_hat) @ np.asarray(a_hat)
    c_hat = np.asarray(c_hat)
    overlap = np.einsum("mij,mij->m", np.conj(c_hat), product)
    denominator = np.linalg.norm(product, axis=(1, 2)) * np.linalg.norm(c_hat, axis=(1, 2))
    safe = np.where(denominator > 0, denominator, 1.0)
    return np.where(denominator > 0, overlap / safe, 0.0)


def alignment_invariants(blocks: np.ndarray, indicator: int = 1) -> dict[str, np.ndarray]:
    """All three for the coefficient blocks (3, m, d, d) of â, b̂, ĉ at one irrep:
    ``overlap`` (m,), ``rank_one`` (3, m), ``z`` (m,) complex."""
    a_hat, b_hat, c_hat = np.asarray(blocks)
    k = top_count(indicator)
    return {
        "overlap": singular_overlap(a_hat, b_hat, k),
        "rank_one": rank_one_share(blocks, k),
        "z": alignment_phasor(a_hat, b_hat, c_hat),
    }
