"""Scaling of a sweep on Ray: N equal runs against one run, and Ray's start-up cost.

    .venv/bin/python benchmarks/bench_sweeps.py [--runs 8] [--preset z3xz5-sphere]
        [--width 512] [--steps 1500] [--cpus-per-run 1] [--gpus-per-run 0]
        [--num-cpus N] [--address HOST:PORT] [--device cpu|cuda|auto] [--set KEY=VALUE]

Starts Ray the way ``sweep`` does (a local instance with every core, or --address),
warms one worker per slot with a tiny run, then times one run alone (T₁) and N runs
together (T_N), submitted through the same engine. With s runs at once (slots: CPUs per
run, GPUs per run), perfect scaling is T_N = ⌈N/s⌉·T₁; the benchmark prints
T_N / (⌈N/s⌉·T₁) (the target on 2 cores: ≤ 1.25) and Ray's start-up and shutdown times.
The ratio is the product of the runs' own slow-down when they run side by side (memory
bandwidth, other processes on the machine; printed as the mean run time inside the
workers against the lone run's) and Ray's overhead, T_N / (Σ run times / s).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import backend  # noqa: E402, F401 - sets NumPy's thread pool first
from backend.presets import load_preset  # noqa: E402
from backend.sweeps.engine import EngineOptions, RayEngine  # noqa: E402


def run_all(engine: RayEngine, configs: list[dict]) -> tuple[float, list[dict]]:
    """Submit every configuration at once; wall time until the last result, results."""
    start = time.perf_counter()
    references = [engine.submit(config, "training") for config in configs]
    import ray

    results = ray.get(references)
    return time.perf_counter() - start, results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=8)
    parser.add_argument("--preset", default="z3xz5-sphere")
    parser.add_argument("--width", type=int, default=512)
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--cpus-per-run", type=int, default=1)
    parser.add_argument("--gpus-per-run", type=float, default=0.0)
    parser.add_argument("--num-cpus", type=int, default=None)
    parser.add_argument("--address", default=None)
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda", "auto"))
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        dest="overrides", help="change a configuration key (repeatable)")
    args = parser.parse_args()

    base = load_preset(args.preset).with_overrides(args.overrides).replace(
        width=args.width, steps=args.steps, device=args.device)
    configs = [base.replace(seed=seed).to_dict() for seed in range(args.runs)]
    tiny = base.replace(width=8, steps=5).to_dict()
    engine = RayEngine(EngineOptions(address=args.address, cpus_per_run=args.cpus_per_run,
                                     gpus_per_run=args.gpus_per_run, num_cpus=args.num_cpus))
    start = time.perf_counter()
    engine.start()
    started = time.perf_counter() - start
    slots = engine.capacity()
    warm, results = run_all(engine, [tiny] * slots)
    failed = [r["message"] for r in results if r["status"] != "done"]
    if failed:
        print(f"warm-up run failed: {failed[0]}", file=sys.stderr)
        engine.stop()
        return 1
    one, (single,) = run_all(engine, [configs[0]])
    many, results = run_all(engine, configs)
    start = time.perf_counter()
    engine.stop()
    stopped = time.perf_counter() - start

    statuses = {r["status"] for r in results}
    rounds = math.ceil(args.runs / slots)
    ratio = many / (rounds * one)
    where = f"cluster {engine.address}" if engine.attached else "local Ray instance"
    print(f"{args.preset} {' '.join(args.overrides)}, width {args.width}, {args.steps} steps, "
          f"device {args.device}; "
          f"{where}, {slots} runs at once ({args.cpus_per_run} CPU, "
          f"{args.gpus_per_run:g} GPU per run)")
    print(f"Ray start-up (ray.init)                 {started:7.2f} s")
    print(f"first tiny run per slot (worker start)  {warm:7.2f} s")
    print(f"Ray shutdown                            {stopped:7.2f} s")
    print(f"one run alone, T1                       {one:7.2f} s   "
          f"(inside the worker {single['wall_seconds']:.2f} s)")
    print(f"{args.runs} runs together, T{args.runs:<2}                   {many:7.2f} s   "
          f"(statuses: {', '.join(sorted(statuses))})")
    print(f"ideal ⌈N/s⌉·T1 = {rounds}·T1                  {rounds * one:7.2f} s")
    print(f"T{args.runs} / (⌈N/s⌉·T1)                        {ratio:7.3f}   "
          f"(target ≤ 1.25)")
    mean_inside = sum(r["wall_seconds"] for r in results) / len(results)
    print(f"mean run time inside the workers         {mean_inside:7.2f} s "
          f"({mean_inside / single['wall_seconds']:.2f}× the lone run's: the runs' own "
          "slow-down when they share the machine)")
    busy = sum(r["wall_seconds"] for r in results) / min(slots, args.runs)
    print(f"T{args.runs} / (Σ run times / s)                   {many / busy:7.3f}   "
          "(Ray's scheduling and transfer overhead)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
