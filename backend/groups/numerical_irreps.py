"""The generic construction of all irreps from a Cayley table (no closed form needed).

1. Conjugacy classes (from the conjugation table g x g^{-1}).
2. Character table by Burnside's method: the class-multiplication constants
   c[i, j, l] = #{x in C_i : x^{-1} z_l in C_j} (z_l a representative of C_l) make
   matrices (M_i)[j, l] = c[i, j, l] with the central characters omega = h chi / d as
   common right eigenvectors, M_i omega = omega_i omega. Eigenvectors of one random
   combination sum_i r_i M_i, scaled to omega(identity) = 1, give every omega; then
   d = round(sqrt(n / sum_l |omega_l|^2 / h_l)) and chi = d omega / h.
3. For each character of degree d >= 2: the isotypic projector
   P[x, y] = (d / n) conj(chi(g_x g_y^{-1})) (rank d^2); an orthonormal basis Q of its
   range; a random Hermitian element of the right-regular algebra,
   R[i, j] = a(g_i^{-1} g_j) with a(h^{-1}) = conj(a(h)), which commutes with the left
   regular action; the top d eigenvectors V of Q^dagger R Q (each eigenvalue there has
   multiplicity exactly d; the gap below the top d is checked and R redrawn when small);
   U = Q V spans one left-invariant irreducible subspace, and
   rho(g) = U^dagger lambda(g) U, i.e. rho(g)_ab = sum_x conj(U[g x, a]) U[x, b].

Everything is seeded, so the same table always gives the same matrices.
"""

from __future__ import annotations

import numpy as np

from backend.groups.finite_group import FiniteGroup

SEED = 20260101
GAP_TOLERANCE = 1e-3
MAX_REDRAWS = 20


def class_multiplication_constants(group: FiniteGroup) -> np.ndarray:
    """c[i, j, l] = #{x in C_i : x^{-1} z_l in C_j} with z_l the first element of C_l."""
    classes = group.conjugacy_classes
    k = len(classes)
    cls = group.class_of_element
    representatives = np.array([c[0] for c in classes])
    x = np.arange(group.order)
    partner = group.table[group.inverse[x][:, None], representatives[None, :]]  # (n, k)
    counts = np.zeros((k, k, k), dtype=np.int64)
    np.add.at(
        counts,
        (np.repeat(cls, k), cls[partner].ravel(), np.tile(np.arange(k), group.order)),
        1,
    )
    return counts


def class_constant_combination(group: FiniteGroup, weights: np.ndarray) -> np.ndarray:
    """sum_i weights[i] M_i with (M_i)[j, l] = c[i, j, l], built in O(n k) without the
    k^3 array of constants: every x contributes weights[class(x)] at
    (class(x^{-1} z_l), l)."""
    classes = group.conjugacy_classes
    k = len(classes)
    cls = group.class_of_element
    representatives = np.array([c[0] for c in classes])
    partner = group.table[group.inverse[:, None], representatives[None, :]]  # (n, k)
    combination = np.zeros((k, k), dtype=np.complex128)
    np.add.at(
        combination,
        (cls[partner].ravel(), np.tile(np.arange(k), group.order)),
        np.repeat(weights[cls], k),
    )
    return combination


def character_table(group: FiniteGroup, rng: np.random.Generator | None = None) -> np.ndarray:
    """All irreducible characters, an array (num_irreps, num_classes) complex, by
    Burnside's method (unsorted)."""
    rng = rng or np.random.default_rng(SEED)
    sizes = np.array([len(c) for c in group.conjugacy_classes], dtype=np.float64)
    k = len(sizes)
    if k == 1:
        return np.ones((1, 1), dtype=np.complex128)
    for _ in range(MAX_REDRAWS):
        weights = rng.standard_normal(k) + 1j * rng.standard_normal(k)
        combination = class_constant_combination(group, weights)  # (j, l)
        eigenvalues, vectors = np.linalg.eig(combination)
        separation = np.abs(eigenvalues[:, None] - eigenvalues[None, :])
        np.fill_diagonal(separation, np.inf)
        if separation.min() > GAP_TOLERANCE * max(1.0, np.abs(eigenvalues).max()):
            break
    else:
        raise ArithmeticError("could not separate the central characters")
    omega = (vectors / vectors[0:1, :]).T  # (irrep, class), omega(identity class) = 1
    degrees = np.sqrt(group.order / (np.abs(omega) ** 2 / sizes).sum(axis=1))
    degrees = np.round(degrees.real)
    return degrees[:, None] * omega / sizes[None, :]


def _orthonormal_range(matrix: np.ndarray, rank: int, rng: np.random.Generator) -> np.ndarray:
    n = matrix.shape[0]
    probe = rng.standard_normal((n, rank)) + 1j * rng.standard_normal((n, rank))
    basis, _ = np.linalg.qr(matrix @ probe)
    return basis


def irrep_from_character(
    group: FiniteGroup, character: np.ndarray, rng: np.random.Generator | None = None
) -> np.ndarray:
    """Unitary matrices (n, d, d) of the irrep with the given character (per class)."""
    rng = rng or np.random.default_rng(SEED)
    n = group.order
    chi = character[group.class_of_element]  # per element
    d = int(round(chi[0].real))
    if d == 1:
        return chi.reshape(n, 1, 1).astype(np.complex128)
    table, inverse = group.table, group.inverse
    projector = (d / n) * np.conj(chi[table[:, inverse]])  # P[x, y] = (d/n) conj chi(x y^-1)
    basis = _orthonormal_range(projector, d * d, rng)  # Q, (n, d^2)
    left_inverse_product = table[inverse[:, None], np.arange(n)[None, :]]  # g_i^-1 g_j
    for _ in range(MAX_REDRAWS):
        b = rng.standard_normal(n) + 1j * rng.standard_normal(n)
        a = b + np.conj(b[inverse])  # a(h^-1) = conj a(h)
        restricted = basis.conj().T @ (a[left_inverse_product] @ basis)
        restricted = (restricted + restricted.conj().T) / 2
        eigenvalues, vectors = np.linalg.eigh(restricted)
        eigenvalues, vectors = eigenvalues[::-1], vectors[:, ::-1]
        spread = eigenvalues[0] - eigenvalues[-1]
        if eigenvalues[d - 1] - eigenvalues[d] > GAP_TOLERANCE * spread:
            break
    else:
        raise ArithmeticError("could not split an isotypic component")
    u = basis @ vectors[:, :d]  # (n, d), orthonormal columns
    result = np.empty((n, d, d), dtype=np.complex128)
    chunk = max(1, 4_000_000 // (n * d))
    for start in range(0, n, chunk):
        moved = u[table[start : start + chunk]]  # (c, n, d): U[g x, :]
        result[start : start + chunk] = np.conj(moved).transpose(0, 2, 1) @ u
    return result


def numerical_irreps(group: FiniteGroup) -> list[np.ndarray]:
    """All irreps of the group as unitary matrices (n, d, d), one per character (in the
    order of ``character_table``; callers sort them)."""
    rng = np.random.default_rng(SEED)
    characters = character_table(group, rng)
    return [irrep_from_character(group, chi, rng) for chi in characters]
