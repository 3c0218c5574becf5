"""The AGF simulation measured like a live run: its rounds, and the MetricSnapshot of the
network after each round, measured by the Trainer from that round's weights.

Plain data, no Qt: the window runs it off its own thread (simulating AGF and measuring
every round takes seconds), a LiveSession offers it as ``agf_rounds()``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class AgfStates:
    """The rounds of one AGF simulation and, per round, the backend's MetricSnapshot of
    the weights after it (its ``step`` is the step those weights stand at,
    ``AgfRound.weights_step``, rounded)."""

    rounds: list = field(default_factory=list)
    snapshots: list = field(default_factory=list)
    stop_reason: str = ""
    drops: list = field(default_factory=list)
    """AGF (simulated) read per orbit over the run's steps
    (backend.agf.comparison.agf_orbit_drops)."""
    caution: str = ""
    """Why the rounds are not to be trusted from some step on (a drop whose loss climbed
    or diverged, drops by the optimiser only), within the run's steps; empty when nothing
    was seen there."""
    caution_headline: str = ""
    """``caution`` in a few words, for a small panel (the climb without its cause)."""
    optimiser_steps: int = 0
    """Optimiser steps the drops spanned (0 with drops by cost minimisation)."""
    curve: Any = None
    """The simulated loss curve of drops by the optimiser (simulation.SimulatedCurve:
    flat plateaus, each drop as the optimiser took it); None for cost-minimised rounds."""
    regime: Any = None
    """Whether the configuration is inside AGF's regime for the closed form and for these
    drops (backend.agf.regime.RegimeReport); None when not measured."""
    spike: Any = None
    """The largest climb inside a simulated drop within the run's steps
    (simulation.LossSpike), None if none."""


def simulate_agf(config: Any, drops: str = "optimiser", progress: Any = None) -> AgfStates:
    """Run AGF for ``config`` and measure the network after every round; ``drops`` as in
    ``simulation.run_agf`` ("cost": cost minimisation, "optimiser": the configuration's
    own optimiser through each drop), ``progress`` too (``simulation.Progress``: it hears
    the step reached, and may raise ``simulation.SimulationStopped`` to end it).

    Raises the backend's UserError for a configuration AGF does not describe.
    """
    from backend.agf import run_agf
    from backend.agf.comparison import agf_orbit_drops
    from backend.agf.regime import regime_report

    result = run_agf(config, drops=drops, progress=progress)

    def still_wanted() -> None:  # the caller may stop the measuring that follows too
        if progress is not None:
            progress(result.final_step, result.final_step)

    # The rounds and the curve run on past the run's length (HORIZON_FACTOR); the
    # comparison and the caution read them over the run's steps, as `agf --compare` does.
    steps = float(config.steps)
    snapshots = round_snapshots(config, result.rounds, still_wanted)
    still_wanted()
    return AgfStates(list(result.rounds), snapshots,
                     result.stop_reason, agf_orbit_drops(result, until=steps),
                     result.caution_until(steps), result.caution_until(steps, headline=True),
                     result.optimiser_steps, result.curve,
                     regime_report(config, drops=drops), result.spike_until(steps))


def round_snapshots(config: Any, rounds: list, before_each: Any = None) -> list:
    """The MetricSnapshot of each round's weights (θ¹, θ², ξ), by the backend's Trainer:
    the weights are loaded into a trainer of the same configuration, which measures them.
    ``before_each()``, if given, is called before each round is measured (it may raise to
    stop)."""
    import torch

    from backend.training.trainer import Trainer

    if not rounds:
        return []
    trainer = Trainer(config.replace(device="cpu"))
    state = trainer.state_dict()
    shared = tuple(state["theta"].shape)[0] == 2
    snapshots = []
    for agf_round in rounds:
        if before_each is not None:
            before_each()
        first, second, readout = (np.asarray(w, dtype=np.float64) for w in agf_round.weights)
        layers = [first, readout] if shared else [first, second, readout]
        # the trainer holds weights as (layers, n, M); a round gives (M, n) per layer
        state["theta"] = torch.from_numpy(np.stack([w.T for w in layers]))
        state["step_count"] = int(round(agf_round.weights_step))
        trainer.load_state_dict(state)
        snapshots.append(trainer.metrics())
    return snapshots
