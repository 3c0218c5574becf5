"""Optimisers written out on plain tensors (the gradients come from the hand-written
backward pass), with an optional projection onto the unit sphere.

Each optimiser turns a gradient g into an additive step δ that ``step`` adds to the
parameter. On the sphere (every column of theta a unit vector ν) the gradient is first
made tangent, g ← g − ⟨g, ν⟩ν, the optimiser's step is taken with it and the result is
retracted: ν ← normalise(ν + δ) (projected, Riemannian gradient steps).

- gd:        v ← μ v + g,  δ = −η v                        (μ = 0: plain gradient descent)
- adam(w):   m ← β₁m + (1−β₁)g,  v ← β₂v + (1−β₂)g²,
             δ = −η m̂/(√v̂ + ε) with bias corrections m̂ = m/(1−β₁ᵗ), v̂ = v/(1−β₂ᵗ);
             adam adds λθ to g, adamw shrinks θ ← (1 − ηλ)θ first.
- scaled_gd: δ_m = −η c ‖θ_m‖^{1−k} g_m per neuron m (θ_m all parameters of neuron m),
             c = log(1/α) or 1.
"""

from __future__ import annotations

import math

import torch

from backend.training import kernels


def _torch_version() -> tuple[int, int]:
    major, minor = torch.__version__.split("+")[0].split(".")[:2]
    return int(major), int(minor)


_FUSED_ADAM = getattr(torch, "_fused_adam_", None) if _torch_version() >= (2, 4) else None
"""PyTorch's single-kernel Adam update (θ, m, v in one pass); it runs on the CPU from
PyTorch 2.4 on, earlier versions take the separate passes."""


class Optimiser:
    """Base class: ``step(param, grad)`` updates ``param`` in place."""

    def __init__(self, learning_rate: float, weight_decay: float = 0.0, sphere: bool = False):
        self.learning_rate = float(learning_rate)
        self.weight_decay = float(weight_decay)
        self.sphere = sphere
        self.steps_taken = 0

    # subclasses implement the step: δ = factor · direction
    def _direction(self, param: torch.Tensor, grad: torch.Tensor) -> tuple[torch.Tensor, float]:
        raise NotImplementedError

    def step(self, param: torch.Tensor, grad: torch.Tensor) -> None:
        """One update of ``param`` (shape (L, n, M) or any shape when not on the sphere)."""
        self.steps_taken += 1
        if self.sphere:
            buffers = self._sphere_buffers(param)
            _make_tangent(grad, param, buffers)
        elif self.weight_decay and not isinstance(self, AdamW):
            grad.add_(param, alpha=self.weight_decay)
        self._update(param, grad)
        if self.sphere:
            products, column_dots = buffers
            _column_dots(param, param, products, column_dots)
            param.mul_(column_dots.rsqrt_())

    def _sphere_buffers(self, param: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Reused buffers for the sphere's column dot products: one of the shape of
        ``param`` for the entry-wise products and one (L, 1, M) for their sums. A step
        that allocated them would pay for fresh pages of memory every time."""
        if getattr(self, "_buffers_owner", None) is param:
            return self._buffers
        shape = (param.shape[0], 1, *param.shape[2:])
        options = {"dtype": param.dtype, "device": param.device}
        self._buffers = (torch.empty_like(param), torch.empty(shape, **options))
        self._buffers_owner = param
        return self._buffers

    def _update(self, param: torch.Tensor, grad: torch.Tensor) -> None:
        """param ← param + δ (``grad`` may be used as scratch space)."""
        direction, factor = self._direction(param, grad)
        param.add_(direction, alpha=factor)

    def state_dict(self) -> dict:
        """The state, with copies of its tensors."""
        return {key: _clone(value) if isinstance(value, torch.Tensor) else value
                for key, value in self.live_state().items()}

    def live_state(self) -> dict:
        """The state, holding the optimiser's own tensors (for a caller that copies them
        into buffers of its own)."""
        return {"learning_rate": self.learning_rate, "steps_taken": self.steps_taken}

    def load_state_dict(self, state: dict) -> None:
        self.learning_rate = float(state["learning_rate"])
        self.steps_taken = int(state["steps_taken"])


class GradientDescent(Optimiser):
    """Gradient descent with heavy-ball momentum μ (μ = 0: plain steps)."""

    def __init__(self, learning_rate: float, momentum: float = 0.0, **kwargs) -> None:
        super().__init__(learning_rate, **kwargs)
        self.momentum = float(momentum)
        self.velocity: torch.Tensor | None = None

    def _direction(self, param: torch.Tensor, grad: torch.Tensor) -> tuple[torch.Tensor, float]:
        if self.momentum == 0.0:
            return grad, -self.learning_rate
        if self.velocity is None:
            self.velocity = torch.zeros_like(grad)
        elif self.sphere:
            _make_tangent(self.velocity, param, self._sphere_buffers(param))
        self.velocity.mul_(self.momentum).add_(grad)
        return self.velocity, -self.learning_rate

    def live_state(self) -> dict:
        return {**super().live_state(), "velocity": self.velocity}

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self.velocity = _clone(state["velocity"])


class Adam(Optimiser):
    """Adam with L2 weight decay added to the gradient. On the CPU the whole step (with the
    sphere's projection and retraction) is one call of ``backend.training.kernels``."""

    decoupled = False

    def __init__(
        self, learning_rate: float, beta1: float, beta2: float, eps: float, **kwargs
    ) -> None:
        super().__init__(learning_rate, **kwargs)
        self.beta1, self.beta2, self.eps = float(beta1), float(beta2), float(eps)
        self.first: torch.Tensor | None = None
        self.second: torch.Tensor | None = None

    def _moments(self, grad: torch.Tensor) -> tuple[torch.Tensor, float]:
        """Update m and v; return (√v + ε√c₂ written over ``grad``, the step size)."""
        if self.first is None:
            self.first = torch.zeros_like(grad)
            self.second = torch.zeros_like(grad)
        t = self.steps_taken
        self.first.lerp_(grad, 1.0 - self.beta1)
        self.second.mul_(self.beta2).addcmul_(grad, grad, value=1.0 - self.beta2)
        # m̂/(√v̂ + ε) = (√c₂/c₁) m/(√v + ε√c₂) with c = 1 − βᵗ
        root_correction = math.sqrt(1.0 - self.beta2**t)
        step_size = self.learning_rate * root_correction / (1.0 - self.beta1**t)
        denominator = torch.sqrt(self.second, out=grad).add_(self.eps * root_correction)
        return denominator, step_size

    def step(self, param: torch.Tensor, grad: torch.Tensor) -> None:
        if not (kernels.AVAILABLE and param.device.type == "cpu"):
            super().step(param, grad)
            return
        self.steps_taken += 1
        if self.first is None:
            self.first = torch.zeros_like(grad)
            self.second = torch.zeros_like(grad)
        settings = (self.learning_rate, self.beta1, self.beta2, self.eps, self.steps_taken)
        native, pointers = self._kernel_arguments(param, grad)
        if self.sphere:
            native.sphere_adam_step(*pointers, *param.shape, *settings, kernels.threads())
        else:
            native.adam_step(*pointers, param.numel(), *settings, self.weight_decay,
                             int(self.decoupled), kernels.threads())

    def _kernel_arguments(self, param: torch.Tensor, grad: torch.Tensor) -> tuple:
        """The kernels for θ's dtype and the addresses of θ, g, m and v, checked and kept
        while the same tensors come back."""
        tensors = (param, grad, self.first, self.second)
        kept = getattr(self, "_kept_arguments", None)
        if kept is None or any(a is not b for a, b in zip(kept[0], tensors, strict=True)):
            if not all(t.is_contiguous() and t.dtype == param.dtype for t in tensors):
                raise ValueError("Adam's kernels take contiguous tensors of one dtype")
            arguments = (kernels.native(param.dtype), [t.data_ptr() for t in tensors])
            kept = self._kept_arguments = (tensors, arguments)
        return kept[1]

    def _update(self, param: torch.Tensor, grad: torch.Tensor) -> None:
        if _FUSED_ADAM is None:
            denominator, step_size = self._moments(grad)
            param.addcdiv_(self.first, denominator, value=-step_size)
            return
        # the same update as one kernel over param, m and v (about half the time of the
        # six separate passes for the small weight tensors of this network)
        if self.first is None:
            self.first = torch.zeros_like(grad)
            self.second = torch.zeros_like(grad)
        if getattr(self, "_step_count", None) is None or self._step_count.device != param.device:
            self._step_count = torch.zeros((), dtype=torch.float32, device=param.device)
        self._step_count.fill_(float(self.steps_taken))
        _FUSED_ADAM(
            [param], [grad], [self.first], [self.second], [], [self._step_count],
            lr=self.learning_rate, beta1=self.beta1, beta2=self.beta2, weight_decay=0.0,
            eps=self.eps, amsgrad=False, maximize=False,
        )

    def live_state(self) -> dict:
        return {**super().live_state(), "first": self.first, "second": self.second}

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self.first = _clone(state["first"])
        self.second = _clone(state["second"])


class AdamW(Adam):
    """Adam with decoupled weight decay: θ ← (1 − ηλ)θ before the Adam step."""

    decoupled = True

    def _update(self, param: torch.Tensor, grad: torch.Tensor) -> None:
        if self.weight_decay and not self.sphere:
            param.mul_(1.0 - self.learning_rate * self.weight_decay)
        super()._update(param, grad)


class ScaledGradientDescent(Optimiser):
    """Per-neuron scaled steps δ_m = −η c ‖θ_m‖^{1−k} g_m; neurons are the last axis."""

    def __init__(self, learning_rate: float, exponent: float, factor: float, **kwargs) -> None:
        super().__init__(learning_rate, **kwargs)
        self.exponent = float(exponent)
        self.factor = float(factor)

    def _direction(self, param: torch.Tensor, grad: torch.Tensor) -> tuple[torch.Tensor, float]:
        reduce_dims = tuple(range(param.dim() - 1))
        norms = torch.linalg.vector_norm(param, dim=reduce_dims, keepdim=True)
        return grad.mul_(norms.pow_(1.0 - self.exponent)), -self.learning_rate * self.factor


def build_optimiser(config, *, sphere: bool, learning_rate: float | None = None) -> Optimiser:
    """The optimiser named by ``config.optimiser`` (gd, adam, adamw, scaled_gd)."""
    rate = config.learning_rate if learning_rate is None else learning_rate
    common = {"weight_decay": config.weight_decay, "sphere": sphere}
    if config.optimiser == "gd":
        return GradientDescent(rate, momentum=config.momentum, **common)
    if config.optimiser in ("adam", "adamw"):
        kind = Adam if config.optimiser == "adam" else AdamW
        return kind(rate, config.adam_beta1, config.adam_beta2, config.adam_eps, **common)
    if config.optimiser == "scaled_gd":
        factor = math.log(1.0 / config.init_scale) if config.scaled_log_factor else 1.0
        return ScaledGradientDescent(rate, config.scaled_exponent, factor, **common)
    raise ValueError(f"unknown optimiser {config.optimiser!r}")


def _make_tangent(
    vectors: torch.Tensor, points: torch.Tensor, buffers: tuple[torch.Tensor, torch.Tensor]
) -> None:
    """vectors ← vectors − ⟨vectors, ν⟩ν column by column (unit columns ν along dim 1);
    ``buffers`` are the scratch space of ``_column_dots``."""
    products, radial = buffers
    _column_dots(vectors, points, products, radial)
    vectors.addcmul_(points, radial, value=-1.0)


def _column_dots(
    first: torch.Tensor, second: torch.Tensor, products: torch.Tensor, out: torch.Tensor
) -> torch.Tensor:
    """out[l, 0, m] = Σ_i first[l, i, m] second[l, i, m], through ``products`` (the shape
    of ``first``). A product and a sum into buffers, where ``linalg.vecdot`` would allocate
    its products and ``vector_norm``'s strided reduction is about 20× slower."""
    torch.mul(first, second, out=products)
    return torch.sum(products, dim=1, keepdim=True, out=out)


def _clone(tensor: torch.Tensor | None) -> torch.Tensor | None:
    return None if tensor is None else tensor.detach().clone()
