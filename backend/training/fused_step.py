"""The all-pairs training step on the CPU with the fused kernels of ``backend.training.kernels``.

It computes what ``CompositionNetwork.loss_and_gradient`` computes for all n² pairs, block
by block of rows g1 (see ``CompositionNetwork._block_plan``):

    P = ξ Sᵀ with S = σ(A[g1] + B[g2])               kernels.forward_block
    ℓ, c G̃ and h G̃ᵀ, from F = α P                   the loss kernels (see below)
    ∂L/∂ξ = Σ_blocks c G̃ S                          kernels.readout_block
    ∂L/∂A, ∂L/∂B = Σ over g2, g1 of (h G̃ᵀ ξ) ⊙ σ'   kernels.hidden_gradient_sums

with α the output scale and c, h from ``CompositionNetwork._step_factors``, and ℓ, G̃,
c_L and c_G as in ``CompositionNetwork._loss_gradient``: ``kernels.cross_entropy_block``
or ``kernels.squared_error_block``. A step is a few hundred microseconds for the
smaller groups, so everything that does not change from step to step is made once, when
the step is built: the addresses of the weights, of the gradient and of every block's
buffers, and buffers for A, Bᵀ and the gradients of A and B where they are not views of
theta and grad. A ``FusedPairsStep`` is kept while the same theta and grad tensors come back.
"""

from __future__ import annotations

import torch

from backend.training import kernels


class FusedPairsStep:
    """Loss and gradient over all n² pairs for one pair of tensors theta and grad."""

    def __init__(self, network, theta: torch.Tensor, grad: torch.Tensor) -> None:
        self.network = network
        self.theta, self.grad = theta, grad
        n, width = network.order, theta.shape[2]
        self.lanes = network._block_plan(network._step_block_rows(width), width)
        layers, grad_layers = theta.unbind(0), grad.unbind(0)
        self.readout, self.readout_grad = layers[-1], grad_layers[-1]
        options = {"dtype": theta.dtype, "device": theta.device}
        self.one_hot_separate = network.encoding is None and not network.shared
        if network.encoding is None:  # A = θ¹ and B = θ² themselves
            self.first = layers[0]
            self.second = layers[0] if network.shared else layers[1]
        else:  # A = X θ¹ and B = X θ², made anew every step into these buffers
            self.first = torch.empty((n, width), **options)
            self.second = self.first if network.shared else torch.empty((n, width), **options)
        if self.one_hot_separate:
            self.grad_first, self.grad_second = grad_layers[0], grad_layers[1]
        else:
            self.grad_first = torch.empty((n, width), **options)
            self.grad_second = torch.empty((n, width), **options)
        self.scaled_readout_grad = torch.empty((n, width), **options)  # for a tensor scale
        self.code = network.activation_code
        self.cross_entropy = network.loss_kind != "mse"
        self.kernels = kernels.native(theta.dtype)
        self.first_pointer = kernels.address(self.first)
        self.second_pointer = kernels.address(self.second)
        self.first_row_pointers = [
            [kernels.address(self.grad_first[block.start : block.stop]) for block in lane]
            for lane in self.lanes
        ]
        # each lane's Σ over its pairs of ∂L/∂B: the gradient itself for the first lane
        self.second_sum_pointers = [kernels.address(self.grad_second)] + [
            kernels.address(lane[0].second_sums) for lane in self.lanes[1:]
        ]
        self.block_pointers = [[_BlockPointers(block, self.cross_entropy) for block in lane]
                               for lane in self.lanes]
        # the class scores X F of a block for the step's accuracy with an encoding X (one
        # product per block, on the lane's threads, into a buffer per lane; one-hot: the
        # scores are F itself)
        self.scores = None if network.encoding is None else [
            _lane_views(lane, options) for lane in self.lanes]
        self.score_pointers = None if self.scores is None else [
            [kernels.address(scores) for scores in lane] for lane in self.scores]
        self.lane_hits = [0] * len(self.lanes)  # each lane's pairs classified right
        # Bᵀ with its columns padded to whole vectors, for the forward kernel
        self.padded_order = kernels.padded_order(n, theta.dtype)
        self.second_t = torch.empty((width, self.padded_order), **options)
        self.second_t_pointer = self.second_t.data_ptr()

    def matches(self, theta: torch.Tensor, grad: torch.Tensor) -> bool:
        """Whether this step was built for these very tensors."""
        return theta is self.theta and grad is self.grad

    def __call__(self, scale, need_theta_grad: bool,
                 outputs_copy: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(loss, ∂L/∂s) as ``CompositionNetwork.loss_and_gradient`` returns them for all
        pairs, with ∂L/∂theta written into grad when ``need_theta_grad``."""
        network = self.network
        if network.encoding is not None:
            torch.mm(network.encoding, self.theta[0], out=self.first)
            if not network.shared:
                torch.mm(network.encoding, self.theta[1], out=self.second)
        tensor_scale = isinstance(scale, torch.Tensor)
        alpha = 1.0 if tensor_scale else float(scale)
        loss_factor, readout_factor, hidden_factor = network._step_factors(
            alpha, network.order**2
        )
        readout = self.readout * scale if tensor_scale else self.readout  # contiguous
        # the factors, and the address of the ξ of the forward and hidden products
        factors = (alpha, readout_factor, hidden_factor, readout.data_ptr())
        n, width = network.order, self.first.shape[1]
        self.kernels.transpose_padded(self.second_pointer, n, width, self.padded_order,
                                      self.second_t_pointer)
        readout_grad = self.scaled_readout_grad if tensor_scale else self.readout_grad
        if len(self.lanes) == 1:
            loss = self._run_lane(0, readout_grad, factors, need_theta_grad, outputs_copy)
        else:
            def run_lane(lane: int, sums_second: torch.Tensor, sums_readout: torch.Tensor):
                return self._run_lane(lane, sums_readout, factors, need_theta_grad,
                                      outputs_copy)

            loss = network._run_lanes(self.lanes, run_lane, self.grad_second, readout_grad,
                                      need_theta_grad)
        loss = torch.scalar_tensor(loss * loss_factor, dtype=self.theta.dtype)
        network.last_accuracy = sum(self.lane_hits) / n**2
        if self.one_hot_separate and not tensor_scale:
            return loss, None  # the gradient is in grad already
        scale_grad = network._finish_gradient(
            scale, self.readout, self.grad, readout_grad, self.grad_first, self.grad_second,
            need_theta_grad=need_theta_grad, pulled_back=self.one_hot_separate,
        )
        return loss, scale_grad

    def _run_lane(self, lane: int, sums_readout: torch.Tensor, factors: tuple,
                  need_theta_grad: bool, outputs_copy: torch.Tensor | None) -> float:
        """Forward and backward of one lane's blocks: returns the lane's ℓ (summed in
        float64), writes its Σ c G̃ S into ``sums_readout``, its Σ over pairs of ∂L/∂B
        into its second sums and its rows of ∂L/∂A, and counts the pairs whose class is
        the first maximum of their class scores into ``lane_hits``."""
        native = self.kernels
        n, width, code = self.network.order, self.first.shape[1], self.code
        first, second = self.first_pointer, self.second_pointer
        second_t, padded_order = self.second_t_pointer, self.padded_order
        first_rows, second_sums = self.first_row_pointers[lane], self.second_sum_pointers[lane]
        readout_sums = sums_readout.data_ptr()
        threads = kernels.threads()
        alpha, factor, factor_t, readout = factors
        loss = 0.0
        hits = 0
        for index, block in enumerate(self.lanes[lane]):
            pointers = self.block_pointers[lane][index]
            rows = block.stop - block.start
            # ξ σ(H)ᵀ (n × pairs)
            native.forward_block(readout, first, second_t, n, padded_order, width,
                                 block.start, rows, code, pointers.outputs, threads)
            if outputs_copy is not None:
                part = outputs_copy[block.start * n : block.stop * n]
                torch.mul(block.outputs.T, alpha, out=part)
            # ℓ, c G̃ over the outputs and h G̃ᵀ, from F = α ξ σ(H)ᵀ
            at, pairs = pointers.outputs, rows * n
            scores = at
            if self.scores is not None:
                torch.mm(self.network.encoding, block.outputs, out=self.scores[lane][index])
                scores = self.score_pointers[lane][index]
            hits += native.first_argmax_hits(scores, pointers.hit_classes, n, pairs, alpha)
            if self.cross_entropy:
                loss += native.cross_entropy_block(at, pointers.classes, pointers.gradient_t,
                                                   n, pairs, alpha, factor, factor_t)
            else:
                loss += native.squared_error_block(at, pointers.targets, pointers.gradient_t,
                                                   n, pairs, alpha, factor, factor_t)
            native.readout_block(at, first, second, n, width, block.start, rows, code,
                                 readout_sums, index > 0, threads)
            if need_theta_grad:
                native.hidden_gradient_sums(pointers.gradient_t, readout, first, second, n,
                                            width, block.start, rows, code, first_rows[index],
                                            second_sums, index > 0, threads)
        self.lane_hits[lane] = hits
        return loss


def _lane_views(lane, options: dict) -> list[torch.Tensor]:
    """One buffer for the lane, viewed with the shape of each block's outputs."""
    buffer = torch.empty(max(block.outputs.numel() for block in lane), **options)
    return [buffer[: block.outputs.numel()].view(block.outputs.shape) for block in lane]


class _BlockPointers:
    """The addresses of a block's buffers that the kernels take."""

    def __init__(self, block, cross_entropy: bool) -> None:
        self.outputs = kernels.address(block.outputs)
        self.gradient_t = kernels.address(block.gradient_t)
        if block.classes.dtype != torch.int64:
            raise TypeError("the kernels take the classes as int64")
        self.classes = kernels.address(block.classes) if cross_entropy else None
        self.hit_classes = kernels.address(block.classes)
        self.targets = None if cross_entropy else kernels.address(block.targets)
