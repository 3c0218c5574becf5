"""Finite groups, their irreducible representations and the Fourier transform on them."""

from backend.groups.finite_group import MAX_ORDER, FiniteGroup, GroupError, validate_cayley_table
from backend.groups.fourier import FourierTransform, fourier_transform_of
from backend.groups.irreps import Irrep, IrrepSet, RealOrbit, irreps_of
from backend.groups.spec import parse_group

__all__ = [
    "MAX_ORDER",
    "FiniteGroup",
    "FourierTransform",
    "GroupError",
    "Irrep",
    "IrrepSet",
    "RealOrbit",
    "fourier_transform_of",
    "irreps_of",
    "parse_group",
    "validate_cayley_table",
]
