"""Training speed: the Trainer against a straightforward PyTorch baseline and the floor.

For each configuration (one-hot, sphere, cross-entropy, σ = z², Adam) this prints, in
one run, the steps per second of

- the Trainer (hand-written backward pass, A[g1] + B[g2] instead of the input matrix; on
  the CPU its three products are the fused kernels of ``backend/training/kernels.py``), stepped
  in calls of about 8 ms as the window's training worker steps it;
- a baseline written the way a researcher would: an nn.Module fed the n² × 2n matrix of
  concatenated one-hot inputs, autograd, torch.optim.Adam, renormalisation to the sphere;
- the floor: the forward and backward of the unavoidable products alone (S Ξ, G Ξᵀ and
  Sᵀ G, on a stored S), the fastest of three ways: ``addmm`` on preallocated buffers in
  either layout, or oneDNN's inner product (float32 on the CPU),

and the ratios Trainer / baseline (target ≥ 3) and Trainer / floor (target ≥ 0.6). The
three are timed in interleaved rounds and each keeps its best round, so that a load
which comes and goes on a shared machine cannot favour one of them. The floor bounds
both ratios: Trainer / baseline can only exceed floor / baseline by beating the floor.

    python benchmarks/bench_train.py [--seconds 2] [--threads N] [--device cpu]
                                     [--only frobenius21|A5] [--no-metrics]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before NumPy loads, as backend does on x86-64

import numpy as np  # noqa: E402
import torch  # noqa: E402

from backend.config import RunConfig  # noqa: E402
from backend.training import kernels  # noqa: E402
from backend.training.products import onednn_inner_product, step_products  # noqa: E402
from backend.training.trainer import Trainer  # noqa: E402

CONFIGURATIONS = [("frobenius21", "C7:C3", 512), ("A5", "A5", 1200)]
ROUNDS = 20
"""Interleaved rounds per configuration; each figure is the best round."""


class ConcatenatedNetwork(torch.nn.Module):
    """f(g1, g2) = (a/M) Σ_m ξ_m (⟨[θ¹_m; θ²_m], [x_g1; x_g2]⟩)² on concatenated inputs."""

    def __init__(self, n: int, width: int, scale: float) -> None:
        super().__init__()
        self.embed = torch.nn.Linear(2 * n, width, bias=False)
        self.readout = torch.nn.Linear(width, n, bias=False)
        self.scale = scale / width
        with torch.no_grad():
            self.renormalise()

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.scale * self.readout(self.embed(inputs) ** 2)

    def renormalise(self) -> None:
        n = self.embed.weight.shape[1] // 2
        first, second = self.embed.weight[:, :n], self.embed.weight[:, n:]
        first /= first.norm(dim=1, keepdim=True)
        second /= second.norm(dim=1, keepdim=True)
        self.readout.weight /= self.readout.weight.norm(dim=0, keepdim=True)


CALL_SECONDS = 0.008
"""The Trainer is stepped in calls of about this long, as the window's worker does (the
train command's calls are longer still)."""


def rate(step, seconds: float, steps_per_call: int = 1) -> float:
    """Steps per second of ``step()`` (which takes ``steps_per_call`` steps) over about
    ``seconds`` (after a warm-up)."""
    for _ in range(3):
        step()
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        step()
        count += steps_per_call
    return count / (time.perf_counter() - start)


def measure(group: str, width: int, seconds: float, device: str) -> dict[str, float]:
    config = RunConfig(group=group, width=width, encoding="onehot", parameterisation="sphere",
                       loss="cross_entropy", optimiser="adam", learning_rate=1e-3,
                       device=device)
    trainer = Trainer(config)
    n = trainer.group.order
    dev = trainer.device
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)

    # the call size from steps after the warm-up (the first steps allocate the buffers),
    # as the worker sizes its chunks from the steps it has timed
    trainer.step(3)
    started = time.perf_counter()
    trainer.step(5)
    steps_per_call = max(1, round(CALL_SECONDS * 5 / (time.perf_counter() - started)))

    def trainer_step():
        trainer.step(steps_per_call)

    table = torch.tensor(trainer.group.table.reshape(-1), device=dev)
    first = torch.arange(n, device=dev).repeat_interleave(n)
    second = torch.arange(n, device=dev).repeat(n)
    eye = torch.eye(n, device=dev)
    inputs = torch.cat([eye[first], eye[second]], dim=1)  # (n², 2n)
    model = ConcatenatedNetwork(n, width, config.sphere_scale).to(dev)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)

    def baseline_step():
        optimiser.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(inputs), table)
        loss.backward()
        optimiser.step()
        with torch.no_grad():
            model.renormalise()
        sync()

    hidden = torch.randn(n * n, width, device=dev)
    readout = torch.randn(width, n, device=dev)
    outputs = torch.empty(n * n, n, device=dev)
    hidden_grad = torch.empty(n * n, width, device=dev)
    readout_grad = torch.empty(width, n, device=dev)

    def floor_step():
        torch.mm(hidden, readout, out=outputs)
        torch.mm(outputs, readout.T, out=hidden_grad)
        torch.mm(hidden.T, outputs, out=readout_grad)
        sync()

    # the same products with the pairs as the last axis of the small matrices (the
    # layout the Trainer uses); the floor is the faster of the two layouts
    readout_t = readout.T.contiguous()
    outputs_t = torch.empty(n, n * n, device=dev)
    readout_grad_t = torch.empty(n, width, device=dev)

    def floor_step_transposed():
        torch.mm(readout_t, hidden.T, out=outputs_t)
        torch.mm(outputs_t.T, readout_t, out=hidden_grad)
        torch.mm(outputs_t, hidden, out=readout_grad_t)
        sync()

    floors = [floor_step, floor_step_transposed]
    inner_product = onednn_inner_product() if dev.type == "cpu" else None
    if inner_product is not None:
        # the same products on oneDNN, as the Trainer computes them in float32 on the CPU
        # (they make new tensors; the Trainer's step does the same)
        hidden_gradient_t = torch.randn(n * n, n, device=dev)

        def floor_step_onednn():
            inner_product(readout_t, hidden, None, "none", [], "")
            inner_product(outputs_t, hidden.T, None, "none", [], "")
            inner_product(hidden_gradient_t, readout, None, "none", [], "")

        floors.append(floor_step_onednn)
    # interleaved rounds, best of each: a load that comes and goes on a shared machine
    # then hits all of them alike instead of whichever happened to run during it
    steps = {"trainer": [trainer_step], "baseline": [baseline_step], "floor": floors}
    per_call = {"trainer": steps_per_call}
    best = dict.fromkeys(steps, 0.0)
    for _ in range(ROUNDS):
        for name, candidates in steps.items():
            for step in candidates:
                best[name] = max(best[name], rate(step, seconds / ROUNDS, per_call.get(name, 1)))
    return best


def measure_metrics(seconds: float) -> dict[str, float]:
    """Milliseconds for the metrics of 1024 neurons over S5 (order 120): what they add to
    a training step when they reuse its forward pass (``Trainer.metrics_then_step``, the
    way the window and the train command take them), the per-neuron part, the output
    part (loss, accuracies, function power) given the outputs,
    compute_metrics given the outputs, the forward pass of all n² pairs that produces
    those outputs (in the weights' dtype, as ``Trainer.metrics`` runs it), the product
    of that forward pass alone (its floor: 2·n²·M·n floating-point operations, the faster
    of ``mm`` and oneDNN) and the whole ``Trainer.metrics()``."""
    from backend.metrics import compute_metrics, neuron_metrics, output_metrics

    trainer = Trainer(RunConfig(group="S5", width=1024, device="cpu"))
    effective = np.stack(trainer.effective_functions())
    outputs = trainer._output_tensor()
    n, width = trainer.group.order, trainer.width

    def per_neuron():
        neuron_metrics(effective, trainer.spectral)

    def output_part():
        output_metrics(outputs, trainer.task, trainer.spectral, trainer.config.loss)

    def everything():
        compute_metrics(step=0, effective=effective, outputs=outputs, task=trainer.task,
                        spectral=trainer.spectral, loss_kind=trainer.config.loss)

    hidden = torch.randn(n * n, width, dtype=trainer.dtype)
    readout = torch.randn(width, n, dtype=trainer.dtype)
    product = torch.empty(n * n, n, dtype=trainer.dtype)
    product_steps = [lambda: torch.mm(hidden, readout, out=product)]
    inner_product = onednn_inner_product()
    if inner_product is not None and trainer.dtype == torch.float32:
        readout_rows = readout.T.contiguous()
        product_steps.append(lambda: inner_product(hidden, readout_rows, None, "none", [], ""))

    def reused_forward():
        """What ``metrics_then_step`` adds to a training step: the effective functions,
        compute_metrics on the outputs and loss that the step's forward pass made."""
        compute_metrics(step=0, effective=np.stack(trainer.effective_functions()),
                        outputs=outputs, task=trainer.task, spectral=trainer.spectral,
                        loss_kind=trainer.config.loss, loss=1.0)

    # the same, as the difference between a step that also measures and a plain step,
    # in interleaved rounds
    plain, measuring = [], []
    for _ in range(ROUNDS):
        plain.append(1e3 / rate(lambda: trainer.step(1), seconds / ROUNDS))
        measuring.append(1e3 / rate(lambda: trainer.metrics_then_step(1), seconds / ROUNDS))

    return {
        "metrics reusing a step's forward": 1e3 / rate(reused_forward, seconds),
        "  measured as step+metrics − step": min(measuring) - min(plain),
        "per-neuron metrics": 1e3 / rate(per_neuron, seconds),
        "output metrics (outputs given)": 1e3 / rate(output_part, seconds),
        "all metrics (outputs given)": 1e3 / rate(everything, seconds),
        "forward of all pairs": 1e3 / rate(trainer._output_tensor, seconds),
        "  its product alone (floor)": min(
            1e3 / rate(product_step, seconds) for product_step in product_steps
        ),
        "Trainer.metrics() in all": 1e3 / rate(trainer.metrics, seconds),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="timing per measurement")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda", "auto"])
    parser.add_argument("--only", choices=[name for name, _, _ in CONFIGURATIONS],
                        help="time this configuration alone")
    parser.add_argument("--no-metrics", action="store_true", help="skip the metrics timings")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    on_gpu = args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
    if not on_gpu and kernels.AVAILABLE:
        step = "the step's products in the fused kernels"
    else:
        library = step_products(torch.device("cuda" if on_gpu else "cpu"), torch.float32).name
        step = f"the step's products on {library}"
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}, "
          f"{step}")
    print(f"{'configuration':<24}{'trainer':>10}{'baseline':>10}{'floor':>10}"
          f"{'×baseline':>11}{'÷floor':>9}{'floor/baseline':>16}"
          "   (steps/s; targets ≥ 3 and ≥ 0.6)")
    for name, group, width in CONFIGURATIONS:
        if args.only and name != args.only:
            continue
        result = measure(group, width, args.seconds, args.device)
        print(
            f"{name + f' (width {width})':<24}{result['trainer']:>10.1f}{result['baseline']:>10.1f}"
            f"{result['floor']:>10.1f}{result['trainer'] / result['baseline']:>11.2f}"
            f"{result['trainer'] / result['floor']:>9.2f}"
            f"{result['floor'] / result['baseline']:>16.2f}"
        )
    if args.no_metrics:
        return 0
    print("metrics of 1024 neurons over S5 (order 120), target < 20 ms:")
    for name, milliseconds in measure_metrics(args.seconds).items():
        print(f"  {name:<30}{milliseconds:8.1f} ms  ({milliseconds / 20:.2f} of the target)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
