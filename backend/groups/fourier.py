"""The Fourier transform on a finite group, batched as matrix products.

For v: G -> C and an irrep rho of dimension d:

- coefficient   v̂[rho] = (1/n) sum_g v(g) rho(g)^dagger              (d x d)
- inversion     v(g) = sum_rho d tr(v̂[rho] rho(g))
- power         P_rho(v) = n d ||v̂[rho]||_F^2,  sum_rho P_rho(v) = ||v||^2
- orbit power   P_O(v) = sum over rho in O of P_rho(v)

All of it is one product with the unitary n x n matrix F whose rows come in irrep
blocks, F[(rho, a, b), g] = sqrt(d/n) conj(rho(g)_ba), so (F v)_(rho,a,b) =
sqrt(n d) v̂[rho]_ab and |F v|^2 summed over rho's block is P_rho(v).

For real inputs the orbit power uses a real orthogonal n x n matrix B whose row block
for orbit O is an orthonormal basis of O's real isotypic subspace of R^G (spanned by the
real and imaginary parts of O's rows of F), so P_O(v) = ||B_O v||^2: one real matrix
product and a block sum of squares. B and the block-sum matrix are cached per torch
device and dtype.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np

from backend.errors import UserError
from backend.groups.irreps import IrrepSet

if TYPE_CHECKING:  # PyTorch loads only when a torch method is called (the window's
    import torch  # group check must not wait for it)


class FourierTransform:
    """Forward, inverse and power transforms of functions on one group (batched over
    leading axes: inputs are (..., n))."""

    def __init__(self, irrep_set: IrrepSet) -> None:
        self.irrep_set = irrep_set
        self.order = irrep_set.group.order
        dims = irrep_set.dims
        self.block_sizes = dims**2
        self.block_starts = np.concatenate([[0], np.cumsum(self.block_sizes)[:-1]])
        self._block_sums: dict[str, np.ndarray] = {}
        self._torch_cache: dict[tuple[str, torch.dtype], tuple[torch.Tensor, torch.Tensor]] = {}

    # ------------------------------------------------------------------ matrices

    @cached_property
    def matrix(self) -> np.ndarray:
        """F (n, n) complex128, F[(rho, a, b), g] = sqrt(d/n) conj(rho(g)_ba)."""
        n = self.order
        blocks = []
        for irrep in self.irrep_set.irreps:
            d = irrep.dim
            # rows (a, b) of the block: conj(rho(g)_ba) = conj of matrices[g].T[a, b]
            block = np.conj(irrep.matrices.transpose(0, 2, 1)).reshape(n, d * d).T
            blocks.append(np.sqrt(d / n) * block)
        return np.ascontiguousarray(np.concatenate(blocks, axis=0))

    @cached_property
    def irrep_of_row(self) -> np.ndarray:
        """Irrep index of every row of F, (n,) int."""
        return np.repeat(np.arange(len(self.block_sizes)), self.block_sizes)

    @cached_property
    def orbit_of_row(self) -> np.ndarray:
        """Orbit index of every row of ``real_basis``, (n,) int (rows grouped by orbit)."""
        sizes = [orbit.real_dim for orbit in self.irrep_set.orbits]
        return np.repeat(np.arange(len(sizes)), sizes)

    @cached_property
    def irrep_to_orbit(self) -> np.ndarray:
        """0/1 matrix (num_irreps, num_orbits): irrep power @ it = orbit power."""
        membership = np.zeros((len(self.irrep_set.irreps), len(self.irrep_set.orbits)))
        membership[np.arange(len(self.irrep_set.irreps)), self.irrep_set.orbit_of_irrep] = 1.0
        return membership

    @cached_property
    def real_basis(self) -> np.ndarray:
        """B (n, n) real orthogonal; the rows of orbit O's block (``orbit_of_row == O``)
        are an orthonormal basis of O's real isotypic subspace, so P_O(v) = ||B_O v||^2
        for real v."""
        blocks = []
        for orbit in self.irrep_set.orbits:
            rows = np.concatenate(
                [self.matrix[self.irrep_of_row == member] for member in orbit.irreps]
            )
            stacked = np.concatenate([rows.real, rows.imag], axis=0)
            _, _, right = np.linalg.svd(stacked, full_matrices=False)
            blocks.append(right[: orbit.real_dim])
        return np.ascontiguousarray(np.concatenate(blocks, axis=0))

    def block_sum_matrix(self, per: str = "orbit") -> np.ndarray:
        """0/1 matrix (n, K) that sums squared rows into per-orbit (or per-irrep) power
        (cached; do not modify)."""
        if per not in self._block_sums:
            groups = self.orbit_of_row if per == "orbit" else self.irrep_of_row
            count = len(self.irrep_set.orbits) if per == "orbit" else len(self.irrep_set.irreps)
            summer = np.zeros((self.order, count))
            summer[np.arange(self.order), groups] = 1.0
            summer.setflags(write=False)
            self._block_sums[per] = summer
        return self._block_sums[per]

    def orbit_projection_matrix(
        self, device: torch.device | str | None = None, dtype: torch.dtype | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(B^T, S) as torch tensors on ``device`` (float32 unless ``dtype`` is given): B^T
        the transposed real orthogonal basis (n, n), S the orbit block-sum matrix (n, K);
        for real v (..., n) the orbit power is ((v @ B^T) ** 2) @ S.
        Cached per device and dtype."""
        import torch

        dtype = torch.float32 if dtype is None else dtype
        device = torch.device(device or "cpu")
        key = (str(device), dtype)
        if key not in self._torch_cache:
            basis = torch.as_tensor(self.real_basis.T.copy(), dtype=dtype, device=device)
            summer = torch.tensor(self.block_sum_matrix("orbit"), dtype=dtype, device=device)
            self._torch_cache[key] = (basis, summer)
        return self._torch_cache[key]

    # ------------------------------------------------------------------ transforms

    def _check(self, v: np.ndarray | torch.Tensor) -> None:
        if v.shape[-1] != self.order:
            raise UserError(
                f"a function on {self.irrep_set.group.name} needs {self.order} values "
                f"(one per element) in its last axis, got shape {tuple(v.shape)}"
            )

    def forward(self, v: np.ndarray) -> np.ndarray:
        """F v for every vector: (..., n) -> (..., n) complex, irrep blocks in order."""
        v = np.asarray(v)
        self._check(v)
        return v @ self.matrix.T

    def coefficients(self, v: np.ndarray) -> list[np.ndarray]:
        """v̂[rho] = (1/n) sum_g v(g) rho(g)^dagger for every irrep: a list of (..., d, d)."""
        transformed = self.forward(v)
        result = []
        for irrep, start, size in zip(
            self.irrep_set.irreps, self.block_starts, self.block_sizes, strict=True
        ):
            d = irrep.dim
            block = transformed[..., start : start + size] / np.sqrt(self.order * d)
            result.append(block.reshape(*transformed.shape[:-1], d, d))
        return result

    def inverse(self, coefficients: list[np.ndarray]) -> np.ndarray:
        """v(g) = sum_rho d tr(v̂[rho] rho(g)) for a list of (..., d, d): (..., n) complex."""
        parts = []
        for irrep, block in zip(self.irrep_set.irreps, coefficients, strict=True):
            d = irrep.dim
            block = np.asarray(block)
            parts.append(np.sqrt(self.order * d) * block.reshape(*block.shape[:-2], d * d))
        stacked = np.concatenate(parts, axis=-1)
        return stacked @ np.conj(self.matrix)

    def irrep_power(self, v: np.ndarray) -> np.ndarray:
        """P_rho(v) = n d ||v̂[rho]||_F^2 for every irrep: (..., num_irreps)."""
        squared = np.abs(self.forward(v)) ** 2
        return squared @ self.block_sum_matrix("irrep")

    def orbit_power(self, v: np.ndarray) -> np.ndarray:
        """P_O(v) summed over each real orbit: (..., num_orbits); sums to ||v||^2.

        Real input: ((v B^T)^2) S, two real products. Complex input: from irrep_power.
        """
        v = np.asarray(v)
        self._check(v)
        if np.iscomplexobj(v):
            return self.irrep_power(v) @ self.irrep_to_orbit
        return ((v @ self.real_basis.T) ** 2) @ self.block_sum_matrix("orbit")

    def orbit_power_torch(self, v: torch.Tensor) -> torch.Tensor:
        """orbit_power for a real torch tensor (..., n), on v's device and dtype."""
        self._check(v)
        basis, summer = self.orbit_projection_matrix(v.device, v.dtype)
        return ((v @ basis) ** 2) @ summer


def fourier_transform_of(irrep_set: IrrepSet) -> FourierTransform:
    """The FourierTransform of an irrep set, cached on it."""
    if "fourier" not in irrep_set.cache:
        irrep_set.cache["fourier"] = FourierTransform(irrep_set)
    return irrep_set.cache["fourier"]
