"""AGF against gradient descent on the presets and off them: a validation table.

    .venv/bin/python benchmarks/validate_agf.py [--cases c11,d3,a5,c20,random]
        [--groups D5,S4,A5] [--seeds 5] [--first-seed 0] [--drops cost,optimiser]
        [--device cpu|cuda] [--json FILE]

For every case it runs AGF (closed form), AGF (simulated) and gradient descent, and
prints per case: whether AGF's regime check passes (backend/agf/regime.py), the orbit
order of each against gradient descent's, the largest level and step errors of AGF
(simulated) over the orbits gradient descent learned, and the simulated AGF's wall time
as a share of the gradient-descent time it predicts, and with drops resolved by the
optimiser the steps they took and the gradients they evaluated (stretched steps take
fewer), each as a share of the run's steps. Each drop mode in
``--drops`` (simulation.DROP_MODES) is one row per case, against the same
gradient-descent run; a run whose drops climb (``drops.SPIKE_RISE``) or diverge counts
as outside the regime. Targets: order exactly gradient
descent's, levels within 2 %, drop steps within 15 %, AGF time ≤ 5 % of GD's. Cases
outside AGF's regime are counted separately.

Cases: the presets c11-agf, d3-agf-onehot and a5-agf; C20 in the reference setting of
the AGF paper (width 18, free, init 1e-2, MSE, GD lr 0.01 with momentum 0.9, template
powers 10, 2.5, 0.625 on k = 1, 3, 5); random templates (encoding random_fourier, seeds
0..S−1) on D5, S4 and A5 with a5-agf's other settings.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402,F401  (loaded before any timing: start-up, not AGF's cost)

from backend.agf import comparison, simulation  # noqa: E402
from backend.agf.regime import regime_report  # noqa: E402
from backend.agf.theory import predict_staircase  # noqa: E402
from backend.atomic_files import write_text_atomic  # noqa: E402
from backend.errors import UserError  # noqa: E402
from backend.file_reading import check_writable_file  # noqa: E402
from backend.groups.spec import parse_group  # noqa: E402
from backend.presets import load_preset  # noqa: E402
from backend.training.trainer import check_setup, resolve_device  # noqa: E402

LEVEL_TARGET = comparison.LEVEL_TARGET
STEP_TARGET = comparison.STEP_TARGET
TIME_TARGET = 0.05

C20_REFERENCE = dict(
    group="C20", encoding="template", template_powers=[10.0, 0.0, 2.5, 0.0, 0.625],
    width=18, activation="square", shared_embedding=False, parameterisation="free",
    init_scale=1e-2, loss="mse", optimiser="gd", learning_rate=0.01, momentum=0.9,
    steps=90000, seed=0, precision="float64",
)


def cases(names: list[str], groups: list[str], seeds: int,
          first_seed: int = 0) -> list[tuple[str, object]]:
    chosen = []
    if "c11" in names:
        chosen.append(("c11-agf", load_preset("c11-agf")))
    if "d3" in names:
        chosen.append(("d3-agf-onehot", load_preset("d3-agf-onehot")))
    if "a5" in names:
        chosen.append(("a5-agf", load_preset("a5-agf")))
    if "c20" in names:
        chosen.append(("C20 reference", load_preset("c11-agf").replace(**C20_REFERENCE)))
    if "random" in names:
        base = load_preset("a5-agf")
        for group in groups:
            for seed in range(first_seed, first_seed + seeds):
                chosen.append((f"{group} random t, seed {seed}", base.replace(
                    group=group, encoding="random_fourier", data_seed=seed, seed=seed)))
    return chosen


@dataclass
class Outcome:
    name: str
    inside: bool
    reasons: list[str]
    closed_order_ok: bool
    order_ok: bool
    level_error: float
    step_error: float
    time_share: float
    gd_orbits: list[str]
    simulated_orbits: list[str]
    rows: list[dict]
    drops: str = "cost"
    optimiser_share: float = math.nan
    gradient_share: float = math.nan
    gd_climb: str = ""
    """Under a simulated climb: whether gradient descent's loss climbs too."""

    @property
    def staircase_ok(self) -> bool:
        """Order, levels and steps within their targets (the time aside)."""
        return (self.order_ok and self.level_error <= LEVEL_TARGET
                and self.step_error <= STEP_TARGET)

    @property
    def passed(self) -> bool:
        return self.staircase_ok and self.time_share <= TIME_TARGET


def largest(values) -> float:
    finite = [abs(v) for v in values if v is not None and math.isfinite(v)]
    return max(finite) if finite else math.nan


def evaluate(name: str, config, device: str, modes: list[str]) -> list[Outcome]:
    """One Outcome per drop mode, all against one gradient-descent run."""
    config = config.replace(device=device)
    predicted = predict_staircase(config)
    results = []
    for mode in modes:
        start = time.perf_counter()
        result = simulation.run_agf(config, problem=simulation.agf_problem(config),
                                    horizon=float(config.steps),
                                    drops=mode)
        results.append((mode, result, time.perf_counter() - start))
    gd = comparison.run_gradient_descent(config)
    measured = comparison.measured_drops(gd)
    outcomes = []
    for mode, result, agf_seconds in results:
        regime = regime_report(config, drops=mode)
        simulated = comparison.agf_orbit_drops(result)
        rows = comparison.compare(predicted, measured, result.initial_loss, simulated)
        scored = rows[: len(measured)]
        caution = [result.caution] if result.caution else []
        climb = comparison.loss_climb(gd.steps, gd.losses)
        outcomes.append(Outcome(
            name=name,
            inside=regime.inside and not caution,
            reasons=regime.reasons + caution,
            closed_order_ok=comparison.order_matches(predicted, measured),
            order_ok=comparison.order_matches(simulated, measured),
            level_error=largest([r.simulated_level_error for r in scored]) if scored
            else math.nan,
            step_error=largest([r.simulated_step_error for r in scored]) if scored
            else math.nan,
            time_share=agf_seconds / gd.seconds,
            gd_orbits=[d.orbit for d in measured],
            simulated_orbits=[d.orbit for d in simulated],
            rows=[r.as_dict() for r in rows],
            drops=mode,
            optimiser_share=(result.optimiser_steps / config.steps if mode == "optimiser"
                             else math.nan),
            gradient_share=((result.optimiser_evaluations + result.relaxation_evaluations)
                            / config.steps
                            if mode == "optimiser" else math.nan),
            gd_climb=comparison.climb_sentence(climb) if result.loss_spike is not None else "",
        ))
    return outcomes


def text(value: float, form: str = ".1%") -> str:
    return format(value, form) if math.isfinite(value) else "—"


def report(outcome: Outcome) -> None:
    verdict = ("pass" if outcome.passed
               else "FAIL (time only)" if outcome.staircase_ok else "FAIL")
    print(f"{outcome.name:<24} {outcome.drops:<9} "
          f"{'inside' if outcome.inside else 'OUTSIDE':<7} "
          f"{'yes' if outcome.closed_order_ok else 'no':<9} "
          f"{'yes' if outcome.order_ok else 'no':<10} "
          f"{text(outcome.level_error):>9} {text(outcome.step_error):>9} "
          f"{text(outcome.time_share):>11} {text(outcome.optimiser_share):>10} "
          f"{text(outcome.gradient_share):>9}  {verdict}",
          flush=True)
    if not outcome.order_ok:
        print(f"{'':<24} GD: {', '.join(outcome.gd_orbits)}; simulated: "
              f"{', '.join(outcome.simulated_orbits)}", flush=True)
    for reason in outcome.reasons:
        print(f"{'':<24} outside: {reason}", flush=True)
    if outcome.gd_climb:
        print(f"{'':<24} {outcome.gd_climb}", flush=True)


CASE_NAMES = ("c11", "d3", "a5", "c20", "random")


def arguments(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line, checked before any run starts."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default="c11,d3,a5,c20,random",
                        help=f"comma-separated cases, of: {', '.join(CASE_NAMES)} "
                             "(random: random templates on --groups)")
    parser.add_argument("--groups", default="D5,S4,A5",
                        help="comma-separated groups for the random templates (default "
                             "D5,S4,A5; any group spec the app accepts)")
    parser.add_argument("--seeds", type=int, default=5,
                        help="random templates per group (default 5)")
    parser.add_argument("--first-seed", type=int, default=0,
                        help="the first template seed (default 0)")
    parser.add_argument("--drops", default="optimiser",
                        help="comma-separated drop modes: "
                             f"{', '.join(simulation.DROP_MODES)} (default optimiser)")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda", "auto"),
                        help="where gradient descent trains (default cpu)")
    parser.add_argument("--json", metavar="FILE", help="also write every outcome as JSON")
    args = parser.parse_args(argv)
    unknown = [name for name in args.cases.split(",") if name not in CASE_NAMES]
    if unknown:
        parser.error(f"unknown case {', '.join(unknown)}; choose from {', '.join(CASE_NAMES)}")
    modes = [mode for mode in args.drops.split(",") if mode not in simulation.DROP_MODES]
    if modes:
        parser.error(f"unknown drop mode {', '.join(modes)}; choose from "
                     f"{', '.join(simulation.DROP_MODES)}")
    if args.seeds < 1 or args.first_seed < 0:
        parser.error("--seeds must be at least 1 and --first-seed at least 0")
    try:
        if "random" in args.cases.split(","):
            for group in args.groups.split(","):
                parse_group(group)
        resolve_device(args.device)
        if args.json:
            check_writable_file(args.json, "validation JSON")
    except UserError as error:
        parser.error(str(error))
    return args


def checked_cases(args: argparse.Namespace) -> list[tuple[str, object]]:
    """The cases the arguments name, each one a configuration AGF and the trainer accept
    (a group of one element is refused here, before any case runs)."""
    chosen = cases(args.cases.split(","), args.groups.split(","), args.seeds, args.first_seed)
    for name, config in chosen:
        try:
            check_setup(config.replace(device=args.device).validate())
            predict_staircase(config)
        except UserError as error:
            print(f"validate_agf.py: error: {name}: {error}", file=sys.stderr)
            sys.exit(2)
    return chosen


def main(argv: list[str] | None = None) -> None:
    args = arguments(argv)
    modes = args.drops.split(",")
    chosen = checked_cases(args)
    print(f"{'case':<24} {'drops':<9} {'regime':<7} {'order cl.':<9} {'order sim.':<10} "
          f"{'level err':>9} {'step err':>9} {'AGF/GD time':>11} {'opt. steps':>10} "
          f"{'gradients':>9}  result")
    outcomes = []
    for name, config in chosen:
        for outcome in evaluate(name, config, args.device, modes):
            outcomes.append(outcome)
            report(outcome)
    for mode in modes:
        mine = [o for o in outcomes if o.drops == mode]
        inside = [o for o in mine if o.inside]
        outside = [o for o in mine if not o.inside]
        print(f"\ndrops by {mode}: inside AGF's regime: {sum(o.passed for o in inside)} of "
              f"{len(inside)} pass ({sum(o.staircase_ok for o in inside)} with order, levels "
              f"and steps right, {sum(o.time_share <= TIME_TARGET for o in inside)} within "
              f"the time target); outside: {len(outside)} of {len(mine)} cases "
              f"({sum(o.passed for o in outside)} of them pass anyway)")
    if args.json:
        payload = [vars(o) for o in outcomes]
        write_text_atomic(Path(args.json),
                          json.dumps(payload, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
