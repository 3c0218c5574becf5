"""Closed-form Alternating Gradient Flows for σ(z) = z² and the mean-squared-error loss.

Notation (mathematics reference §5). A dormant neuron is θ = (u, v, w) = (θ¹, θ², ξ) with
unit norm ‖u‖² + ‖v‖² + ‖w‖² = 1; its output on the pair (g1, g2) is
f(g1, g2) = w (⟨u, x_g1⟩ + ⟨v, x_g2⟩)². Two normalisations of its utility appear here:

* the **utility** U(θ) = (1/n²) Σ_pairs ⟨f_θ(g1, g2), y(g1, g2)⟩ (residual = target, the
  network still zero). Its maximum over the sphere, restricted to one real orbit O, is

      U*_O = (2 / (3√3)) ‖t̂[ρ]‖_op³ / (n^{3/2} sqrt(C_O d_ρ)),   t̂[ρ] = Σ_g t(g) ρ(g)†,

  with C_O = 1 for a real irrep, 2 for a complex-conjugate pair and 2 for a quaternionic
  irrep, and, for the trivial orbit, U* = (4 / (3√3)) |Σ_g t(g)|³ / n^{3/2}.
  One-hot D3 gives 0.02619 (sign) and 0.01852 (2-dimensional irrep), the published
  figure's 26.19 and 18.52 in units of 10⁻³.
* the **growth utility** G(θ) = (2/n) U(θ): the rate the training loss actually imposes.
  The trainer's loss is L = (1/(n² n)) Σ_pairs ‖f − y‖² (mean over pairs and outputs), so
  for a neuron of small norm −∇L = ∇[(2/(n² n)) Σ_pairs ⟨f_θ, r⟩] = ∇G with r = y − f.

The quaternionic constant C = 2 is not taken from a proof we could read. Derivation: the
ρ-isotypic coefficients of a real vector are d × d complex matrices with quaternionic
structure (an m × m matrix of quaternions, d = 2m); the maximiser of the trilinear form
Re tr(ĉ† b̂ â) over such matrices is quaternion-rank-one, so its complex singular values
come in equal pairs, which costs a factor 1/√2 against a real rank-one matrix of the same
Frobenius norm — exactly as for a complex pair, whose norm is split between ρ and ρ̄.
Checked numerically (tests/backend/agf/test_theory.py): the maximum of the direct pair
sum on the sphere, restricted to each orbit (higher-order power method from several
starts), for one-hot and random templates on every catalogue group up to order 60 —
C2…C60, D3…D30, Q8, Dic2…Dic15, S3, S4, A4, A5, SL(2,3), every C_p⋊C_q and 22 direct
products (real, complex, quaternionic and higher-dimensional orbits) — agrees with every
U*_O to 1e-4; with C = 1 the quaternionic value would be √2 too large.

Levels: once the set S of orbits is learned, the loss plateau is (1/n) Σ_{O∉S} P_O(t),
P_O(t) = ‖Π_O t‖² the template's power on O. Timing: under plain gradient flow with
rate η a neuron's norm obeys d(1/‖θ‖)/dt = −κ η G(θ̄) with κ = 3, so a neuron aligned
with orbit O and started at norm ‖θ(0)‖ activates (reaches norm 1) after about
(1/‖θ(0)‖ − 1) / (3 η G*_O) steps; with momentum μ the rate is η/(1 − μ); with per-neuron
scaled SGD (θ_m ← θ_m − η ‖θ_m‖^{-1} ∇_{θ_m} L) the growth is exponential and the time is
ln(1/‖θ(0)‖) / (3 η G*_O). Gradient flow conserves ‖u‖² + ‖v‖² − 2‖w‖², which keeps a
freshly initialised neuron off the balanced maximiser ‖u‖ = ‖v‖ = ‖w‖ until it has grown;
the timings below integrate that exactly for an aligned neuron (a ~2 % correction for the
free initialisation). They ignore the time a random neuron needs to align, which the
numerical AGF (simulation.py) includes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.integrate import quad

from backend.agf.applicability import AgfTheoryError, check_agf_config

QUATERNIONIC_CONSTANT = 2.0
"""C_O for a quaternionic irrep (verified numerically, see the module docstring)."""

MAXIMISER_CONSTANT = 2.0 / (3.0 * math.sqrt(3.0))
"""max of x y z over x² + y² + z² = 1 (x = y = z = 1/√3), times 2 for the cross term 2ab."""

HOMOGENEITY = 3
"""κ: a z² neuron's output is homogeneous of degree 3 in its parameters."""


def unnormalised_transform(matrices: np.ndarray, template: np.ndarray) -> np.ndarray:
    """t̂[ρ] = Σ_g t(g) ρ(g)† for one irrep given by its matrices (n, d, d)."""
    return np.einsum("g,gba->ab", template, matrices.conj())


def orbit_constant(indicator: int, num_irreps_in_orbit: int) -> float:
    """C_O of the closed form: 1 for a real irrep, 2 for a complex pair or a quaternionic irrep."""
    if num_irreps_in_orbit == 2:
        return 2.0
    if indicator < 0:
        return QUATERNIONIC_CONSTANT
    return 1.0


def growth_utilities(irrep_set, template: np.ndarray) -> np.ndarray:
    """G*_O = (2/n) U*_O for every real orbit O: the rate of growth the training loss
    imposes on a neuron aligned with O (the residual's utilities only fall below it)."""
    return (2.0 / np.asarray(template).shape[0]) * maximal_utilities(irrep_set, template)


def maximal_utilities(irrep_set, template: np.ndarray) -> np.ndarray:
    """U*_O for every real orbit O (utility normalisation, see the module docstring).

    Returns float64 (num_orbits,), indexed like ``irrep_set.orbits``.
    """
    template = np.asarray(template, dtype=np.float64)
    n = template.shape[0]
    values = np.zeros(len(irrep_set.orbits))
    for index, orbit in enumerate(irrep_set.orbits):
        irrep = irrep_set.irreps[orbit.irreps[0]]
        if orbit.is_trivial:
            total = float(template.sum())
            values[index] = 2.0 * MAXIMISER_CONSTANT * abs(total) ** 3 / n**1.5
            continue
        transform = unnormalised_transform(irrep.matrices, template)
        operator_norm = float(np.linalg.norm(transform, ord=2))
        constant = orbit_constant(orbit.indicator, len(orbit.irreps))
        values[index] = (
            MAXIMISER_CONSTANT * operator_norm**3 / (n**1.5 * math.sqrt(constant * irrep.dim))
        )
    return values


def orbit_powers(irrep_set, template: np.ndarray) -> np.ndarray:
    """P_O(t) = Σ_{ρ∈O} (d_ρ/n) ‖t̂[ρ]‖_F² (= n d_ρ ‖(1/n)Σ t ρ†‖_F²); sums to ‖t‖²."""
    template = np.asarray(template, dtype=np.float64)
    n = template.shape[0]
    powers = np.zeros(len(irrep_set.orbits))
    for index, orbit in enumerate(irrep_set.orbits):
        for irrep_index in orbit.irreps:
            irrep = irrep_set.irreps[irrep_index]
            transform = unnormalised_transform(irrep.matrices, template)
            powers[index] += irrep.dim / n * float(np.sum(np.abs(transform) ** 2))
    return powers


def balance_factor(imbalance: float) -> float:
    """g(D) = (1 + D/2) sqrt(1 − D): utility of an aligned neuron relative to U*.

    D = (‖u‖² + ‖v‖² − 2‖w‖²)/‖θ‖² is fixed by the conserved quantity; with ‖u‖ = ‖v‖ the
    best split is ‖w‖² = (1 − D)/3, ‖u‖² = ‖v‖² = (2 + D)/6, and the trilinear utility
    3√3 U* ‖u‖‖v‖‖w‖ becomes U* g(D).
    """
    return (1.0 + imbalance / 2.0) * math.sqrt(1.0 - imbalance)


@dataclass(frozen=True)
class StepClock:
    """How AGF time maps to optimiser steps.

    ``rate`` is the effective learning rate per step (η, or η/(1 − μ) with momentum μ,
    times the optional logarithmic factor of scaled SGD); ``scaled`` selects per-neuron
    scaled SGD (exponential growth) instead of plain gradient descent.
    """

    rate: float
    scaled: bool = False


def activation_steps(
    growth_utility: float,
    initial_norm: float,
    clock: StepClock,
    initial_imbalance: float = -0.5,
    threshold: float = 1.0,
) -> float:
    """Steps until a neuron aligned with an orbit of growth utility G* reaches ``threshold``.

    Plain GD: d(1/ρ)/dt = −3 η G* g(D0 ρ0²/ρ²), so with x = ρ0/ρ
        steps = (1/ρ0) ∫_{ρ0/threshold}^{1} dx / g(D0 x²) / (3 η G*).
    Scaled SGD: d ln ρ/dt = 3 η G* g(D0 ρ0²/ρ²), so
        steps = ∫_{ρ0/threshold}^{1} dx / (x g(D0 x²)) / (3 η G*).
    Returns inf when G* ≤ 0 (the orbit is never learned).
    """
    if growth_utility <= 0.0 or initial_norm >= threshold:
        return math.inf if growth_utility <= 0.0 else 0.0
    lower = initial_norm / threshold

    def inverse_balance(x: float) -> float:
        return 1.0 / balance_factor(initial_imbalance * x * x)

    if clock.scaled:
        # One scaled step multiplies the norm by 1 + 3ηG (not e^{3ηG}): rate ln(1 + 3ηG).
        integral, _ = quad(lambda x: inverse_balance(x) / x, lower, 1.0, limit=200)
        return integral / math.log1p(HOMOGENEITY * clock.rate * growth_utility)
    integral, _ = quad(inverse_balance, lower, 1.0, limit=200)
    return integral / initial_norm / (HOMOGENEITY * clock.rate * growth_utility)


@dataclass(frozen=True)
class PredictedDrop:
    """One step of the predicted staircase: the orbit learned, its irrep dimension, its
    maximal utility U* (utility normalisation), the optimiser step of the drop and the
    loss plateau after it."""

    orbit: int
    label: str
    dim: int
    utility: float
    step: float
    level: float
    timed: bool = True
    """Whether the closed-form ``step`` is valid for the optimiser (``timing_scope``);
    when False the step is only a lower bound and is not shown as a prediction."""


@dataclass(frozen=True)
class OrbitPart:
    """One step of the staircase inside an orbit: the j-th distinct singular value s_j of
    t̂[ρ] (``multiplicity`` equal values together), its utility, its power and where it
    lies in the orbit's explained share (``before`` .. ``before`` + ``share``)."""

    orbit: int
    label: str
    dim: int
    part: int
    parts: int
    singular: float
    multiplicity: int
    utility: float
    power: float
    before: float
    share: float


def part_label(label: str, part: int, parts: int) -> str:
    """The orbit's label, with " σj" after its short name when the orbit has several
    parts ("χ4 σ2 (4-dim, real)")."""
    if parts == 1:
        return label
    short, _, rest = label.partition(" (")
    return f"{short} σ{part}" + (f" ({rest}" if rest else "")


def orbit_parts(irrep_set, template: np.ndarray, merge: float = 1e-6) -> list[OrbitPart]:
    """The parts of every orbit's template coefficient (its distinct singular values).

    With t̂[ρ] = Σ_i s_i p_i q_i† (s₁ ≥ s₂ ≥ …), the fit of the first parts removes
    s_i p_i q_i† from the residual's coefficient R while the inputs still carry all of
    t̂[ρ]. The utility is a trilinear form in (â, b̂, ĉ) = (Û t̂, V̂ t̂, Ŵ R) with unit
    Û, V̂, Ŵ, whose maximum ‖t̂ · t̂ R†‖-chain is ‖t̂‖_op ‖t̂ R†‖_op = s₁ s_j², since
    t̂ R† = Σ_{i≥j} s_i² p_i p_i†. So part j has

        U_{O,j} = (2/(3√3)) s₁ s_j² / (n^{3/2} sqrt(C_O d_ρ))       (U_{O,1} = U*_O),

    and its power is P_{O,j} = |O| (d_ρ/n) m_j s_j² (m_j equal singular values). Checked
    against a numerical maximisation of the pair sum with the residual's template (S4,
    D5: tests/backend/agf/test_theory.py). Inside an orbit the parts' utilities fall
    with s_j², so they would come in decreasing s_j. Gradient descent does not follow this
    picture (docs/agf.md): on a random S4 template it fits [3,1] (s = 9.6, 3.8, 1.1) in
    three steps of one third of its top part each, and [2,2] (s = 6.28, 0.25) stops at
    half of its power, so its residual is not of the form λ(g1 g2) t' assumed here. The
    parts are therefore used to say where AGF does not apply (regime.py), not to predict.
    A template with t̂[ρ] ∝ I (the presets) has one part per orbit. A quaternionic
    irrep's singular values come in equal pairs, each pair one part. Values within
    ``merge`` (relative) of each other are one part; parts without power are left out.
    """
    template = np.asarray(template, dtype=np.float64)
    n = template.shape[0]
    utilities = maximal_utilities(irrep_set, template)
    powers = orbit_powers(irrep_set, template)
    total = float(powers.sum())
    parts: list[OrbitPart] = []
    for index, orbit in enumerate(irrep_set.orbits):
        if not powers[index] > 1e-9 * total:
            continue
        irrep = irrep_set.irreps[orbit.irreps[0]]
        if orbit.is_trivial or irrep.dim == 1:
            parts.append(OrbitPart(index, orbit.label, int(orbit.dim), 1, 1,
                                   math.sqrt(max(float(powers[index]), 0.0)), 1,
                                   float(utilities[index]), float(powers[index]), 0.0, 1.0))
            continue
        singular = np.linalg.svd(unnormalised_transform(irrep.matrices, template),
                                 compute_uv=False)
        groups: list[list[float]] = []
        for value in singular:
            if groups and groups[-1][0] - value <= merge * singular[0]:
                groups[-1].append(float(value))
            else:
                groups.append([float(value)])
        groups = [g for g in groups if g[0] > 1e-9 * singular[0]]
        constant = orbit_constant(orbit.indicator, len(orbit.irreps))
        scale = MAXIMISER_CONSTANT / (n**1.5 * math.sqrt(constant * irrep.dim))
        shares = np.array([len(orbit.irreps) * irrep.dim / n * sum(v * v for v in g)
                           for g in groups])
        orbit_power = float(shares.sum())
        before = 0.0
        for j, group in enumerate(groups):
            value = group[0]
            share = float(shares[j] / orbit_power)
            parts.append(OrbitPart(
                index, part_label(orbit.label, j + 1, len(groups)), int(orbit.dim), j + 1,
                len(groups), value, len(group), scale * singular[0] * value**2,
                float(shares[j]), before, share))
            before += share
    return parts


def predict_drops(
    irrep_set,
    template: np.ndarray,
    initial_norm: float,
    clock: StepClock,
    initial_imbalance: float = -0.5,
    relative_tolerance: float = 1e-9,
) -> list[PredictedDrop]:
    """The closed-form staircase: orbits in decreasing U*, each with its step and level.

    Orbits with no template power (U* ≈ 0) are never learned and are left out. The level
    after learning S is (1/n) Σ_{O∉S} P_O(t); the starting level is ‖t‖²/n.
    """
    template = np.asarray(template, dtype=np.float64)
    n = template.shape[0]
    utilities = maximal_utilities(irrep_set, template)
    powers = orbit_powers(irrep_set, template)
    order = np.argsort(-utilities, kind="stable")
    scale = float(utilities.max()) if utilities.size else 0.0
    remaining = float(powers.sum())
    negligible = 1e-12 * remaining
    drops = []
    for index in order:
        if utilities[index] <= relative_tolerance * scale or scale == 0.0:
            continue
        remaining -= float(powers[index])
        orbit = irrep_set.orbits[int(index)]
        step = activation_steps(
            (2.0 / n) * float(utilities[index]), initial_norm, clock, initial_imbalance
        )
        drops.append(
            PredictedDrop(
                orbit=int(index),
                label=orbit.label,
                dim=int(orbit.dim),
                utility=float(utilities[index]),
                step=float(step),
                level=remaining / n if remaining > negligible else 0.0,
            )
        )
    return drops


def expected_initial_norm(init_scale: float) -> float:
    """E‖θ(0)‖ ≈ α √2 for θ¹, θ² ~ N(0, α²/(2n)), ξ ~ N(0, α²/n): ‖θ‖² ≈ α²/2 + α²/2 + α²."""
    return init_scale * math.sqrt(2.0)


def clock_of(config) -> StepClock:
    """The step clock of a configuration: gd (η/(1 − μ)) or scaled_gd with k = 2."""
    if config.optimiser == "scaled_gd":
        if abs(config.scaled_exponent - 2.0) > 1e-12:
            raise AgfTheoryError(
                f"scaled_exponent = {config.scaled_exponent:g}: the closed-form timing covers "
                "k = 2 (binary composition); set scaled_exponent = 2"
            )
        factor = math.log(1.0 / config.init_scale) if config.scaled_log_factor else 1.0
        return StepClock(rate=config.learning_rate * factor, scaled=True)
    return StepClock(rate=config.learning_rate / (1.0 - config.momentum), scaled=False)


TIMING_PLAIN_GD = (
    "AGF (closed form) gives no times for plain gradient descent (with or without "
    "momentum): a dormant neuron turns at a speed proportional to its norm, so it hardly "
    "aligns before it activates and grows at the utility of its initial direction, not at "
    "U*; its aligned-neuron time comes 2-3x early. AGF (simulated) gives the times."
)
TIMING_SCALED_GD = (
    "AGF (closed form) times hold for the first drop only: with per-neuron scaled SGD a "
    "dormant neuron turns at a speed independent of its norm, so the first orbit's "
    "neurons are aligned while they grow; later orbits wait for neurons to turn towards "
    "them after each drop, which the closed form leaves out (its later times are lower "
    "bounds). AGF (simulated) gives every time."
)


def timing_scope(config) -> tuple[int, str]:
    """(number of leading drops whose closed-form step is valid, why): the first drop with
    per-neuron scaled SGD (k = 2), none with plain gradient descent."""
    if config.optimiser == "scaled_gd":
        return 1, TIMING_SCALED_GD
    return 0, TIMING_PLAIN_GD


def predict_staircase(config) -> list[PredictedDrop]:
    """The closed-form staircase of a configuration (σ = z², MSE, free initialisation),
    each drop marked ``timed`` where its step is valid for the optimiser (timing_scope).

    Refuses (AgfTheoryError) a configuration outside AGF before any work.
    """
    from dataclasses import replace

    from backend.spectral import SpectralTools, load_group
    from backend.task import build_template

    check_agf_config(config)
    group = load_group(config.group)
    irrep_set = SpectralTools.of(group).irrep_set
    template = build_template(config, group, irrep_set)
    initial_norm = expected_initial_norm(config.init_scale)
    drops = predict_drops(irrep_set, template, initial_norm, clock_of(config))
    valid, _ = timing_scope(config)
    return [replace(drop, timed=index < valid) for index, drop in enumerate(drops)]
