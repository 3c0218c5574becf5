"""Irreps in readable bases, where a closed form exists.

- C_n: rho_k(r^m) = e^{2 pi i k m / n}, labelled ``k=3``; complex pairs form the orbits
  ``k=±3``.
- D_n (elements r^a s^j): one-dimensional characters and, for 0 < k < n/2, the real
  two-dimensional rho_k(r) = rotation by 2 pi k / n, rho_k(s) = diag(1, -1).
- Q8: four signs and the quaternionic two-dimensional irrep i -> diag(i, -i),
  j -> [[0, 1], [-1, 0]].
- S_n: Young's orthogonal form on standard tableaux, labelled by partitions ``[2,1]``.
- Direct products: Kronecker products rho(g) (x) sigma(h), labelled ``a ⊗ b``.

A closed form gives the matrices on generators; ``extend_from_generators`` multiplies
them out over the whole group by breadth-first levels of the Cayley graph (one batched
matrix product per level and generator).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np

from backend.groups.finite_group import FiniteGroup


class ClosedFormIrreps(NamedTuple):
    """Readable irreps of one group: labels, matrices (n, d, d) each, and optionally a
    function naming a real orbit from the labels of its members (None: default name)."""

    labels: list[str]
    matrices: list[np.ndarray]
    orbit_label: Callable[[tuple[str, ...]], str | None] | None = None


def extend_from_generators(
    table: np.ndarray, generators: Sequence[int], images: Sequence[np.ndarray]
) -> np.ndarray:
    """rho(g) for every g from rho on generators, by rho(g s) = rho(g) rho(s).

    Breadth-first over the Cayley graph from the identity; each level is one batched
    product per generator. Returns a complex array (n, d, d). Consistency (that the
    images satisfy the group's relations) is checked by the verification module.
    """
    n = table.shape[0]
    d = images[0].shape[0]
    result = np.zeros((n, d, d), dtype=np.complex128)
    known = np.zeros(n, dtype=bool)
    result[0] = np.eye(d)
    known[0] = True
    frontier = np.array([0])
    while len(frontier) and not known.all():
        next_frontier = []
        for generator, image in zip(generators, images, strict=True):
            targets = table[frontier, generator]
            targets, first = np.unique(targets, return_index=True)
            fresh = ~known[targets]
            targets, sources = targets[fresh], frontier[first[fresh]]
            result[targets] = result[sources] @ image
            known[targets] = True
            next_frontier.append(targets)
        frontier = np.concatenate(next_frontier)
    if not known.all():
        raise ValueError("the generators do not generate the group")
    return result


def _one_dimensional(values: np.ndarray) -> np.ndarray:
    return np.asarray(values, dtype=np.complex128).reshape(-1, 1, 1)


# ---------------------------------------------------------------- cyclic


def cyclic_orbit_label(n: int) -> Callable[[tuple[str, ...]], str | None]:
    def label(members: tuple[str, ...]) -> str | None:
        if len(members) == 2:
            k = min(int(member.split("=")[1]) for member in members)
            return f"k=±{k}"
        return members[0]

    return label


def cyclic_irreps(group: FiniteGroup) -> ClosedFormIrreps:
    """C_n with element m = r^m: rho_k(m) = exp(2 pi i k m / n), k = 0..n-1."""
    n = group.order
    k, m = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    values = np.exp(2j * np.pi * k * m / n)
    return ClosedFormIrreps(
        [f"k={k}" for k in range(n)],
        [_one_dimensional(row) for row in values],
        cyclic_orbit_label(n),
    )


# ---------------------------------------------------------------- dihedral


def dihedral_irreps(group: FiniteGroup) -> ClosedFormIrreps:
    """D_n with element index a + n j = r^a s^j (order 2n)."""
    n = group.order // 2
    a = np.arange(2 * n) % n
    j = np.arange(2 * n) // n
    labels, matrices = ["trivial"], [_one_dimensional(np.ones(2 * n))]
    labels.append("sign")  # r -> 1, s -> -1
    matrices.append(_one_dimensional((-1.0) ** j))
    if n % 2 == 0:
        labels += ["r↦−1", "r↦−1, s↦−1"]
        matrices += [_one_dimensional((-1.0) ** a), _one_dimensional((-1.0) ** (a + j))]
    for k in range(1, (n + 1) // 2):
        angle = 2 * np.pi * k * a / n
        rotation = np.zeros((2 * n, 2, 2))
        rotation[:, 0, 0] = np.cos(angle)
        rotation[:, 0, 1] = -np.sin(angle)
        rotation[:, 1, 0] = np.sin(angle)
        rotation[:, 1, 1] = np.cos(angle)
        reflection = np.array([np.eye(2), np.diag([1.0, -1.0])])[j]
        labels.append(f"2-dim k={k}")
        matrices.append((rotation @ reflection).astype(np.complex128))
    return ClosedFormIrreps(labels, matrices)


# ---------------------------------------------------------------- quaternion


QUATERNION_NAMES = ("1", "-1", "i", "-i", "j", "-j", "k", "-k")


def quaternion_irreps(group: FiniteGroup) -> ClosedFormIrreps:
    """Q8 with the elements in the order of QUATERNION_NAMES."""
    index = {name: i for i, name in enumerate(group.element_names)}
    i_, j_ = index["i"], index["j"]
    generators = [i_, j_]
    labels = ["trivial", "i↦1, j↦−1", "j↦1, i↦−1", "k↦1, i↦−1"]
    one_dim = [(1, 1), (1, -1), (-1, 1), (-1, -1)]
    matrices = [
        extend_from_generators(group.table, generators, [np.eye(1) * si, np.eye(1) * sj])
        for si, sj in one_dim
    ]
    labels.append("2-dim (quaternionic)")
    matrices.append(
        extend_from_generators(
            group.table,
            generators,
            [np.diag([1j, -1j]), np.array([[0, 1], [-1, 0]], dtype=np.complex128)],
        )
    )
    return ClosedFormIrreps(labels, matrices)


# ---------------------------------------------------------------- symmetric


def partitions(n: int) -> list[tuple[int, ...]]:
    """Partitions of n in reverse lexicographic order, (n) first."""
    result: list[tuple[int, ...]] = []

    def build(remaining: int, largest: int, prefix: tuple[int, ...]) -> None:
        if remaining == 0:
            result.append(prefix)
            return
        for part in range(min(remaining, largest), 0, -1):
            build(remaining - part, part, prefix + (part,))

    build(n, n, ())
    return result


def standard_tableaux(shape: tuple[int, ...]) -> list[tuple[tuple[int, int], ...]]:
    """Standard Young tableaux of a shape; each as the (row, column) cell of 1, 2, ..., n."""
    n = sum(shape)
    result: list[tuple[tuple[int, int], ...]] = []

    def place(cells: tuple[tuple[int, int], ...], filled: list[int]) -> None:
        if len(cells) == n:
            result.append(cells)
            return
        for row, length in enumerate(shape):
            column = filled[row]
            if column < length and (row == 0 or filled[row - 1] > column):
                filled[row] += 1
                place(cells + ((row, column),), filled)
                filled[row] -= 1

    place((), [0] * len(shape))
    return result


def young_orthogonal_generators(shape: tuple[int, ...]) -> list[np.ndarray]:
    """Young's orthogonal form of the adjacent transpositions s_i = (i, i+1).

    On the tableau basis: with r = c(i+1) - c(i) the axial distance (content c = column -
    row), s_i T = (1/r) T + sqrt(1 - 1/r^2) T' where T' swaps i and i+1 (standard when
    |r| > 1); r = +1 (same row) gives +1, r = -1 (same column) gives -1.
    """
    tableaux = standard_tableaux(shape)
    index = {tableau: position for position, tableau in enumerate(tableaux)}
    n, dim = sum(shape), len(tableaux)
    generators = []
    for i in range(n - 1):
        matrix = np.zeros((dim, dim))
        for position, cells in enumerate(tableaux):
            (row_a, col_a), (row_b, col_b) = cells[i], cells[i + 1]
            r = (col_b - row_b) - (col_a - row_a)
            matrix[position, position] = 1.0 / r
            if abs(r) > 1:
                swapped = list(cells)
                swapped[i], swapped[i + 1] = cells[i + 1], cells[i]
                matrix[index[tuple(swapped)], position] = np.sqrt(1.0 - 1.0 / r**2)
        generators.append(matrix)
    return generators


def symmetric_irreps(group: FiniteGroup, degree: int, perms: np.ndarray) -> ClosedFormIrreps:
    """S_n by Young's orthogonal form; ``perms`` lists the group's elements as arrays."""
    adjacent = []
    for i in range(degree - 1):
        transposition = np.arange(degree)
        transposition[[i, i + 1]] = transposition[[i + 1, i]]
        adjacent.append(int(np.flatnonzero((perms == transposition).all(axis=1))[0]))
    labels, matrices = [], []
    for shape in partitions(degree):
        labels.append("[" + ",".join(str(part) for part in shape) + "]")
        if degree == 1:
            matrices.append(np.ones((1, 1, 1), dtype=np.complex128))
            continue
        matrices.append(
            extend_from_generators(group.table, adjacent, young_orthogonal_generators(shape))
        )
    return ClosedFormIrreps(labels, matrices)


# ---------------------------------------------------------------- direct products


def _short(label: str) -> str:
    return label.split(" (")[0]


def product_irreps(group: FiniteGroup, factors: Sequence[FiniteGroup]) -> ClosedFormIrreps:
    """Irreps of G1 x ... x Gr as Kronecker products of the factors' irreps.

    Element (g1, ..., gr) has index ((g1 * n2 + g2) * n3 + g3) ...; the label of
    rho1 ⊗ rho2 joins the factors' short labels with ' ⊗ '.
    """
    from backend.groups.irreps import irreps_of

    factor_sets = [irreps_of(factor) for factor in factors]
    if all(factor.closed_form is cyclic_irreps for factor in factors):
        return _cyclic_product_irreps(group, [factor.order for factor in factors])
    labels: list[str] = [""]
    matrices: list[np.ndarray] = [np.ones((1, 1, 1), dtype=np.complex128)]
    for factor_set in factor_sets:
        factor_irreps = factor_set.irreps
        new_labels, new_matrices = [], []
        for label, matrix in zip(labels, matrices, strict=True):
            for irrep in factor_irreps:
                left, right = matrix, irrep.matrices
                d_left, d_right = left.shape[1], right.shape[1]
                kron = np.einsum("gab,hcd->ghacbd", left, right).reshape(
                    left.shape[0] * right.shape[0], d_left * d_right, d_left * d_right
                )
                short = irrep.short_label
                new_labels.append(f"{label} ⊗ {short}" if label else short)
                new_matrices.append(kron)
        labels, matrices = new_labels, new_matrices
    return ClosedFormIrreps(labels, matrices)


def _cyclic_product_irreps(group: FiniteGroup, orders: Sequence[int]) -> ClosedFormIrreps:
    """C_n1 x ... x C_nr: rho_k(m) = exp(2 pi i sum_t k_t m_t / n_t), labelled
    ``k=(k1,k2)``; a complex pair is the orbit ``k=±(k1,k2)`` named by its smaller member."""
    grids = np.indices(orders).reshape(len(orders), -1).T  # (n, r): digits of each index
    phase = (grids[:, None, :] * grids[None, :, :] / np.asarray(orders)).sum(axis=2)
    values = np.exp(2j * np.pi * phase)  # values[k, m]
    labels = ["k=(" + ",".join(str(int(v)) for v in k) + ")" for k in grids]

    def orbit_label(members: tuple[str, ...]) -> str | None:
        if len(members) == 1:
            return members[0]
        parsed = [tuple(int(v) for v in member[3:-1].split(",")) for member in members]
        return "k=±(" + ",".join(str(v) for v in min(parsed)) + ")"

    return ClosedFormIrreps(labels, [_one_dimensional(row) for row in values], orbit_label)
