"""The three matrix products of a block of the training step, on the fastest library at hand.

For a block of k pairs with σ(H) = S (k × M), readout ξ (n × M) and the loss gradient
G̃ = ∂ℓ/∂Fᵀ (n × k), the step needs

    forward:       Fᵀ = α ξ Sᵀ                          (n × k)
    readout:       ∂L/∂ξ = c Σ_blocks G̃ S               (n × M)
    hidden:        ∂L/∂H = h (G̃ᵀ ξ) ⊙ E                 (k × M)

with scalar factors α (the output scale), c (α times the loss factor) and h (c, times 2
for σ = z²), and E = σ'(H) (E = H for σ = z², whose 2 is in h).

``AddmmProducts`` computes them with ``torch.addmm`` into the block's buffers, the factors
riding in its alpha. ``OneDnnProducts`` calls oneDNN's inner product
(``torch.ops.mkldnn._linear_pointwise``, the kernel PyTorch's own compiler emits for
linear layers on the CPU), which uses the CPU's widest vector instructions where the
BLAS that ``addmm`` calls may not: on an AVX-512 AMD EPYC it computes these products
1.7–2.7× faster than ``addmm``. Its results are new tensors, so the factors are folded
into small operands made once per step, and the ⊙ E of the hidden gradient is fused
into its product. Both give the same result up to rounding, each the same bits on every
run and for every thread count. They serve the PyTorch path of the step (GPUs, or
``fused_kernels=False``) and the forward pass of the metrics; the CPU step with the
fused kernels computes its products in ``backend.training.kernels`` instead.
"""

from __future__ import annotations

import functools

import torch

from backend.training import kernels


class AddmmProducts:
    """The products with ``torch.addmm`` (any device and dtype)."""

    name = "addmm"

    def output_weights(self, readout: torch.Tensor, alpha: float) -> tuple:
        """The operand of ``outputs`` for readout ξ (n × M) and output scale α."""
        return readout.T, alpha

    def outputs(self, activated: torch.Tensor, weights: tuple,
                out: torch.Tensor) -> torch.Tensor:
        """F = α S ξᵀ (pairs × n) into ``out``: the forward pass of the metrics."""
        readout_t, alpha = weights
        return torch.addmm(out, activated, readout_t, beta=0.0, alpha=alpha, out=out)

    def prepare(self, readout: torch.Tensor, alpha: float, readout_factor: float,
                hidden_factor: float) -> None:
        """Operands of one step: ξ (n × M) and the factors α, c and h."""
        self.readout = readout
        self.alpha, self.readout_factor, self.hidden_factor = alpha, readout_factor, hidden_factor

    def forward(self, block) -> torch.Tensor:
        """Fᵀ = α ξ Sᵀ, in the block's output buffer."""
        outputs = block.outputs
        return torch.addmm(outputs, self.readout, block.activated_t, beta=0.0,
                           alpha=self.alpha, out=outputs)

    def readout_gradient(self, gradient: torch.Tensor, block, running: torch.Tensor | None,
                         target: torch.Tensor) -> torch.Tensor:
        """The running Σ G̃ S over the lane's blocks so far, already times c, in ``target``."""
        beta = 0.0 if running is None else 1.0
        return torch.addmm(target, gradient, block.activated, beta=beta,
                           alpha=self.readout_factor, out=target)

    def finish_readout_gradient(self, running: torch.Tensor, target: torch.Tensor) -> None:
        """c Σ G̃ S into ``target`` (already there)."""

    def hidden_gradient(self, gradient_t: torch.Tensor, block,
                        derivative: torch.Tensor) -> torch.Tensor:
        """h (G̃ᵀ ξ) ⊙ E for G̃ᵀ (k × n), written over H (the product goes through σ(H)'s
        buffer, which the step no longer needs)."""
        scratch = torch.addmm(block.activated, gradient_t, self.readout, beta=0.0,
                              alpha=self.hidden_factor, out=block.activated)
        return torch.mul(scratch, derivative, out=block.hidden)


class OneDnnProducts:
    """The products with oneDNN's inner product (float32 on the CPU)."""

    name = "onednn"

    def __init__(self, inner_product) -> None:
        self._inner_product = inner_product  # (X, W) ↦ X Wᵀ, and its fused binary form
        self._binary = inner_product.binary

    def output_weights(self, readout: torch.Tensor, alpha: float) -> torch.Tensor:
        """The operand of ``outputs``: α ξ (n × M), contiguous."""
        return readout * alpha if alpha != 1.0 else readout.contiguous()

    def outputs(self, activated: torch.Tensor, weights: torch.Tensor,
                out: torch.Tensor) -> torch.Tensor:
        """F = S (α ξ)ᵀ (pairs × n) into ``out``: the forward pass of the metrics."""
        return out.copy_(self._inner_product(activated, weights, None, "none", [], ""))

    def prepare(self, readout: torch.Tensor, alpha: float, readout_factor: float,
                hidden_factor: float) -> None:
        """The operands α ξ (n × M) and h ξᵀ (M × n) of the step's products, scaled copies
        made in one pass into buffers kept from step to step, and c as a kept 0-dim tensor
        (multiplying by a Python float converts it to a tensor on every call)."""
        self.scaled_readout, self.scaled_readout_t = self._scaled_copies(
            readout, alpha, hidden_factor
        )
        if getattr(self, "readout_factor", None) != readout_factor:
            self.readout_factor = readout_factor
            self._readout_factor_tensor = (
                None if readout_factor == 1.0
                else torch.scalar_tensor(readout_factor, dtype=readout.dtype)
            )

    def _scaled_copies(self, readout: torch.Tensor, alpha: float,
                       hidden_factor: float) -> tuple[torch.Tensor, torch.Tensor]:
        """α ξ and h ξᵀ, both contiguous, in buffers kept while the shape stays."""
        buffers = getattr(self, "_scaled_buffers", None)
        if buffers is None or buffers[0].shape != readout.shape:
            scaled = torch.empty_like(readout, memory_format=torch.contiguous_format)
            scaled_t = torch.empty((readout.shape[1], readout.shape[0]),
                                   dtype=readout.dtype, device=readout.device)
            buffers = self._scaled_buffers = (scaled, scaled_t, scaled.numpy(), scaled_t.numpy())
        scaled, scaled_t, scaled_array, scaled_t_array = buffers
        if kernels.AVAILABLE and readout.is_contiguous():
            kernels.scaled_copies(readout.numpy(), alpha, hidden_factor, scaled_array,
                                  scaled_t_array)
        else:
            torch.mul(readout, alpha, out=scaled)
            torch.mul(readout.T, hidden_factor, out=scaled_t)
        return scaled, scaled_t

    def forward(self, block) -> torch.Tensor:
        """Fᵀ = (α ξ) Sᵀ, a new (n × k) tensor."""
        return self._inner_product(self.scaled_readout, block.activated, None, "none", [], "")

    def readout_gradient(self, gradient: torch.Tensor, block, running: torch.Tensor | None,
                         target: torch.Tensor) -> torch.Tensor:
        """The running Σ G̃ S over the lane's blocks so far (without c), a new tensor:
        G̃ (Sᵀ)ᵀ, plus the running sum as the product's fused addition."""
        weights = block.activated_t
        if running is None:
            return self._inner_product(gradient, weights, None, "none", [], "")
        return self._binary(gradient, running, weights, None, "add")

    def finish_readout_gradient(self, running: torch.Tensor, target: torch.Tensor) -> None:
        """c Σ G̃ S into ``target``."""
        if self._readout_factor_tensor is None:
            target.copy_(running)
        else:
            torch.mul(running, self._readout_factor_tensor, out=target)

    def hidden_gradient(self, gradient_t: torch.Tensor, block,
                        derivative: torch.Tensor) -> torch.Tensor:
        """(G̃ᵀ)(h ξᵀ)ᵀ ⊙ E as one fused product, a new (k × M) tensor (G̃ᵀ contiguous,
        which the product reads faster)."""
        return self._binary(gradient_t, derivative, self.scaled_readout_t, None, "mul")


def step_products(device: torch.device, dtype: torch.dtype, prefer_onednn: bool = True):
    """The products for a step on this device and dtype: oneDNN for float32 on a CPU where
    PyTorch has it (and ``prefer_onednn``), ``addmm`` otherwise. The choice depends on
    these alone, never on timings, so that a run repeats bit for bit."""
    if prefer_onednn and device.type == "cpu" and dtype == torch.float32:
        inner_product = onednn_inner_product()
        if inner_product is not None:
            return OneDnnProducts(inner_product)
    return AddmmProducts()


@functools.cache
def onednn_inner_product():
    """``torch.ops.mkldnn._linear_pointwise`` when this PyTorch has it and it computes a
    small product right (and its fused addition and multiplication), else None."""
    try:
        if not torch.backends.mkldnn.is_available():
            return None
        inner_product = torch.ops.mkldnn._linear_pointwise
        generator = torch.Generator().manual_seed(0)
        x, w, other = (
            torch.randn(shape, generator=generator) for shape in ((5, 7), (3, 7), (5, 3))
        )
        expected = x @ w.T
        checks = (
            (inner_product(x, w, None, "none", [], ""), expected),
            (inner_product.binary(x, other, w, None, "add"), expected + other),
            (inner_product.binary(x, other, w, None, "mul"), expected * other),
            (inner_product(x, w.T.contiguous().T, None, "none", [], ""), expected),
        )
        if all(torch.allclose(got, want, rtol=1e-5, atol=1e-5) for got, want in checks):
            return inner_product
    except (AttributeError, RuntimeError, TypeError, ValueError):
        pass
    return None
