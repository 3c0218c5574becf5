"""Check that training on CUDA follows training on the CPU (needs a GPU; not a test).

For every preset (or those named), train the same configuration in float64 for a few
hundred steps on both devices and print the relative difference of the loss curves and
of the final metrics, and each device's steps per second:

    python benchmarks/check_devices.py [--steps 300] [--preset NAME ...]

The two devices sum in different orders, so the curves agree to rounding (about 1e-10
in float64 over a few hundred steps) unless a code path differs between them.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from backend.presets import list_presets, load_preset  # noqa: E402
from backend.training.trainer import Trainer  # noqa: E402


def train_curve(config, device: str, steps: int) -> tuple[np.ndarray, object, float]:
    """The loss of every step, the final metrics and the steps per second on ``device``."""
    trainer = Trainer(config.replace(device=device, precision="float64"))
    trainer.step(1)  # warm-up: kernels, caches and the CUDA context
    losses = [trainer.last_loss]
    started = time.perf_counter()
    for _ in range(steps - 1):
        losses.append(trainer.step(1))
    rate = (steps - 1) / (time.perf_counter() - started)
    return np.asarray(losses), trainer.metrics(), rate


def relative(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--preset", action="append", help="preset to check (default: all)")
    parser.add_argument("--width", type=int, default=0, help="override the width (0: keep)")
    args = parser.parse_args()
    import torch

    if not torch.cuda.is_available():
        print("no CUDA device: nothing to compare")
        return 1
    print(f"CUDA device: {torch.cuda.get_device_name()}, torch {torch.__version__}")
    names = args.preset or [name for name, _ in list_presets()]
    worst = 0.0
    print(f"{'preset':22} {'loss curve':>11} {'power':>9} {'final loss':>12} "
          f"{'CPU steps/s':>12} {'CUDA steps/s':>13}")
    for name in names:
        config = load_preset(name)
        if args.width:
            config = config.replace(width=args.width)
        cpu_losses, cpu_metrics, cpu_rate = train_curve(config, "cpu", args.steps)
        gpu_losses, gpu_metrics, gpu_rate = train_curve(config, "cuda", args.steps)
        curve = relative(gpu_losses, cpu_losses)
        power = relative(np.asarray(gpu_metrics.power, float), np.asarray(cpu_metrics.power, float))
        worst = max(worst, curve)
        print(f"{name:22} {curve:11.2e} {power:9.2e} {cpu_losses[-1]:12.6g} "
              f"{cpu_rate:12.1f} {gpu_rate:13.1f}")
    print(f"worst relative difference of the loss curves: {worst:.2e}")
    return 0 if worst < 1e-6 else 1


if __name__ == "__main__":
    raise SystemExit(main())
