"""The per-group harmonic data the metrics need, precomputed once per group.

One representative irrep ρ_O per real orbit O (its first member). For real functions
the members of a complex pair carry equal power, so one complex product with the rows of
the representatives gives both the coefficients v̂[ρ_O] = (1/n) Σ_g v(g) ρ_O(g)† and the
orbit power P_O(v) = |O| · n d ‖v̂[ρ_O]‖_F².
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from backend.groups import FiniteGroup, fourier_transform_of, irreps_of, parse_group


def load_group(spec: str) -> FiniteGroup:
    """The group of a spec (a GroupError, which is a UserError, names a bad spec)."""
    return parse_group(spec)


@dataclass(frozen=True)
class SpectralTools:
    """Representative-irrep Fourier rows and orbit bookkeeping for one group.

    Attributes:
        irrep_set, fourier: the group's irreps and Fourier transform.
        rows_real, rows_imag: (n, r) real and imaginary parts of the matrix R with
            (v R)[(O, a, b)] = v̂[ρ_O]_ab, blocks of d_O² columns per orbit.
        block_starts: first column of every orbit's block in R.
        orbit_dims: d_O per orbit; orbit_sizes: number of member irreps (1 or 2).
        orbit_indicators: Frobenius–Schur indicator per orbit (1 real, 0 complex pair,
            −1 quaternionic).
        one_dimensional: orbits whose irreps are 1-dimensional (phases are defined).
    """

    irrep_set: object
    fourier: object
    rows_real: np.ndarray
    rows_imag: np.ndarray
    block_starts: np.ndarray
    orbit_dims: np.ndarray
    orbit_sizes: np.ndarray
    labels: tuple[str, ...]
    orbit_indicators: np.ndarray

    @staticmethod
    def of(group: FiniteGroup) -> SpectralTools:
        """Cached on the group."""
        key = "engine:spectral"
        if key not in group.cache:
            group.cache[key] = SpectralTools._build(group)
        return group.cache[key]

    @staticmethod
    def _build(group: FiniteGroup) -> SpectralTools:
        irrep_set = irreps_of(group)
        fourier = fourier_transform_of(irrep_set)
        n = group.order
        columns = []
        starts = []
        position = 0
        for orbit in irrep_set.orbits:
            irrep = irrep_set.irreps[orbit.irreps[0]]
            d = irrep.dim
            # v̂_ab = (1/n) Σ_g v(g) conj(ρ(g)_ba): column (a, b) holds conj(ρ(g)_ba)/n.
            block = np.conj(np.transpose(irrep.matrices, (0, 2, 1))).reshape(n, d * d) / n
            columns.append(block)
            starts.append(position)
            position += d * d
        rows = np.ascontiguousarray(np.concatenate(columns, axis=1))
        return SpectralTools(
            irrep_set=irrep_set,
            fourier=fourier,
            rows_real=np.ascontiguousarray(rows.real),
            rows_imag=np.ascontiguousarray(rows.imag),
            block_starts=np.asarray(starts, dtype=np.int64),
            orbit_dims=np.asarray([o.dim for o in irrep_set.orbits], dtype=np.int64),
            orbit_sizes=np.asarray([len(o.irreps) for o in irrep_set.orbits], dtype=np.int64),
            labels=tuple(o.label for o in irrep_set.orbits),
            orbit_indicators=np.asarray([o.indicator for o in irrep_set.orbits], dtype=np.int64),
        )

    @property
    def order(self) -> int:
        return self.rows_real.shape[0]

    @property
    def num_orbits(self) -> int:
        return len(self.labels)

    @property
    def one_dimensional(self) -> np.ndarray:
        return self.orbit_dims == 1

    @property
    def quaternionic(self) -> np.ndarray:
        """Orbits whose irrep is quaternionic (indicator −1)."""
        return self.orbit_indicators < 0

    @property
    def real_rows(self) -> bool:
        """Whether every representative irrep has real matrices (R is real)."""
        cached = self.__dict__.get("_real_rows")
        if cached is None:
            cached = not np.any(self.rows_imag)
            object.__setattr__(self, "_real_rows", cached)
        return cached

    def representative_coefficients(self, values: np.ndarray) -> np.ndarray:
        """v R for real v (..., n): (..., r), every orbit's v̂[ρ_O] flattened.

        One real matrix product with [Re R | Im R] on the flattened batch; when every
        representative is real (``real_rows``) the product with Re R alone, and the
        result is a real array."""
        values = np.asarray(values, dtype=np.float64)
        if self.real_rows:
            return values @ self.rows_real
        flat = values.reshape(-1, values.shape[-1]) @ self.rows_stacked
        r = self.rows_real.shape[1]
        result = np.empty((flat.shape[0], r), dtype=np.complex128)
        result.real = flat[:, :r]
        result.imag = flat[:, r:]
        return result.reshape(*values.shape[:-1], r)

    @property
    def rows_stacked(self) -> np.ndarray:
        """[Re R | Im R], (n, 2r)."""
        cached = self.__dict__.get("_rows_stacked")
        if cached is None:
            cached = np.ascontiguousarray(np.concatenate([self.rows_real, self.rows_imag], 1))
            object.__setattr__(self, "_rows_stacked", cached)
        return cached

    def block(self, coefficients: np.ndarray, orbit: int) -> np.ndarray:
        """The (..., d, d) coefficients of one orbit from ``representative_coefficients``."""
        d = int(self.orbit_dims[orbit])
        start = int(self.block_starts[orbit])
        part = coefficients[..., start : start + d * d]
        return part.reshape(*part.shape[:-1], d, d)

    def orbit_power_from_coefficients(self, coefficients: np.ndarray) -> np.ndarray:
        """P_O = |O| n d_O ‖v̂[ρ_O]‖_F² for every orbit: (..., K)."""
        if np.iscomplexobj(coefficients):
            squared = coefficients.real**2 + coefficients.imag**2
        else:
            squared = np.square(coefficients)
        sums = np.add.reduceat(squared, self.block_starts, axis=-1)
        return sums * (self.orbit_sizes * self.order * self.orbit_dims)
