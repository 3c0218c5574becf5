"""The closed-form AGF theory against independent numerical computations."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.integrate import solve_ivp

from backend.agf import theory
from backend.groups import irreps_of, parse_group
from backend.task import translate_rows

GROUPS = ["C5", "C12", "D3", "D5", "Q8", "Dic3", "Dic5", "A4", "C7:C3", "SL(2,3)", "S4",
          "Q8xC3", "C3xC5", "A5"]


def direct_utility(directions: torch.Tensor, encoding: torch.Tensor, table: torch.Tensor):
    """U = (1/n²) Σ_{g1,g2} (⟨u, x_g1⟩ + ⟨v, x_g2⟩)² ⟨w, x_{g1 g2}⟩ for (..., 3, n) inputs."""
    n = encoding.shape[0]
    a = directions[..., 0, :] @ encoding.T
    b = directions[..., 1, :] @ encoding.T
    c = directions[..., 2, :] @ encoding.T
    hidden = (a[..., :, None] + b[..., None, :]) ** 2
    return (hidden * c[..., table]).sum((-1, -2)) / n**2


def orbit_projectors(irrep_set) -> np.ndarray:
    """Π_O[x, y] = Σ_{ρ∈O} (d/n) Re χ_ρ(g_x g_y⁻¹), the orthogonal projector on O's part."""
    group = irrep_set.group
    n = group.order
    quotient = group.table[np.arange(n)[:, None], group.inverse[None, :]]
    projectors = np.zeros((len(irrep_set.orbits), n, n))
    for k, orbit in enumerate(irrep_set.orbits):
        for index in orbit.irreps:
            irrep = irrep_set.irreps[index]
            projectors[k] += (irrep.dim / n * irrep.character[quotient]).real
    return projectors


def numerical_maxima(group, template, starts=6, iterations=700, rate=0.3) -> np.ndarray:
    """Max of U on the unit sphere with u, v, w restricted to each orbit: projected ascent
    from several random starts, all orbits and starts at once."""
    irrep_set = irreps_of(group)
    encoding = torch.tensor(translate_rows(template, group))
    table = torch.tensor(group.table)
    projectors = torch.tensor(orbit_projectors(irrep_set))[:, None, None]
    generator = torch.Generator().manual_seed(3)
    shape = (len(irrep_set.orbits), starts, 3, group.order)
    theta = torch.randn(shape, generator=generator, dtype=torch.float64)
    theta = (theta[..., None, :] @ projectors).squeeze(-2)

    def normalise(x):
        return x / x.flatten(-2).norm(dim=-1).clamp_min(1e-300)[..., None, None]

    theta = normalise(theta)
    for _ in range(iterations):
        theta.requires_grad_(True)
        utility = direct_utility(theta, encoding, table)
        (gradient,) = torch.autograd.grad(utility.sum(), theta)
        with torch.no_grad():
            size = gradient.flatten(-2).norm(dim=-1).clamp_min(1e-300)
            gradient = gradient / size[..., None, None]
            moved = ((theta + rate * gradient)[..., None, :] @ projectors).squeeze(-2)
            theta = normalise(moved)
    with torch.no_grad():
        return direct_utility(theta, encoding, table).max(dim=1).values.numpy()


@pytest.mark.parametrize("spec", GROUPS)
def test_maximal_utility_matches_numerical_maximisation(spec):
    group = parse_group(spec)
    irrep_set = irreps_of(group)
    n = group.order
    one_hot = np.zeros(n)
    one_hot[0] = 1.0
    random = np.random.default_rng(1).standard_normal(n)
    random -= random.mean()
    for template in (one_hot, random):
        formula = theory.maximal_utilities(irrep_set, template)
        numeric = numerical_maxima(group, template)
        scale = formula.max()
        np.testing.assert_allclose(numeric, formula, rtol=2e-4, atol=1e-9 * scale)


def test_quaternionic_constant_is_two_not_one():
    """The quaternionic irrep of Q8 needs C = 2: with C = 1 the formula is √2 too large."""
    group = parse_group("Q8")
    irrep_set = irreps_of(group)
    template = np.zeros(8)
    template[0] = 1.0
    quaternionic = [k for k, o in enumerate(irrep_set.orbits) if o.indicator == -1]
    numeric = numerical_maxima(group, template)[quaternionic]
    formula_c1 = theory.MAXIMISER_CONSTANT / (8**1.5 * math.sqrt(2))
    assert numeric[0] == pytest.approx(formula_c1 / math.sqrt(2), rel=1e-4)


def test_one_hot_d3_reproduces_the_published_utilities():
    """One-hot D3: sign 26.19 and 2-dim 18.52 (units of 10⁻³); sign learned first."""
    irrep_set = irreps_of(parse_group("D3"))
    template = np.zeros(6)
    template[0] = 1.0
    utilities = theory.maximal_utilities(irrep_set, template) * 1e3
    dims = [o.dim for o in irrep_set.orbits]
    sign = [k for k, o in enumerate(irrep_set.orbits) if not o.is_trivial and o.dim == 1][0]
    two = dims.index(2)
    assert utilities[sign] == pytest.approx(26.19, abs=0.005)
    assert utilities[two] == pytest.approx(18.52, abs=0.005)
    powers = theory.orbit_powers(irrep_set, template)
    assert powers[sign] < powers[two]
    drops = theory.predict_drops(irrep_set, template, 1e-3, theory.StepClock(0.1))
    order = [d.orbit for d in drops]
    assert order.index(sign) < order.index(two)


def test_orbit_powers_and_levels():
    irrep_set = irreps_of(parse_group("C11"))
    template = np.random.default_rng(0).standard_normal(11)
    template -= template.mean()
    powers = theory.orbit_powers(irrep_set, template)
    assert powers.sum() == pytest.approx(float(template @ template), rel=1e-12)
    drops = theory.predict_drops(irrep_set, template, 1e-3, theory.StepClock(0.1))
    remaining = float(template @ template)
    for drop in drops:
        remaining -= powers[drop.orbit]
        assert drop.level == pytest.approx(max(remaining, 0) / 11, abs=1e-12)
    assert [d.utility for d in drops] == sorted((d.utility for d in drops), reverse=True)


def test_growth_utility_is_the_loss_decrease_of_a_small_neuron():
    """L(εθ̄) = L(0) − ε³ G(θ̄) + O(ε⁶) with the trainer's loss, so G = (2/n) U."""
    from backend.config import RunConfig
    from backend.trainer import Trainer

    config = RunConfig(group="D3", encoding="onehot", width=1, parameterisation="free",
                       loss="mse", optimiser="gd", activation="square", precision="float64",
                       device="cpu")
    trainer = Trainer(config)
    group = trainer.group
    direction = torch.randn((3, 6, 1), generator=torch.Generator().manual_seed(0),
                            dtype=torch.float64)
    direction /= direction.norm()
    epsilon = 1e-3
    loss0 = float(torch.mean(trainer.network.targets**2))
    outputs = trainer.network.outputs(epsilon * direction, 1.0)
    loss = float(torch.mean((outputs - trainer.network.targets) ** 2))
    utility = direct_utility(direction[:, :, 0], torch.eye(6, dtype=torch.float64),
                             torch.tensor(group.table))
    growth = (loss0 - loss) / epsilon**3
    assert growth == pytest.approx(2.0 / 6.0 * float(utility), rel=1e-4)


@pytest.mark.parametrize("scaled", [False, True])
def test_activation_steps_match_the_aligned_neuron_ode(scaled):
    """An aligned neuron: U = K ‖u‖‖v‖‖w‖ with K = 3√3 G*; integrate its norms directly."""
    growth, rate, alpha = 0.7, 0.01, 1e-3
    k = 3 * math.sqrt(3) * growth
    state0 = [alpha / math.sqrt(2), alpha / math.sqrt(2), alpha]

    def field(_, s):
        x, y, z = s
        norm = math.sqrt(x * x + y * y + z * z)
        factor = rate * (1.0 / norm if scaled else 1.0)
        return [factor * k * y * z, factor * k * x * z, factor * k * x * y]

    def reached(_, s):
        return math.sqrt(sum(v * v for v in s)) - 1.0

    reached.terminal = True
    solution = solve_ivp(field, [0, 1e9], state0, events=reached, rtol=1e-10, atol=1e-14)
    flow_time = solution.t_events[0][0]
    clock = theory.StepClock(rate, scaled=scaled)
    predicted = theory.activation_steps(growth, math.sqrt(2) * alpha, clock)
    if scaled:
        # The closed form counts discrete steps: per step ln(1 + 3ηG) instead of 3ηG.
        flow_time *= 3 * rate * growth / math.log1p(3 * rate * growth)
    assert predicted == pytest.approx(flow_time, rel=2e-3)
