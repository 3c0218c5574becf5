"""Irreducible representations of a finite group, their Frobenius–Schur types and the
real orbits that index every per-neuron view.

- ``Irrep``: unitary matrices rho(g) (n, d, d), character chi(g) = tr rho(g), indicator
  nu = (1/n) sum_g chi(g^2) in {+1 real, 0 complex, -1 quaternionic}.
- ``RealOrbit``: {rho} when nu = ±1, {rho, conj rho} when nu = 0. Real functions on G
  have equal power on rho and conj rho, so real data is read per orbit.
- ``irreps_of(group)``: the closed form when the group has one, otherwise the generic
  numerical construction; irreps in a deterministic order (trivial first, then by
  dimension; numerical ones also by indicator and character values), orbit 0 trivial.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

import numpy as np

from backend.groups.finite_group import FiniteGroup
from backend.groups.numerical_irreps import numerical_irreps

Method = Literal["auto", "closed form", "numerical"]

INDICATOR_NAMES = {1: "real", 0: "complex", -1: "quaternionic"}


@dataclass(frozen=True, eq=False)
class Irrep:
    """One unitary irrep: ``matrices`` complex (n, d, d) with rho(g_i) = matrices[i]."""

    label: str
    matrices: np.ndarray
    indicator: int
    short_label: str = ""

    @property
    def dim(self) -> int:
        return int(self.matrices.shape[1])

    @cached_property
    def character(self) -> np.ndarray:
        """chi(g) = tr rho(g), complex (n,)."""
        return np.trace(self.matrices, axis1=1, axis2=2)

    @property
    def kind(self) -> str:
        """'real', 'complex' or 'quaternionic' (the Frobenius–Schur type)."""
        return INDICATOR_NAMES[self.indicator]


@dataclass(frozen=True)
class RealOrbit:
    """A real orbit: one self-conjugate irrep, or a complex-conjugate pair."""

    label: str
    irreps: tuple[int, ...]
    dim: int
    indicator: int
    is_trivial: bool

    @property
    def real_dim(self) -> int:
        """Dimension of the orbit's real isotypic subspace of R^G: sum over members d^2."""
        return len(self.irreps) * self.dim**2


@dataclass(frozen=True, eq=False)
class IrrepSet:
    """A complete set of irreps of ``group`` with its real orbits (orbit 0 trivial)."""

    group: FiniteGroup
    irreps: tuple[Irrep, ...]
    orbits: tuple[RealOrbit, ...]
    orbit_of_irrep: np.ndarray
    method: str
    cache: dict = field(default_factory=dict, repr=False)

    @property
    def nontrivial_orbits(self) -> np.ndarray:
        return np.arange(1, len(self.orbits))

    @property
    def dims(self) -> np.ndarray:
        return np.array([irrep.dim for irrep in self.irreps])

    @property
    def labels(self) -> list[str]:
        return [irrep.label for irrep in self.irreps]

    @property
    def orbit_labels(self) -> list[str]:
        return [orbit.label for orbit in self.orbits]

    @cached_property
    def characters(self) -> np.ndarray:
        """Character table per element, complex (num_irreps, n)."""
        return np.stack([irrep.character for irrep in self.irreps])

    @cached_property
    def class_characters(self) -> np.ndarray:
        """Character table per conjugacy class, complex (num_irreps, num_classes)."""
        representatives = [c[0] for c in self.group.conjugacy_classes]
        return self.characters[:, representatives]

    def orbit_index(self, label: str) -> int:
        """Index of the orbit with this label (UserError listing the labels if none)."""
        from backend.groups.finite_group import GroupError

        for index, orbit in enumerate(self.orbits):
            if orbit.label == label:
                return index
        raise GroupError(
            f"{self.group.name} has no orbit {label!r}; its orbits are "
            + ", ".join(self.orbit_labels)
        )


def frobenius_schur_indicator(group: FiniteGroup, character: np.ndarray) -> int:
    """nu = (1/n) sum_g chi(g^2), rounded to the nearest of -1, 0, 1."""
    squares = group.table[np.arange(group.order), np.arange(group.order)]
    value = character[squares].sum() / group.order
    nearest = int(np.round(value.real))
    if abs(value - nearest) > 1e-6 or nearest not in (-1, 0, 1):
        raise ArithmeticError(f"Frobenius–Schur indicator {value} is not -1, 0 or 1")
    return nearest


def _rounded_keys(class_characters: np.ndarray, decimals: int = 6) -> np.ndarray:
    """Sort keys (num_irreps, 2 k): -Re and -Im of each class value, rounded, so that
    larger values sort first (the trivial character before the others)."""
    keys = np.empty((class_characters.shape[0], 2 * class_characters.shape[1]))
    keys[:, 0::2] = -np.round(class_characters.real, decimals)
    keys[:, 1::2] = -np.round(class_characters.imag, decimals)
    return keys + 0.0  # no negative zeros


def _lexicographic_min(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise lexicographic minimum of two key arrays of the same shape."""
    differ = a != b
    first = np.argmax(differ, axis=1)
    rows = np.arange(len(a))
    take_b = differ[rows, first] & (b[rows, first] < a[rows, first])
    return np.where(take_b[:, None], b, a)


def _conjugate_partners(class_characters: np.ndarray, indicators: list[int]) -> np.ndarray:
    """partner[i] = index of the irrep whose character is conj(chi_i) (i itself when
    chi_i is real): a lookup of rounded keys, with a nearest-character search as the
    fallback when rounding separates the two."""
    keys = _rounded_keys(class_characters, 5)
    conjugate_keys = _rounded_keys(np.conj(class_characters), 5)
    lookup = {row.tobytes(): index for index, row in enumerate(keys)}
    partner = np.arange(len(keys))
    for index, indicator in enumerate(indicators):
        if indicator != 0:
            continue
        found = lookup.get(conjugate_keys[index].tobytes())
        target = np.conj(class_characters[index])
        if found is None or found == index or not np.allclose(class_characters[found], target):
            distance = np.abs(class_characters - target).max(axis=1)
            distance[index] = np.inf
            found = int(np.argmin(distance))
        partner[index] = found
    return partner


def _default_orbit_label(members: list[Irrep], numerical: bool) -> str:
    if len(members) == 1:
        return members[0].label
    names = "/".join(member.short_label for member in members)
    return f"{names} ({members[0].dim}-dim, complex)" if numerical else names


def build_irrep_set(
    group: FiniteGroup,
    matrices: list[np.ndarray],
    labels: list[str] | None,
    method: str,
    orbit_label=None,
) -> IrrepSet:
    """Sort, label, type and pair a complete list of irreps into an IrrepSet.

    ``labels`` None means numerical: the irreps are ordered by (dimension, indicator
    real < complex < quaternionic, character values) and labelled ``χ4 (3-dim, real)``.
    Given labels keep their order within each dimension (a stable sort by dimension).
    """
    characters = [np.trace(m, axis1=1, axis2=2) for m in matrices]
    indicators = [frobenius_schur_indicator(group, chi) for chi in characters]
    dims = np.array([m.shape[1] for m in matrices])
    representatives = [c[0] for c in group.conjugacy_classes]
    class_characters = np.stack(characters)[:, representatives]
    not_trivial = (np.abs(class_characters - 1).max(axis=1) > 1e-8).astype(int)
    if labels is None:
        type_rank = np.array([{1: 0, 0: 1, -1: 2}[nu] for nu in indicators])
        own = _rounded_keys(class_characters)
        # a complex pair sorts by the smaller key of the two, so its members are adjacent
        pair = _lexicographic_min(own, _rounded_keys(np.conj(class_characters)))
        sort_keys = [*own.T[::-1], *pair.T[::-1], type_rank, dims, not_trivial]
        order = [int(i) for i in np.lexsort(sort_keys)]
        labels_sorted = [
            f"χ{rank + 1} ({dims[i]}-dim, {INDICATOR_NAMES[indicators[i]]})"
            for rank, i in enumerate(order)
        ]
        shorts = [f"χ{rank + 1}" for rank in range(len(order))]
    else:
        order = [int(i) for i in np.lexsort([dims, not_trivial])]
        labels_sorted = [labels[i] for i in order]
        shorts = [label.split(" (")[0] for label in labels_sorted]
    irreps = tuple(
        Irrep(label, matrices[i], indicators[i], short)
        for label, short, i in zip(labels_sorted, shorts, order, strict=True)
    )
    position = np.argsort(order)
    partner_of = position[_conjugate_partners(class_characters, indicators)[order]]
    orbit_of_irrep = np.full(len(irreps), -1, dtype=np.int64)
    orbits: list[RealOrbit] = []
    for index, irrep in enumerate(irreps):
        if orbit_of_irrep[index] >= 0:
            continue
        members = [index] if irrep.indicator != 0 else [index, int(partner_of[index])]
        member_irreps = [irreps[m] for m in members]
        name = orbit_label(tuple(m.label for m in member_irreps)) if orbit_label else None
        name = name or _default_orbit_label(member_irreps, labels is None)
        orbit_of_irrep[members] = len(orbits)
        orbits.append(
            RealOrbit(name, tuple(members), irrep.dim, irrep.indicator, is_trivial=index == 0)
        )
    names = [orbit.label for orbit in orbits]
    if len(set(names)) != len(names):
        raise ArithmeticError(f"orbit labels are not unique: {names}")
    return IrrepSet(group, irreps, tuple(orbits), orbit_of_irrep, method)


def irreps_of(group: FiniteGroup, method: Method = "auto") -> IrrepSet:
    """All irreps of ``group`` (cached on the group).

    ``auto`` uses the group's closed form when it has one, else the numerical
    construction; ``closed form`` or ``numerical`` forces one (closed form raises
    ValueError for a group without one).
    """
    if method == "auto":
        method = "closed form" if group.closed_form is not None else "numerical"
    key = f"irreps:{method}"
    if key in group.cache:
        return group.cache[key]
    if method == "closed form":
        if group.closed_form is None:
            raise ValueError(f"{group.name} has no closed-form irreps")
        closed = group.closed_form(group)
        result = build_irrep_set(
            group, list(closed.matrices), list(closed.labels), method, closed.orbit_label
        )
    elif method == "numerical":
        result = build_irrep_set(group, numerical_irreps(group), None, method)
    else:
        raise ValueError(f"unknown irrep construction {method!r}")
    group.cache[key] = result
    return result
