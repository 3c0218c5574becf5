"""``agf``: the Alternating Gradient Flows staircase of a configuration, headless.

    python main.py agf --preset NAME [--set key=value ...] [--compare] [--json FILE]
        [--drops cost|optimiser]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import asdict
from pathlib import Path

from backend.atomic_files import write_text_atomic
from backend.cli.configuration_arguments import (
    add_configuration_arguments,
    configuration_from_arguments,
)
from backend.cli.progress import ProgressBar
from backend.errors import UserError
from backend.file_reading import check_writable_file, write_failure


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "agf",
        help="predict the loss staircase with Alternating Gradient Flows",
        description="Print AGF (closed form): orbits in learning order and plateau levels, "
        "with the drop steps where the closed form is valid for the optimiser; and AGF "
        "(simulated): the rounds of the numerical AGF, with every step. Says first whether "
        "the configuration is inside AGF's regime, and why not. With --compare, also train "
        "it by gradient descent and print, per position, each prediction's orbit, step and "
        "level against gradient descent's, with the errors.",
    )
    add_configuration_arguments(parser)
    parser.add_argument("--compare", action="store_true",
                        help="also run gradient descent and compare")
    parser.add_argument("--json", metavar="FILE", help="write the results as JSON")
    parser.add_argument("--drops", choices=("optimiser", "cost"), default="optimiser",
                        help="how AGF (simulated) resolves each drop: the configuration's own "
                        "optimiser steps on the whole network (default: the mode validated "
                        "against gradient descent, docs/agf.md) or cost minimisation (a jump "
                        "to the fitted network: AGF as first formulated, off on later "
                        "orbits)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def _number(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def _check_json_path(path: str | None) -> Path | None:
    if path is None:
        return None
    return check_writable_file(path, "--json file")


def _cell(value: float, form: str, width: int) -> str:
    return f"{format(value, form):>{width}}" if math.isfinite(value) else f"{'—':>{width}}"


def _closed_step(drop, width: int) -> str:
    """The closed form's step: as it is where valid for the optimiser, else as the lower
    bound it is (≥, and no error beside it)."""
    if drop is None or not math.isfinite(drop.step):
        return f"{'—':>{width}}"
    return f"{('' if drop.timed else '≥') + format(drop.step, '.0f'):>{width}}"


def _orbit(drop) -> str:
    if drop is None:
        return "—"
    return str(drop.label if hasattr(drop, "label") else drop.orbit).split(" (")[0]


def closed_form_lines(predicted, timing_note: str, seconds: float) -> list[str]:
    """AGF (closed form): orbits in order of U*, levels, and the steps valid for the
    optimiser (others shown as lower bounds, ≥)."""
    lines = [f"AGF (closed form): orbits in order of maximal utility U*, plateau levels "
             f"({seconds * 1e3:.1f} ms)", f"  {timing_note}",
             f"{'orbit':>12} {'dim':>4} {'U*':>10} {'step':>10} {'level':>10}"]
    for drop in predicted:
        step = f"{drop.step:.0f}" if drop.timed else f"≥{drop.step:.0f}"
        lines.append(f"{_orbit(drop):>12} {drop.dim:>4} {drop.utility:>10.4g} "
                     f"{step if math.isfinite(drop.step) else '—':>10} {drop.level:>10.4g}")
    return lines


def simulated_lines(result, seconds: float, backend: str = "dense") -> list[str]:
    """AGF (simulated): every round, with whether the loss dropped; ``backend`` names the
    problem it ran on ("dense": pairs formed; "exact": the identity of MATH §6)."""
    spent = (f", drops by the optimiser: {result.optimiser_steps} steps in "
             f"{result.optimiser_evaluations} gradients, "
             f"{result.relaxation_evaluations} more relaxing the held network on the "
             f"plateaus" if result.optimiser_steps else "")
    lines = [f"AGF (simulated): rounds of the numerical AGF ({seconds:.2f} s on the "
             f"{backend} problem, {result.stop_reason}{spent})",
             f"{'round':>5} {'step':>10}  {'orbit':<16} {'neurons':<16} "
             "loss before → after"]
    for entry in result.rounds:
        neurons = ",".join(str(i) for i in entry.neurons[:4])
        if len(entry.neurons) > 4:
            neurons = f"{len(entry.neurons)}: {neurons},…"
        note = ("  (no drop)" if not entry.dropped
                else "  (part of the orbit)" if entry.partial else "")
        lines.append(f"{entry.round:>5} {entry.step:>10.0f}  {', '.join(entry.orbits):<16} "
                     f"{neurons:<16} {entry.loss_before:.4g} → {entry.loss_after:.4g}{note}")
    if result.loss_spike is not None:
        lines.append(f"  {result.loss_spike.sentence()}")
    return lines


def comparison_lines(rows) -> list[str]:
    """Per position: orbit, step and level of AGF (closed form), AGF (simulated) and
    gradient descent, and the predictions' relative errors (closed-form steps only where
    valid for the optimiser)."""
    lines = [
        f"{'#':>2} | {'orbit: closed':>13} {'simulated':>10} {'GD':>10} | "
        f"{'step: closed':>12} {'simulated':>9} {'GD':>9} {'err cl.':>8} {'err sim.':>8} | "
        f"{'level: closed':>13} {'simulated':>9} {'GD':>9} {'err cl.':>8} {'err sim.':>8}"]
    for row in rows:
        sim, gd = row.simulated, row.measured
        lines.append(
            f"{row.position:>2} | {_orbit(row.closed_form):>13} {_orbit(sim):>10} "
            f"{_orbit(gd):>10} | "
            f"{_closed_step(row.closed_form, 12)} "
            f"{_cell(sim.step if sim else math.nan, '.0f', 9)} "
            f"{_cell(gd.step if gd else math.nan, '.0f', 9)} "
            f"{_cell(row.closed_form_step_error, '+.1%', 8)} "
            f"{_cell(row.simulated_step_error, '+.1%', 8)} | "
            f"{_cell(row.closed_form.level if row.closed_form else math.nan, '.4g', 13)} "
            f"{_cell(sim.level if sim else math.nan, '.4g', 9)} "
            f"{_cell(gd.level if gd else math.nan, '.4g', 9)} "
            f"{_cell(row.closed_form_level_error, '+.1%', 8)} "
            f"{_cell(row.simulated_level_error, '+.1%', 8)}")
    return lines


def run(args: argparse.Namespace) -> int:
    config = configuration_from_arguments(args)
    if config.steps < 1:
        raise UserError(f"steps = {config.steps}: AGF predicts the staircase over a run's "
                        "steps; use --set steps=N with N ≥ 1")
    json_path = _check_json_path(args.json)
    from backend.agf.comparison import (
        agf_orbit_drops,
        climb_sentence,
        compare,
        loss_climb,
        measured_drops,
        order_matches,
        run_gradient_descent,
    )
    from backend.agf.regime import regime_report
    from backend.agf.simulation import agf_problem, run_agf
    from backend.agf.theory import predict_staircase, timing_scope

    # torch is loaded before any timing (start-up, not the simulation's cost), and a
    # device this machine lacks is refused before any work, as `train` does
    from backend.training.trainer import resolve_device

    resolve_device(config.device)

    start = time.perf_counter()
    predicted = predict_staircase(config)
    agf_seconds = time.perf_counter() - start
    _, timing_note = timing_scope(config)
    start = time.perf_counter()
    problem = agf_problem(config)
    bar = None if args.quiet else ProgressBar(config.steps, label="AGF (simulated)",
                                              with_loss=False)
    reached = 0.0

    def show(step: float, _horizon: float) -> None:
        nonlocal reached
        reached = step
        bar.update(int(step))

    try:
        result = run_agf(config, problem=problem, horizon=float(config.steps),
                         drops=args.drops, progress=None if bar is None else show)
        reached = result.final_step
    finally:  # the bar's line ends before any message (or Ctrl-C) that follows
        if bar is not None:
            bar.finish(int(reached))
    simulation_seconds = time.perf_counter() - start
    simulated = agf_orbit_drops(result)
    regime = regime_report(config, drops=args.drops)

    changed = f" with {', '.join(args.overrides)}" if args.overrides else ""
    print(f"AGF for {config.group} ({config.preset or 'configuration'}{changed}), "
          f"{config.steps} steps, initial loss {result.initial_loss:.4g}")
    for line in regime.lines():
        print(line)
    print()
    print("\n".join(closed_form_lines(predicted, timing_note, agf_seconds)))
    print()
    print("\n".join(simulated_lines(result, simulation_seconds, problem.backend)))

    payload: dict = {
        "regime": regime.as_dict(),
        "rounds": [
            {
                "round": entry.round,
                "step": entry.step,
                "orbits": list(entry.orbits),
                "neurons": list(entry.neurons),
                "loss_before": entry.loss_before,
                "loss_after": entry.loss_after,
                "dropped": entry.dropped,
                "level_step": entry.weights_step,
            }
            for entry in result.rounds
        ],
        "closed_form": [
            {"orbit": d.label, "dim": d.dim, "utility": d.utility,
             "step": _number(d.step) if d.timed else None,
             "step_lower_bound": None if d.timed else _number(d.step), "level": d.level}
            for d in predicted
        ],
        "closed_form_timing": timing_note,
        "simulated": [
            {"orbit": d.orbit, "dim": d.dim, "step": d.step, "level": _number(d.level)}
            for d in simulated
        ],
        "simulated_seconds": simulation_seconds,
        "simulated_problem": problem.backend,
        "simulated_drops": args.drops,
        "optimiser_steps": result.optimiser_steps,
        "optimiser_evaluations": result.optimiser_evaluations,
        "relaxation_evaluations": result.relaxation_evaluations,
        "simulated_spike": None if result.loss_spike is None else asdict(result.loss_spike),
        "closed_form_seconds": agf_seconds,
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
        rows = compare(predicted, measured, result.initial_loss, simulated)
        print(f"\nAGF against gradient descent (gradient descent {run_gd.seconds:.2f} s; "
              f"AGF (closed form) {agf_seconds * 1e3:.1f} ms; AGF (simulated) "
              f"{simulation_seconds:.2f} s = {simulation_seconds / run_gd.seconds:.1%} of it):")
        print("\n".join(comparison_lines(rows)))
        if any(row.measured is not None and not math.isfinite(row.measured.level)
               for row in rows):
            print("GD level —: the run ends inside that orbit's drop, which shows no level "
                  "yet (train longer to read it)")
        for name, order in (("AGF (closed form)", predicted), ("AGF (simulated)", simulated)):
            agree = "yes" if order_matches(order, measured) else "no"
            print(f"order of {name} matches gradient descent: {agree}")
        climb = loss_climb(run_gd.steps, run_gd.losses)
        if result.loss_spike is not None:
            print(climb_sentence(climb))
        payload["gd_climb"] = None if climb is None else asdict(climb)
        payload["measured"] = [
            {"orbit": d.orbit, "dim": d.dim, "step": d.step, "level": _number(d.level)}
            for d in measured
        ]
        payload["comparison"] = [row.as_dict() for row in rows]
        payload["gd_seconds"] = run_gd.seconds
    if json_path is not None:
        try:
            write_text_atomic(json_path,
                              json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
        except OSError as error:
            raise UserError(write_failure(json_path, error)) from None
        print(f"\nwrote {json_path}", file=sys.stderr)
    return 0
