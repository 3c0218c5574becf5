"""The exact quadratic path: MSE over all n² pairs for σ(z) = z² without forming any pair.

For σ(z) = z² the hidden activation separates, (a + b)² = a² + b² + 2ab, so the summed
squared error over every ordered pair needs only Gram matrices of the neurons and one
group triple correlation per neuron (mathematics reference, section 6). With
A[g, m] = a_m(g), B[g, m] = b_m(g) (n × M), W the n_out × M matrix whose column m is the
output weight w_m = s_m ξ_m, C = X W (C[h, m] = ⟨w_m, x_h⟩), x̄ = Σ_h x_h,
P = (A∘A) Wᵀ, Q = (B∘B) Wᵀ, α = 1ᵀA, β = 1ᵀB:

    Σ‖f‖²   = n‖P‖² + n‖Q‖² + 2⟨1ᵀP, 1ᵀQ⟩ + 4 Σ (WᵀW ∘ AᵀA ∘ BᵀB)
              + 4 Σ_{g,m} (PW ∘ A)[g, m] β_m + 4 Σ_{g,m} (QW ∘ B)[g, m] α_m
    Σ⟨f, y⟩ = ⟨1ᵀP + 1ᵀQ, x̄⟩ + 2 Σ_m Σ_{g1,g2} a_m(g1) b_m(g2) c_m(g1 g2)
    Σ‖y‖²   = n Σ_h ‖x_h‖²

and L = (Σ‖f‖² − 2Σ⟨f, y⟩ + Σ‖y‖²) / n³, the dense path's mean over pairs and outputs.
Cost O(n²M + nM²) instead of O(n³M). The gradient is written out (``_sum_and_gradients``;
it is checked against the dense path and finite differences in the tests): with
K_W = WᵀW, K_A = AᵀA, K_B = BᵀB and T the triple correlation below,

    G_P = 2nP + 1(2q − 2x̄)ᵀ + 4(A∘β)Wᵀ,  G_Q = 2nQ + 1(2p − 2x̄)ᵀ + 4(B∘α)Wᵀ
    ∂/∂A = 2A∘(G_P W) + 4 PW∘β + 4·1 q_wᵀ + 8A(K_W∘K_B) − 4∂T/∂A     (B alike)
    ∂/∂W = G_Pᵀ(A∘A) + G_Qᵀ(B∘B) + 4Pᵀ(A∘β) + 4Qᵀ(B∘α) + 8W(K_A∘K_B) − 4Xᵀ∂T/∂C

with p = 1ᵀP, q = 1ᵀQ, p_w = 1ᵀ(PW∘A), q_w = 1ᵀ(QW∘B); it costs about a third less
than autograd on the same expressions (which forms both products of each Gram matrix).
The Gram terms (6nM² of the step's multiply-adds) are computed in two halves of the M
columns at once on the CPU (``_gram_terms``), and the loss alone (``loss``) runs the same
code without the gradient part.

The triple correlation T = Σ_m Σ_{g1,g2} a_m(g1) b_m(g2) c_m(g1 g2) goes through the
Fourier transform with ǎ[ρ] = (1/n) Σ_g a(g) ρ(g):

    T = n² Σ_ρ d_ρ Re tr(č[ρ]† ǎ[ρ] b̌[ρ])

summed over one member of each real orbit (a complex pair counts twice, as ρ̄'s term is
the conjugate of ρ's), so that a real irrep in a real basis costs one real product and a
complex one two. ``gather_triple_correlation`` computes the same with the Cayley table
(kept as the independent check and for the benchmark, which measured it slower).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from backend.task import Task


# --------------------------------------------------------------------- triple correlation
@dataclass(frozen=True)
class _IrrepBatch:
    """Irreps of one dimension d handled together: their rows of the transform, ρ_k(g)_ij/n
    for (k, i, j) (each row followed by its imaginary part when ``complex_``), as
    ``rows`` (R_b × n) and its transpose ``columns`` (n × R_b), both contiguous, and
    their weights d·(1 or 2)."""

    dim: int
    count: int
    complex_: bool
    rows: torch.Tensor
    columns: torch.Tensor
    weights: torch.Tensor  # (count,)


class TripleCorrelation:
    """T(A, B, C) = Σ_m Σ_{g1,g2} A[g1, m] B[g2, m] C[g1 g2, m] through the Fourier transform
    (module docstring), with its gradients. Per batch of irreps of one dimension, one
    product of the batch's rows of the (real, ≤ 2n rows) transform with [A B C], laid out
    again neurons first (a copy of R_b × 3M values) so that the d × d blocks are batched
    by neuron."""

    def __init__(self, irrep_set, device: torch.device, dtype: torch.dtype,
                 orbits=None) -> None:
        """``orbits`` (indices, None: all) restricts the sum to those orbits' irreps: exact
        when a, b or c has no Fourier coefficient on the others."""
        n = irrep_set.group.order
        chosen = range(len(irrep_set.orbits)) if orbits is None else orbits
        representatives = [irrep_set.orbits[k].irreps[0] for k in chosen]
        weight_of = {orbit.irreps[0]: len(orbit.irreps) for orbit in irrep_set.orbits}
        groups: dict[tuple[int, bool], list[int]] = {}
        for index in representatives:
            matrices = irrep_set.irreps[index].matrices
            is_complex = bool(np.abs(matrices.imag).max() > 1e-12)
            groups.setdefault((irrep_set.irreps[index].dim, is_complex), []).append(index)
        self.batches: list[_IrrepBatch] = []
        for (d, is_complex), members in sorted(groups.items()):
            stacked = np.stack([irrep_set.irreps[k].matrices for k in members])  # (k, n, d, d)
            flat = stacked.transpose(0, 2, 3, 1).reshape(len(members) * d * d, n) / n
            if is_complex:  # (k, i, j, real / imaginary) rows
                flat = np.stack([flat.real, flat.imag], axis=1).reshape(-1, n)
            rows = torch.tensor(np.ascontiguousarray(flat.real), dtype=dtype, device=device)
            weights = torch.tensor([d * weight_of[k] for k in members], dtype=dtype,
                                   device=device)
            self.batches.append(_IrrepBatch(d, len(members), is_complex, rows,
                                            rows.T.contiguous(), weights))
        self.order = n

    def __call__(self, a: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """Σ_m Σ_{g1,g2} a(g1) b(g2) c(g1 g2) over the columns of a, b, c (n × M)."""
        return self.value_and_gradients(a, b, c, need_gradients=False)[0]

    def value_and_gradients(self, a: torch.Tensor, b: torch.Tensor, c: torch.Tensor,
                            need_gradients: bool = True):
        """(T, ∂T/∂a, ∂T/∂b, ∂T/∂c) (the gradients None without ``need_gradients``)."""
        value, back = self.of_stacked(torch.cat([a, b, c], dim=1), need_gradients)
        if back is None:
            return value, None, None, None
        return (value, *back.tensor_split(3, dim=1))

    def of_stacked(self, stacked: torch.Tensor, need_gradients: bool = True,
                   back: torch.Tensor | None = None
                   ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(T, [∂T/∂a ∂T/∂b ∂T/∂c]) for ``stacked`` = [a b c] (n × 3M), the gradients
        stacked alike, written into ``back`` when given (n × 3M). With X = ǎ, Y = b̌,
        Z = č the blocks of one irrep (complex), Re tr(Z† X Y) has gradients Z Y†, X† Z and
        X Y (Wirtinger, as real and imaginary parts), taken back to the group by the
        transpose of the transform."""
        n = stacked.shape[0]
        width = stacked.shape[1] // 3
        total = None
        if need_gradients and back is None:
            back = torch.empty_like(stacked)
        first = True
        for batch in self.batches:
            d, k = batch.dim, batch.count
            # rows (k, i, j[, real / imaginary]) by (input, neuron), then neurons first
            parts_shape = (k, d, d, 2, 3, width) if batch.complex_ else (k, d, d, 3, width)
            order = (4, 5, 0, 1, 2, 3) if batch.complex_ else (3, 4, 0, 1, 2)
            transformed = (batch.rows @ stacked).view(parts_shape).permute(order).contiguous()
            blocks = torch.view_as_complex(transformed) if batch.complex_ else transformed
            x, y, z = blocks.unbind(0)  # (M, k, d, d) each
            product = x @ y
            overlap = (z.conj() * product).real if batch.complex_ else z * product
            term = overlap.sum((0, -1, -2)) @ batch.weights
            total = term if total is None else total.add_(term)
            if not need_gradients:
                continue
            weights = batch.weights[:, None, None]
            adjoint_y, adjoint_x = (y.mH, x.mH) if batch.complex_ else (y.mT, x.mT)
            parts = torch.stack([z @ adjoint_y, adjoint_x @ z, product]).mul_(weights)
            if batch.complex_:
                parts = torch.view_as_real(parts)
            inverse = [order.index(axis) for axis in range(len(order))]
            grads = parts.permute(inverse).reshape(-1, 3 * width)  # (R_b, 3M)
            if first:
                torch.mm(batch.columns, grads, out=back)
            else:
                back.addmm_(batch.columns, grads)
            first = False
        factor = float(n * n)
        total = total.mul_(factor)
        if not need_gradients:
            return total, None
        return total, back.mul_(factor)


def gather_triple_correlation(
    a: torch.Tensor, b: torch.Tensor, c: torch.Tensor, table: torch.Tensor,
    block_values: int = 1 << 22,
) -> torch.Tensor:
    """The same sum as ``TripleCorrelation`` by gathering C[T[g1, :]] for blocks of rows
    g1 (about ``block_values`` gathered values at a time): D[g1, m] = Σ_{g2} B[g2, m]
    C[g1 g2, m], T = Σ A ∘ D."""
    n, width = a.shape
    rows = max(1, min(n, block_values // (n * width)))
    total = a.new_zeros(())
    for start in range(0, n, rows):
        stop = min(n, start + rows)
        gathered = c.index_select(0, table[start:stop].reshape(-1)).view(stop - start, n, width)
        correlation = torch.einsum("rgm,gm->rm", gathered, b)
        total = total + (correlation * a[start:stop]).sum()
    return total


# --------------------------------------------------------------------- the loss
class ExactQuadraticLoss:
    """The MSE over all n² pairs of the σ = z² network by MATH §6, and its gradient.

    ``loss_and_gradient`` has the contract of ``CompositionNetwork.loss_and_gradient``
    for all pairs: it writes ∂L/∂theta into ``grad`` and returns (loss, ∂L/∂s) with the
    second entry for a per-neuron scale tensor (None for a float scale)."""

    def __init__(self, task: Task, irrep_set, *, shared_embedding: bool,
                 device: torch.device, dtype: torch.dtype) -> None:
        self.order = task.order
        self.shared = shared_embedding
        self.device = device
        self.dtype = dtype
        encoding = None if task.one_hot else np.asarray(task.encoding, dtype=np.float64)
        self.encoding = None if encoding is None else torch.tensor(encoding, dtype=dtype,
                                                                   device=device)
        # x̄ = Σ_h x_h and Σ‖y‖² = n Σ_h ‖x_h‖²
        if encoding is None:
            x_sum = np.ones(task.order)
            target_square = float(task.order * task.order)
        else:
            x_sum = encoding.sum(axis=0)
            target_square = float(task.order * np.sum(encoding * encoding))
        self.x_sum = torch.tensor(x_sum, dtype=dtype, device=device)
        self.target_square = target_square
        self.triple = TripleCorrelation(irrep_set, device, dtype)
        self.workspace: dict[str, torch.Tensor] = {}

    def operands(self, theta: torch.Tensor, scale) -> tuple[torch.Tensor, torch.Tensor]:
        """([A B C] (n × 3M), W (n_out × M)): the embeddings and C = XW written side by side
        into one buffer kept from step to step (the triple correlation's operand), and the
        output weights W = s ξ."""
        n, width = self.order, theta.shape[-1]
        stacked = _buffer(self.workspace, "operands", (n, 3 * width), theta)
        a, b, c = stacked.tensor_split(3, dim=1)
        w = torch.mul(theta[-1], scale, out=_buffer(self.workspace, "w", theta[-1].shape, theta))
        second = theta[0] if self.shared else theta[1]
        if self.encoding is None:
            a.copy_(theta[0])
            b.copy_(second)
            c.copy_(w)
        else:
            torch.mm(self.encoding, theta[0], out=a)
            if self.shared:
                b.copy_(a)
            else:
                torch.mm(self.encoding, second, out=b)
            torch.mm(self.encoding, w, out=c)
        return stacked, w

    def loss(self, theta: torch.Tensor, scale) -> torch.Tensor:
        """L(theta, s) as a 0-dim tensor (no gradient: the value part of
        ``loss_and_gradient``)."""
        with torch.no_grad():
            stacked, w = self.operands(theta, scale)
            total = _sum_and_gradients(
                stacked, w, self.encoding, self.x_sum, self.target_square, self.triple,
                shared=self.shared, workspace=self.workspace, need_gradients=False)[0]
            return total / float(self.order) ** 3

    def loss_and_gradient(self, theta: torch.Tensor, scale, grad: torch.Tensor, *,
                          need_theta_grad: bool = True
                          ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(L, ∂L/∂s for a scale tensor else None); ∂L/∂theta into ``grad`` when
        ``need_theta_grad`` (∂L/∂θ = Xᵀ ∂L/∂A, ∂L/∂ξ = s ∂L/∂W, ∂L/∂s_m = ⟨∂L/∂w_m, ξ_m⟩)."""
        with torch.no_grad():
            stacked, w = self.operands(theta, scale)
            readout = theta[-1]
            total, grad_a, grad_b, grad_w = _sum_and_gradients(
                stacked, w, self.encoding, self.x_sum, self.target_square, self.triple,
                shared=self.shared, workspace=self.workspace)
            normaliser = float(self.order) ** 3
            scale_grad = None
            if isinstance(scale, torch.Tensor):
                scale_grad = (grad_w * readout).sum(0).div_(normaliser)
            if need_theta_grad:
                if self.shared:
                    grad_a = grad_a.add_(grad_b)
                layers = [grad_a] if self.shared else [grad_a, grad_b]
                for index, layer in enumerate(layers):
                    if self.encoding is None:
                        torch.div(layer, normaliser, out=grad[index])
                    else:
                        torch.mm(self.encoding.T, layer.div_(normaliser), out=grad[index])
                torch.mul(grad_w, scale, out=grad[-1]).div_(normaliser)
            return total / normaliser, scale_grad


def squared_error_sum(a: torch.Tensor, b: torch.Tensor, w: torch.Tensor,
                      encoding: torch.Tensor | None, x_sum: torch.Tensor,
                      target_square: float, triple, *, shared: bool = False) -> torch.Tensor:
    """Σ_{g1,g2} ‖f(g1, g2) − x_{g1 g2}‖² by MATH §6 from A, B (n × M), W (n_out × M), the
    encoding X (None for one-hot), x̄ and Σ‖y‖² (the value of ``_sum_and_gradients``, for
    callers holding A and B rather than weights, e.g. an orbit's part of the loss)."""
    c = w if encoding is None else encoding @ w
    stacked = torch.cat([a, a if shared else b, c], dim=1)
    return _sum_and_gradients(stacked, w, encoding, x_sum, target_square, triple,
                              shared=shared, need_gradients=False)[0]


def _sum_and_gradients(stacked: torch.Tensor, w: torch.Tensor,
                       encoding: torch.Tensor | None, x_sum: torch.Tensor,
                       target_square: float, triple, *, shared: bool = False,
                       workspace: dict[str, torch.Tensor] | None = None,
                       need_gradients: bool = True):
    """(S, ∂S/∂A, ∂S/∂B, ∂S/∂W) for S = Σ_{g1,g2} ‖f(g1, g2) − x_{g1 g2}‖² (module
    docstring) from ``stacked`` = [A B C] (n × 3M, C = XW; with ``shared`` B is a copy of
    A) and W (n_out × M); ``triple`` computes the group triple correlation (a
    ``TripleCorrelation``). With ``shared`` the two embedding gradients are returned
    separately (their sum is the embedding's). Without ``need_gradients`` only S (the
    gradients None). The M × M Gram matrices and the stacked operands are written into
    ``workspace``'s buffers, kept from step to step."""
    n = stacked.shape[0]
    width = stacked.shape[1] // 3
    a = stacked[:, :width]
    b = a if shared else stacked[:, width : 2 * width]
    wt = w.T
    # the four n × M operands of the products by Wᵀ and of ∂/∂W, stacked so that products
    # sharing an operand run as one: [A∘A; B∘B; A∘β; B∘α] (shared: [A∘A; A∘α])
    alpha = a.sum(0)
    beta = alpha if shared else b.sum(0)
    parts = 2 if shared else 4
    operands = _buffer(workspace, "stacked", (parts * n, width), w)
    half = (parts // 2) * n
    torch.mul(a, a, out=operands[:n])
    if not shared:
        torch.mul(b, b, out=operands[n : 2 * n])
    squares, weighted = operands[:half], operands[half:]
    pq = squares @ wt  # [P; Q]
    p = pq[:n]
    q = p if shared else pq[n:]
    p_sum, q_sum = p.sum(0), q.sum(0)
    pq_w = pq @ w
    pw = pq_w[:n]
    qw = pw if shared else pq_w[n:]
    p_w = (pw * a).sum(0)
    q_w = p_w if shared else (qw * b).sum(0)
    back = _buffer(workspace, "back", stacked.shape, w) if need_gradients else None
    triple_value, back = triple.of_stacked(stacked, need_gradients, back)
    total = (
        n * (p * p).sum() + n * (q * q).sum() + 2 * (p_sum @ q_sum)
        + 4 * (p_w @ beta) + 4 * (q_w @ alpha)
        - 2 * ((p_sum + q_sum) @ x_sum) - 4 * triple_value + target_square
    )
    if not need_gradients:
        cross = _gram_terms(a, b, w, shared=shared, workspace=workspace)
        return total + 4 * cross, None, None, None
    triple_a, triple_b, triple_c = back.tensor_split(3, dim=1)
    torch.mul(a, beta, out=operands[half : half + n])
    if not shared:
        torch.mul(b, alpha, out=operands[3 * n :])
    # [G_P; G_Q] above [4P; 4Q] in one buffer: the left operand of ∂/∂W's one product
    left = _buffer(workspace, "left", (2 * half, w.shape[0]), w)
    grad_pq = torch.mm(weighted, wt, out=left[:half]).mul_(4).add_(pq, alpha=2 * n)
    grad_pq[:n].add_(2 * (q_sum - x_sum))
    if not shared:
        grad_pq[n:].add_(2 * (p_sum - x_sum))
    torch.mul(pq, 4, out=left[half:])
    grad_pq_w = grad_pq @ w
    grad_a = grad_pq_w[:n].mul_(a).mul_(2).add_(pw * beta, alpha=4).add_(q_w, alpha=4)
    grad_a.sub_(triple_a, alpha=4)
    grad_b = None
    if not shared:
        grad_b = grad_pq_w[n:].mul_(b).mul_(2).add_(qw * alpha, alpha=4).add_(p_w, alpha=4)
        grad_b.sub_(triple_b, alpha=4)
    # ∂/∂W's products by [A∘A; B∘B] and [A∘β; B∘α] as one: [G_P; G_Q; 4P; 4Q]ᵀ stacked;
    # at A = B, G_Q = G_P and Q = P, so each block counts twice
    grad_w = left.T @ operands
    if shared:
        grad_w.mul_(2)
    if encoding is None:
        grad_w.sub_(triple_c, alpha=4)
    else:
        grad_w.addmm_(encoding.T, triple_c, alpha=-4)
    cross = _gram_terms(a, b, w, shared=shared, workspace=workspace,
                        grads=(grad_a, grad_b, grad_w))
    total = total + 4 * cross
    if shared:
        # at A = B the two gradients differ only in the triple correlation's part
        grad_b = grad_a + 4 * (triple_a - triple_b)
    return total, grad_a, grad_b, grad_w


def _gram_terms(a: torch.Tensor, b: torch.Tensor, w: torch.Tensor, *, shared: bool,
                workspace: dict[str, torch.Tensor] | None,
                grads: tuple | None = None) -> torch.Tensor:
    """Σ K_W∘K_A∘K_B, and with ``grads`` = (∂/∂A, ∂/∂B, ∂/∂W) (∂/∂B None when shared) the
    Gram terms added to them: 8A(K_W∘K_B), 8B(K_W∘K_A), 8W(K_A∘K_B). (Splitting the
    columns into two halves run at once on half of the threads each was measured: 1.5×
    faster with a busy core but 0.77× on an idle machine, S5 width 1024; the thread
    policy already falls back to one thread on a busy machine, so one piece is kept.)"""
    return _gram_half(a, b, w, slice(0, a.shape[1]), 0, shared, workspace, grads)


def _gram_half(a, b, w, columns: slice, lane: int, shared: bool, workspace, grads
               ) -> torch.Tensor:
    """``_gram_terms`` for the columns J of the M × M matrices: K[:, J] = Xᵀ X[:, J]
    for X = W, A, B, their products, and the Gram terms' columns J."""
    square = (a.shape[1], columns.stop - columns.start)
    gram_w = torch.mm(w.T, w[:, columns], out=_buffer(workspace, f"gram_w{lane}", square, a))
    gram_a = torch.mm(a.T, a[:, columns], out=_buffer(workspace, f"gram_a{lane}", square, a))
    gram_b = gram_a if shared else torch.mm(
        b.T, b[:, columns], out=_buffer(workspace, f"gram_b{lane}", square, a))
    # K_W∘K_B, then in place K_W∘K_A (over K_W) and K_A∘K_B (over K_B)
    gram_wb = torch.mul(gram_w, gram_b, out=_buffer(workspace, f"gram_wb{lane}", square, a))
    cross = gram_wb.view(-1) @ gram_a.view(-1)
    if grads is None:
        return cross
    grad_a, grad_b, grad_w = grads
    gram_wa = gram_wb if shared else gram_w.mul_(gram_a)
    gram_ab = gram_a.mul_(gram_a) if shared else gram_b.mul_(gram_a)
    grad_a[:, columns].addmm_(a, gram_wb, alpha=8)
    if not shared:
        grad_b[:, columns].addmm_(b, gram_wa, alpha=8)
    grad_w[:, columns].addmm_(w, gram_ab, alpha=8)
    return cross


def _buffer(workspace: dict[str, torch.Tensor] | None, name: str, shape: tuple[int, ...],
            like: torch.Tensor) -> torch.Tensor:
    """The workspace's buffer ``name`` of this shape (made anew when absent or unlike)."""
    if workspace is None:
        return like.new_empty(shape)
    buffer = workspace.get(name)
    if (buffer is None or buffer.shape != shape or buffer.dtype != like.dtype
            or buffer.device != like.device):
        buffer = workspace[name] = like.new_empty(shape)
    return buffer
