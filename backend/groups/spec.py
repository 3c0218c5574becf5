"""Short text specs for groups: ``C12``, ``D5``, ``S4``, ``A5``, ``Q8``, ``Dic3``,
``C7:C3``, ``SL(2,3)``, products ``C3xC5``, ``S3xC4``, ``Q8xS3``, permutation generators
``perm:(1 2 3)(4 5),(1 2)`` and a Cayley table file path (.csv or .json)."""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

from backend.groups import catalogue
from backend.groups.finite_group import FiniteGroup, GroupError
from backend.groups.permutations import permutation_group
from backend.groups.table_file import load_table_file

SPEC_HELP = (
    "C<n> (cyclic), D<n> (dihedral, order 2n), Q8, Dic<n> (dicyclic, order 4n), "
    "S<n> or A<n> (n <= 6), C<p>:C<q> (q divides p-1, e.g. C7:C3), SL(2,3), "
    "products joined by x (C3xC5, S3xC4), perm:(1 2 3)(4 5),(1 2) "
    "or the path of a .csv/.json Cayley table"
)

_FACTORS: list[tuple[re.Pattern, Callable[..., FiniteGroup], str]] = [
    (re.compile(r"(?:C|Z)(\d+)\s*(?::|⋊)\s*(?:C|Z)(\d+)", re.I), catalogue.metacyclic, "C{}:C{}"),
    (re.compile(r"(?:C|Z)(\d+)", re.I), catalogue.cyclic, "C{}"),
    (re.compile(r"Dic(\d+)", re.I), catalogue.dicyclic, "Dic{}"),
    (re.compile(r"D(\d+)", re.I), catalogue.dihedral, "D{}"),
    (re.compile(r"S(\d+)", re.I), catalogue.symmetric, "S{}"),
    (re.compile(r"A(\d+)", re.I), catalogue.alternating, "A{}"),
    (re.compile(r"Q8", re.I), catalogue.quaternion, "Q8"),
    (re.compile(r"SL\(\s*2\s*,\s*3\s*\)", re.I), catalogue.special_linear_2_3, "SL(2,3)"),
]


def _parse_factor(text: str) -> FiniteGroup:
    for pattern, build, _ in _FACTORS:
        match = pattern.fullmatch(text.strip())
        if match:
            return build(*[int(value) for value in match.groups()])
    raise GroupError(f"unknown group {text.strip()!r}; write one of: {SPEC_HELP}")


def _looks_like_path(spec: str) -> bool:
    return spec.lower().endswith((".csv", ".json")) or "/" in spec or Path(spec).is_file()


@lru_cache(maxsize=64)
def _parse_catalogue_spec(spec: str) -> FiniteGroup:
    parts = re.split(r"\s*[x×X]\s*", spec)
    if any(not part for part in parts):
        raise GroupError(f"cannot read {spec!r}: a product needs a group on both sides of "
                         f"x (e.g. C3xS3); write one of: {SPEC_HELP}")
    factors = [_parse_factor(part) for part in parts]
    if len(factors) == 1:
        return factors[0]
    return catalogue.direct_product(factors)


def parse_group(spec: str) -> FiniteGroup:
    """The group a spec names; GroupError (a UserError) naming the problem otherwise.

    Catalogue specs are cached, so repeated calls return the same object (and the same
    cached irreps).
    """
    if not isinstance(spec, str) or not spec.strip():
        raise GroupError(f"no group given; write one of: {SPEC_HELP}")
    spec = spec.strip()
    if spec.lower().startswith("perm:"):
        return permutation_group(spec[5:].strip(), name=spec)
    if _looks_like_path(spec):
        return load_table_file(spec)
    return _parse_catalogue_spec(spec)
