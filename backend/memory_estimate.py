"""Refuse a run that cannot fit in memory before allocating anything.

The estimate is a lower bound of what a Trainer allocates, so a run it refuses would
certainly fail: with L layers (3, or 2 with a shared embedding), order n, width M, e bytes
per weight (4 or 8) and k optimiser moments (2 for Adam, 1 for momentum, 0 otherwise),

    weights   = 8·L·n·M (the float64 draw) + e·L·n·M·(3 + k)   (θ, gradient, kept copy, moments)
    buffers   = e·B·n·M + C·M      (B = 16 n × M work buffers of the step and the metrics,
                                    C = 512 bytes of per-neuron metrics)
    pairs     = (8 + e)·n³ with the MSE loss (the targets y(g1, g2), float64 then e bytes)
                on the dense path; the exact path (σ = z², MSE, every pair) forms no
                pair but holds about 8 M × M Gram matrices and their products: 8·e·M²

and the run needs the sum. Measured peaks on this project's machines stay above it
(C5, C11, C7:C3 at widths up to 10⁶: 1.2–1.7× the estimate).
"""

from __future__ import annotations

from pathlib import Path

from backend.config import ConfigError, RunConfig

GIB = 1024**3
WORK_BUFFERS = 16
METRIC_BYTES_PER_NEURON = 512


def optimiser_moments(config: RunConfig) -> int:
    if config.optimiser in ("adam", "adamw"):
        return 2
    return 1 if config.optimiser == "gd" and config.momentum > 0 else 0


def per_neuron_bytes(config: RunConfig, order: int) -> int:
    """Bytes that grow with the width, per neuron."""
    layers = 2 if config.shared_embedding else 3
    element = 8 if config.precision == "float64" else 4
    weights = layers * order * (8 + element * (3 + optimiser_moments(config)))
    return weights + element * WORK_BUFFERS * order + METRIC_BYTES_PER_NEURON


def fixed_bytes(config: RunConfig, order: int, step_path: str = "dense") -> int:
    """Bytes that do not depend on the width."""
    element = 8 if config.precision == "float64" else 4
    dense_targets = config.loss == "mse" and step_path == "dense"
    return (8 + element) * order**3 if dense_targets else 0


def gram_bytes(config: RunConfig, width: int, step_path: str = "dense") -> int:
    """The exact path's M × M matrices (none on the dense path)."""
    element = 8 if config.precision == "float64" else 4
    return 8 * element * width * width if step_path == "exact" else 0


def available_bytes() -> int | None:
    """Memory the system can hand out now (MemAvailable), or None when unknown."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        import os

        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def check_memory(config: RunConfig, order: int, available: int | None = None,
                 step_path: str = "dense") -> None:
    """ConfigError when the run's lower-bound estimate exceeds the available memory."""
    available = available_bytes() if available is None else available
    if available is None:
        return
    per_neuron = per_neuron_bytes(config, order)
    fixed = fixed_bytes(config, order, step_path)

    def needed_for(width: int) -> int:
        return fixed + per_neuron * width + gram_bytes(config, width, step_path)

    needed = needed_for(config.width)
    if needed <= available:
        return
    low, high = 0, config.width  # the largest width that fits
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if needed_for(middle) <= available else (low, middle)
    fits = low
    advice = (f"choose width = {fits} or less" if fits >= 1
              else "choose a smaller group (the pair targets alone do not fit)")
    if step_path == "dense" and config.loss == "mse":
        from backend.training.step_path import exact_path_obstacles

        if not exact_path_obstacles(config, order):
            advice += ", or step_path = 'exact' (it forms no pair targets)"
    raise ConfigError(
        f"width = {config.width} on group {config.group} (order {order}) needs at least "
        f"{needed / GIB:.1f} GiB of memory but {available / GIB:.1f} GiB is available; {advice}"
    )
