"""Which path a training step takes: dense (the network on every pair) or exact (the
identity of the mathematics reference, section 6, for σ = z² with MSE on every pair).

No PyTorch here: the configuration checks a forced path with it.
"""

from __future__ import annotations

STEP_PATHS = ("auto", "dense", "exact")


def exact_path_obstacles(config, order: int | None = None) -> list[str]:
    """Why the identity of MATH §6 does not hold for ``config`` (empty when it does).
    ``order`` (the group's n), when known, also decides whether batch_size draws
    minibatches (a batch of n² pairs or more is every pair)."""
    reasons = []
    if config.activation != "square":
        reasons.append(f"activation = {config.activation!r} (the identity needs σ(z) = z², "
                       "activation = 'square')")
    if config.loss != "mse":
        reasons.append(f"loss = {config.loss!r} (the identity is for loss = 'mse')")
    if config.train_fraction < 1.0:
        reasons.append(f"train_fraction = {config.train_fraction:g} holds pairs out (the "
                       "identity sums over every pair; use train_fraction = 1)")
    minibatch = config.batch_size > 0 and (order is None or config.batch_size < order * order)
    if minibatch:
        reasons.append(f"batch_size = {config.batch_size} draws minibatches (the identity "
                       "sums over every pair; use batch_size = 0)")
    return reasons


EXACT_MIN_ORDER = 100
EXACT_MAX_WIDTH_RATIO = 0.2
"""auto takes the exact path on groups of order n ≥ ``EXACT_MIN_ORDER`` at widths
M ≤ ``EXACT_MAX_WIDTH_RATIO``·n². Its step costs about 24 n²M + 6 nM² multiply-adds in
~100 tensor operations; the dense fused kernels' about 3 n³M in a few calls. Measured
with ``benchmarks/bench_large_groups.py --crossover`` (time of an exact step over a dense
one, one thread, quiet machine): C7⋊C3 at widths 128, 512, 2048: 4.8, 5.7, 155; S4 (512):
4.1; D18 (512): 1.8; D24 and S4×C2 (512): 4.1, 4.3; A5 at 512, 1024, 2048: 0.62, 2.2,
4.5; D30 at 512, 1024: 0.34, 1.7; S5 at 256, 1024, 2048: 0.04, 0.43, 0.38; S6 (2048):
0.025. On two threads of a busy machine each of the exact step's operations waits for the
other thread, and groups of order 60 ran 4–50× slower there than on the dense path, so
auto leaves them (and all smaller groups) to the dense path; from order 100 on the exact
path's products are large enough to win either way (S6 at width 2048: 40–100×)."""

EXACT_MIN_ORDER_CUDA = 200
"""On a GPU the dense step's few large products run near the device's peak while the
exact step's ~100 small operations are bound by their launches (a floor of about 3 ms),
so the crossover lies higher. Measured on an H200 (float32, template, free regime,
``bench_large_groups.py --device cuda``), exact against dense steps/s: S5 (order 120) at
width 1024: 331 against 789; A6 (360) at 1024: 256 against 109; S6 (720) at 2048: 162
against 8.6, at 4096: 89 against 4.5. The dense step's time grows about as n^1.8 between
S5 and A6 there, crossing the exact step's floor near order 200."""


def exact_step_cost(order: int, width: int) -> float:
    """Multiply-adds of one exact step (about 24 n²M + 6 nM²)."""
    n, m = float(order), float(width)
    return 24 * n * n * m + 6 * n * m * m


def exact_is_faster(order: int, width: int, device_type: str = "cpu") -> bool:
    """Whether the exact step beats the dense one on a CPU or a CUDA device (the measured
    crossovers above)."""
    least = EXACT_MIN_ORDER_CUDA if device_type == "cuda" else EXACT_MIN_ORDER
    return order >= least and width <= EXACT_MAX_WIDTH_RATIO * order * order


def choose_step_path(config, order: int, device_type: str = "cpu") -> str:
    """'dense' or 'exact' for ``config`` on a group of order n on a device of the given type
    ("cpu" or "cuda"): a forced path is checked (exact where the identity does not hold is
    a ConfigError naming why); auto takes the exact path where it holds and is measured
    faster on that device (``exact_is_faster``)."""
    from backend.config import ConfigError

    obstacles = exact_path_obstacles(config, order)
    if config.step_path == "dense":
        return "dense"
    if config.step_path == "exact":
        if obstacles:
            raise ConfigError(
                "step_path = 'exact' needs σ = square, MSE and every pair, but "
                + "; ".join(obstacles) + "; use step_path = 'auto' or 'dense'"
            )
        return "exact"
    if obstacles:
        return "dense"
    return "exact" if exact_is_faster(order, config.width, device_type) else "dense"
