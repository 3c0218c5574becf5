"""Large groups: the exact quadratic path against the dense path (template, MSE, free
regime, gradient descent). Each (group, width, path) runs in its own process, so that its
trainer build time and peak memory are its own; the ratios are taken within one run.

    .venv/bin/python benchmarks/bench_large_groups.py                  # the four cases
    .venv/bin/python benchmarks/bench_large_groups.py --case S6 4096 --device cuda
    .venv/bin/python benchmarks/bench_large_groups.py --crossover      # where auto switches
    .venv/bin/python benchmarks/bench_large_groups.py --triple         # Fourier vs gather

Peak memory is the process's maximum resident set on the CPU, and PyTorch's maximum
allocated memory on a GPU.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CASES = (("S6", 2048), ("S5", 1024), ("A6", 1024), ("C7:C3", 512))
CROSSOVER_CASES = (("C7:C3", 128), ("C7:C3", 512), ("C7:C3", 2048), ("S4", 512),
                   ("D18", 512), ("D24", 512), ("D30", 512), ("D30", 1024), ("A5", 512),
                   ("A5", 1024), ("A5", 2048), ("S5", 256), ("S5", 1024), ("S5", 2048))


def measure(group: str, width: int, path: str, device: str, threads: int, steps: int,
            seconds: float, precision: str) -> dict:
    """Build time, steps/s and peak memory of one path (run in a fresh process)."""
    import torch

    torch.set_num_threads(threads)
    from backend.config import RunConfig
    from backend.spectral import SpectralTools, load_group
    from backend.training.trainer import Trainer

    # the irreps are cached per group (computed once per session), not timed
    orbits = len(SpectralTools.of(load_group(group)).irrep_set.nontrivial_orbits)
    config = RunConfig(
        group=group, encoding="template", template_powers=[5.0, 4.0, 3.0, 2.0, 1.0][:orbits],
        loss="mse", width=width, parameterisation="free", optimiser="gd",
        learning_rate=0.01, device=device, precision=precision, step_path=path,
    )
    cuda = device == "cuda"
    if cuda:
        torch.zeros(1, device="cuda")  # the CUDA context is not part of the build
    start = time.perf_counter()
    trainer = Trainer(config)
    if cuda:
        torch.cuda.synchronize()
    build = time.perf_counter() - start
    trainer.step(1)  # first step: buffers, kernels' plans
    taken, start = 0, time.perf_counter()
    while taken < steps or (taken < 100 * steps and time.perf_counter() - start < seconds):
        trainer.step(1)
        taken += 1
    if cuda:
        torch.cuda.synchronize()
    elapsed = time.perf_counter() - start
    peak = (torch.cuda.max_memory_allocated() if cuda
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
    return {"group": group, "width": width, "path": trainer.step_path, "build_s": build,
            "steps_per_second": taken / elapsed, "peak_gb": peak / 2**30,
            "loss": trainer.last_loss}


def time_triple_correlations(group: str, width: int, device: str, threads: int) -> dict:
    """Seconds of one group triple correlation Σ a(g1) b(g2) c(g1 g2) over M neurons: by
    the Fourier transform (value alone, and with its three gradients) and by blocked
    gathers on the Cayley table (value alone)."""
    import torch

    torch.set_num_threads(threads)
    from backend.spectral import SpectralTools, load_group
    from backend.training.quadratic_path import TripleCorrelation, gather_triple_correlation

    finite = load_group(group)
    n = finite.order
    generator = torch.Generator().manual_seed(0)
    a, b, c = (torch.randn((n, width), generator=generator).to(device) for _ in range(3))
    fourier = TripleCorrelation(SpectralTools.of(finite).irrep_set, torch.device(device),
                                torch.float32)
    table = torch.as_tensor(np.array(finite.table), device=device)

    def seconds(function, budget: float = 3.0) -> float:
        """The best of a few timed calls (the machine may be shared)."""
        function()
        best, spent = float("inf"), 0.0
        while spent < budget or best == float("inf"):
            start = time.perf_counter()
            function()
            if device == "cuda":
                torch.cuda.synchronize()
            best = min(best, time.perf_counter() - start)
            spent += time.perf_counter() - start
        return best

    return {
        "fourier value": seconds(lambda: fourier(a, b, c)),
        "fourier value and gradients": seconds(lambda: fourier.value_and_gradients(a, b, c)),
        "gather value": seconds(lambda: gather_triple_correlation(a, b, c, table)),
    }


def run_case(group, width, path, args) -> dict:
    """``measure`` in a child process (its own peak memory)."""
    command = [sys.executable, __file__, "--single", group, str(width), path,
               "--device", args.device, "--threads", str(args.threads),
               "--steps", str(args.dense_steps if path == "dense" else args.steps),
               "--seconds", str(args.seconds), "--precision", args.precision]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(f"{group} width {width} {path} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--case", nargs=2, action="append", metavar=("GROUP", "WIDTH"),
                        help="a group spec and a width (repeatable; default the four cases)")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--threads", type=int, default=2, help="CPU threads (default 2)")
    parser.add_argument("--steps", type=int, default=5, help="exact steps timed (at least)")
    parser.add_argument("--dense-steps", type=int, default=1, help="dense steps timed")
    parser.add_argument("--seconds", type=float, default=5.0,
                        help="keep stepping up to this long for a steadier rate")
    parser.add_argument("--precision", default="float32", choices=("float32", "float64"))
    parser.add_argument("--skip-dense", action="store_true", help="time the exact path only")
    parser.add_argument("--crossover", action="store_true",
                        help="both paths on small groups, and the path auto picks")
    parser.add_argument("--triple", action="store_true",
                        help="time the triple correlation by Fourier and by the table")
    parser.add_argument("--single", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.triple:
        for group, width in ([(g, int(w)) for g, w in args.case] if args.case
                             else DEFAULT_CASES):
            times = time_triple_correlations(group, width, args.device, args.threads)
            print(f"{group} width {width}: " + ", ".join(
                f"{name} {value * 1e3:.1f} ms" for name, value in times.items()))
        return
    if args.single:
        group, width, path = args.single
        print(json.dumps(measure(group, int(width), path, args.device, args.threads,
                                 args.steps, args.seconds, args.precision)))
        return
    cases = ([(g, int(w)) for g, w in args.case] if args.case
             else CROSSOVER_CASES if args.crossover else DEFAULT_CASES)
    print(f"device {args.device}, {args.threads} threads, {args.precision}")
    print(f"{'group':>8} {'width':>6} {'path':>6} {'steps/s':>10} {'build s':>8} "
          f"{'peak GB':>8}   ratio exact/dense   auto")
    for group, width in cases:
        exact = run_case(group, width, "exact", args)
        dense = None if args.skip_dense else run_case(group, width, "dense", args)
        auto = run_case(group, width, "auto", args)["path"] if args.crossover else ""
        for result in (exact, dense):
            if result is None:
                continue
            ratio = ""
            if result is exact and dense is not None:
                ratio = f"{exact['steps_per_second'] / dense['steps_per_second']:.3g}x"
            print(f"{group:>8} {width:>6} {result['path']:>6} "
                  f"{result['steps_per_second']:>10.3g} {result['build_s']:>8.2f} "
                  f"{result['peak_gb']:>8.2f}   {ratio:>17}   {auto}")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
