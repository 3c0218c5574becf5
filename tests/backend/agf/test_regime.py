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
