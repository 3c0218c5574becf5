"""The catalogue of named finite groups, each built as a Cayley table.

cyclic C_n, dihedral D_n (order 2n), quaternion Q8, dicyclic Dic_n (order 4n),
symmetric S_n and alternating A_n (n <= 6), metacyclic C_p ⋊ C_q (q | p - 1),
SL(2, 3), and direct products of any of them.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from functools import partial

import numpy as np

from backend.groups import closed_form_irreps as closed
from backend.groups.finite_group import FiniteGroup, GroupError, check_order
from backend.groups.permutations import cayley_table_of_permutations, cycle_string

MAX_PERMUTATION_DEGREE = 6
"""S_n and A_n are offered for n <= 6 (S6 has order 720; S7 would have 5040)."""


def _power_name(symbol: str, k: int) -> str:
    return "e" if k == 0 else (symbol if k == 1 else f"{symbol}^{k}")


def cyclic(n: int) -> FiniteGroup:
    """C_n = {r^m}: element m, r^a r^b = r^{(a + b) mod n}."""
    check_order(n, f"C{n}")
    m = np.arange(n)
    table = (m[:, None] + m[None, :]) % n
    names = [_power_name("r", k) for k in range(n)]
    return FiniteGroup(f"C{n}", table, names, closed.cyclic_irreps)


def dihedral(n: int) -> FiniteGroup:
    """D_n, the symmetries of a regular n-gon (order 2n): element a + n j = r^a s^j, with
    (r^a s^i)(r^b s^j) = r^{a + (-1)^i b} s^{i + j}."""
    if n < 1:
        raise GroupError(f"D{n} is not a dihedral group; use D_n with n >= 1 (order 2n)")
    check_order(2 * n, f"D{n}")
    index = np.arange(2 * n)
    a, s = index % n, index // n
    rotation = (a[:, None] + (1 - 2 * s[:, None]) * a[None, :]) % n
    reflection = (s[:, None] + s[None, :]) % 2
    table = rotation + n * reflection
    names = [
        _power_name("r", ai) if si == 0 else ("s" if ai == 0 else f"{_power_name('r', ai)}s")
        for ai, si in zip(a, s, strict=True)
    ]
    return FiniteGroup(f"D{n}", table, names, closed.dihedral_irreps)


def _quaternion_product(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    a1, b1, c1, d1 = x
    a2, b2, c2, d2 = y
    return np.array(
        [
            a1 * a2 - b1 * b2 - c1 * c2 - d1 * d2,
            a1 * b2 + b1 * a2 + c1 * d2 - d1 * c2,
            a1 * c2 - b1 * d2 + c1 * a2 + d1 * b2,
            a1 * d2 + b1 * c2 - c1 * b2 + d1 * a2,
        ]
    )


def quaternion() -> FiniteGroup:
    """Q8 = {±1, ±i, ±j, ±k} with the quaternion product (i^2 = j^2 = k^2 = ijk = -1)."""
    units = np.array(
        [[1, 0, 0, 0], [-1, 0, 0, 0], [0, 1, 0, 0], [0, -1, 0, 0],
         [0, 0, 1, 0], [0, 0, -1, 0], [0, 0, 0, 1], [0, 0, 0, -1]]
    )  # fmt: skip
    products = _quaternion_product(units.T[:, :, None], units.T[:, None, :])  # (4, 8, 8)
    codes = (units @ np.array([1, 3, 9, 27])).tolist()
    table = np.vectorize(codes.index)(np.tensordot(np.array([1, 3, 9, 27]), products, 1))
    return FiniteGroup("Q8", table, closed.QUATERNION_NAMES, closed.quaternion_irreps)


def dicyclic(n: int) -> FiniteGroup:
    """Dic_n = <a, x | a^{2n} = 1, x^2 = a^n, x a x^{-1} = a^{-1}> (order 4n): element
    k + 2n j = a^k x^j, (a^k x^j)(a^m x^l) = a^{k + (-1)^j m + n [j = l = 1]} x^{j + l}."""
    if n < 1:
        raise GroupError(f"Dic{n} is not a dicyclic group; use Dic_n with n >= 1 (order 4n)")
    check_order(4 * n, f"Dic{n}")
    index = np.arange(4 * n)
    k, j = index % (2 * n), index // (2 * n)
    power = k[:, None] + (1 - 2 * j[:, None]) * k[None, :] + n * (j[:, None] * j[None, :])
    table = power % (2 * n) + 2 * n * ((j[:, None] + j[None, :]) % 2)
    names = [
        _power_name("a", ki) if ji == 0 else ("x" if ki == 0 else f"{_power_name('a', ki)}x")
        for ki, ji in zip(k, j, strict=True)
    ]
    return FiniteGroup(f"Dic{n}", table, names)


def _check_degree(n: int, symbol: str) -> None:
    if n < 1:
        raise GroupError(f"{symbol}{n} is not a group; use {symbol}n with 1 <= n <= 6")
    if n > MAX_PERMUTATION_DEGREE:
        order = math.factorial(n) // (2 if symbol == "A" else 1)  # exact: no int64 wrap
        check_order(order, f"{symbol}{n}")


def all_permutations(n: int) -> np.ndarray:
    """All permutations of 0..n-1 in lexicographic order (the identity first)."""
    return np.array(list(itertools.permutations(range(n))), dtype=np.int64).reshape(-1, n)


def permutation_sign(perms: np.ndarray) -> np.ndarray:
    """Sign of every permutation (rows), from the parity of its inversions."""
    n = perms.shape[1]
    i, j = np.triu_indices(n, 1)
    inversions = (perms[:, i] > perms[:, j]).sum(axis=1)
    return 1 - 2 * (inversions % 2)


def symmetric(n: int) -> FiniteGroup:
    """S_n, all permutations of {1..n}, product (p q)(i) = p(q(i)), lexicographic order."""
    _check_degree(n, "S")
    perms = all_permutations(n)
    table = cayley_table_of_permutations(perms)
    names = [cycle_string(p) for p in perms]
    return FiniteGroup(
        f"S{n}", table, names, partial(closed.symmetric_irreps, degree=n, perms=perms)
    )


def alternating(n: int) -> FiniteGroup:
    """A_n, the even permutations of {1..n}, in lexicographic order."""
    _check_degree(n, "A")
    perms = all_permutations(n)
    perms = perms[permutation_sign(perms) == 1]
    table = cayley_table_of_permutations(perms)
    return FiniteGroup(f"A{n}", table, [cycle_string(p) for p in perms])


def multiplicative_order(r: int, p: int) -> int:
    """Smallest k >= 1 with r^k = 1 mod p (0 if r is not invertible mod p)."""
    if np.gcd(r, p) != 1:
        return 0
    value, k = r % p, 1
    while value != 1 % p:
        value = value * r % p
        k += 1
    return k


def metacyclic(p: int, q: int) -> FiniteGroup:
    """C_p ⋊ C_q = <a, b | a^p = b^q = 1, b a b^{-1} = a^r> with r the smallest integer
    of multiplicative order q mod p (exists for prime p exactly when q divides p - 1).
    Element i + p j = a^i b^j, (a^i b^j)(a^k b^l) = a^{i + r^j k} b^{j + l}."""
    if p < 2 or q < 1:
        raise GroupError(f"C{p}:C{q} is not defined; use C_p:C_q with p >= 2 and q | p - 1")
    check_order(p * q, f"C{p}:C{q}")
    candidates = [r for r in range(2, p) if multiplicative_order(r, p) == q]
    if q == 1:
        candidates = [1]
    if not candidates:
        raise GroupError(
            f"C{p}:C{q} does not exist: C{q} cannot act faithfully on C{p} because no unit "
            f"has order {q} mod {p}. For prime p choose q dividing p - 1, e.g. C7:C3 or C5:C4."
        )
    r = candidates[0]
    index = np.arange(p * q)
    i, j = index % p, index // p
    r_power = np.array([pow(r, int(e), p) for e in range(q)])
    table = (i[:, None] + r_power[j][:, None] * i[None, :]) % p + p * (
        (j[:, None] + j[None, :]) % q
    )
    names = []
    for ii, jj in zip(i, j, strict=True):
        word = (_power_name("a", ii) if ii else "") + (_power_name("b", jj) if jj else "")
        names.append(word or "e")
    return FiniteGroup(f"C{p}:C{q}", table, names)


def special_linear_2_3() -> FiniteGroup:
    """SL(2, 3): 2 x 2 matrices over F_3 with determinant 1 (order 24), identity first."""
    entries = np.array(list(itertools.product(range(3), repeat=4)))
    matrices = entries[(entries[:, 0] * entries[:, 3] - entries[:, 1] * entries[:, 2]) % 3 == 1]
    identity = np.flatnonzero((matrices == [1, 0, 0, 1]).all(axis=1))[0]
    order = [identity] + [i for i in range(len(matrices)) if i != identity]
    matrices = matrices[order].reshape(-1, 2, 2)
    products = np.einsum("aij,bjk->abik", matrices, matrices) % 3
    codes = matrices.reshape(-1, 4) @ np.array([27, 9, 3, 1])
    lookup = np.full(81, -1)
    lookup[codes] = np.arange(len(codes))
    table = lookup[products.reshape(len(codes), len(codes), 4) @ np.array([27, 9, 3, 1])]
    names = ["[" + " ".join(map(str, m.ravel()[:2])) + "; " + " ".join(map(str, m.ravel()[2:]))
             + "]" for m in matrices]  # fmt: skip
    names[0] = "e"
    return FiniteGroup("SL(2,3)", table, names)


def direct_product(factors: Sequence[FiniteGroup], name: str | None = None) -> FiniteGroup:
    """G1 x G2 x ... : element (g1, g2, ...) has index (g1 * n2 + g2) * n3 + ..., the
    product is componentwise; irreps are Kronecker products of the factors' irreps."""
    factors = list(factors)
    if not factors:
        raise GroupError("a direct product needs at least one factor")
    order = int(np.prod([f.order for f in factors]))
    name = name or "x".join(f.name for f in factors)
    check_order(order, name)
    table = factors[0].table
    names = list(factors[0].element_names)
    for factor in factors[1:]:
        m = factor.order
        table = (table[:, None, :, None] * m + factor.table[None, :, None, :]).reshape(
            table.shape[0] * m, table.shape[0] * m
        )
        names = [f"{a},{b}" for a in names for b in factor.element_names]
    names = [f"({name})" for name in names]
    names[0] = "e"
    return FiniteGroup(name, table, names, partial(closed.product_irreps, factors=factors))
