"""Trainer: owns one network's weights and optimiser state and steps them.

- ``step(k)`` takes k optimiser steps and returns the last loss with a single device
  sync; the loss of every step is kept (``recent_losses``) without syncing per step, and
  so is its training accuracy (``recent_accuracies``): the share of the step's pairs whose
  class is the argmax of their class scores, at the weights the step starts from. It is
  the accuracy on every training pair on the dense path, the batch's accuracy with
  minibatches, and NaN on the exact path, which forms no output (its snapshots estimate
  the accuracy on a sample instead).
- Deterministic: the same configuration and seed give the same trajectory bit for bit on
  the CPU however the steps are split (all state, including the minibatch generator, is
  part of ``state_dict``).
- Divergence: every ``CHECK_INTERVAL`` steps (and at the end of every ``step`` call) the
  losses and weights are checked for finiteness and the state is remembered; a
  non-finite value restores the last remembered state, stops training and sets
  ``divergence`` to a sentence that says why and what to do.
- Step path: ``step_path`` is "dense" (the network on every pair) or "exact" (σ = z² with
  MSE on every pair through the identity of the mathematics reference, section 6, which
  forms no pair); metrics that need the output of every pair are then estimated on a
  fixed sample of pairs when computing them exactly would cost more than a step, and so
  is the answer table (a sample of pairs in every cell of its grid).
- Regimes: free (small initialisation, output scale 1) and sphere (unit weight vectors,
  output scale a/M; Stage I trains the directions, Stage II freezes them and trains the
  scale a, tied or per neuron).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence

import numpy as np
import torch

from backend.answers import answer_pair_sample, pairs_per_cell, sampled_answer_table
from backend.config import ConfigError, RunConfig
from backend.groups.finite_group import FiniteGroup
from backend.memory_estimate import check_memory
from backend.metrics import MajorityVote, MetricSnapshot, compute_metrics, majority_vote
from backend.pair_sample import metric_pair_sample
from backend.spectral import SpectralTools, load_group
from backend.task import build_task
from backend.training.lanes import parallel_lanes
from backend.training.network import CompositionNetwork, initial_parameters
from backend.training.optimisers import GradientDescent, Optimiser, build_optimiser
from backend.training.quadratic_path import ExactQuadraticLoss
from backend.training.step_path import choose_step_path, exact_step_cost

CHECK_INTERVAL = 64
"""Steps between finiteness checks (each one a device sync)."""

STAGE_FREE = "free"
STAGE_ONE = "stage I"
STAGE_TWO = "stage II"


def resolve_device(name: str) -> torch.device:
    """auto: CUDA when available, else the CPU; cuda without a GPU is refused."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError(
            "device = 'cuda' was asked for but PyTorch sees no CUDA GPU here; "
            "use device = 'auto' or 'cpu'"
        )
    return torch.device(name)


def check_setup(config: RunConfig) -> tuple[FiniteGroup, torch.device, str]:
    """(group, device, step path) of a validated ``config``, or the ConfigError a Trainer
    of it would raise (a group of one element, a shared embedding on a non-commutative
    group, a device this machine lacks, too little memory), with nothing built."""
    group = load_group(config.group)
    if group.order < 2:
        raise ConfigError(
            f"group {config.group!r} has a single element, so there is nothing to learn; "
            "choose a group of order 2 or more"
        )
    if config.shared_embedding and not group.is_abelian:
        raise ConfigError(
            f"shared_embedding = true needs a commutative group, because θ¹ = θ² makes "
            f"f(g1, g2) = f(g2, g1) while {group.name} has g1 g2 ≠ g2 g1 for some "
            "pairs; set shared_embedding = false"
        )
    device = resolve_device(config.device)
    step_path = choose_step_path(config, group.order, device.type)
    check_memory(config, group.order, step_path=step_path)
    return group, device, step_path


class Trainer:
    """Training state of one run (see the module docstring)."""

    def __init__(self, config: RunConfig) -> None:
        config = copy.deepcopy(config).validate()
        self.config = config
        self.group, self.device, self.step_path = check_setup(config)
        n = self.group.order
        self.dtype = torch.float64 if config.precision == "float64" else torch.float32
        self.metric_pairs = metric_pair_sample(n, config.data_seed) if (
            self.step_path == "exact" and n**3 * config.width > exact_step_cost(n, config.width)
        ) else None
        self.answer_sample = None if self.metric_pairs is None else answer_pair_sample(
            n, config.data_seed, pairs_per_cell(exact_step_cost(n, config.width), n,
                                                config.width))
        self.spectral = SpectralTools.of(self.group)
        self.irreps = self.spectral.irrep_set
        self.fourier = self.spectral.fourier
        self.task = build_task(config, self.group, self.irreps, self.fourier)
        self.network = CompositionNetwork(
            self.task,
            activation=config.activation,
            loss=config.loss,
            shared_embedding=config.shared_embedding,
            device=self.device,
            dtype=self.dtype,
        )
        self.exact = ExactQuadraticLoss(
            self.task, self.irreps, shared_embedding=config.shared_embedding,
            device=self.device, dtype=self.dtype,
        ) if self.step_path == "exact" else None
        self.divergence: str | None = None
        self.reinitialise(config.seed)

    # ------------------------------------------------------------------ state
    @property
    def width(self) -> int:
        return self.config.width

    @property
    def sphere(self) -> bool:
        return self.config.parameterisation == "sphere"

    def reinitialise(self, seed: int | None = None) -> None:
        """Fresh weights and optimiser state from ``seed`` (the configured seed if None)."""
        seed = self.config.seed if seed is None else int(seed)
        self.seed = seed
        theta = initial_parameters(
            order=self.group.order,
            width=self.config.width,
            shared_embedding=self.config.shared_embedding,
            parameterisation=self.config.parameterisation,
            init_scale=self.config.init_scale,
            seed=seed,
            dtype=self.dtype,
        )
        self.theta = theta.to(self.device)
        self.grad = torch.zeros_like(self.theta)
        self.optimiser: Optimiser = build_optimiser(self.config, sphere=self.sphere)
        self.scale_optimiser: Optimiser | None = None
        self.scale: float | torch.Tensor = (
            self.config.sphere_scale / self.config.width if self.sphere else 1.0
        )
        self.stage = STAGE_ONE if self.sphere else STAGE_FREE
        self.step_count = 0
        self.batch_generator = torch.Generator().manual_seed(seed + 1_000_003)
        self.divergence = None
        self._recent_steps = np.zeros(0, dtype=np.int64)
        self._recent_losses = np.zeros(0)
        self._recent_accuracies = np.zeros(0)
        self._last_loss = math.nan
        self._outputs_copy = None
        self._good_state = None
        self._remember_good_state()

    def state_dict(self) -> dict:
        """Everything needed to continue exactly (tensors copied to the CPU)."""
        return {"config": self.config.to_dict(), **self._training_state()}

    def _training_state(self) -> dict:
        """state_dict without the configuration (what ``load_state_dict`` reads)."""
        return _copy_state(self._live_state())

    def _live_state(self) -> dict:
        """The training state holding the Trainer's own tensors (not copies)."""
        return {
            "seed": self.seed,
            "theta": self.theta,
            "scale": self.scale,
            "stage": self.stage,
            "step_count": self.step_count,
            "optimiser": self.optimiser.live_state(),
            "scale_optimiser": None
            if self.scale_optimiser is None
            else self.scale_optimiser.live_state(),
            "batch_generator": self.batch_generator.get_state(),
            "divergence": self.divergence,
            "last_loss": self._last_loss,
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore a state from ``state_dict`` (of a run with the same configuration)."""
        theta = state["theta"]
        if tuple(theta.shape) != tuple(self.theta.shape):
            raise ConfigError(
                f"the saved weights have shape {tuple(theta.shape)} but this configuration "
                f"needs {tuple(self.theta.shape)}; load it with its own config.toml"
            )
        self.seed = int(state["seed"])
        self.theta = theta.to(device=self.device, dtype=self.dtype).clone()
        self.grad = torch.zeros_like(self.theta)
        scale = state["scale"]
        self.scale = scale.to(self.device).clone() if isinstance(scale, torch.Tensor) else scale
        self.stage = state["stage"]
        self.step_count = int(state["step_count"])
        self.optimiser = build_optimiser(self.config, sphere=self.sphere)
        self.optimiser.load_state_dict(_to_device(state["optimiser"], self.device))
        self.scale_optimiser = None
        if state["scale_optimiser"] is not None:
            self.scale_optimiser = self._build_scale_optimiser()
            self.scale_optimiser.load_state_dict(
                _to_device(state["scale_optimiser"], self.device)
            )
        self.batch_generator = torch.Generator()
        self.batch_generator.set_state(state["batch_generator"])
        self.divergence = state["divergence"]
        self._last_loss = float(state["last_loss"])
        self._recent_steps = np.zeros(0, dtype=np.int64)
        self._recent_losses = np.zeros(0)
        self._recent_accuracies = np.zeros(0)
        self._remember_good_state()

    # ------------------------------------------------------------------ controls
    def set_learning_rate(self, learning_rate: float) -> None:
        """Change η from the next step on (clears a divergence so training can resume)."""
        if not (learning_rate > 0 and math.isfinite(learning_rate)):
            raise ConfigError(f"learning rate {learning_rate!r} must be a positive number")
        target = self.scale_optimiser if self.stage == STAGE_TWO else self.optimiser
        target.learning_rate = float(learning_rate)
        if self.stage == STAGE_TWO:
            self.config.stage_two_learning_rate = float(learning_rate)
        else:
            self.config.learning_rate = float(learning_rate)
        self.divergence = None

    @property
    def learning_rate(self) -> float:
        target = self.scale_optimiser if self.stage == STAGE_TWO else self.optimiser
        return target.learning_rate

    def perturb(
        self, neurons: Sequence[int] | None, relative_scale: float, seed: int
    ) -> None:
        """Add Gaussian noise of relative size ``relative_scale`` to the chosen neurons.

        Each parameter vector v of a chosen neuron becomes v + ε‖v‖ u/√n with u standard
        normal (‖noise‖ ≈ ε‖v‖); on the sphere it is renormalised afterwards.
        """
        if not (relative_scale >= 0 and math.isfinite(relative_scale)):
            raise ConfigError(f"perturbation scale {relative_scale!r} must be 0 or more")
        columns = self._neuron_indices(neurons)
        generator = torch.Generator().manual_seed(int(seed))
        noise = torch.randn(
            (self.theta.shape[0], self.theta.shape[1], len(columns)),
            generator=generator,
            dtype=torch.float64,
        ).to(device=self.device, dtype=self.dtype)
        index = torch.as_tensor(columns, device=self.device)
        chosen = self.theta.index_select(2, index)
        norms = chosen.norm(dim=1, keepdim=True)
        chosen = chosen + relative_scale * norms * noise / math.sqrt(self.theta.shape[1])
        if self.sphere:
            chosen = chosen / chosen.norm(dim=1, keepdim=True)
        self.theta.index_copy_(2, index, chosen)
        self._remember_good_state()

    def _neuron_indices(self, neurons: Sequence[int] | None) -> list[int]:
        if neurons is None:
            return list(range(self.width))
        columns = [int(m) for m in neurons]
        wrong = [m for m in columns if not 0 <= m < self.width]
        if wrong:
            raise ConfigError(
                f"neuron index {wrong[0]} does not exist; this network has neurons "
                f"0..{self.width - 1}"
            )
        return columns

    def start_stage_two(self) -> None:
        """Freeze the directions and train the output scale from now on (sphere only)."""
        if not self.sphere:
            raise ConfigError(
                "Stage II trains the output scale of the sphere parameterisation; this run "
                "uses parameterisation = 'free'"
            )
        if self.stage == STAGE_TWO:
            return
        a = self.config.sphere_scale
        if self.config.stage_two_scale == "per_neuron":
            self.scale = torch.full((self.width,), a / self.width, dtype=self.dtype,
                                    device=self.device)
        else:
            self.scale = torch.tensor(a / self.width, dtype=self.dtype, device=self.device)
        self.scale_optimiser = self._build_scale_optimiser()
        self.stage = STAGE_TWO

    def _build_scale_optimiser(self) -> Optimiser:
        if self.config.optimiser == "gd":
            return GradientDescent(
                self.config.stage_two_learning_rate,
                momentum=self.config.momentum,
                weight_decay=self.config.weight_decay,
            )
        return build_optimiser(
            self.config, sphere=False, learning_rate=self.config.stage_two_learning_rate
        )

    # ------------------------------------------------------------------ training
    def step(self, k: int = 1) -> float:
        """Take k optimiser steps; return the loss of the last one (before its update).

        Does nothing after a divergence (returns the last finite loss) until the learning
        rate is changed, the weights are reinitialised or a state is loaded.
        """
        k = int(k)
        if k < 0:
            raise ValueError("the number of steps must be 0 or more")
        if self.divergence is not None or k == 0:
            self._recent_steps = np.zeros(0, dtype=np.int64)
            self._recent_losses = np.zeros(0)
            self._recent_accuracies = np.zeros(0)
            return self._last_loss
        lanes = (self.exact is None and not self._uses_minibatches()
                 and self.network.uses_lanes(self.width))
        with parallel_lanes(lanes):
            return self._take_steps(k)

    def _take_steps(self, k: int) -> float:
        """The loop of ``step`` (k ≥ 1, no divergence yet)."""
        # the losses as floats on the CPU, where reading one waits for nothing, and as
        # tensors on a GPU, read together at each check (one sync)
        on_cpu = self.device.type == "cpu"
        losses: list = []
        accuracies: list = []
        start = self.step_count
        checked = 0
        stage_two_after = self.config.stage_two_after if self.sphere else 0
        for i in range(k):
            if stage_two_after and self.stage == STAGE_ONE and self.step_count >= stage_two_after:
                self.start_stage_two()
            loss = self._one_step()
            losses.append(loss.item() if on_cpu else loss)
            accuracies.append(self._step_accuracy(on_cpu))
            self.step_count += 1
            if self.step_count % CHECK_INTERVAL == 0:
                if not self._check_finite(_loss_values(losses[checked:]), start + checked):
                    return self._last_loss
                checked = i + 1
        if checked < k and not self._check_finite(_loss_values(losses[checked:]),
                                                  start + checked):
            return self._last_loss
        values = _loss_values(losses)
        self._recent_steps = np.arange(start, start + k, dtype=np.int64)
        self._recent_losses = values
        self._recent_accuracies = _loss_values(accuracies)
        self._last_loss = float(values[-1])
        return self._last_loss

    def _step_accuracy(self, on_cpu: bool) -> float | torch.Tensor:
        """The training accuracy of the step just taken (NaN on the exact path): a float,
        or on a GPU the network's 0-dim tensor (read later, with the losses)."""
        if self.exact is not None:
            return math.nan
        accuracy = self.network.last_accuracy
        if isinstance(accuracy, torch.Tensor) and on_cpu:
            return accuracy.item()
        return accuracy

    def _one_step(self) -> torch.Tensor:
        pairs = self._next_batch()
        outputs_copy, self._outputs_copy = self._outputs_copy, None
        if self.stage == STAGE_TWO:
            scale_vector = self.scale if self.scale.dim() == 1 else self.scale.expand(self.width)
            loss, scale_grad = self._loss_and_gradient(
                scale_vector, pairs, need_theta_grad=False, outputs_copy=outputs_copy
            )
            if self.scale.dim() == 0:
                scale_grad = scale_grad.sum()
            self.scale_optimiser.step(self.scale, scale_grad)
            return loss
        loss, _ = self._loss_and_gradient(self.scale, pairs, outputs_copy=outputs_copy)
        self.optimiser.step(self.theta, self.grad)
        return loss

    def _loss_and_gradient(self, scale, pairs: torch.Tensor | None, *,
                           need_theta_grad: bool = True,
                           outputs_copy: torch.Tensor | None = None):
        """The step's loss and gradient (into ``self.grad``) on the configured path."""
        if self.exact is not None:
            return self.exact.loss_and_gradient(self.theta, scale, self.grad,
                                                need_theta_grad=need_theta_grad)
        return self.network.loss_and_gradient(
            self.theta, scale, self.grad, pairs, need_theta_grad=need_theta_grad,
            outputs_copy=outputs_copy,
        )

    def _next_batch(self) -> torch.Tensor | None:
        """The pairs of the next step: a seeded minibatch, or None for all training pairs."""
        if not self._uses_minibatches():
            return None
        train = self.network.train_pairs
        chosen = torch.randperm(train.shape[0], generator=self.batch_generator)
        return train.index_select(0, chosen[: self.config.batch_size].to(self.device))

    def _uses_minibatches(self) -> bool:
        """Whether steps take minibatches (a batch size below the number of training pairs)."""
        return 0 < self.config.batch_size < self.network.train_pairs.shape[0]

    def _check_finite(self, values: np.ndarray, first_step: int) -> bool:
        """Are these losses (from ``first_step`` on) and the weights finite? Remembers the
        state if so; restores the last remembered one and reports if not."""
        finite = bool(np.isfinite(values).all()) and all_finite(self.theta)
        if isinstance(self.scale, torch.Tensor):
            finite = finite and all_finite(self.scale)
        if finite:
            if values.size:
                self._last_loss = float(values[-1])
            self._remember_good_state()
            return True
        bad = np.flatnonzero(~np.isfinite(values))
        at = first_step + (int(bad[0]) if bad.size else values.size)
        self._restore_good_state()
        restored = self.step_count
        self._recent_steps = np.zeros(0, dtype=np.int64)
        self._recent_losses = np.zeros(0)
        self._recent_accuracies = np.zeros(0)
        what = "loss" if bad.size else "weights"
        rate = self.learning_rate
        self.divergence = (
            f"Training diverged: the {what} became infinite or NaN near step {at}, so "
            f"training stopped and the weights of step {restored} were restored. Lower the "
            f"learning rate (now {rate:g}, try {rate / 10:g}) or the output / initial scale, "
            "then continue."
        )
        return False

    def _remember_good_state(self) -> None:
        """Keep this state and the one before it: the loss at the newest weights is only
        seen by the next step, so the older one is the fallback if it is not finite."""
        previous = getattr(self, "_good_state", None)
        older = getattr(self, "_older_good_state", None)
        # the older copy is overwritten (it is about to be dropped) unless it is the newest
        recycled = older if older is not previous else None
        self._good_state = _copy_state(self._live_state(), into=recycled)
        self._older_good_state = previous if previous is not None else self._good_state

    def _restore_good_state(self) -> None:
        """Load the newest remembered state whose loss is finite."""
        newest, older = self._good_state, self._older_good_state
        # each load remembers its state, which must not overwrite these copies
        self._good_state = self._older_good_state = None
        for state in (newest, older):
            self.load_state_dict(state)
            loss = self.loss_value()
            if math.isfinite(loss):
                break
        self._good_state = self._older_good_state = self._training_state()
        self._last_loss = loss

    def loss_value(self) -> float:
        """The loss on the training pairs at the current weights (one forward pass)."""
        with torch.no_grad():
            if self.exact is not None:
                return float(self.exact.loss(self.theta, self._scale_for_forward()))
            outputs = self.network.outputs(self.theta, self._scale_for_forward())
            pairs = self.network.train_pairs
            return float(self.network.loss_of_outputs(outputs.index_select(0, pairs), pairs))

    @property
    def last_loss(self) -> float:
        """The loss of the last step taken (NaN before the first); after a divergence,
        the loss at the restored weights."""
        return self._last_loss

    def recent_losses(self) -> tuple[np.ndarray, np.ndarray]:
        """(steps, losses) of every step taken by the last ``step`` call."""
        return self._recent_steps.copy(), self._recent_losses.copy()

    def recent_accuracies(self) -> tuple[np.ndarray, np.ndarray]:
        """(steps, training accuracies) of every step taken by the last ``step`` call (see
        the module docstring; NaN on the exact path)."""
        return self._recent_steps.copy(), self._recent_accuracies.copy()

    # ------------------------------------------------------------------ views
    @property
    def step_path_label(self) -> str:
        """Which path the steps take, in words: "exact path" or "dense path"."""
        return f"{self.step_path} path"

    def _scale_for_forward(self) -> float | torch.Tensor:
        if isinstance(self.scale, torch.Tensor):
            return self.scale if self.scale.dim() == 1 else self.scale.expand(self.width)
        return self.scale

    def output_scales(self) -> np.ndarray:
        """Per-neuron output scale s_m (M,) as numpy."""
        scale = self._scale_for_forward()
        if isinstance(scale, torch.Tensor):
            return scale.detach().cpu().numpy().astype(np.float64)
        return np.full(self.width, float(scale))

    def effective_functions(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(a, b, c) each (M, n): a_m(g) = ⟨θ¹_m, x_g⟩, b_m(g) = ⟨θ²_m, x_g⟩,
        c_m(g) = ⟨ξ_m, x_g⟩."""
        with torch.no_grad():
            stacked = self.network.effective_functions(self.theta)
        values = stacked.transpose(1, 2).cpu().numpy().astype(np.float64)
        return values[0], values[1], values[2]

    def all_outputs(self) -> np.ndarray:
        """f(g1, g2) for every flat pair p = g1·n + g2, (n², n) float64."""
        return self._output_tensor().cpu().numpy().astype(np.float64)

    def _output_tensor(self, pairs: np.ndarray | None = None) -> torch.Tensor:
        """f of all pairs (or of the given flat pairs) in the weights' own dtype and
        device."""
        with torch.no_grad():
            chosen = None if pairs is None else torch.as_tensor(pairs, device=self.device)
            return self.network.outputs(self.theta, self._scale_for_forward(), chosen)

    def metrics(self) -> MetricSnapshot:
        """All live metrics of the current weights (plain numpy copies); those that need
        the output of every pair come from ``metric_pairs`` when it is set."""
        sampled = self.metric_pairs is not None
        snapshot = compute_metrics(
            step=self.step_count,
            effective=self.effective_functions(),
            outputs=self._output_tensor(self.metric_pairs),
            task=self.task,
            spectral=self.spectral,
            loss_kind=self.config.loss,
            loss=self.loss_value() if self.exact is not None else None,
            pairs=self.metric_pairs if sampled else None,
        )
        if self.answer_sample is not None:
            with torch.no_grad():
                snapshot.answer_margin, snapshot.answer_correct = sampled_answer_table(
                    self.network.effective_functions(self.theta), self._scale_for_forward(),
                    self.config.activation, self.task.table, self.answer_sample)
            snapshot.answer_pairs_per_cell = self.answer_sample.per_cell
        return snapshot

    def metrics_then_step(self, k: int = 1) -> MetricSnapshot:
        """The metrics of the current weights, then ``step(k)``: the same snapshot as
        ``metrics()`` and the same trajectory as ``step(k)``, but the outputs of the
        training pairs and the loss are taken from the first step's own forward pass,
        so the snapshot costs only its own arithmetic (and a forward pass of the
        held-out pairs, if any). Falls back to ``metrics()`` then ``step(k)`` when that
        step is a minibatch or does not run (k = 0, after a divergence), and on the exact
        path, whose step forms no output."""
        k = int(k)
        if (k < 1 or self.divergence is not None or self._uses_minibatches()
                or self.exact is not None):
            snapshot = self.metrics()
            self.step(k)
            return snapshot
        step = self.step_count
        effective = self.effective_functions()
        network = self.network
        n = self.group.order
        outputs = torch.empty((n * n, n), dtype=self.dtype, device=self.device)
        test_pairs = torch.as_tensor(self.task.test_pairs, device=self.device)
        if test_pairs.numel():
            with torch.no_grad():
                outputs[test_pairs] = network.outputs(
                    self.theta, self._scale_for_forward(), test_pairs
                )
        uses_all_pairs = self.task.uses_all_pairs
        train_outputs = outputs if uses_all_pairs else torch.empty(
            (network.train_pairs.shape[0], n), dtype=self.dtype, device=self.device
        )
        self._outputs_copy = train_outputs
        try:
            self.step(k)
        finally:
            self._outputs_copy = None
        if not uses_all_pairs:
            outputs[network.train_pairs] = train_outputs
        steps, losses = self.recent_losses()
        loss = float(losses[0]) if steps.size and steps[0] == step else None
        return compute_metrics(
            step=step,
            effective=effective,
            outputs=outputs,
            task=self.task,
            spectral=self.spectral,
            loss_kind=self.config.loss,
            loss=loss,
        )

    def majority_vote(self, g1: int, g2: int) -> MajorityVote:
        """Per-orbit split of the class scores of the pair (g1, g2) (MATH §4)."""
        n = self.group.order
        for name, value in (("g1", g1), ("g2", g2)):
            if not 0 <= int(value) < n:
                raise ConfigError(f"{name} = {value} is not an element index of 0..{n - 1}")
        effective = self.effective_functions()
        return majority_vote(
            int(g1),
            int(g2),
            effective=effective,
            scales=self.output_scales(),
            activation=self.config.activation,
            outputs=self._output_tensor(self.metric_pairs).cpu().numpy().astype(np.float64),
            task=self.task,
            spectral=self.spectral,
            pairs=self.metric_pairs,
        )


def _loss_values(losses: list) -> np.ndarray:
    """The losses collected by ``_take_steps`` (floats, or 0-dim tensors on a GPU, read
    with one sync) as a float64 array."""
    if losses and isinstance(losses[0], torch.Tensor):
        return torch.stack(losses).cpu().numpy().astype(np.float64)
    return np.array(losses, dtype=np.float64)


def all_finite(tensor: torch.Tensor) -> bool:
    """Whether every entry is finite, with one reduction: Σ 0·x is 0 exactly when no x is
    infinite or NaN (0·±∞ and 0·NaN are NaN), and a dot product is much cheaper than
    ``isfinite(x).all()``."""
    flat = tensor.reshape(-1)
    if flat.numel() == 0:
        return True
    return bool(torch.isfinite(torch.dot(flat, _zeros_like(flat))))


_ZEROS: dict[tuple, torch.Tensor] = {}


def _zeros_like(flat: torch.Tensor) -> torch.Tensor:
    """A kept vector of zeros of the shape, dtype and device of ``flat``: the check runs
    after every call of ``step`` on the same few shapes, and a fresh vector of the size
    of theta costs more in new pages of memory than the dot product itself."""
    key = (flat.numel(), flat.dtype, flat.device)
    zeros = _ZEROS.get(key)
    if zeros is None:
        if len(_ZEROS) >= 16:
            _ZEROS.clear()
        zeros = _ZEROS[key] = torch.zeros_like(flat)
    return zeros


def _copy_state(state, into=None):
    """A copy on the CPU of ``state`` (a tree of dicts, tensors and plain values). Tensors
    are written into those at the same place in ``into`` (an earlier copy that is no longer
    needed) where shape and dtype match, so that remembering a state after every call of
    ``step`` reuses its memory instead of paying for fresh pages."""
    if isinstance(state, dict):
        return {
            key: _copy_state(value, into.get(key) if isinstance(into, dict) else None)
            for key, value in state.items()
        }
    if isinstance(state, torch.Tensor):
        if isinstance(into, torch.Tensor) and into.shape == state.shape and (
            into.dtype == state.dtype
        ):
            return into.copy_(state.detach())
        return state.detach().to("cpu", copy=True)
    return state


def _to_device(state: dict, device: torch.device) -> dict:
    return {
        key: value.to(device) if isinstance(value, torch.Tensor) else value
        for key, value in state.items()
    }
