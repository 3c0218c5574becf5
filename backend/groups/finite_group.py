"""A finite group held as its Cayley table, and the check that a table is a group.

Elements are the indices 0..n-1 with the identity at index 0; ``table[i, j]`` is the
index of the product g_i g_j.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cached_property
from typing import Any

import numpy as np

from backend.errors import UserError

MAX_ORDER = 1000
"""Largest group order accepted.

The Fourier matrix is a dense n x n complex array, the generic irrep construction costs
about n^3 operations (order 720, S6, takes a second or two on one core) and a training
run evaluates all n^2 ordered pairs with n outputs each (n^3 numbers per step); at
order 1000 these are already 10^9 and beyond it an interactive session is no longer
possible.
"""

ORDER_LIMIT_REASON = (
    f"groups of order at most {MAX_ORDER} are supported, because the Fourier matrix is "
    "n x n, building the irreps costs about n^3 operations and one training step "
    "touches n^3 numbers (all n^2 pairs, n outputs each)"
)


class GroupError(UserError):
    """A group spec, table, file or generator list that does not describe a usable group."""


def check_order(order: int, what: str) -> None:
    """Refuse a group order above MAX_ORDER (or below 1), naming the limit and why."""
    if order < 1:
        raise GroupError(f"{what} would have order {order}; a group needs at least one element")
    if order > MAX_ORDER:
        size = f"{order}" if order < 10**12 else f"about {float(order):.1e}"
        raise GroupError(
            f"{what} has order {size}, which is too large: {ORDER_LIMIT_REASON}. "
            "Choose a smaller group."
        )


class FiniteGroup:
    """A finite group given by its Cayley table.

    Attributes:
        name: the spec the group came from, e.g. ``"C7:C3"``.
        table: int64 array (n, n), ``table[i, j] = index(g_i g_j)``, identity at 0.
        element_names: one readable name per element.
        closed_form: optional callable ``closed_form(group)`` returning readable irreps
            (see ``backend.groups.closed_form_irreps.ClosedFormIrreps``).
    """

    def __init__(
        self,
        name: str,
        table: np.ndarray | Sequence[Sequence[int]],
        element_names: Sequence[str] | None = None,
        closed_form: Callable[[FiniteGroup], Any] | None = None,
        *,
        validate: bool = True,
    ) -> None:
        table = np.asarray(table)
        if validate:
            validate_cayley_table(table, element_names)
        self.name = name
        self.table = np.ascontiguousarray(table, dtype=np.int64)
        self.table.setflags(write=False)
        n = self.table.shape[0]
        if element_names is None:
            element_names = ["e"] + [f"g{i}" for i in range(1, n)]
        if len(element_names) != n:
            raise GroupError(f"{len(element_names)} element names were given for {n} elements")
        self.element_names = tuple(str(name) for name in element_names)
        self.closed_form = closed_form
        self.cache: dict[str, Any] = {}

    def __repr__(self) -> str:
        return f"FiniteGroup({self.name!r}, order={self.order})"

    @property
    def order(self) -> int:
        return int(self.table.shape[0])

    @cached_property
    def inverse(self) -> np.ndarray:
        """inverse[i] = index of g_i^{-1} (the column holding the identity in row i)."""
        inverse = np.argmin(self.table, axis=1).astype(np.int64)
        inverse.setflags(write=False)
        return inverse

    @cached_property
    def is_abelian(self) -> bool:
        return bool(np.array_equal(self.table, self.table.T))

    @cached_property
    def conjugation(self) -> np.ndarray:
        """conjugation[g, x] = index of g x g^{-1}, an (n, n) array."""
        rows = np.arange(self.order)[:, None]
        return self.table[self.table[rows, np.arange(self.order)[None, :]], self.inverse[rows]]

    @cached_property
    def class_of_element(self) -> np.ndarray:
        """class_of_element[x] = index of the conjugacy class of x (classes numbered by
        their smallest element, so the identity's class is 0)."""
        representative = self.conjugation.min(axis=0)
        _, class_index = np.unique(representative, return_inverse=True)
        return class_index.astype(np.int64)

    @cached_property
    def conjugacy_classes(self) -> list[np.ndarray]:
        """Conjugacy classes as sorted int arrays, ordered by smallest element; the
        identity's class {0} comes first."""
        order = np.argsort(self.class_of_element, kind="stable")
        counts = np.bincount(self.class_of_element)
        return [np.asarray(part) for part in np.split(order, np.cumsum(counts)[:-1])]

    @cached_property
    def element_orders(self) -> np.ndarray:
        """Order of every element: the smallest k >= 1 with g^k = e (vectorised over g)."""
        n = self.order
        orders = np.zeros(n, dtype=np.int64)
        power = np.arange(n)
        for k in range(1, n + 1):
            done = (power == 0) & (orders == 0)
            orders[done] = k
            if orders.all():
                break
            power = self.table[power, np.arange(n)]
        return orders

    def multiply(self, a: int, b: int) -> int:
        return int(self.table[a, b])

    def generating_set(self) -> list[int]:
        """A small generating set, chosen greedily (smallest missing element first)."""
        return magma_generating_set(self.table)


def subgroup_closure(table: np.ndarray, elements: Sequence[int]) -> np.ndarray:
    """Boolean mask of the closure of ``elements`` (and the identity 0) under the product."""
    n = table.shape[0]
    inside = np.zeros(n, dtype=bool)
    inside[0] = True
    inside[list(elements)] = True
    while True:
        members = np.flatnonzero(inside)
        products = table[np.ix_(members, members)].ravel()
        grown = inside.copy()
        grown[products] = True
        if grown.sum() == inside.sum():
            return inside
        inside = grown


def magma_generating_set(table: np.ndarray) -> list[int]:
    """Greedy generating set: add the smallest element not yet generated until all are."""
    generators: list[int] = []
    inside = subgroup_closure(table, [])
    while not inside.all():
        generators.append(int(np.argmin(inside)))
        inside = subgroup_closure(table, generators)
    return generators


def _name(names: Sequence[str] | None, index: int) -> str:
    return str(names[index]) if names is not None and index < len(names) else str(index)


def validate_cayley_table(
    table: np.ndarray | Sequence[Sequence[int]], element_names: Sequence[str] | None = None
) -> None:
    """Check that ``table`` is the Cayley table of a group with the identity at index 0.

    Checks, in order: a square integer array, entries in 0..n-1, the order limit, every
    row and column a permutation (cancellation), index 0 is a two-sided identity,
    associativity (T[T[a, b], c] == T[a, T[b, c]], by Light's test over a generating set
    b, which is exact), and inverses. Raises GroupError naming the failed axiom with an
    example.
    """
    table = np.asarray(table)
    if table.ndim != 2 or table.shape[0] != table.shape[1] or table.shape[0] == 0:
        raise GroupError(
            f"a Cayley table must be a non-empty square array, got shape {table.shape}"
        )
    if not np.issubdtype(table.dtype, np.integer):
        raise GroupError("a Cayley table must hold integer element indices")
    n = table.shape[0]
    check_order(n, "this Cayley table")
    bad = np.argwhere((table < 0) | (table >= n))
    if len(bad):
        i, j = bad[0]
        raise GroupError(
            f"table entry [{i}, {j}] = {table[i, j]} is not an element index 0..{n - 1}"
        )
    table = table.astype(np.int64)
    for axis, word in ((1, "row"), (0, "column")):
        lines = table if axis == 1 else table.T
        sorted_lines = np.sort(lines, axis=1)
        repeated = np.argwhere(sorted_lines[:, 1:] == sorted_lines[:, :-1])
        if len(repeated):
            line, position = repeated[0]
            value = sorted_lines[line, position]
            where = np.flatnonzero(lines[line] == value)[:2]
            other = "column" if word == "row" else "row"
            raise GroupError(
                "not a group: cancellation fails (each element must appear exactly once in "
                f"every row and column): {word} {_name(element_names, line)} holds "
                f"{_name(element_names, value)} twice, in {other}s "
                f"{_name(element_names, where[0])} and {_name(element_names, where[1])}"
            )
    identity_rows = np.flatnonzero((table == np.arange(n)).all(axis=1))
    identity_cols = np.flatnonzero((table == np.arange(n)[:, None]).all(axis=0))
    two_sided = np.intersect1d(identity_rows, identity_cols)
    if len(two_sided) == 0:
        raise GroupError(
            "not a group: there is no identity element (no element e with e*g = g*e = g for all g)"
        )
    if two_sided[0] != 0:
        raise GroupError(
            f"the identity must be element 0, but it is element "
            f"{_name(element_names, two_sided[0])}; reorder the table so that it comes first"
        )
    for b in magma_generating_set(table):
        left = table[table[:, b], :]  # (a*b)*c for all a, c
        right = table[:, table[b, :]]  # a*(b*c) for all a, c
        bad = np.argwhere(left != right)
        if len(bad):
            a, c = bad[0]
            raise GroupError(
                "not a group: associativity fails: "
                f"(x*y)*z != x*(y*z) for x = {_name(element_names, a)}, "
                f"y = {_name(element_names, b)}, z = {_name(element_names, c)}"
            )
    inverse = np.argmin(table, axis=1)
    lacking = np.flatnonzero(table[inverse, np.arange(n)] != 0)
    if len(lacking):
        raise GroupError(
            f"not a group: element {_name(element_names, lacking[0])} has no two-sided inverse"
        )
