"""Whether a configuration is inside the regime where AGF's rounds are a prediction.

AGF separates time scales: dormant neurons grow for a long plateau, one orbit's neurons
reach order one while every other neuron is still negligible, and the active network then
settles on its new fixed point before anything else moves. Four measured checks, each
with the figure behind it. Three of them, *separated rounds*, *whole orbits* and
*ordered utilities*, limit the closed form and the cost-minimised rounds only: drops
resolved by the optimiser (``drops``) run through merged drops, fit a matrix orbit in the
parts gradient descent takes, and start from the trainer's own initial weights, so that
the same initial directions break a near-tie of utilities in the simulation and in
gradient descent (validation: random templates on D5, S4 and A5 read with gradient
descent's plateau rule). For them those checks say what the closed form misses, not what
the simulation misses (``FOLLOWED_BY_OPTIMISER``):

* **Separated rounds** (initial scale against the utility gaps). With G₁ > G₂ the growth
  utilities of two orbits in the closed-form order and ρ₀ the initial norm, the neuron of
  the second orbit, aligned, has norm ρ₂ when the first reaches norm 1:
      plain gradient flow   d(1/ρ)/dt = −3ηG   →  1/ρ₂ = (1 − G₂/G₁)/ρ₀ + G₂/G₁,
      scaled SGD (k = 2)    d ln ρ/dt = 3ηG    →  ρ₂ = ρ₀^{1 − G₂/G₁}.
  The rounds are separate when ρ₂ ≤ OVERLAP_NORM (its output, ∝ ρ³, is then below
  OVERLAP_NORM³ of order one). Otherwise the two orbits are learned in one drop.
* **Ordered utilities.** Orbits whose maximal utilities differ by less than ORDER_GAP
  (relative) have no reliable closed-form order: the random initial directions decide
  it. The simulation integrates the dormant flow from those very directions; with drops
  by the optimiser its order was gradient descent's in all four such cases measured
  (A5 seeds 1, 4, 7 at 3.9 %, 1.3 %, 3.3 %; S4 seed 5 at 3.9 %).
* **Whole orbits.** AGF learns an orbit in one round, with the drop P_O/n. Gradient
  descent does so when t̂[ρ] is a multiple of a unitary (the presets: t̂ ∝ I); when its
  singular values differ (a random template) it learns the orbit in several steps and
  may stall part-way (S4: [2,2] holds half its power from step 1 500 to 16 000), which
  AGF does not model. Every matrix orbit with power must have s_min ≥ ISOTROPY · s_max.
* **A learning rate small enough for plateaus.** The dormant growth per step, 3η_eff G*
  (scaled SGD; plain gradient descent grows by 3η_eff G* ρ, always tiny), must stay below
  STEP_GROWTH for the steps to follow the flow AGF integrates. Above it, with scaled SGD
  (k = 2), the simulation takes the plateaus in the optimiser's own steps
  (``simulation.step_dormant``), so with drops by the optimiser the check bounds the
  closed form only (``RegimeReport.stepped_plateaus``; D5, random templates, seeds 0–9:
  the four above it, at 10.8–33.5 % per step, had their steps within 7.2 % and levels
  within 0.1 % of gradient descent's, against 10.5 % and 75 % with the flow).
  (Whether gradient descent can rest on the learned network, η λ_max < 2(1 + μ), is not
  checked: the sharpness of AGF's cost-minimised network, measured, came out 10⁵ times
  that of gradient descent's in the C20 reference setting, which trains stably — the
  minimiser lands anywhere on the flat family of equivalent networks.)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from backend.agf.simulation import STEP_GROWTH, GrowthLaw
from backend.agf.theory import (
    expected_initial_norm,
    growth_utilities,
    orbit_parts,
    timing_scope,
)

OVERLAP_NORM = 0.1
"""Rounds overlap when the next orbit's neuron is above this norm as the previous one
activates (activation at norm 1)."""

ORDER_GAP = 0.05
"""Utilities closer than this (relative) are not ordered reliably."""

ISOTROPY = 0.9
"""Smallest ratio s_min/s_max of a matrix orbit's t̂[ρ] for AGF's whole-orbit round."""

FOLLOWED_BY_OPTIMISER = ("separated rounds", "whole orbits", "ordered utilities")
"""Checks that drops resolved by the optimiser do not need: they follow merged drops and
orbits learned in parts as gradient descent does, and near-tied orbits in the order the
shared initial directions give."""


@dataclass
class RegimeReport:
    """The measured checks (name → (passed, text)) of one configuration, for AGF
    (simulated) with ``drops`` (``simulation.DROP_MODES``) and for the closed form."""

    checks: dict[str, tuple[bool, str]] = field(default_factory=dict)
    timing_note: str = ""
    drops: str = "cost"
    stepped_plateaus: bool = False
    """The simulation takes the plateaus in the optimiser's own steps (GrowthLaw.stepped)."""

    def limits_simulation(self, name: str) -> bool:
        """Whether check ``name`` bounds AGF (simulated) with this report's drops."""
        if self.drops != "optimiser":
            return True
        if name == "plateaus resolved":
            return not self.stepped_plateaus
        return name not in FOLLOWED_BY_OPTIMISER

    @property
    def inside(self) -> bool:
        """Inside the regime of AGF (simulated) with this report's drops."""
        return all(passed for name, (passed, _) in self.checks.items()
                   if self.limits_simulation(name))

    @property
    def closed_form_inside(self) -> bool:
        """Inside the regime of the closed form (and of cost-minimised rounds)."""
        return all(passed for passed, _ in self.checks.values())

    @property
    def reasons(self) -> list[str]:
        """The texts of the failed checks that bound AGF (simulated)."""
        return [text for name, (passed, text) in self.checks.items()
                if not passed and self.limits_simulation(name)]

    def failed_checks(self, simulation: bool = False) -> list[str]:
        """The names of the failed checks (with ``simulation``, only those that bound AGF
        (simulated) with this report's drops)."""
        return [name for name, (passed, _) in self.checks.items()
                if not passed and (not simulation or self.limits_simulation(name))]

    def closed_form_note(self) -> str:
        """One short sentence when the closed form is outside its regime (else "")."""
        if self.closed_form_inside:
            return ""
        return (f"AGF (closed form) is outside its regime ({', '.join(self.failed_checks())})"
                ": its order and levels are not reliable")

    @property
    def closed_form_reasons(self) -> list[str]:
        """The texts of the failed checks that bound the closed form only."""
        return [text for name, (passed, text) in self.checks.items()
                if not passed and not self.limits_simulation(name)]

    def lines(self) -> list[str]:
        if self.closed_form_inside:
            return ["inside AGF's regime: " + "; ".join(t for _, t in self.checks.values())]
        if not self.inside:
            return ["OUTSIDE AGF's regime, the predictions below are not reliable:"] + [
                f"  - {reason}" for reason in self.reasons + self.closed_form_reasons]
        return (["AGF (closed form) is OUTSIDE its regime, its order, steps and levels "
                 "below are not reliable:"]
                + [f"  - {reason}" for reason in self.closed_form_reasons]
                + ["AGF (simulated) with drops by the optimiser is inside: its drops run "
                   "through merged drops, fit each orbit in the parts gradient descent "
                   "takes and order near-tied orbits by the trainer's initial directions"
                   + (", and it takes the plateaus in the optimiser's own steps"
                      if self.stepped_plateaus else "") + "; "
                   + "; ".join(text for name, (passed, text) in self.checks.items()
                               if passed)])

    def as_dict(self) -> dict:
        return {"inside": self.inside,
                "closed_form_inside": self.closed_form_inside,
                "drops": self.drops,
                "checks": {name: {"passed": passed, "text": text,
                                  "bounds_simulation": self.limits_simulation(name)}
                           for name, (passed, text) in self.checks.items()},
                "closed_form_timing": self.timing_note}


def next_orbit_norm(first: float, second: float, initial_norm: float, scaled: bool) -> float:
    """Norm of an aligned neuron of growth utility ``second`` when one of utility
    ``first`` ≥ ``second`` started at the same ``initial_norm`` reaches norm 1."""
    ratio = second / first if first > 0 else 1.0
    if scaled:
        return initial_norm ** (1.0 - ratio)
    return 1.0 / ((1.0 - ratio) / initial_norm + ratio)


def regime_report(config, drops: str = "cost") -> RegimeReport:
    """The checks of the module docstring, from the configuration alone; ``drops`` is the
    drop mode of the AGF (simulated) the report speaks for."""
    from backend.spectral import SpectralTools, load_group
    from backend.task import build_template

    group = load_group(config.group)
    irrep_set = SpectralTools.of(group).irrep_set
    template = build_template(config, group, irrep_set)
    growth = growth_utilities(irrep_set, template)
    scale = float(growth.max()) if growth.size else 0.0
    order = [int(i) for i in np.argsort(-growth, kind="stable") if growth[i] > 1e-9 * scale]
    labels = [irrep_set.orbits[i].label.split(" (")[0] for i in order]
    values = growth[order]
    scaled = config.optimiser == "scaled_gd"
    rho0 = expected_initial_norm(config.init_scale)
    report = RegimeReport(timing_note=timing_scope(config)[1], drops=drops)

    overlaps, close = [], []
    for i in range(len(values) - 1):
        norm = next_orbit_norm(values[i], values[i + 1], rho0, scaled)
        if norm > OVERLAP_NORM:
            overlaps.append(f"{labels[i + 1]} is at norm {norm:.2g} when {labels[i]} activates")
        gap = 1.0 - values[i + 1] / values[i]
        if gap < ORDER_GAP:
            close.append(f"{labels[i]} / {labels[i + 1]} utilities differ by {gap:.1%}")
    report.checks["separated rounds"] = (
        not overlaps,
        ("initial scale too large for the utility gaps: " + "; ".join(overlaps)
         + f" (rounds separate below norm {OVERLAP_NORM:g})") if overlaps
        else f"each next orbit below norm {OVERLAP_NORM:g} when the previous activates")
    report.checks["ordered utilities"] = (
        not close,
        ("utilities too close to order: " + "; ".join(close)
         + f" (under {ORDER_GAP:.0%})") if close
        else f"consecutive utilities differ by ≥ {ORDER_GAP:.0%}")

    uneven = []
    parts = orbit_parts(irrep_set, template)
    for part in parts:
        if part.part > 1 and part.part == part.parts:
            first = next(p for p in parts if p.orbit == part.orbit and p.part == 1)
            if part.singular < ISOTROPY * first.singular:
                name = irrep_set.orbits[part.orbit].label.split(" (")[0]
                uneven.append(f"{name} (singular values {first.singular:.3g} … "
                              f"{part.singular:.3g})")
    report.checks["whole orbits"] = (
        not uneven,
        ("t̂[ρ] far from a multiple of the identity, so gradient descent learns the orbit "
         "in parts that the closed form and cost-minimised rounds do not model: "
         + "; ".join(uneven)) if uneven
        else "every matrix orbit's t̂[ρ] has even singular values")

    law = GrowthLaw.of(config, scale)
    growth_per_step = 3.0 * law.rate * scale * (1.0 if scaled else rho0)
    report.stepped_plateaus = law.stepped
    report.checks["plateaus resolved"] = (
        growth_per_step <= STEP_GROWTH,
        f"learning rate too large for plateaus: a dormant neuron grows {growth_per_step:.1%} "
        f"per step (the flow needs ≤ {STEP_GROWTH:.0%})" if growth_per_step > STEP_GROWTH
        else f"dormant growth {growth_per_step:.2%} per step")
    return report
