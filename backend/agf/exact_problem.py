"""The numerical AGF on large groups: its loss, dormant utility and explained shares by the
identity of the exact quadratic path (mathematics reference, section 6), never forming
anything of size pairs × n or pairs × M.

The dense problem (``simulation.AgfProblem``) holds the residual r = y − f of the active
network as a P × n matrix (P = n² pairs): 3 GB on S6. Here the residual is the active
network itself (``ActiveNetwork``: its A = X θ¹, B = X θ², W = ξ, n × M_a each), and
every sum over pairs is written out by σ(z) = z² separating, (a + b)² = a² + b² + 2ab.

**Utility.** For a dormant direction θ̄_m = (u, v, w) with a = X u, b = X v, c = X w
(c(h) = ⟨w, x_h⟩), H_p = a(g1) + b(g2), and the active neurons k (a_k, b_k, w_k):

    S_m = Σ_p H_p² ⟨w, r_p⟩ = Σ_p H_p² ⟨w, y_p⟩ − Σ_k ⟨w, w_k⟩ K[m, k],
    Σ_p H_p² ⟨w, y_p⟩ = ⟨w, x̄⟩ (‖a‖² + ‖b‖²) + 2 T_m,   T_m = Σ_{g1,g2} a(g1) b(g2) c(g1 g2),
    K[m, k] = Σ_p H_p² H_{p,k}²
            = n Σ_g a² a_k² + ‖a‖²‖b_k‖² + 2β_k Σ_g a² a_k + ‖b‖²‖a_k‖² + n Σ_g b² b_k²
              + 2α_k Σ_g b² b_k + 2β Σ_g a a_k² + 2α Σ_g b b_k² + 4 (Σ_g a a_k)(Σ_g b b_k)

(α = Σ_g a, β = Σ_g b; the nine terms are the products of the three terms of each
square, summed over g1 and g2 independently), and G(θ̄_m) = (2/(P n)) S_m. Writing the
cross terms between a dormant neuron and the active ones out (rather than differentiating
the loss of active ∪ dormant at dormant weights ε θ̄) costs O(n D M_a) for them instead of
the O(n (M_a + D)²) Gram matrices of all neurons, has no ε³ self term to neglect and
leaves the dormant neurons' own outputs out exactly. The triple correlation T_m is the
per-neuron part of ``TripleCorrelation`` (linear in c, so T_m = ⟨c_m, ∂T/∂c_m⟩), and
∇S follows term by term (``_utility_sums``); it is checked against the dense problem.

**Loss** of the active neurons: ``ExactQuadraticLoss`` (its hand-written gradient).

**Explained share** of orbit O, 1 − mean_pairs P_O(r_p)/P_O(t): Σ_p ‖Π_O r_p‖² is the
squared error of the network whose output weights are Π_O W trained on the targets
Π_O x_h, i.e. the §6 sum with W → Π_O W and the encoding X → X Π_O.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch

from backend.agf.orbit_fit import explained_fraction, only_listed, powered
from backend.agf.simulation import AgfProblem
from backend.training.quadratic_path import ExactQuadraticLoss, squared_error_sum


@dataclass
class ActiveNetwork:
    """The residual r = y − f of the exact problem, held as the active network: theta
    (L, n, M_a) torch float64 and the n × M_a quantities the utility reads (a_k, b_k,
    their squares, norms and sums), with its loss."""

    theta: torch.Tensor
    a: torch.Tensor
    b: torch.Tensor
    w: torch.Tensor
    loss: float | None = None
    """Filled by ``ExactAgfProblem.residual_loss`` when first asked for."""

    @property
    def width(self) -> int:
        return int(self.theta.shape[2])


UTILITY_BLOCK = 256
"""Dormant directions whose utility is evaluated together (``utility_and_gradient``)."""


class ExactAgfProblem(AgfProblem):
    """``AgfProblem`` for σ = z², MSE and every pair through the identity of MATH §6 (the
    module docstring); the residual is an ``ActiveNetwork``. Memory and time per
    evaluation O(n² M), never O(n³)."""

    backend = "exact"

    def _build_pairs(self, trainer) -> None:
        n = self.task.order
        self.exact_loss = ExactQuadraticLoss(
            self.task, self.irreps, shared_embedding=self.shared,
            device=torch.device("cpu"), dtype=torch.float64)
        self.triple = self.exact_loss.triple
        self.encoding_torch = torch.from_numpy(np.ascontiguousarray(self.encoding))
        self.x_sum = torch.from_numpy(self.encoding.sum(axis=0))
        self.target_square = float(n * np.sum(self.encoding * self.encoding))
        self.pair_count = n * n
        self._orbit_targets: dict[int, tuple[torch.Tensor, torch.Tensor, float]] = {}
        self._support(trainer)

    def _support(self, trainer) -> None:
        """The utility's factors of X: every x_g = λ(g)t lies in V_S = ⊕_{O∈S} Π_O ℝⁿ, S
        the orbits where t has power, so X = X_S U_Sᵀ with U_S (n × s) an orthonormal
        basis of V_S (the orbits' ``orbit_basis`` side by side) and X_S = X U_S, and
        a = X u, b, c have Fourier coefficients on S alone: the utility's products cost
        n s D instead of n² D, and its triple correlation runs over S's irreps
        (s = Σ_{O∈S} dim_O, e.g. 131 of 720 for a template on three orbits of S6).
        One-hot (t = e has power on every orbit, X = I) keeps X. The orbit powers of the
        effective functions follow from z = U_Sᵀ θ: P_O(X θ) = ‖X̃_O z_O‖² with
        X̃_O = U_Oᵀ X U_O (X commutes with Π_O), and P_O(θ) = ‖z_O‖² for O in S."""
        power = np.asarray(self.task.template_power, dtype=np.float64)
        self.support = [int(k) for k in np.flatnonzero(powered(power))]
        bases = [self.orbit_basis(k) for k in self.support]
        sizes = [basis.shape[1] for basis in bases]
        self.support_slices = np.split(np.arange(sum(sizes)), np.cumsum(sizes)[:-1])
        basis = np.concatenate(bases, axis=1)
        self.support_basis_numpy = basis
        self.support_blocks = [basis_o.T @ self.encoding @ basis_o for basis_o in bases]
        if self.task.one_hot or basis.shape[1] >= self.order:
            self.support_basis = None
            self.support_encoding = None if self.task.one_hot else self.encoding_torch
            self.utility_triple = self.triple
            return
        self.support_basis = torch.from_numpy(np.ascontiguousarray(basis))
        self.support_encoding = torch.from_numpy(self.encoding @ basis)
        self.utility_triple = type(self.triple)(self.irreps, torch.device("cpu"),
                                                torch.float64, orbits=self.support)
        # the network in the support's coordinates: encoding X_S (rows U_Sᵀ x_g), input
        # and output weights U_Sᵀθ; its loss is the loss wherever ξ lies in V_S
        self.support_loss = ExactQuadraticLoss(
            replace(self.task, encoding=self.encoding @ basis, one_hot=False), self.irreps,
            shared_embedding=self.shared, device=torch.device("cpu"), dtype=torch.float64)
        self.support_loss.triple = self.utility_triple

    def _support_powers(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(P_O(⟨θ, x_g⟩), P_O(θ)) for every weight vector and O in the support:
        (L, M, |S|) each (``_support``)."""
        coordinates = np.einsum("ns,lnm->lsm", self.support_basis_numpy, theta,
                                optimize=True)
        effective, raw = [], []
        for rows, block in zip(self.support_slices, self.support_blocks, strict=True):
            part = coordinates[:, rows, :]
            raw.append((part * part).sum(1))
            mapped = np.einsum("ij,ljm->lim", block, part, optimize=True)
            effective.append((mapped * mapped).sum(1))
        return np.stack(effective, axis=-1), np.stack(raw, axis=-1)

    def layer_orbits(self, theta: np.ndarray) -> np.ndarray:
        """Dominant orbit of every weight vector's effective function ⟨θ, x_g⟩ (L, M):
        it has power on the support S alone (``_support``)."""
        effective, _ = self._support_powers(theta)
        return np.asarray(self.support)[effective.argmax(axis=2)]

    def orbit_norms(self, theta: np.ndarray, orbit: np.ndarray) -> np.ndarray:
        """‖Π_{O_m} θ[l, :, m]‖ (L, M), from the support's coordinates where O_m is in S
        (as it is for a dominant orbit, ``layer_orbits``), by Π_O otherwise."""
        _, raw = self._support_powers(theta)
        position = {orbit_index: k for k, orbit_index in enumerate(self.support)}
        inside = np.array([o in position for o in orbit], dtype=bool)
        norms = np.zeros(theta.shape[::2])
        if inside.any():
            where = np.array([position[o] for o in orbit[inside]])
            norms[:, inside] = np.sqrt(np.take_along_axis(
                raw[:, inside, :], where[None, :, None], 2)[..., 0])
        if (~inside).any():
            projected = self.restrict(theta[:, :, ~inside],
                                      np.broadcast_to(orbit[~inside], (theta.shape[0],
                                                                       int((~inside).sum()))))
            norms[:, ~inside] = np.sqrt((projected * projected).sum(1))
        return norms

    # ------------------------------------------------------------------ the network
    def _embed(self, theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        a = self.encoding_torch @ theta[0]
        return a, (a if self.shared else self.encoding_torch @ theta[1])

    def _encode(self, vectors: torch.Tensor) -> torch.Tensor:
        """X v for the columns of v (n × D) through the support's factors."""
        if self.support_basis is None:
            return _times(self.support_encoding, vectors)
        return self.support_encoding @ (self.support_basis.T @ vectors)

    def _encode_back(self, gradient: torch.Tensor) -> torch.Tensor:
        """Xᵀ g for the columns of g (n × D) through the support's factors."""
        if self.support_basis is None:
            return _times(None if self.support_encoding is None else self.support_encoding.T,
                          gradient)
        return self.support_basis @ (self.support_encoding.T @ gradient)

    def loss(self, theta: np.ndarray) -> float:
        return self.loss_and_gradient(theta)[0]

    def loss_and_gradient(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        """L = (1/(P n)) Σ ‖f − y‖² and ∂L/∂theta by ``ExactQuadraticLoss``."""
        tensor = torch.from_numpy(np.ascontiguousarray(theta, dtype=np.float64))
        grad = torch.empty_like(tensor)
        loss, _ = self.exact_loss.loss_and_gradient(tensor, 1.0, grad)
        return float(loss), grad.numpy()

    def optimiser_gradient(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        """The drops' gradient: ``loss_and_gradient`` (float64, as fast as gradient
        descent's own step at these orders: 2.1 ms against 2.0 ms on A5 at width 256)."""
        return self.loss_and_gradient(theta)

    def minimise_cost(self, theta: np.ndarray, orbits: np.ndarray | None = None) -> np.ndarray:
        """``AgfProblem.minimise_cost`` in the support's coordinates where every weight
        vector is kept on an orbit of the support S: the network with encoding X_S and
        weights U_Sᵀθ (s entries each, orbit O's basis a slice of the identity) has the
        same loss, at a cost of O(n s M) a step instead of O(n² M)."""
        if (orbits is None or self.support_basis is None
                or not set(np.unique(orbits).tolist()) <= set(self.support)):
            return super().minimise_cost(theta, orbits)
        basis = self.support_basis_numpy
        slices = dict(zip(self.support, self.support_slices, strict=True))
        identity = np.eye(basis.shape[1])

        def loss_and_gradient(reduced: np.ndarray) -> tuple[float, np.ndarray]:
            tensor = torch.from_numpy(np.ascontiguousarray(reduced))
            grad = torch.empty_like(tensor)
            loss, _ = self.support_loss.loss_and_gradient(tensor, 1.0, grad)
            return float(loss), grad.numpy()

        reduced = np.einsum("ns,lnm->lsm", basis, theta, optimize=True)
        trained = self._minimise(reduced, orbits, loss_and_gradient,
                                 lambda orbit: identity[:, slices[orbit]])
        return np.einsum("ns,lsm->lnm", basis, trained, optimize=True)

    def residual(self, theta: np.ndarray) -> ActiveNetwork:
        tensor = torch.from_numpy(np.ascontiguousarray(theta, dtype=np.float64)).clone()
        a, b = self._embed(tensor)
        return ActiveNetwork(tensor, a, b, tensor[-1])

    def residual_loss(self, residual: ActiveNetwork) -> float:
        """The §6 loss of the active network, computed once (explained shares do not
        need it)."""
        if residual.loss is None:
            residual.loss = (self.target_square / self.order**3 if residual.width == 0
                             else float(self.exact_loss.loss(residual.theta, 1.0)))
        return residual.loss

    # ------------------------------------------------------------------ the utility
    def utility_and_gradient(
        self, directions: np.ndarray, residual: ActiveNetwork
    ) -> tuple[np.ndarray, np.ndarray]:
        """G(θ̄_m) (D,) and ∇G (L, n, D) of every dormant direction (module docstring),
        UTILITY_BLOCK directions at a time: each direction's utility is its own, and the
        work arrays of a block are a fraction of the weights' size (S6 at width 2048:
        0.25 GB at once, 35 MB a block)."""
        width = directions.shape[2]
        if width <= UTILITY_BLOCK:
            return self._utility_block(directions, residual)
        utility = np.empty(width)
        gradient = np.empty(directions.shape)
        for start in range(0, width, UTILITY_BLOCK):
            block = slice(start, start + UTILITY_BLOCK)
            utility[block], gradient[:, :, block] = self._utility_block(
                directions[:, :, block], residual)
        return utility, gradient

    def _utility_block(
        self, directions: np.ndarray, residual: ActiveNetwork
    ) -> tuple[np.ndarray, np.ndarray]:
        theta = torch.from_numpy(np.ascontiguousarray(directions, dtype=np.float64))
        a = self._encode(theta[0])
        b = a if self.shared else self._encode(theta[1])
        w = theta[-1]
        c = self._encode(w)
        sums, grad_a, grad_b, grad_c, grad_w = _utility_sums(
            a, b, c, w, self.x_sum, self.utility_triple, residual)
        scale = 2.0 / (self.pair_count * self.order)
        layers = ([self._encode_back(grad_a + grad_b)] if self.shared
                  else [self._encode_back(grad_a), self._encode_back(grad_b)])
        gradient = torch.stack([*layers, grad_w + self._encode_back(grad_c)]).mul_(scale)
        return (sums * scale).numpy(), gradient.numpy()

    # ------------------------------------------------------------------ explained shares
    def _orbit_target(self, orbit: int) -> tuple[torch.Tensor, torch.Tensor, float]:
        """(Π_O, X Π_O, Σ_p ‖Π_O y_p‖² = n ‖X Π_O‖²) of one orbit, cached."""
        if orbit not in self._orbit_targets:
            projector = self.orbit_projectors()[orbit]
            encoding = self.encoding @ projector
            self._orbit_targets[orbit] = (
                torch.from_numpy(projector), torch.from_numpy(encoding),
                float(self.order * np.sum(encoding * encoding)))
        return self._orbit_targets[orbit]

    def explained(self, residual: ActiveNetwork, orbits=None) -> np.ndarray:
        """1 − mean_pairs P_O(r)/P_O(t) per orbit by the §6 sum with W → Π_O W and
        X → X Π_O (module docstring); NaN where the orbit carries no template power, and
        with ``orbits`` (indices) NaN for every orbit not listed, which is not computed."""
        power = np.asarray(self.task.template_power, dtype=np.float64)
        left = np.zeros_like(power)
        computed = np.flatnonzero(powered(power))
        if orbits is not None:
            computed = np.intersect1d(computed, orbits)
        for orbit in computed:
            projector, encoding, target_square = self._orbit_target(int(orbit))
            if residual.width == 0:
                total = target_square
            else:
                total = float(squared_error_sum(
                    residual.a, residual.b, projector @ residual.w, encoding,
                    encoding.sum(0), target_square, self.triple, shared=self.shared))
            left[orbit] = total / self.pair_count
        return only_listed(explained_fraction(left, power), orbits)


def _times(matrix: torch.Tensor | None, operand: torch.Tensor) -> torch.Tensor:
    """matrix @ operand, with None standing for the identity (one-hot encoding)."""
    return operand if matrix is None else matrix @ operand


def _utility_sums(a: torch.Tensor, b: torch.Tensor, c: torch.Tensor, w: torch.Tensor,
                  x_sum: torch.Tensor, triple, active: ActiveNetwork):
    """(S (D,), ∂S/∂a, ∂S/∂b, ∂S/∂c (n × D), ∂S/∂w at fixed c (n_out × D)) for
    S_m = Σ_p H_pm² ⟨w_m, r_p⟩ (module docstring), c = X w. With Φ = Wᵀ W_a (D × M_a)
    the weight of K in S: ∂S/∂c = 2 ∂T/∂c, ∂S/∂w = x̄ (‖a‖² + ‖b‖²)ᵀ − W_a Kᵀ and
    ∂S/∂a = 2 a∘⟨w, x̄⟩ + 2 ∂T/∂a − [2n a∘(A_a²Φᵀ) + 2 a∘(Φ‖b_k‖²) + 4 a∘(A_a(Φ∘β_a)ᵀ)
            + 2 β∘(A_a²Φᵀ) + 2·1 rowsum(Φ∘bᵀB_a²) + 4 A_a(Φ∘bᵀB_a)ᵀ]
    (∂/∂b the same with a ↔ b, α ↔ β)."""
    n = a.shape[0]
    _, triple_a, triple_b, triple_c = triple.value_and_gradients(a, b, c)
    per_neuron = (c * triple_c).sum(0)  # T_m: T is linear in c
    norm_a, norm_b = (a * a).sum(0), (b * b).sum(0)
    alpha, beta = a.sum(0), b.sum(0)
    on_target = w.T @ x_sum  # ⟨w_m, x̄⟩
    sums = on_target * (norm_a + norm_b) + 2.0 * per_neuron
    grad_a = 2.0 * a * on_target + 2.0 * triple_a
    grad_b = 2.0 * b * on_target + 2.0 * triple_b
    grad_c = 2.0 * triple_c
    grad_w = torch.outer(x_sum, norm_a + norm_b)
    if active.width == 0:
        return sums, grad_a, grad_b, grad_c, grad_w
    active_a, active_b, active_w = active.a, active.b, active.w
    square_a, square_b = active_a * active_a, active_b * active_b
    norm_ka, norm_kb = square_a.sum(0), square_b.sum(0)
    alpha_k, beta_k = active_a.sum(0), active_b.sum(0)
    a2, b2 = a * a, b * b
    a_ka, b_kb = a.T @ active_a, b.T @ active_b
    a_ka2, b_kb2 = a.T @ square_a, b.T @ square_b
    cross = (
        n * (a2.T @ square_a) + torch.outer(norm_a, norm_kb) + 2.0 * (a2.T @ active_a) * beta_k
        + torch.outer(norm_b, norm_ka) + n * (b2.T @ square_b)
        + 2.0 * (b2.T @ active_b) * alpha_k + 2.0 * beta[:, None] * a_ka2
        + 2.0 * alpha[:, None] * b_kb2 + 4.0 * a_ka * b_kb
    )  # K (D × M_a)
    weight = w.T @ active_w  # Φ
    sums = sums - (weight * cross).sum(1)
    grad_w = grad_w - active_w @ cross.T
    square_a_weight, square_b_weight = square_a @ weight.T, square_b @ weight.T
    grad_a = grad_a - (
        2.0 * n * a * square_a_weight + 2.0 * a * (weight @ norm_kb)
        + 4.0 * a * (active_a @ (weight * beta_k).T) + 2.0 * beta * square_a_weight
        + 2.0 * (weight * b_kb2).sum(1) + 4.0 * (active_a @ (weight * b_kb).T))
    grad_b = grad_b - (
        2.0 * n * b * square_b_weight + 2.0 * b * (weight @ norm_ka)
        + 4.0 * b * (active_b @ (weight * alpha_k).T) + 2.0 * alpha * square_b_weight
        + 2.0 * (weight * a_ka2).sum(1) + 4.0 * (active_b @ (weight * a_ka).T))
    return sums, grad_a, grad_b, grad_c, grad_w
