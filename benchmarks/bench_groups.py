"""Benchmark of the group module on one core: irreps of S5 and S6 (closed form and the
generic numerical construction) and one batched orbit-power transform of 4096 real
vectors over a group of order 120. Prints sizes, times and the ratio to each target
(a ratio below 1 meets it).

Run:  OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_groups.py
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from backend.groups import catalogue, fourier_transform_of, irreps_of  # noqa: E402

TARGETS = {"S5": 0.050, "S6": 5.0, "transform": 0.010}


def best_of(repeats: int, action) -> float:
    """Smallest wall time of ``repeats`` runs of ``action()`` (seconds)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return min(times)


def construction_time(degree: int, method: str, repeats: int) -> float:
    """Irreps of S_degree from a fresh group object (the table built outside the timing)."""

    def build():
        group = catalogue.symmetric(degree)
        start = time.perf_counter()
        irreps_of(group, method)
        return time.perf_counter() - start

    return min(build() for _ in range(repeats))


def main() -> None:
    torch.set_num_threads(1)
    print(
        f"threads: torch {torch.get_num_threads()}, OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}"
    )
    for degree, repeats in ((5, 5), (6, 2)):
        name = f"S{degree}"
        for method in ("closed form", "numerical"):
            seconds = construction_time(degree, method, repeats)
            irrep_set = irreps_of(catalogue.symmetric(degree), method)
            dims = sorted(irrep_set.dims.tolist())
            print(
                f"{name} irreps ({method:11s}): order {irrep_set.group.order}, dims {dims}: "
                f"{seconds * 1e3:8.1f} ms   ratio to target {TARGETS[name] * 1e3:.0f} ms: "
                f"{seconds / TARGETS[name]:.3f}"
            )
    transform = fourier_transform_of(irreps_of(catalogue.symmetric(5)))
    vectors = torch.randn(4096, 120, generator=torch.Generator().manual_seed(0))
    transform.orbit_power_torch(vectors)  # build and cache the projection matrices
    seconds = best_of(20, lambda: transform.orbit_power_torch(vectors))
    print(
        f"orbit power (torch float32): 4096 x 120 -> 4096 x {len(transform.irrep_set.orbits)}: "
        f"{seconds * 1e3:8.2f} ms   ratio to target 10 ms: {seconds / TARGETS['transform']:.3f}"
    )
    array = vectors.numpy().astype(np.float64)
    seconds = best_of(20, lambda: transform.orbit_power(array))
    print(
        f"orbit power (numpy float64): 4096 x 120: {seconds * 1e3:8.2f} ms   "
        f"ratio to target 10 ms: {seconds / TARGETS['transform']:.3f}"
    )


if __name__ == "__main__":
    main()
