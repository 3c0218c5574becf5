"""Each metric against an independent computation: explicit sums over group elements,
convolutions built by hand, and the Fourier transform of the groups package."""

import numpy as np
import pytest

from backend.config import RunConfig
from backend.groups import parse_group
from backend.metrics import (
    diversification,
    haar_statistics,
    neuron_metrics,
    rank_one_over_quaternions_text,
)
from backend.spectral import SpectralTools
from backend.training.trainer import Trainer

GROUPS = ["C7", "S3", "Q8", "C7:C3", "C2xC4", "A4"]


def direct_coefficient(values, matrices):
    """v̂[ρ] = (1/n) Σ_g v(g) ρ(g)† by an explicit loop over the elements."""
    total = np.zeros(matrices.shape[1:], dtype=complex)
    for g, value in enumerate(values):
        total += value * matrices[g].conj().T
    return total / len(values)


def convolution(a, b, group):
    """(a * b)(g) = Σ_h a(h) b(h⁻¹ g), by explicit loops."""
    n = group.order
    out = np.zeros(n)
    for g in range(n):
        for h in range(n):
            out[g] += a[h] * b[group.table[group.inverse[h], g]]
    return out


@pytest.mark.parametrize("spec", GROUPS)
def test_neuron_energy_identity(spec):
    """Ω = (1/n²) Σ a(g1) b(g2)(c(g1g2) − mean c) = Σ_{ρ≠1} d_ρ Re tr(ĉ†b̂â)."""
    group = parse_group(spec)
    tools = SpectralTools.of(group)
    rng = np.random.default_rng(1)
    a, b, c = rng.standard_normal((3, group.order))
    direct = np.mean(a[:, None] * b[None, :] * (c[group.table] - c.mean()))
    spectral = 0.0
    for irrep in tools.irrep_set.irreps[1:]:
        a_hat, b_hat, c_hat = (direct_coefficient(v, irrep.matrices) for v in (a, b, c))
        spectral += irrep.dim * np.trace(c_hat.conj().T @ b_hat @ a_hat).real
    assert spectral == pytest.approx(direct, rel=1e-10, abs=1e-12)


@pytest.mark.parametrize("spec", GROUPS)
def test_power_matches_the_groups_fourier_transform(spec):
    group = parse_group(spec)
    tools = SpectralTools.of(group)
    rng = np.random.default_rng(2)
    effective = rng.standard_normal((3, 5, group.order))
    result = neuron_metrics(effective, tools)
    expected = tools.fourier.orbit_power(effective) / np.sum(effective**2, axis=-1)[..., None]
    np.testing.assert_allclose(result["power"], expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(result["power"].sum(-1), 1.0, rtol=1e-5)
    mean = expected.mean(0)
    np.testing.assert_array_equal(result["dominant_orbit"], mean.argmax(1))
    np.testing.assert_allclose(result["sparsity"], mean.max(1), rtol=1e-10)
    np.testing.assert_allclose(result["ipr"], (mean**2).sum(1), rtol=1e-10)
    np.testing.assert_allclose(result["norms"], np.linalg.norm(effective, axis=-1))


def project_to_orbit(values, group, tools, orbit):
    """Keep only the orbit's isotypic part: Σ_{ρ∈O} (d/n) Σ_h χ(g h⁻¹) v(h)."""
    out = np.zeros_like(values)
    for member in tools.irrep_set.orbits[orbit].irreps:
        irrep = tools.irrep_set.irreps[member]
        chi = irrep.character
        kernel = chi[group.table[:, group.inverse]]  # χ(g h⁻¹)
        out += (irrep.dim / group.order * kernel @ values).real
    return out


@pytest.mark.parametrize("spec", GROUPS)
def test_alignment_rank_one_and_phases_against_direct_coefficients(spec):
    group = parse_group(spec)
    tools = SpectralTools.of(group)
    rng = np.random.default_rng(3)
    neurons = []
    for orbit in tools.irrep_set.nontrivial_orbits:
        for _ in range(2):
            a, b, c = (project_to_orbit(v, group, tools, orbit)
                       for v in rng.standard_normal((3, group.order)))
            neurons.append((a, b, c))
    effective = np.transpose(np.array(neurons), (1, 0, 2))
    result = neuron_metrics(effective, tools)
    for m, (a, b, c) in enumerate(neurons):
        orbit = result["dominant_orbit"][m]
        assert orbit == 1 + m // 2
        representative = tools.irrep_set.irreps[tools.irrep_set.orbits[orbit].irreps[0]]
        a_hat, b_hat, c_hat = (direct_coefficient(v, representative.matrices) for v in (a, b, c))
        product = b_hat @ a_hat
        z = np.trace(c_hat.conj().T @ product) / (
            np.linalg.norm(product) * np.linalg.norm(c_hat)
        )
        assert result["alignment"][m] == pytest.approx(z, rel=1e-9, abs=1e-12)
        assert result["sparsity"][m] == pytest.approx(1.0, abs=1e-9)
        if representative.dim == 1:
            phases = [np.angle(x[0, 0]) for x in (a_hat, b_hat, c_hat)]
            np.testing.assert_allclose(result["phases"][:, m], phases, atol=1e-10)
            expected_z = np.exp(1j * (phases[0] + phases[1] - phases[2]))
            assert result["alignment"][m] == pytest.approx(expected_z, abs=1e-9)
            assert np.all(np.isnan(result["sigma_ratio"][:, m]))
        else:
            kept = 2 if representative.indicator < 0 else 1  # over ℍ: σ₃/σ₁, (σ₁²+σ₂²)
            for layer, hat in enumerate((a_hat, b_hat, c_hat)):
                singular = np.append(np.linalg.svd(hat, compute_uv=False), 0.0)
                assert result["sigma_ratio"][layer, m] == pytest.approx(
                    singular[kept] / singular[0], rel=1e-8, abs=1e-12
                )
                assert result["rank_one"][layer, m] == pytest.approx(
                    np.sum(singular[:kept] ** 2) / np.sum(singular**2), rel=1e-8
                )
            assert np.all(np.isnan(result["phases"][:, m]))


@pytest.mark.parametrize("spec", ["S3", "C7:C3", "Q8", "C5"])
def test_convolution_neurons_are_perfectly_aligned(spec):
    """c = a * b has ĉ = n b̂ â, a positive multiple: z = 1; c = −a * b gives z = −1."""
    group = parse_group(spec)
    tools = SpectralTools.of(group)
    orbit = len(tools.irrep_set.orbits) - 1
    rng = np.random.default_rng(4)
    a, b = (project_to_orbit(v, group, tools, orbit) for v in rng.standard_normal((2, group.order)))
    c = convolution(a, b, group)
    effective = np.array([[a, a], [b, b], [c, -c]])
    z = neuron_metrics(effective, tools)["alignment"]
    assert z[0] == pytest.approx(1.0, abs=1e-9)
    assert z[1] == pytest.approx(-1.0, abs=1e-9)


def test_rank_one_coefficients_from_a_rank_one_construction():
    """A function whose coefficient at a 2-dim irrep of S3 is u vᵀ has σ₂/σ₁ = 0."""
    group = parse_group("S3")
    tools = SpectralTools.of(group)
    orbit = int(np.flatnonzero(tools.orbit_dims == 2)[0])
    irrep = tools.irrep_set.irreps[tools.irrep_set.orbits[orbit].irreps[0]]
    target = np.outer([1.0, 0.3], [0.5, -2.0])
    values = (irrep.dim * np.trace(target @ irrep.matrices, axis1=1, axis2=2)).real
    effective = np.stack([values, values, values])[:, None, :]
    result = neuron_metrics(effective, tools)
    assert result["sigma_ratio"][0, 0] == pytest.approx(0.0, abs=1e-9)
    assert result["rank_one"][0, 0] == pytest.approx(1.0, abs=1e-9)


def quaternionic_orbit(tools, dim):
    return next(index for index, orbit in enumerate(tools.irrep_set.orbits)
                if orbit.indicator < 0 and orbit.dim == dim)


def test_quaternionic_singular_values_pair_up_and_two_dim_is_rank_one_over_h():
    """Q8's 2-dim quaternionic irrep: the coefficient of any real function has σ₁ = σ₂
    (explicit sum and SVD), so ordinary rank one is impossible; over ℍ it is rank one."""
    group = parse_group("Q8")
    tools = SpectralTools.of(group)
    orbit = quaternionic_orbit(tools, 2)
    irrep = tools.irrep_set.irreps[tools.irrep_set.orbits[orbit].irreps[0]]
    rng = np.random.default_rng(11)
    effective = np.stack([project_to_orbit(v, group, tools, orbit)
                          for v in rng.standard_normal((3, group.order))])[:, None, :]
    for layer in range(3):
        singular = np.linalg.svd(direct_coefficient(effective[layer, 0], irrep.matrices),
                                 compute_uv=False)
        assert singular[1] == pytest.approx(singular[0], rel=1e-10)
    result = neuron_metrics(effective, tools)
    np.testing.assert_allclose(result["rank_one"][:, 0], 1.0, atol=1e-12)
    np.testing.assert_allclose(result["sigma_ratio"][:, 0], 0.0, atol=1e-12)


def test_quaternionic_rank_one_on_the_four_dim_irrep_of_q8xs3():
    """Q8×S3's 4-dim quaternionic irrep: a real function made from one complex rank-one
    coefficient u v† has singular values (σ, σ, 0, 0): r₁ᴴ = 1, σ₃/σ₁ = 0; a random one
    matches (σ₁² + σ₂²)/Σσ² and σ₃/σ₁ of an explicit-sum SVD."""
    group = parse_group("Q8xS3")
    tools = SpectralTools.of(group)
    orbit = quaternionic_orbit(tools, 4)
    irrep = tools.irrep_set.irreps[tools.irrep_set.orbits[orbit].irreps[0]]
    rng = np.random.default_rng(5)
    u, v = rng.standard_normal((2, 4)) + 1j * rng.standard_normal((2, 4))
    made = (4 * np.trace(np.outer(u, v.conj()) @ irrep.matrices, axis1=1, axis2=2)).real
    random = project_to_orbit(rng.standard_normal(group.order), group, tools, orbit)
    effective = np.stack([np.stack([made, random])] * 3)
    result = neuron_metrics(effective, tools)
    assert np.all(result["dominant_orbit"] == orbit)
    made_singular = np.linalg.svd(direct_coefficient(made, irrep.matrices), compute_uv=False)
    assert made_singular[1] == pytest.approx(made_singular[0], rel=1e-9)
    assert made_singular[2] < 1e-9 * made_singular[0]
    np.testing.assert_allclose(result["rank_one"][:, 0], 1.0, atol=1e-9)
    np.testing.assert_allclose(result["sigma_ratio"][:, 0], 0.0, atol=1e-6)
    singular = np.linalg.svd(direct_coefficient(random, irrep.matrices), compute_uv=False)
    assert singular[1] == pytest.approx(singular[0], rel=1e-9)  # pairs, so σ₂/σ₁ = 1
    np.testing.assert_allclose(result["rank_one"][:, 1],
                               (singular[0] ** 2 + singular[1] ** 2) / np.sum(singular**2),
                               rtol=1e-9)
    np.testing.assert_allclose(result["sigma_ratio"][:, 1], singular[2] / singular[0], rtol=1e-8)
    assert result["sigma_ratio"][0, 1] > 0.1


def test_quaternionic_fractions_in_the_summary():
    """Q8: neurons on the 2-dim quaternionic orbit count under the quaternionic key (rank
    one over ℍ by construction), not as '0 % rank one' under the ordinary key."""
    from backend.run_directory import build_summary

    trainer = Trainer(RunConfig(group="Q8", width=16, init_scale=1.0))
    snapshot = trainer.metrics()
    tools = trainer.spectral
    on_quaternionic = tools.quaternionic[snapshot.dominant_orbit]
    assert on_quaternionic.any()
    summary = build_summary(snapshot, tools.labels, tools.orbit_dims, steps_per_second=0.0,
                            wall_seconds=0.0, orbit_indicators=tools.orbit_indicators)
    assert summary["rank_one_fraction"] == {}
    assert summary["quaternionic_rank_one_fraction"] == {"2": 1.0}
    assert "by construction" in rank_one_over_quaternions_text(
        summary["quaternionic_rank_one_fraction"])


def test_diversification_total_variation_by_hand():
    counts, tv = diversification(np.array([1, 1, 2, 3]), num_orbits=4)
    np.testing.assert_array_equal(counts, [0, 2, 1, 1])
    # shares (0, 1/2, 1/4, 1/4) against (0, 1/3, 1/3, 1/3): ½(1/6 + 1/12 + 1/12) = 1/6
    assert tv == pytest.approx(1 / 6)
    _, uniform = diversification(np.array([1, 2, 3]), num_orbits=4)
    assert uniform == pytest.approx(0.0)
    _, trivial = diversification(np.array([0, 0]), num_orbits=3)
    assert trivial == pytest.approx(1.0)


def test_haar_statistics_by_hand():
    dominant = np.array([1, 1, 1, 1, 2, 2, 3])
    phases = np.array([0.0, np.pi / 2, np.pi, 3 * np.pi / 2, 0.3, 0.3, np.nan])
    haar = haar_statistics(dominant, phases, num_orbits=4)
    # four equally spaced phases: the first three harmonics vanish, the fourth is 1
    np.testing.assert_allclose(haar[1], [0, 0, 0, 1], atol=1e-12)
    np.testing.assert_allclose(haar[2], [1, 1, 1, 1], atol=1e-12)
    assert np.all(np.isnan(haar[0])) and np.all(np.isnan(haar[3]))


@pytest.fixture(scope="module")
def small_trainer():
    config = RunConfig(group="S3", width=6, parameterisation="free", init_scale=1.0,
                       loss="mse", encoding="random_fourier", optimiser="gd",
                       learning_rate=0.05, train_fraction=0.7, precision="float64")
    trainer = Trainer(config)
    trainer.step(5)
    return trainer


def test_snapshot_outputs_metrics_against_direct_loops(small_trainer):
    trainer = small_trainer
    snapshot = trainer.metrics()
    task = trainer.task
    n = task.order
    outputs = trainer.all_outputs()
    # loss over the training pairs, mean over pairs and output coordinates
    losses = [np.mean((outputs[p] - task.encoding[task.table[p // n, p % n]]) ** 2)
              for p in task.train_pairs]
    assert snapshot.loss == pytest.approx(np.mean(losses), rel=1e-10)
    assert snapshot.loss == pytest.approx(trainer.loss_value(), rel=1e-10)
    # accuracy: nearest template translate
    def correct(p):
        f = outputs[p]
        distances = [np.sum((f - task.encoding[j]) ** 2) for j in range(n)]
        return int(np.argmin(distances)) == task.table[p // n, p % n]
    assert snapshot.train_accuracy == pytest.approx(np.mean([correct(p) for p in task.train_pairs]))
    assert snapshot.test_accuracy == pytest.approx(np.mean([correct(p) for p in task.test_pairs]))
    # learned-function power: average of per-pair power
    per_pair = np.array([trainer.fourier.orbit_power(outputs[p]) for p in range(n * n)])
    np.testing.assert_allclose(snapshot.function_power, per_pair.mean(0), rtol=1e-5)
    np.testing.assert_allclose(snapshot.template_power, trainer.fourier.orbit_power(task.template),
                               atol=1e-12)
    assert snapshot.power.shape == (3, 6, len(trainer.irreps.orbits))


def test_majority_vote_splits_the_scores(small_trainer):
    trainer = small_trainer
    vote = trainer.majority_vote(2, 4)
    n = trainer.group.order
    outputs = trainer.all_outputs()
    scores = outputs[2 * n + 4] @ trainer.task.encoding.T
    np.testing.assert_allclose(vote.scores, scores, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(vote.per_orbit.sum(0), scores, rtol=1e-10, atol=1e-12)
    assert vote.correct == trainer.group.table[2, 4]
    runner_up = np.delete(scores, vote.correct).max()
    assert vote.margin == pytest.approx(scores[vote.correct] - runner_up)
    a, b, c = trainer.effective_functions()
    dominant = trainer.metrics().dominant_orbit
    for orbit in range(len(trainer.irreps.orbits)):
        members = dominant == orbit
        expected = ((a[members, 2] + b[members, 4]) ** 2) @ c[members]
        np.testing.assert_allclose(vote.per_orbit[orbit], expected, rtol=1e-10, atol=1e-12)
    margins = []
    for p in range(n * n):
        s = outputs[p] @ trainer.task.encoding.T
        k = trainer.group.table[p // n, p % n]
        margins.append(s[k] - np.delete(s, k).max())
    assert vote.table_fraction == pytest.approx(np.mean(np.array(margins) > 0))


def test_cross_entropy_outputs_metrics_against_direct_loops():
    config = RunConfig(group="D4", width=5, parameterisation="free", init_scale=1.0,
                       loss="cross_entropy", encoding="onehot", optimiser="gd",
                       learning_rate=0.05, train_fraction=0.6, precision="float64")
    trainer = Trainer(config)
    trainer.step(3)
    snapshot = trainer.metrics()
    task = trainer.task
    n = task.order
    outputs = trainer.all_outputs()

    def cross_entropy(p):
        f = outputs[p]
        return np.log(np.sum(np.exp(f - f.max()))) + f.max() - f[task.table[p // n, p % n]]

    assert snapshot.loss == pytest.approx(np.mean([cross_entropy(p) for p in task.train_pairs]),
                                          rel=1e-10)
    assert snapshot.loss == pytest.approx(trainer.loss_value(), rel=1e-10)
    right = [int(np.argmax(outputs[p])) == task.table[p // n, p % n] for p in range(n * n)]
    assert snapshot.train_accuracy == pytest.approx(np.mean([right[p] for p in task.train_pairs]))
    assert snapshot.test_accuracy == pytest.approx(np.mean([right[p] for p in task.test_pairs]))
    per_pair = np.array([trainer.fourier.orbit_power(outputs[p]) for p in range(n * n)])
    np.testing.assert_allclose(snapshot.function_power, per_pair.mean(0), rtol=1e-10)


@pytest.mark.parametrize("encoding", ["onehot", "template"])
def test_mean_squared_error_outputs_metrics_against_direct_loops(encoding):
    template = {"template_powers": [1.0, 2.0]} if encoding == "template" else {}
    config = RunConfig(group="D3", width=6, parameterisation="free", init_scale=1.0,
                       loss="mse", encoding=encoding, optimiser="gd", learning_rate=0.05,
                       train_fraction=0.7, precision="float64", **template)
    trainer = Trainer(config)
    trainer.step(2)
    snapshot = trainer.metrics()
    task = trainer.task
    n = task.order
    outputs = trainer.all_outputs()
    squared = [np.sum((outputs[p] - task.encoding[task.table[p // n, p % n]]) ** 2)
               for p in task.train_pairs]
    assert snapshot.loss == pytest.approx(np.sum(squared) / (len(squared) * n), rel=1e-10)
    assert snapshot.loss == pytest.approx(trainer.loss_value(), rel=1e-10)
    scores = outputs @ task.encoding.T
    right = [int(np.argmax(scores[p])) == task.table[p // n, p % n] for p in range(n * n)]
    assert snapshot.test_accuracy == pytest.approx(np.mean([right[p] for p in task.test_pairs]))
