"""The two-layer composition network: parameters, forward pass, loss and its gradient.

    f(g1, g2) = s · Σ_m ξ_m σ(⟨θ¹_m, x_{g1}⟩ + ⟨θ²_m, x_{g2}⟩) ∈ ℝⁿ

Parameters live in one tensor ``theta`` of shape (L, n, M) whose columns are neurons:
theta[0] = θ¹, theta[1] = θ² (absent with a shared embedding, L = 2) and theta[-1] = ξ.
With A = X θ¹ (n × M, A[g, m] = ⟨θ¹_m, x_g⟩; for one-hot A = θ¹ itself) and B = X θ²,
the hidden pre-activation of the pair (g1, g2) is H = A[g1] + B[g2]; the n² × 2n input
matrix is never formed. The backward pass is written out by hand (it is checked against
autograd and finite differences in the tests):

    G = ∂L/∂F (pairs × n),  ∂L/∂ξ = s Gᵀ S,  ∂L/∂H = s (G ξᵀ) ⊙ σ'(H),
    ∂L/∂A[g] = Σ_{pairs with g1 = g} ∂L/∂H,  ∂L/∂θ¹ = Xᵀ ∂L/∂A   (likewise B, θ²).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from backend.task import Task
from backend.training import kernels
from backend.training.fused_step import FusedPairsStep
from backend.training.lanes import LANES, run_in_lanes
from backend.training.products import step_products

# --------------------------------------------------------------------- activations
_SQRT_HALF = math.sqrt(0.5)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)

FORWARD_BLOCK = 1 << 20
"""Hidden values per block of the all-pairs forward pass on the CPU (4 MB in float32)."""

STEP_BLOCK = 1 << 18
"""Hidden values per block of the all-pairs training step on the CPU (1 MB in float32)."""


def activation_value(name: str, h: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
    """σ(h) for the named activation (written into ``out`` when given)."""
    if name == "square":
        return torch.mul(h, h, out=out) if out is not None else h * h
    if name == "relu":
        return torch.clamp(h, min=0, out=out) if out is not None else torch.relu(h)
    if name == "abs":
        return torch.abs(h, out=out) if out is not None else torch.abs(h)
    if name == "gelu":
        value = torch.nn.functional.gelu(h)
    elif name == "tanh":
        value = torch.tanh(h)
    elif name == "identity":
        value = h.clone()
    else:
        raise ValueError(f"unknown activation {name!r}")
    if out is not None:
        out.copy_(value)
        return out
    return value


def activation_derivative(name: str, h: torch.Tensor) -> torch.Tensor:
    """σ'(h): 2h, 1{h>0}, sign h, Φ(h) + h φ(h), 1 − tanh² h, 1."""
    if name == "square":
        return 2.0 * h
    if name == "relu":
        return (h > 0).to(h.dtype)
    if name == "abs":
        return torch.sign(h)
    if name == "gelu":
        cdf = 0.5 * (1.0 + torch.erf(h * _SQRT_HALF))
        pdf = torch.exp(-0.5 * h * h) * _INV_SQRT_2PI
        return cdf + h * pdf
    if name == "tanh":
        return 1.0 - torch.tanh(h) ** 2
    if name == "identity":
        return torch.ones_like(h)
    raise ValueError(f"unknown activation {name!r}")


# --------------------------------------------------------------------- initialisation
def initial_parameters(
    *,
    order: int,
    width: int,
    shared_embedding: bool,
    parameterisation: str,
    init_scale: float,
    seed: int,
    dtype: torch.dtype,
) -> torch.Tensor:
    """theta (L, n, M) on the CPU, drawn from a generator seeded with ``seed``.

    free: θ¹, θ² ~ N(0, α²/(2n)) and ξ ~ N(0, α²/n) entry-wise;
    sphere: every column (θ¹_m, θ²_m, ξ_m) uniform on S^{n−1}.
    """
    layers = 2 if shared_embedding else 3
    generator = torch.Generator().manual_seed(int(seed))
    theta = torch.randn((layers, order, width), generator=generator, dtype=torch.float64)
    if parameterisation == "sphere":
        theta /= theta.norm(dim=1, keepdim=True)
    else:
        theta[:-1] *= init_scale / math.sqrt(2.0 * order)
        theta[-1] *= init_scale / math.sqrt(order)
    return theta.to(dtype)


# --------------------------------------------------------------------- the network
class CompositionNetwork:
    """Forward pass, loss and hand-written gradient for one task on one device.

    ``scale`` arguments are either a Python float s (folded into the matrix products) or
    a tensor (M,) of per-neuron output scales s_m (f = Σ_m s_m ξ_m σ(·)).
    """

    def __init__(
        self,
        task: Task,
        *,
        activation: str,
        loss: str,
        shared_embedding: bool,
        device: torch.device,
        dtype: torch.dtype,
        fused_kernels: bool | None = None,
    ) -> None:
        """``fused_kernels``: take the all-pairs steps with ``backend.training.kernels`` (None:
        wherever they apply, which is on the CPU when the library compiled)."""
        self.task = task
        self.activation = activation
        self.loss_kind = loss
        self.shared = shared_embedding
        self.device = device
        self.dtype = dtype
        n = task.order
        self.order = n
        self.encoding = None if task.one_hot else torch.tensor(
            task.encoding, dtype=dtype, device=device
        )
        self.classes = torch.tensor(task.table.reshape(-1), device=device)
        self._targets: torch.Tensor | None = None  # (n², n), made by the first dense use
        self.train_pairs = torch.tensor(task.train_pairs, device=device)
        self.train_first = self.train_pairs // n
        self.train_second = self.train_pairs % n
        self.products = step_products(device, dtype)
        applicable = kernels.AVAILABLE and device.type == "cpu"
        self.fused = applicable if fused_kernels is None else bool(fused_kernels and applicable)
        self.activation_code = kernels.ACTIVATION_CODES[activation]
        self._buffers: dict[tuple, dict] = {}  # (rows, width) -> buffers (and block plan)
        self._view_cache: dict[int, tuple] = {}  # id(tensor) -> (tensor, its views)
        self._fused_step: FusedPairsStep | None = None  # kept for the same theta and grad
        self.last_accuracy: float | torch.Tensor = math.nan
        """The share of the last ``loss_and_gradient``'s pairs whose class is the first
        maximum of their class scores, at the weights of that call (a float from the
        kernels, a 0-dim tensor from PyTorch's code, not synced)."""

    @property
    def targets(self) -> torch.Tensor | None:
        """y(g1, g2) = x_{g1 g2} for every flat pair (n², n) for MSE (None otherwise),
        made when a dense step or loss first needs it: the exact path never does."""
        if self._targets is None and self.loss_kind == "mse":
            self._targets = torch.tensor(self.task.targets(), dtype=self.dtype,
                                         device=self.device)
        return self._targets

    # ----------------------------------------------------------------- embeddings
    def embeddings(self, theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """A = X θ¹ and B = X θ² (n × M each)."""
        first = theta[0]
        second = theta[0] if self.shared else theta[1]
        if self.encoding is None:
            return first, second
        if self.shared:
            a = self.encoding @ first
            return a, a
        return self.encoding @ first, self.encoding @ second

    def effective_functions(self, theta: torch.Tensor) -> torch.Tensor:
        """(3, n, M): a(g) = ⟨θ¹_m, x_g⟩, b(g) = ⟨θ²_m, x_g⟩, c(g) = ⟨ξ_m, x_g⟩."""
        a, b = self.embeddings(theta)
        c = theta[-1] if self.encoding is None else self.encoding @ theta[-1]
        return torch.stack([a, b, c])

    # ----------------------------------------------------------------- forward
    def hidden(self, theta: torch.Tensor, pairs: torch.Tensor | None = None) -> torch.Tensor:
        """Pre-activations H (pairs × M); all n² pairs in flat order when pairs is None."""
        a, b = self.embeddings(theta)
        if pairs is None:
            return (a[:, None, :] + b[None, :, :]).reshape(-1, a.shape[1])
        return a.index_select(0, pairs // self.order) + b.index_select(0, pairs % self.order)

    def outputs(
        self, theta: torch.Tensor, scale, pairs: torch.Tensor | None = None
    ) -> torch.Tensor:
        """f for the given flat pairs (all n² when None), shape (pairs, n).

        All pairs are computed in blocks of rows g1 (about ``FORWARD_BLOCK`` hidden
        values each on the CPU) so that H and σ(H) stay in cache between their
        construction and the product with the readout."""
        readout = theta[-1]
        tensor_scale = isinstance(scale, torch.Tensor)
        if pairs is not None:
            hidden = activation_value(self.activation, self.hidden(theta, pairs))
            if tensor_scale:
                return hidden @ (readout * scale).T
            return (hidden @ readout.T) * scale
        a, b = self.embeddings(theta)
        n, width = a.shape
        alpha = 1.0 if tensor_scale else float(scale)
        weights = self.products.output_weights(
            readout * scale if tensor_scale else readout, alpha
        )
        result = torch.empty((n * n, n), dtype=a.dtype, device=a.device)
        rows = n if a.device.type != "cpu" else max(1, min(n, FORWARD_BLOCK // (n * width)))
        block = torch.empty((rows, n, width), dtype=a.dtype, device=a.device)
        for start in range(0, n, rows):
            stop = min(n, start + rows)
            hidden = block[: stop - start]
            torch.add(a[start:stop, None, :], b[None, :, :], out=hidden)
            activation_value(self.activation, hidden, out=hidden)
            part = result[start * n : stop * n]
            self.products.outputs(hidden.view(-1, width), weights, part)
        return result

    def class_scores(self, outputs: torch.Tensor) -> torch.Tensor:
        """Score of each class j: f itself for one-hot, ⟨f, x_j⟩ for a template."""
        return outputs if self.encoding is None else outputs @ self.encoding.T

    def loss_of_outputs(self, outputs: torch.Tensor, pairs: torch.Tensor) -> torch.Tensor:
        """Mean loss over the given pairs (MSE: also over the n output coordinates)."""
        if self.loss_kind == "mse":
            return torch.mean((outputs - self.targets.index_select(0, pairs)) ** 2)
        log_p = torch.log_softmax(outputs, dim=1)
        return -log_p.gather(1, self.classes.index_select(0, pairs)[:, None]).mean()

    # ----------------------------------------------------------------- training step
    def _workspace(self, rows: int, width: int, lanes: int = 1) -> list[dict]:
        """Preallocated buffers for ``rows`` pairs and ``width`` neurons, one set per lane
        (lanes after the first also hold their partial sums of ∂L/∂B and ∂L/∂ξ)."""
        key = (rows, width, lanes)
        if key not in self._buffers:
            self._buffers.clear()
            options = {"dtype": self.dtype, "device": self.device}
            self._buffers[key] = [
                {
                    "hidden": torch.empty((rows, width), **options),
                    "activated": torch.empty((rows, width), **options),
                    "outputs": torch.empty((self.order * rows,), **options),
                    "log_probabilities": torch.empty((self.order * rows,), **options),
                    "gradient_t": torch.empty((rows * self.order,), **options),
                    "second_sums": torch.empty((self.order, width), **options) if lane else None,
                    "readout_sums": torch.empty((self.order, width), **options) if lane else None,
                }
                for lane in range(lanes)
            ]
        return self._buffers[key]

    def _step_block_rows(self, width: int) -> int:
        """Rows g1 per block of the all-pairs training step: about ``STEP_BLOCK`` hidden
        values (all n rows on a GPU). It does not depend on the number of threads, so a
        run continues bit for bit whatever the thread count."""
        n = self.order
        if self.device.type != "cpu":
            return n
        return max(1, min(n, STEP_BLOCK // (n * width)))

    def _block_plan(self, rows: int, width: int) -> list[list[PairBlock]]:
        """The blocks of ``rows`` rows g1 that cover all n² pairs, in ``LANES`` lanes when
        there are that many blocks (one lane otherwise), with their buffers, views and
        targets made once (they recur every step)."""
        starts = range(0, self.order, rows)
        lanes = LANES if len(starts) >= LANES else 1
        work = self._workspace(rows * self.order, width, lanes)
        if "plan" not in work[0]:
            per_lane = -(-len(starts) // lanes)
            work[0]["plan"] = [
                [
                    self._pair_block(work[lane], start, min(self.order, start + rows), width)
                    for start in starts[lane * per_lane : (lane + 1) * per_lane]
                ]
                for lane in range(lanes)
            ]
        return work[0]["plan"]

    def uses_lanes(self, width: int, pairs: torch.Tensor | None = None) -> bool:
        """Whether a step on these pairs (all training pairs when None) splits its blocks
        into lanes that ``lanes.parallel_lanes`` can run at once."""
        if pairs is not None or not self.task.uses_all_pairs:
            return False
        return self.device.type == "cpu" and -(-self.order // self._step_block_rows(width)) > 1

    def _pair_block(self, work: dict, start: int, stop: int, width: int) -> PairBlock:
        n = self.order
        count = (stop - start) * n
        hidden = work["hidden"][:count]
        options = {"dtype": self.dtype, "device": self.device}
        return PairBlock.of_buffers(
            work,
            count,
            start=start,
            stop=stop,
            hidden_cube=hidden.view(stop - start, n, width),
            hidden_rows=hidden.view(stop - start, n * width),
            targets=self._transposed_targets()[:, start * n : stop * n].contiguous(),
            classes=self.classes[start * n : stop * n],
            ones=torch.ones((1, stop - start), **options),
        )

    def loss_and_gradient(
        self,
        theta: torch.Tensor,
        scale,
        grad: torch.Tensor,
        pairs: torch.Tensor | None = None,
        *,
        need_theta_grad: bool = True,
        outputs_copy: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Loss on ``pairs`` (all training pairs when None) and its gradient.

        Writes ∂L/∂theta into ``grad`` (same shape as theta) when ``need_theta_grad``
        and returns (loss, ∂L/∂s) where the second entry is the gradient with respect
        to a per-neuron scale tensor (None for a float scale). Scalar factors (the
        output scale, 1/pairs, the 2 of σ = z²) are folded into the products' factors,
        or with the fused kernels (``fused_step``, all pairs on the CPU) into the loss
        kernels, so that no extra pass over any large buffer is needed for them.

        With all n² pairs on the CPU the pairs are taken in blocks of rows g1 (about
        ``STEP_BLOCK`` hidden values each), forward and backward one block at a time,
        so that H, σ(H) and ∂L/∂H of a block stay in cache (the loss of a pair depends
        on that pair's outputs alone, so G is known block by block).

        ``outputs_copy`` (pairs × n), when given, receives the outputs F of the pairs at
        these weights, so that metrics can reuse this forward pass.

        ``last_accuracy`` becomes the share of these pairs whose class y is the first
        maximum of the class scores (F for one-hot, X F otherwise; argmax's tie rule).
        """
        n = self.order
        width = theta.shape[2]
        all_pairs = pairs is None and self.task.uses_all_pairs
        if all_pairs and self.fused:
            fused_step = self._fused_step
            if fused_step is None or not fused_step.matches(theta, grad):
                fused_step = self._fused_step = FusedPairsStep(self, theta, grad)
            return fused_step(scale, need_theta_grad, outputs_copy)
        if all_pairs:
            lanes = self._block_plan(self._step_block_rows(width), width)
            total = n * n
        else:
            if pairs is None:
                pairs = self.train_pairs
                first, second = self.train_first, self.train_second
            else:
                first, second = pairs // n, pairs % n
            total = pairs.shape[0]
            lanes = [[self._listed_pairs_block(pairs, width)]]
        theta_views, grad_views = self._views(theta), self._views(grad)
        grad_layers = grad_views["layers"]
        if self.encoding is None:
            a = theta_views["layers"][0]
            b = a if self.shared else theta_views["layers"][1]
        else:
            a, b = self.embeddings(theta)
        readout = theta_views["layers"][-1]
        tensor_scale = isinstance(scale, torch.Tensor)
        alpha = 1.0 if tensor_scale else float(scale)
        effective_readout = readout * scale if tensor_scale else readout
        one_hot_separate = self.encoding is None and not self.shared
        if one_hot_separate:
            grad_a, grad_b = grad_layers[0], grad_layers[1]
        else:
            grad_a = torch.empty((n, width), dtype=a.dtype, device=a.device)
            grad_b = torch.empty((n, width), dtype=a.dtype, device=a.device)
        readout_grad = (
            torch.empty((n, width), dtype=a.dtype, device=a.device)
            if tensor_scale else grad_layers[-1]
        )
        if all_pairs:
            # the broadcast views of A's rows and of B (kept when A and B are views of theta)
            views = theta_views if self.encoding is None else {}
            if views.get("broadcast", (None,))[0] is not lanes:
                views["broadcast"] = (
                    lanes,
                    [[a[block.start : block.stop, None, :] for block in lane] for lane in lanes],
                    b[None, :, :],
                )
            _, first_rows, second_row = views["broadcast"]
            # each block's rows of ∂L/∂A (kept when ∂L/∂A is a view of grad)
            row_views = grad_views if one_hot_separate else {}
            if row_views.get("row_blocks", (None,))[0] is not lanes:
                row_views["row_blocks"] = (
                    lanes,
                    [[grad_a[block.start : block.stop] for block in lane] for lane in lanes],
                )
            grad_a_rows = row_views["row_blocks"][1]
        loss_factor, readout_factor, hidden_factor = self._step_factors(alpha, total)
        products = self.products
        products.prepare(effective_readout, alpha, readout_factor, hidden_factor)
        lane_hits: list = [None] * len(lanes)

        def run_lane(lane: int, sums_second: torch.Tensor, sums_readout: torch.Tensor):
            """Forward and backward of one lane's blocks; returns the lane's ℓ and writes
            its sums over pairs into sums_second (∂L/∂B) and sums_readout (∂L/∂ξ) and its
            rows of ∂L/∂A into grad_a."""
            loss = running_readout = None
            accumulate = 0.0  # the first block writes the sums over blocks, later ones add
            for index, block in enumerate(lanes[lane]):
                h = block.hidden
                if all_pairs:
                    torch.add(first_rows[lane][index], second_row, out=block.hidden_cube)
                else:
                    torch.index_select(a, 0, first, out=h)
                    h.add_(b.index_select(0, second))
                activation_value(self.activation, h, out=block.activated)
                outputs = products.forward(block)  # Fᵀ (n × pairs)
                if outputs_copy is not None:
                    part = (outputs_copy[block.start * n : block.stop * n] if all_pairs
                            else outputs_copy)
                    part.copy_(outputs.T)
                scores = outputs if self.encoding is None else self.encoding @ outputs
                hits = (scores.argmax(dim=0) == block.classes).sum()
                lane_hits[lane] = hits if lane_hits[lane] is None else lane_hits[lane] + hits
                block_loss, g, g_t = self._loss_gradient(outputs, block)
                loss = block_loss if loss is None else loss + block_loss
                running_readout = products.readout_gradient(g, block, running_readout,
                                                            sums_readout)
                if need_theta_grad:
                    derivative = (h if self.activation == "square"
                                  else activation_derivative(self.activation, h))
                    hidden_grad = products.hidden_gradient(g_t, block, derivative)
                    if all_pairs:
                        _sum_over_pairs(block, hidden_grad, grad_a_rows[lane][index],
                                        sums_second, accumulate)
                    else:
                        grad_a.zero_().index_add_(0, first, hidden_grad)
                        sums_second.zero_().index_add_(0, second, hidden_grad)
                accumulate = 1.0
            products.finish_readout_gradient(running_readout, sums_readout)
            return loss

        loss = self._run_lanes(lanes, run_lane, grad_b, readout_grad, need_theta_grad)
        loss.mul_(self._scalar(loss_factor))
        self.last_accuracy = sum(lane_hits).to(torch.float64) / total
        scale_grad = self._finish_gradient(scale, readout, grad, readout_grad, grad_a, grad_b,
                                           need_theta_grad=need_theta_grad,
                                           pulled_back=one_hot_separate)
        return loss, scale_grad

    def _run_lanes(self, lanes: list[list[PairBlock]], run_lane, sums_second: torch.Tensor,
                   sums_readout: torch.Tensor, need_theta_grad: bool):
        """Σ of run_lane(lane, its Σ ∂L/∂B, its Σ ∂L/∂ξ) over the lanes (at once inside
        ``parallel_lanes``). The first lane sums into ``sums_second`` and ``sums_readout``,
        the second into its own buffers, which are then added to them: always in this
        order, so that the result does not depend on whether the lanes ran at once."""
        if len(lanes) == 1:
            return run_lane(0, sums_second, sums_readout)
        partial = lanes[1][0]  # the second lane's blocks hold its partial sums
        loss, second_loss = run_in_lanes(
            lambda: run_lane(0, sums_second, sums_readout),
            lambda: run_lane(1, partial.second_sums, partial.readout_sums),
        )
        sums_readout.add_(partial.readout_sums)
        if need_theta_grad:
            sums_second.add_(partial.second_sums)
        return loss + second_loss

    def _finish_gradient(self, scale, readout: torch.Tensor, grad: torch.Tensor,
                         readout_grad: torch.Tensor, grad_a: torch.Tensor,
                         grad_b: torch.Tensor, *, need_theta_grad: bool,
                         pulled_back: bool) -> torch.Tensor | None:
        """From ``readout_grad`` (∂L/∂ξ, or with a per-neuron scale tensor s the gradient
        with respect to the effective readout s ⊙ ξ), ∂L/∂A and ∂L/∂B: returns ∂L/∂s_m =
        Σ_g readout_grad[g, m] ξ[g, m] for a scale tensor (None for a float), and writes
        ∂L/∂ξ = s ⊙ readout_grad and ∂L/∂θ = Xᵀ ∂L/∂A (and ∂L/∂B) into grad when
        ``need_theta_grad``, unless ``pulled_back`` (∂L/∂A and ∂L/∂B are views of grad)."""
        scale_grad = None
        if isinstance(scale, torch.Tensor):
            scale_grad = (readout_grad * readout).sum(0)
            if need_theta_grad:
                torch.mul(readout_grad, scale, out=grad[-1])
        if not need_theta_grad or pulled_back:
            return scale_grad
        if self.shared:
            self._pull_back(grad_a.add_(grad_b), grad[0])
        else:
            self._pull_back(grad_a, grad[0])
            self._pull_back(grad_b, grad[1])
        return scale_grad

    def _views(self, tensor: torch.Tensor) -> dict:
        """Views of ``tensor`` made once and kept while the same tensor comes back
        (making a view costs about a microsecond, of a step of a few hundred); "layers"
        is always there."""
        entry = self._view_cache.get(id(tensor))
        if entry is None or entry[0] is not tensor:
            if len(self._view_cache) > 3:
                self._view_cache.clear()
            entry = (tensor, {"layers": tensor.unbind(0)})
            self._view_cache[id(tensor)] = entry
        return entry[1]

    def _listed_pairs_block(self, pairs: torch.Tensor, width: int) -> PairBlock:
        """One block of the listed pairs (a minibatch or the training pairs)."""
        count = pairs.shape[0]
        work = self._workspace(count, width)[0]
        return PairBlock.of_buffers(
            work, count, start=0, stop=0, hidden_cube=None, hidden_rows=None,
            targets=self._transposed_targets().index_select(1, pairs),
            classes=self.classes.index_select(0, pairs), ones=None,
        )

    def _pull_back(self, grad_embedding: torch.Tensor, out: torch.Tensor) -> None:
        """∂L/∂θ = Xᵀ ∂L/∂A (for one-hot, X = I)."""
        if self.encoding is None:
            out.copy_(grad_embedding)
        else:
            torch.mm(self.encoding.T, grad_embedding, out=out)

    def _loss_gradient(
        self, outputs: torch.Tensor, block: PairBlock
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(ℓ, G̃, G̃ᵀ) for the block's k pairs, with ``outputs`` = Fᵀ (n × k); G̃ is written
        over ``outputs`` and G̃ᵀ into the block's contiguous buffer. The constant factors
        are left to the caller (``_loss_factors``): the block's part of L is ℓ·c_L and
        ∂L/∂Fᵀ = G̃·c_G, where Yᵀ is the block's targets (a template, or the one-hot classes
        for cross-entropy) and P the number of pairs L averages over:

        MSE:           ℓ = Σ (F − Y)²,            G̃ = F − Y,           c_L = 1/(P n), c_G = 2/(P n);
        cross-entropy: ℓ = Σ Y ⊙ log softmax(F),  G̃ = softmax(F) − Y,  c_L = −1/P,    c_G = 1/P.

        (``fused_step`` computes the same with the kernels, the factors included.)
        """
        if self.loss_kind == "mse":
            residual = outputs.sub_(block.targets)
            flat = residual.view(-1)
            loss, gradient = torch.dot(flat, flat), residual
        else:
            log_p = torch.log_softmax(outputs, dim=0, out=block.log_probabilities)
            loss = torch.dot(block.log_probabilities_flat, block.targets_flat)
            gradient = torch.sub(log_p.exp_(), block.targets, out=outputs)
        return loss, gradient, block.gradient_t.copy_(gradient.T)

    def _scalar(self, value: float) -> torch.Tensor:
        """``value`` as a kept 0-dim tensor: multiplying by a Python float costs an extra
        conversion to a tensor on every call."""
        cached = getattr(self, "_scalar_cache", None)
        if cached is None or cached[0] != value:
            cached = self._scalar_cache = (value, torch.tensor(value, dtype=self.dtype,
                                                               device=self.device))
        return cached[1]

    def _step_factors(self, alpha: float, total: int) -> tuple[float, float, float]:
        """(c_L, c, h) for output scale α and a loss over ``total`` pairs: c_G G̃ =
        (∂L/∂F)ᵀ and Fᵀ = α ξ σ(H)ᵀ, so ∂L/∂ξ = c Σ G̃ σ(H) and ∂L/∂H = h (G̃ᵀ ξ) ⊙ E with
        c = α c_G and h = c, times 2 for σ = z² (whose E = σ'(H)/2 = H)."""
        loss_factor, gradient_factor = self._loss_factors(total)
        readout_factor = alpha * gradient_factor
        return loss_factor, readout_factor, readout_factor * (
            2.0 if self.activation == "square" else 1.0
        )

    def _loss_factors(self, total: int) -> tuple[float, float]:
        """(c_L, c_G) of ``_loss_gradient`` for a loss that averages over ``total`` pairs."""
        if self.loss_kind == "mse":
            normaliser = total * self.order
            return 1.0 / normaliser, 2.0 / normaliser
        return -1.0 / total, 1.0 / total

    def _transposed_targets(self) -> torch.Tensor:
        """Yᵀ (n × n²), contiguous: the template's targets (MSE) or the one-hot classes
        (cross-entropy)."""
        if getattr(self, "_targets_t", None) is None:
            if self.loss_kind == "mse":
                self._targets_t = self.targets.T.contiguous()
            else:
                pairs = self.classes.shape[0]
                one_hot = torch.zeros((self.order, pairs), dtype=self.dtype, device=self.device)
                columns = torch.arange(pairs, device=self.device)
                one_hot[self.classes, columns] = 1.0
                self._targets_t = one_hot
        return self._targets_t


@dataclass(slots=True)
class PairBlock:
    """A block of pairs of the training step and its buffers: the rows g1 in
    [start, stop) with every g2 (all-pairs blocks), or a list of pairs. ``targets`` are
    Yᵀ of the block: the template's targets (MSE) or the one-hot classes (cross-entropy).
    The transposed and flat views are made once here, as they recur every step."""

    start: int
    stop: int
    hidden: torch.Tensor  # (k, M) H, then ∂L/∂H
    hidden_cube: torch.Tensor | None  # (rows, n, M) view of it
    hidden_rows: torch.Tensor | None  # (rows, n·M) view of it
    activated: torch.Tensor  # (k, M) σ(H) (then ∂L/∂σ with the addmm products)
    activated_t: torch.Tensor  # (M, k) view of it
    outputs: torch.Tensor  # (n, k) Fᵀ, then G̃ (see _loss_gradient)
    outputs_t: torch.Tensor  # (k, n) view of it
    log_probabilities: torch.Tensor  # (n, k) scratch for cross-entropy
    log_probabilities_flat: torch.Tensor  # (n·k,) view of it
    gradient_t: torch.Tensor  # (k, n) scratch for G̃ᵀ
    targets: torch.Tensor  # (n, k) Yᵀ, contiguous
    targets_flat: torch.Tensor  # (n·k,) view of it
    classes: torch.Tensor  # (k,) int64, the product g1·g2 of each pair
    ones: torch.Tensor | None  # (1, rows)
    # (n, M) the lane's Σ over its pairs of ∂L/∂B and of ∂L/∂ξ (lanes after the first;
    # the first sums straight into the gradient)
    second_sums: torch.Tensor | None
    readout_sums: torch.Tensor | None

    @classmethod
    def of_buffers(cls, work: dict, count: int, *, targets: torch.Tensor,
                   classes: torch.Tensor, **fields) -> PairBlock:
        """The block of ``count`` pairs that uses the lane's buffers ``work``, whose
        targets are Yᵀ and whose pairs' products are ``classes``."""
        order = targets.shape[0]
        activated = work["activated"][:count]
        outputs = work["outputs"][: order * count].view(order, count)
        log_probabilities = work["log_probabilities"][: order * count].view(order, count)
        gradient_t = work["gradient_t"][: order * count].view(count, order)
        return cls(
            hidden=work["hidden"][:count],
            activated=activated,
            activated_t=activated.T,
            outputs=outputs,
            outputs_t=outputs.T,
            log_probabilities=log_probabilities,
            log_probabilities_flat=log_probabilities.view(-1),
            gradient_t=gradient_t,
            targets=targets,
            targets_flat=targets.view(-1),
            classes=classes,
            second_sums=work["second_sums"],
            readout_sums=work["readout_sums"],
            **fields,
        )


def _sum_over_pairs(
    block: PairBlock, hidden_grad: torch.Tensor, out_first: torch.Tensor,
    out_second: torch.Tensor, accumulate: float,
) -> None:
    """out_first[g1 − start] = Σ_{g2} ∂H[(g1, g2)] for the block's rows g1 and
    out_second[g2] ← accumulate · out_second[g2] + Σ_{g1} ∂H[(g1, g2)], where ∂H is
    ``hidden_grad`` (k × M: the block's H buffer or a tensor of its shape). Accumulating
    takes a product with a vector of ones (one pass, where a sum and an add would take
    two)."""
    rows, n, width = block.hidden_cube.shape
    if hidden_grad is block.hidden:
        cube, flat_rows = block.hidden_cube, block.hidden_rows
    else:
        cube, flat_rows = hidden_grad.view(rows, n, width), hidden_grad.view(rows, n * width)
    torch.sum(cube, dim=1, out=out_first)
    if accumulate == 0.0:
        torch.sum(cube, dim=0, out=out_second)
        return
    flat_second = out_second.view(1, n * width)
    torch.addmm(flat_second, block.ones, flat_rows, beta=accumulate, out=flat_second)
