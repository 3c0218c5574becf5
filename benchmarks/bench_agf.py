"""Wall time of the AGF prediction of c11-agf against the gradient-descent run it predicts.

    .venv/bin/python benchmarks/bench_agf.py [--preset c11-agf] [--repeats 3]

Prints the closed-form prediction time, the numerical AGF time (problem set-up included)
and the gradient-descent time (best of the repeats), and their ratios.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from backend.agf import comparison, simulation  # noqa: E402
from backend.agf.theory import predict_staircase  # noqa: E402
from backend.presets import load_preset  # noqa: E402


def best_of(repeats: int, work) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="c11-agf")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    config = load_preset(args.preset)
    predict_staircase(config)  # imports and irreps, once
    closed = best_of(args.repeats, lambda: predict_staircase(config))
    numerical = best_of(
        args.repeats, lambda: simulation.run_agf(config, horizon=float(config.steps))
    )
    gd = min(comparison.run_gradient_descent(config).seconds for _ in range(args.repeats))
    print(f"{args.preset}: {config.steps} steps, width {config.width}")
    print(f"closed-form prediction  {closed * 1e3:9.2f} ms   {gd / closed:8.0f}× faster")
    print(f"numerical AGF           {numerical * 1e3:9.1f} ms   {gd / numerical:8.1f}× faster")
    print(f"gradient descent        {gd * 1e3:9.1f} ms")


if __name__ == "__main__":
    main()
