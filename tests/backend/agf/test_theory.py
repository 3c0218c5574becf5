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


def _primes(limit: int) -> list[int]:
    return [p for p in range(2, limit + 1) if all(p % d for d in range(2, int(p**0.5) + 1))]


CATALOGUE_UP_TO_60 = (
    [f"C{n}" for n in range(2, 61)]
    + [f"D{n}" for n in range(3, 31)]
    + ["Q8"]
    + [f"Dic{n}" for n in range(2, 16)]
    + ["S3", "S4", "A4", "A5", "SL(2,3)"]
    + [f"C{p}:C{q}" for p in _primes(30) for q in range(2, p) if (p - 1) % q == 0 and p * q <= 60]
    + ["C2xC2", "C2xC2xC2", "C3xC3", "C2xC4", "C4xC4", "C3xC5", "C2xC6", "Q8xC3", "Q8xC5",
       "Q8xC2", "D3xC2", "D3xC3", "D4xC2", "S3xS3", "A4xC2", "A4xC3", "C7:C3xC2",
       "SL(2,3)xC2", "Dic3xC2", "D5xC3", "C2xC2xC3", "C2xC2xC5"]
)
"""Every catalogue group up to order 60: cyclic, dihedral, Q8, dicyclic, S3, S4, A4, A5,
SL(2,3), every C_p:C_q, and products (real, complex and quaternionic orbits)."""


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


def direct_utility_and_gradient(theta, encoding, table, solve):
    """U = (1/n²) Σ_{g1,g2} (a(g1) + b(g2))² c(g1 g2), a = X u, b = X v, c = X w, for
    theta (B, 3, n), and its gradient, written out on the n × n table of pairs."""
    n = encoding.shape[0]
    a, b, c = (theta[:, i] @ encoding.T for i in range(3))
    hidden = a[:, :, None] + b[:, None, :]
    output = c[:, table]
    utility = np.einsum("bij,bij->b", hidden**2, output) / n**2
    weighted = 2.0 * hidden * output / n**2
    grad_a, grad_b = weighted.sum(2), weighted.sum(1)
    # ∂U/∂c(h) = (1/n²) Σ_{g1} hidden(g1, g1⁻¹h)²
    grad_c = np.take_along_axis(hidden**2, solve[None].repeat(len(theta), 0), 2).sum(1) / n**2
    gradient = np.stack([grad_a, grad_b, grad_c], axis=1) @ encoding
    return utility, gradient


def numerical_maxima(group, template, starts=4, iterations=200) -> np.ndarray:
    """Max of U on the unit sphere with u, v, w restricted to each orbit, from the pair sum.

    On a nontrivial orbit Σ_h c(h) = 0, so the squares a(g1)² and b(g2)² drop out and
    U = (2/n²) T(a, b, c), T = Σ_{g1,g2} a(g1) b(g2) c(g1 g2), trilinear; with
    ‖u‖² + ‖v‖² + ‖w‖² = 1 its maximum has ‖u‖ = ‖v‖ = ‖w‖ = 1/√3 (AM–GM), so
    U* = (2/(3√3) n²) max T over three unit spheres, found by the higher-order power
    method (u ← normalise(Π_O ∂T/∂u), then v, then w; T never decreases) from several
    random starts, all orbits and starts at once. The trivial orbit keeps the squares and
    is maximised by projected gradient ascent of the full utility.
    """
    irrep_set = irreps_of(group)
    n = group.order
    encoding = translate_rows(template, group)
    table = np.asarray(group.table)
    solve = table[np.asarray(group.inverse)[:, None], np.arange(n)[None, :]]
    projectors_all = orbit_projectors(irrep_set)
    trivial = [k for k, o in enumerate(irrep_set.orbits) if o.is_trivial]
    others = [k for k, o in enumerate(irrep_set.orbits) if not o.is_trivial]
    maxima = np.zeros(len(irrep_set.orbits))
    generator = np.random.default_rng(3)

    def start(projectors, layers):
        x = np.einsum("bij,bkj->bki", projectors,
                      generator.standard_normal((len(projectors), layers, n)))
        return x / np.sqrt((x**2).sum(2, keepdims=True))

    projectors = np.repeat(projectors_all[others], starts, axis=0)

    def update(gradient):
        x = np.einsum("bij,bj->bi", projectors, gradient @ encoding)
        return x / np.maximum(np.sqrt((x**2).sum(1, keepdims=True)), 1e-300)

    u, v, w = start(projectors, 3).transpose(1, 0, 2)
    for _ in range(iterations):
        c_table = (w @ encoding.T)[:, table]
        u = update(np.einsum("bij,bj->bi", c_table, v @ encoding.T))
        v = update(np.einsum("bij,bi->bj", c_table, u @ encoding.T))
        a, b = u @ encoding.T, v @ encoding.T
        w = update(np.einsum("bi,bih->bh", a, b[:, solve]))
    total = np.einsum("bi,bj,bij->b", u @ encoding.T, v @ encoding.T, (w @ encoding.T)[:, table])
    maxima[others] = (2.0 / (3.0 * math.sqrt(3.0))) * total.reshape(-1, starts).max(1) / n**2

    constant = projectors_all[trivial[0]]
    theta = start(np.repeat(projectors_all[trivial], starts, axis=0), 3)
    theta /= np.sqrt((theta**2).sum((1, 2), keepdims=True))
    for _ in range(200):
        _, gradient = direct_utility_and_gradient(theta, encoding, table, solve)
        gradient = gradient @ constant
        theta = theta + 0.3 * gradient / np.maximum(np.abs(gradient).max(), 1e-12)
        theta /= np.sqrt((theta**2).sum((1, 2), keepdims=True))
    utility, _ = direct_utility_and_gradient(theta, encoding, table, solve)
    maxima[trivial] = utility.max()
    return maxima


def test_the_catalogue_list_covers_every_kind_of_orbit():
    kinds = set()
    for spec in CATALOGUE_UP_TO_60:
        group = parse_group(spec)
        assert group.order <= 60, spec
        for orbit in irreps_of(group).orbits:
            kinds.add((orbit.indicator, len(orbit.irreps), orbit.dim > 1))
    assert len(CATALOGUE_UP_TO_60) >= 140
    assert {(1, 1, False), (1, 1, True), (0, 2, False), (0, 2, True), (-1, 1, True)} <= kinds


@pytest.mark.parametrize("spec", CATALOGUE_UP_TO_60)
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
        np.testing.assert_allclose(numeric, formula, rtol=1e-4, atol=1e-9 * scale)


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
    from backend.training.trainer import Trainer

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
    table = np.asarray(group.table)
    solve = table[np.asarray(group.inverse)[:, None], np.arange(6)[None, :]]
    utility, _ = direct_utility_and_gradient(direction[:, :, 0].numpy()[None], np.eye(6),
                                             table, solve)
    growth = (loss0 - loss) / epsilon**3
    assert growth == pytest.approx(2.0 / 6.0 * float(utility[0]), rel=1e-4)


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


def residual_maximum(group, template, residual, orbit, starts=6, iterations=300):
    """Max over the unit sphere, on one orbit, of (1/n²) Σ_pairs (a(g1) + b(g2))² c'(g1g2)
    with a, b read through the template t and c' through the residual's template t'
    (the higher-order power method of ``numerical_maxima``, inputs and outputs apart)."""
    irrep_set = irreps_of(group)
    n = group.order
    inputs, outputs = translate_rows(template, group), translate_rows(residual, group)
    table = np.asarray(group.table)
    solve = table[np.asarray(group.inverse)[:, None], np.arange(n)[None, :]]
    projector = orbit_projectors(irrep_set)[orbit]
    generator = np.random.default_rng(5)

    def unit(x):
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    u, v, w = (unit(generator.standard_normal((starts, n)) @ projector) for _ in range(3))
    for _ in range(iterations):
        c_table = (w @ outputs.T)[:, table]
        u = unit(np.einsum("bij,bj->bi", c_table, v @ inputs.T) @ inputs @ projector)
        v = unit(np.einsum("bij,bi->bj", c_table, u @ inputs.T) @ inputs @ projector)
        a, b = u @ inputs.T, v @ inputs.T
        w = unit(np.einsum("bi,bih->bh", a, b[:, solve]) @ outputs @ projector)
    total = np.einsum("bi,bj,bij->b", u @ inputs.T, v @ inputs.T, (w @ outputs.T)[:, table])
    return theory.MAXIMISER_CONSTANT * total.max() / n**2


@pytest.mark.parametrize("spec", ["S4", "D5"])
def test_part_utilities_match_a_numerical_maximisation_against_the_residual(spec):
    """After the parts 1..j−1 of an orbit are fitted (removed from the residual's
    coefficient, kept in the inputs), the best neuron's utility is (2/(3√3)) s₁ s_j² /
    (n^{3/2} sqrt(d)), not the cubic s_j³ — checked on every part of every real matrix
    orbit of a random template."""
    from backend.config import RunConfig
    from backend.task import build_template

    group = parse_group(spec)
    irrep_set = irreps_of(group)
    config = RunConfig(group=spec, encoding="random_fourier", data_seed=0)
    template = build_template(config, group, irrep_set)
    parts = theory.orbit_parts(irrep_set, template)
    checked = 0
    for part in parts:
        orbit = irrep_set.orbits[part.orbit]
        irrep = irrep_set.irreps[orbit.irreps[0]]
        if part.part == 1 or len(orbit.irreps) != 1 or np.abs(irrep.matrices.imag).max() > 0:
            continue
        coefficient = theory.unnormalised_transform(irrep.matrices, template)
        left, values, right = np.linalg.svd(coefficient)
        removed = sum(values[i] * np.outer(left[:, i], right[i]) for i in range(part.part - 1))
        n, d = group.order, irrep.dim
        residual = template - (d / n) * np.trace(removed @ irrep.matrices, axis1=1,
                                                 axis2=2).real
        assert part.singular == pytest.approx(values[part.part - 1])
        numerical = residual_maximum(group, template, residual, part.orbit)
        assert part.utility == pytest.approx(numerical, rel=1e-4), part
        checked += 1
    assert checked >= 2


def test_presets_have_one_part_per_orbit_and_parts_share_the_orbit_power():
    from backend.presets import load_preset
    from backend.task import build_template

    for name in ("c11-agf", "a5-agf", "d3-agf-onehot"):
        config = load_preset(name)
        group = parse_group(config.group)
        irrep_set = irreps_of(group)
        template = build_template(config, group, irrep_set)
        parts = theory.orbit_parts(irrep_set, template)
        assert all(p.parts == 1 for p in parts), name
        assert [p.utility for p in parts] == pytest.approx(
            theory.maximal_utilities(irrep_set, template)[[p.orbit for p in parts]])
    group = parse_group("S4")
    irrep_set = irreps_of(group)
    from backend.config import RunConfig
    from backend.task import build_template

    template = build_template(RunConfig(group="S4", encoding="random_fourier"), group,
                              irrep_set)
    parts = theory.orbit_parts(irrep_set, template)
    powers = theory.orbit_powers(irrep_set, template)
    for orbit in {p.orbit for p in parts}:
        mine = [p for p in parts if p.orbit == orbit]
        assert sum(p.power for p in mine) == pytest.approx(powers[orbit])
        assert [p.before for p in mine] == pytest.approx(
            np.concatenate([[0], np.cumsum([p.share for p in mine])[:-1]]))
        assert all(a.singular > b.singular for a, b in zip(mine, mine[1:], strict=False))
    assert any(p.parts == 3 and p.label.startswith("[3,1] σ") for p in parts)


def test_quaternionic_singular_values_pair_into_one_part():
    from backend.config import RunConfig
    from backend.task import build_template

    group = parse_group("Q8")
    irrep_set = irreps_of(group)
    template = build_template(RunConfig(group="Q8", encoding="random_fourier"), group,
                              irrep_set)
    quaternionic = [p for p in theory.orbit_parts(irrep_set, template) if p.dim == 2]
    assert len(quaternionic) == 1 and quaternionic[0].multiplicity == 2
