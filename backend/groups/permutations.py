"""Groups of permutations: the table of a list of permutations, and the group generated
by user-given generators in cycle notation (closure with a size limit).

Convention: a permutation is an int array p with p[i] the image of point i; the product
is composition with the right factor applied first, (p q)[i] = p[q[i]].
"""

from __future__ import annotations

import re

import numpy as np

from backend.groups.finite_group import MAX_ORDER, ORDER_LIMIT_REASON, FiniteGroup, GroupError

MAX_DEGREE = 64
"""Largest point moved by a user generator (permutations of at most 64 points)."""


def _hash_weights(degree: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(1, 2**62, size=degree, dtype=np.int64)


def permutation_codes(perms: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """An int64 hash of every permutation (rows of ``perms``), wrapping on overflow."""
    with np.errstate(over="ignore"):
        return (perms.astype(np.int64) * weights).sum(axis=-1)


def _unique_weights(perms: np.ndarray) -> np.ndarray:
    """Hash weights under which the given distinct permutations have distinct codes."""
    for seed in range(16):
        weights = _hash_weights(perms.shape[1], seed)
        if len(np.unique(permutation_codes(perms, weights))) == len(perms):
            return weights
    raise AssertionError("could not find collision-free permutation hashes")


def cayley_table_of_permutations(perms: np.ndarray) -> np.ndarray:
    """Cayley table of a list of distinct permutations closed under composition.

    table[i, j] = index of perms[i] o perms[j], computed in row chunks (one gather and
    one sorted lookup per chunk).
    """
    perms = np.asarray(perms, dtype=np.int64)
    n = len(perms)
    weights = _unique_weights(perms)
    codes = permutation_codes(perms, weights)
    sort_order = np.argsort(codes)
    sorted_codes = codes[sort_order]
    table = np.empty((n, n), dtype=np.int64)
    chunk = max(1, 2_000_000 // max(1, n * perms.shape[1]))
    for start in range(0, n, chunk):
        rows = perms[start : start + chunk]  # (c, degree)
        composed = rows[:, perms]  # (c, n, degree): composed[a, b] = rows[a] o perms[b]
        composed_codes = permutation_codes(composed, weights)
        position = np.minimum(np.searchsorted(sorted_codes, composed_codes), n - 1)
        if not np.array_equal(sorted_codes[position], composed_codes):
            raise GroupError("the permutations are not closed under composition")
        table[start : start + chunk] = sort_order[position]
    return table


def cycle_string(perm: np.ndarray) -> str:
    """Cycle notation of a permutation on points 1..degree, e.g. ``(1 2 3)(4 5)``; ``e``
    for the identity."""
    perm = np.asarray(perm)
    seen = np.zeros(len(perm), dtype=bool)
    cycles = []
    for start in range(len(perm)):
        if seen[start] or perm[start] == start:
            seen[start] = True
            continue
        cycle = []
        point = start
        while not seen[point]:
            seen[point] = True
            cycle.append(str(point + 1))
            point = int(perm[point])
        cycles.append("(" + " ".join(cycle) + ")")
    return "".join(cycles) or "e"


_CYCLE = re.compile(r"\(([^()]*)\)")


def parse_cycles(text: str) -> list[list[int]]:
    """Parse one permutation in cycle notation, ``(1 2 3)(4 5)``, into 1-based cycles."""
    stripped = text.strip()
    if not stripped:
        raise GroupError("an empty generator was given; write each as cycles, e.g. (1 2 3)")
    if _CYCLE.sub("", stripped).strip():
        raise GroupError(
            f"cannot read the generator {stripped!r}: write it as cycles of points, "
            "e.g. (1 2 3)(4 5)"
        )
    cycles = []
    for body in _CYCLE.findall(stripped):
        tokens = body.replace(",", " ").split()
        if not tokens:
            continue
        if not all(token.isdigit() for token in tokens):
            raise GroupError(
                f"cannot read the cycle ({body}): its points must be positive integers"
            )
        points = [int(token) for token in tokens]
        if min(points) < 1:
            raise GroupError(f"the cycle ({body}) has point 0; points are numbered from 1")
        if len(set(points)) != len(points):
            raise GroupError(f"the cycle ({body}) repeats a point")
        cycles.append(points)
    return cycles


def split_generators(text: str) -> list[str]:
    """Split ``(1 2 3)(4 5),(1 2)`` at the commas between parentheses."""
    parts, depth, current = [], 0, []
    for character in text:
        if character == "(":
            depth += 1
        elif character == ")":
            depth -= 1
        if character == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(character)
    parts.append("".join(current))
    return parts


def permutations_from_text(text: str) -> np.ndarray:
    """Generators ``(1 2 3)(4 5),(1 2)`` as an int array (num_generators, degree)."""
    generator_cycles = [parse_cycles(part) for part in split_generators(text)]
    degree = max([max(c) for cycles in generator_cycles for c in cycles] + [1])
    if degree > MAX_DEGREE:
        raise GroupError(
            f"a generator moves point {degree}; at most {MAX_DEGREE} points are supported"
        )
    perms = np.tile(np.arange(degree), (len(generator_cycles), 1))
    for row, cycles in enumerate(generator_cycles):
        touched: set[int] = set()
        for cycle in cycles:
            if touched & set(cycle):
                # overlapping cycles: compose them right to left as written
                image = np.arange(degree)
                for a, b in zip(cycle, cycle[1:] + cycle[:1], strict=True):
                    image[a - 1] = b - 1
                perms[row] = perms[row][image]
            else:
                for a, b in zip(cycle, cycle[1:] + cycle[:1], strict=True):
                    perms[row, a - 1] = b - 1
            touched |= set(cycle)
    return perms


def close_under_generators(generators: np.ndarray, limit: int = MAX_ORDER) -> np.ndarray:
    """All products of the generators (breadth first, a whole frontier at a time),
    identity first; raises GroupError as soon as more than ``limit`` elements appear."""
    generators = np.asarray(generators, dtype=np.int64)
    degree = generators.shape[1]
    weights = _hash_weights(degree, 0)
    identity = np.arange(degree)[None, :]
    elements = [identity]
    known = permutation_codes(identity, weights)
    frontier = identity
    count = 1
    while len(frontier):
        # products[f, k] = frontier[f] o generators[k]
        products = frontier[:, generators].reshape(-1, degree)
        codes = permutation_codes(products, weights)
        _, first = np.unique(codes, return_index=True)
        first = np.sort(first)
        fresh = first[~np.isin(codes[first], known)]
        frontier = products[fresh]
        known = np.concatenate([known, codes[fresh]])
        count += len(fresh)
        if count > limit:
            raise GroupError(
                f"these generators generate a group of order more than {limit}: "
                f"{ORDER_LIMIT_REASON}. Use fewer or smaller generators."
            )
        elements.append(frontier)
    return np.concatenate(elements, axis=0)


def permutation_group(text: str, name: str | None = None) -> FiniteGroup:
    """The group generated by permutations in cycle notation, e.g. ``(1 2 3)(4 5),(1 2)``."""
    generators = permutations_from_text(text)
    elements = close_under_generators(generators)
    table = cayley_table_of_permutations(elements)
    names = [cycle_string(p) for p in elements]
    return FiniteGroup(name or f"perm:{text}", table, names)
