"""The plateau between two drops: the dormant neurons grow on the residual while the held
network goes on relaxing.

A drop hands back once its loss is flat (``drops.SettleRule``), but gradient descent's
active network is not at rest there: it keeps removing, slowly, what is left of the orbits
it has just fitted. On the C20 reference, k=±3's unexplained share falls from 5.2e-4 at
the hand-back (step 30 896) to 1.1e-4 fifteen thousand steps later, while the loss moves
by 0.2 %. A dormant neuron that writes into such an orbit grows on that remainder: on a
residual held as it was handed back, C20's neuron 6 (layers on k=±1, k=±1, k=±3) reached
norm 0.26 by step 47 272 against gradient descent's 0.12, became active with its layers
still mixed, and k=±5 came 31 % late.

So the plateau is taken in stretches of max(RELAX_CHUNK, RELAX_SHARE × the steps since the
hand-back): the dormant flow (``simulation.integrate_dormant``) over a stretch on the
residual held fixed, then the active neurons take the optimiser's steps over the same
stretch (``FlowStepper`` moving them alone, stretched where the flow creeps), and the
residual is taken again. The dormant neurons' outputs stay in the network as they were
handed back, so the output they gain is still counted from there (``since``), and
``LossDeparture`` still measures their own effect on the loss.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from backend.agf import simulation
from backend.agf.optimiser_flow import FlowStepper
from backend.agf.simulation import AgfProblem, column_norms

LOSS_DEPARTURE = 0.01
"""A drop also starts when the dormant neurons, as they are, move the whole network's loss
by this share away from the loss the dormant flow holds (``LossDeparture``)."""

RELAX_CHUNK = 200.0
"""Shortest stretch, in optimiser steps, over which the dormant flow holds the residual
fixed while the held network relaxes..."""

RELAX_SHARE = 0.1
"""... or this share of the steps since the hand-back (the relaxation slows as it goes)."""


class LossDeparture:
    """How far the dormant neurons have moved the loss: the dormant flow holds the
    residual of the network as it was handed back (loss L₀) and leaves the dormant
    neurons' own outputs out of it, which holds while they are small against the
    residual. Late in a run the residual is small, and a neuron left dormant just below
    ACTIVE_NORM on a fitted orbit drifts in the flow until its output matters (D5, random
    template seed 14: the loss of the whole network rose from 0.01117 to 0.01372 over a
    plateau on which gradient descent's stayed at 0.01115). The margin

        ln |L(θ_active, ρ θ̄_dormant) − L₀| − ln(LOSS_DEPARTURE · L₀)

    is ≥ 0 once the whole network's loss has moved by LOSS_DEPARTURE of L₀, L₀ the loss of
    ``residual``, the one the dormant flow holds."""

    def __init__(self, problem: AgfProblem, theta: np.ndarray, dormant: np.ndarray,
                 residual) -> None:
        self.problem = problem
        self.theta = theta.copy()
        self.dormant = dormant
        self.loss = problem.residual_loss(residual)

    def __call__(self, directions: np.ndarray, log_norms: np.ndarray) -> float:
        self.theta[:, :, self.dormant] = directions * np.exp(log_norms)
        loss = self.problem.residual_loss(self.problem.residual(self.theta))
        moved = abs(loss - self.loss) if math.isfinite(loss) else math.inf
        return math.log(max(moved, 1e-300)) - math.log(LOSS_DEPARTURE * self.loss)


@dataclass
class Plateau:
    """One plateau: the step it reached, whether a drop starts there, the network there
    (the held neurons relaxed, the dormant ones as they were handed back), the gradients
    the relaxation evaluated, and (step, loss, explained shares) at each stretch's end."""

    end: float
    arrived: bool
    theta: np.ndarray
    evaluations: int = 0
    readings: list[tuple[float, float, np.ndarray]] = field(default_factory=list)


def run_plateau(problem: AgfProblem, theta: np.ndarray, active: np.ndarray,
                directions: np.ndarray, log_norms: np.ndarray, start: float,
                horizon: float, tolerance: float, threshold: float,
                norm_threshold: float) -> Plateau:
    """From step ``start`` to the next drop's start (a dormant neuron's arrival at
    ``threshold``/``norm_threshold``, or ``LossDeparture``) or ``horizon``. The dormant
    neurons' ``directions`` and ``log_norms`` (every neuron's, width-long) are updated in
    place; ``theta`` holds every neuron as handed back and is not changed."""
    dormant = np.flatnonzero(~active)
    if dormant.size == 0:  # nothing can arrive: the held network stays as it is
        return Plateau(start, False, theta)
    since = simulation.output_log_norms(problem, directions[:, :, dormant],
                                        log_norms[dormant])
    relaxing = FlowStepper(problem, theta, moving=active) if active.any() else None
    residual = problem.residual(theta)
    plateau = Plateau(start, False, theta)
    relaxed = 0.0
    while True:
        time = plateau.end
        simulation.reached(time)
        stop = horizon if relaxing is None else min(
            horizon, time + max(RELAX_CHUNK, RELAX_SHARE * (time - start)))
        reached, moved, grown, arrived = simulation.integrate_dormant(
            problem, directions[:, :, dormant], log_norms[dormant], residual, time, stop,
            tolerance, threshold=threshold, norm_threshold=norm_threshold,
            collective=True, since=since,
            departure=LossDeparture(problem, plateau.theta, dormant, residual))
        directions[:, :, dormant] = moved
        log_norms[dormant] = grown
        plateau.end, plateau.arrived = reached, arrived
        if relaxing is None:
            return plateau
        while relaxed < reached - start:
            relaxed += relaxing.advance(reached - start - relaxed,
                                        column_norms(relaxing.theta))
        plateau.theta = relaxing.theta
        plateau.evaluations = relaxing.evaluations
        residual = problem.residual(plateau.theta)
        plateau.readings.append((reached, relaxing.loss, problem.explained(residual)))
        if arrived or reached <= time or reached >= horizon:
            return plateau
