"""``agf``: the Alternating Gradient Flows staircase of a configuration, headless.

    python main.py agf --preset NAME [--set key=value ...] [--compare] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

from backend.atomic_files import write_text_atomic
from backend.cli.configuration_arguments import (
    add_configuration_arguments,
    configuration_from_arguments,
)
from backend.cli.progress import ProgressBar
from backend.config import ConfigError


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "agf",
        help="predict the loss staircase with Alternating Gradient Flows",
        description="Print the closed-form AGF prediction (orbits in learning order, "
        "drop steps, plateau levels) and the rounds of the numerical AGF simulation of a "
        "preset. With --compare, also train it by gradient descent and print predicted "
        "against measured.",
    )
    add_configuration_arguments(parser)
    parser.add_argument("--compare", action="store_true",
                        help="also run gradient descent and compare")
    parser.add_argument("--json", metavar="FILE", help="write the results as JSON")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def _number(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def _check_json_path(path: str | None) -> Path | None:
    if path is None:
        return None
    target = Path(path)
    if not target.parent.exists():
        raise ConfigError(
            f"--json {path}: the folder {target.parent} does not exist; create it or "
            "choose another path"
        )
    return target


def run(args: argparse.Namespace) -> int:
    config = configuration_from_arguments(args)
    json_path = _check_json_path(args.json)
    from backend.agf.comparison import (
        agf_orbit_drops,
        compare,
        measured_drops,
        order_matches,
        run_gradient_descent,
    )
    from backend.agf.simulation import AgfProblem, run_agf
    from backend.agf.theory import predict_staircase

    start = time.perf_counter()
    predicted = predict_staircase(config)
    agf_seconds = time.perf_counter() - start
    start = time.perf_counter()
    problem = AgfProblem(config)
    result = run_agf(config, problem=problem, horizon=float(config.steps))
    simulation_seconds = time.perf_counter() - start

    print(f"AGF for {config.group} ({config.preset or 'configuration'}), "
          f"{config.steps} steps, initial loss {result.initial_loss:.4g}")
    print(f"\nclosed form (orbits in order of maximal utility U*; {agf_seconds * 1e3:.1f} ms):")
    print(f"{'orbit':>12} {'dim':>4} {'U*':>10} {'step':>10} {'level':>10}")
    for drop in predicted:
        print(f"{drop.label:>12} {drop.dim:>4} {drop.utility:>10.4g} {drop.step:>10.0f} "
              f"{drop.level:>10.4g}")
    print(f"\nrounds of the numerical AGF ({simulation_seconds:.2f} s, {result.stop_reason}):")
    print(f"{'round':>5} {'step':>10}  {'orbit':<16} {'neurons':<16} loss before → after")
    for entry in result.rounds:
        neurons = ",".join(str(i) for i in entry.neurons[:4])
        if len(entry.neurons) > 4:
            neurons = f"{len(entry.neurons)}: {neurons},…"
        print(f"{entry.round:>5} {entry.step:>10.0f}  {', '.join(entry.orbits):<16} "
              f"{neurons:<16} {entry.loss_before:.4g} → {entry.loss_after:.4g}")

    payload: dict = {
        "rounds": [
            {
                "round": entry.round,
                "step": entry.step,
                "orbits": list(entry.orbits),
                "neurons": list(entry.neurons),
                "loss_before": entry.loss_before,
                "loss_after": entry.loss_after,
            }
            for entry in result.rounds
        ],
        "predicted": [
            {"orbit": d.label, "dim": d.dim, "step": _number(d.step), "level": d.level}
            for d in predicted
        ],
    }
    if args.compare:
        bar = None if args.quiet else ProgressBar(config.steps, label="gradient descent")
        run_gd = run_gradient_descent(
            config, progress=None if bar is None else (lambda done, loss: bar.update(done, loss))
        )
        if bar is not None:
            bar.finish(int(run_gd.steps[-1]) + 1 if run_gd.steps.size else 0,
                       float(run_gd.losses[-1]) if run_gd.losses.size else None)
        measured = measured_drops(run_gd)
        simulated = agf_orbit_drops(result)
        rows = compare(predicted, measured, result.initial_loss)
        closed_ratio = run_gd.seconds / max(agf_seconds, 1e-9)
        simulation_ratio = run_gd.seconds / max(simulation_seconds, 1e-9)
        print(f"\npredicted against measured (gradient descent {run_gd.seconds:.2f} s; "
              f"closed form {agf_seconds * 1e3:.1f} ms, {closed_ratio:.0f}× faster; "
              f"numerical AGF {simulation_seconds:.2f} s, {simulation_ratio:.1f}× faster):")
        print(f"{'#':>2} {'closed form':>12} {'AGF':>12} {'measured':>12} "
              f"{'step closed':>11} {'step AGF':>9} {'step GD':>9} "
              f"{'level pred.':>11} {'level GD':>9} {'level err':>9}")
        for i in range(max(len(predicted), len(measured))):
            p = predicted[i] if i < len(predicted) else None
            s = simulated[i] if i < len(simulated) else None
            m = measured[i] if i < len(measured) else None
            error = rows[i].level_error if i < len(rows) else math.nan
            print(f"{i + 1:>2} {p.label if p else '-':>12} {s.orbit if s else '-':>12} "
                  f"{m.orbit if m else '-':>12} "
                  f"{p.step if p else math.nan:>11.0f} {s.step if s else math.nan:>9.0f} "
                  f"{m.step if m else math.nan:>9.0f} "
                  f"{p.level if p else math.nan:>11.4g} {m.level if m else math.nan:>9.4g} "
                  f"{error:>9.2%}")
        agree = "yes" if order_matches(predicted, measured) else "no"
        print(f"order of the closed form matches gradient descent: {agree}")
        payload["measured"] = [
            {"orbit": d.orbit, "dim": d.dim, "step": d.step, "level": _number(d.level)}
            for d in measured
        ]
        payload["agf_seconds"] = agf_seconds
        payload["gd_seconds"] = run_gd.seconds
    if json_path is not None:
        write_text_atomic(json_path, json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
        print(f"\nwrote {json_path}", file=sys.stderr)
    return 0
