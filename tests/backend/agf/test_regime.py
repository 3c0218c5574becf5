"""The measured checks of AGF's regime, each against an independent computation."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from backend.agf import regime
from backend.presets import load_preset


@pytest.mark.parametrize("scaled", [False, True])
def test_next_orbit_norm_matches_the_growth_equations(scaled):
    """Two aligned neurons from ρ₀: d ln ρ/dt = G ρ (plain) or G (scaled), integrated
    until the first reaches norm 1."""
    rho0, first, second = 1e-3, 2.0, 1.5

    def field(_, y):
        rates = np.array([first, second]) * (1.0 if scaled else np.exp(y))
        return rates

    def reached(_, y):
        return y[0]

    reached.terminal = True
    solution = solve_ivp(field, (0, 1e6), np.log([rho0, rho0]), events=reached, rtol=1e-10,
                         atol=1e-12)
    expected = float(np.exp(solution.y[1, -1]))
    assert regime.next_orbit_norm(first, second, rho0, scaled) == pytest.approx(expected,
                                                                               rel=1e-6)


def test_c11_preset_is_inside_and_says_why():
    report = regime.regime_report(load_preset("c11-agf"))
    assert report.inside, report.reasons
    assert set(report.checks) == {"separated rounds", "ordered utilities", "whole orbits",
                                  "plateaus resolved"}


@pytest.mark.parametrize(
    "change, check, words",
    [
        (dict(init_scale=0.05), "separated rounds", "initial scale too large"),
        (dict(template_powers=[12.5, 12.2, 7.5, 5.0, 2.5]), "ordered utilities", "too close"),
        (dict(learning_rate=1.0), "plateaus resolved", "learning rate too large"),
        (dict(group="S4", encoding="random_fourier", template_powers=[]), "whole orbits",
         "in parts"),
    ],
)
def test_each_check_fails_on_a_configuration_outside_it(change, check, words):
    report = regime.regime_report(load_preset("c11-agf").replace(**change))
    passed, text = report.checks[check]
    assert not passed and words in text
    assert not report.inside and text in report.reasons


def test_drops_by_the_optimiser_are_not_bound_by_merged_drops_or_parts():
    """S4 with a random template (seed 0): rounds that merge ([2,1,1] at norm 0.14 when
    [2,2] activates) and matrix orbits with uneven singular values put the closed form
    and cost-minimised rounds outside the regime; drops resolved by the optimiser follow
    both as gradient descent does, so the same configuration is inside for them, and the
    report still names what the closed form misses."""
    config = load_preset("a5-agf").replace(group="S4", encoding="random_fourier",
                                           data_seed=0, seed=0)
    cost = regime.regime_report(config)
    optimiser = regime.regime_report(config, drops="optimiser")
    assert set(cost.failed_checks()) == {"separated rounds", "whole orbits"}
    assert optimiser.failed_checks(simulation=True) == []
    assert not cost.inside and not cost.closed_form_inside
    assert optimiser.inside and not optimiser.closed_form_inside
    assert optimiser.reasons == [] and len(optimiser.closed_form_reasons) == 2
    lines = "\n".join(optimiser.lines())
    assert "AGF (closed form) is OUTSIDE" in lines and "drops by the optimiser is inside" in lines
    payload = optimiser.as_dict()
    assert payload["inside"] and not payload["closed_form_inside"]
    assert payload["checks"]["whole orbits"]["bounds_simulation"] is False
    assert payload["checks"]["plateaus resolved"]["bounds_simulation"] is True


def test_a_learning_rate_too_large_bounds_every_prediction():
    """A check the optimiser's drops do need where the plateaus are a flow (plateaus
    resolved, with scaled SGD of exponent k ≠ 2, whose plateaus are not stepped) fails
    for both modes."""
    config = load_preset("c11-agf").replace(learning_rate=5.0, scaled_exponent=1.5)
    for drops in ("cost", "optimiser"):
        report = regime.regime_report(config, drops=drops)
        assert not report.inside and "plateaus resolved" in report.failed_checks(simulation=True)
        assert any("learning rate too large" in reason for reason in report.reasons)


def test_plateaus_taken_in_the_optimisers_steps_bound_the_closed_form_only():
    """D5, random template, seed 8 (scaled SGD): a dormant neuron grows 33.5 % per step,
    beyond what the flow follows. The simulation then takes the plateaus in the
    optimiser's own steps, so with drops by the optimiser the check bounds the closed
    form only; cost-minimised rounds stay bound by it."""
    config = load_preset("a5-agf").replace(group="D5", encoding="random_fourier",
                                           data_seed=8, seed=8)
    optimiser = regime.regime_report(config, drops="optimiser")
    cost = regime.regime_report(config)
    assert optimiser.stepped_plateaus and cost.stepped_plateaus
    assert "plateaus resolved" in optimiser.failed_checks()
    assert optimiser.inside and "plateaus resolved" not in optimiser.failed_checks(True)
    assert any("33.5% per step" in text for text in optimiser.closed_form_reasons)
    assert "in the optimiser's own steps" in "\n".join(optimiser.lines())
    assert not cost.inside and "plateaus resolved" in cost.failed_checks(simulation=True)
    payload = optimiser.as_dict()["checks"]["plateaus resolved"]
    assert not payload["passed"] and payload["bounds_simulation"] is False
