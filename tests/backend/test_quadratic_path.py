"""The exact quadratic path (mathematics reference, section 6) against the dense path,
finite differences and a direct sum; the dispatcher; the memory check; sampled metrics."""

import numpy as np
import pytest
import torch

from backend.config import ConfigError, RunConfig, key_help
from backend.groups.spec import parse_group
from backend.memory_estimate import check_memory, fixed_bytes, gram_bytes
from backend.pair_sample import (
    SAMPLED_PAIRS,
    metric_pair_sample,
    sampled_label,
    sampled_label_forms,
)
from backend.spectral import SpectralTools
from backend.training.quadratic_path import TripleCorrelation, gather_triple_correlation
from backend.training.step_path import choose_step_path, exact_path_obstacles
from backend.training.trainer import Trainer


@pytest.fixture(scope="module")
def table_file(tmp_path_factory):
    """D5's Cayley table written to a CSV file of indices (a table-file group)."""
    group = parse_group("D5")
    path = tmp_path_factory.mktemp("tables") / "d5.csv"
    path.write_text("\n".join(",".join(str(v) for v in row) for row in group.table) + "\n")
    return str(path)


def pair_of_trainers(precision="float64", **keys):
    """A dense and an exact trainer of the same configuration (the same weights)."""
    values = dict(loss="mse", width=9, precision=precision, init_scale=1.0, device="cpu")
    values.update(keys)
    dense = Trainer(RunConfig(**values, step_path="dense"))
    exact = Trainer(RunConfig(**values, step_path="exact"))
    assert dense.step_path == "dense" and exact.step_path == "exact"
    return dense, exact


def relative(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


CASES = {
    "C5 one-hot free": dict(group="C5", parameterisation="free"),
    "D4 template sphere": dict(group="D4", encoding="template",
                               template_powers=[1.0, 2.0, 3.0, 4.0], parameterisation="sphere"),
    "S4 template free": dict(group="S4", encoding="template", template_powers=[3.0, 1.0, 2.0],
                             parameterisation="free"),
    "A5 gaussian free": dict(group="A5", encoding="gaussian", parameterisation="free"),
    "Q8xS3 one-hot sphere": dict(group="Q8xS3", parameterisation="sphere"),
    "C12 shared random template": dict(group="C12", encoding="random_fourier",
                                       shared_embedding=True, parameterisation="free"),
    "C7:C3 one-hot shared-less sphere": dict(group="C7:C3", parameterisation="sphere"),
}


@pytest.mark.parametrize("precision, tolerance", [("float64", 1e-10), ("float32", 1e-5)])
@pytest.mark.parametrize("case", CASES)
def test_loss_and_gradient_equal_the_dense_path(case, precision, tolerance):
    dense, exact = pair_of_trainers(precision, **CASES[case])
    loss_dense, _ = dense._loss_and_gradient(dense.scale, None)
    loss_exact, _ = exact._loss_and_gradient(exact.scale, None)
    assert abs(float(loss_exact) / float(loss_dense) - 1) < tolerance
    assert relative(exact.grad.double(), dense.grad.double()) < tolerance


def test_a_table_file_group_matches_the_dense_path(table_file):
    dense, exact = pair_of_trainers(group=table_file, encoding="template",
                                    template_powers=[2.0, 1.0, 0.5], parameterisation="free")
    loss_dense, _ = dense._loss_and_gradient(dense.scale, None)
    loss_exact, _ = exact._loss_and_gradient(exact.scale, None)
    assert abs(float(loss_exact) / float(loss_dense) - 1) < 1e-10
    assert relative(exact.grad, dense.grad) < 1e-10


@pytest.mark.parametrize("precision, tolerance", [("float64", 1e-10), ("float32", 1e-5)])
def test_per_neuron_scales_match_the_dense_path(precision, tolerance):
    dense, exact = pair_of_trainers(precision, group="S4", parameterisation="sphere",
                                    stage_two_scale="per_neuron")
    scales = torch.linspace(0.2, 1.7, 9, dtype=dense.dtype)
    for trainer in (dense, exact):
        trainer.start_stage_two()
        trainer.scale = scales.clone()
    loss_dense, scale_dense = dense._loss_and_gradient(dense.scale, None,
                                                       need_theta_grad=False)
    loss_exact, scale_exact = exact._loss_and_gradient(exact.scale, None,
                                                       need_theta_grad=False)
    assert abs(float(loss_exact) / float(loss_dense) - 1) < tolerance
    assert relative(scale_exact.double(), scale_dense.double()) < tolerance
    # and the weights' gradient under per-neuron scales
    dense._loss_and_gradient(dense.scale, None)
    exact._loss_and_gradient(exact.scale, None)
    assert relative(exact.grad.double(), dense.grad.double()) < tolerance


@pytest.mark.parametrize("case", ["S4 template free", "Q8xS3 one-hot sphere",
                                  "C12 shared random template"])
def test_gradient_equals_finite_differences(case):
    _, exact = pair_of_trainers(**CASES[case])
    exact._loss_and_gradient(exact.scale, None)
    gradient = exact.grad.clone()
    generator = torch.Generator().manual_seed(3)
    for _ in range(3):
        direction = torch.randn(exact.theta.shape, generator=generator, dtype=torch.float64)
        step = 1e-5
        with torch.no_grad():
            plus = exact.exact.loss(exact.theta + step * direction, exact.scale)
            minus = exact.exact.loss(exact.theta - step * direction, exact.scale)
        numerical = float(plus - minus) / (2 * step)
        analytic = float((gradient * direction).sum())
        assert abs(numerical - analytic) < 1e-6 * max(1.0, abs(analytic))


@pytest.mark.parametrize("group", ["S4", "C7:C3", "Q8", "C3xC5", "D6"])
def test_triple_correlation_by_fourier_and_by_the_table_equals_the_direct_sum(group):
    finite = parse_group(group)
    n = finite.order
    generator = torch.Generator().manual_seed(1)
    a, b, c = (torch.randn((n, 4), generator=generator, dtype=torch.float64)
               for _ in range(3))
    table = torch.tensor(np.array(finite.table))
    # direct: Σ_m Σ_{g1,g2} a(g1) b(g2) c(g1 g2), one pair at a time
    direct = sum(float((a[i] * b[j] * c[int(table[i, j])]).sum())
                 for i in range(n) for j in range(n))
    fourier = TripleCorrelation(SpectralTools.of(finite).irrep_set, torch.device("cpu"),
                                torch.float64)
    assert float(fourier(a, b, c)) == pytest.approx(direct, rel=1e-12)
    assert float(gather_triple_correlation(a, b, c, table, block_values=50)) == (
        pytest.approx(direct, rel=1e-12))


RUNS = {
    "gd momentum": dict(group="S4", encoding="template", template_powers=[3.0, 2.0, 1.0],
                        parameterisation="free", optimiser="gd", momentum=0.9,
                        learning_rate=0.05, init_scale=0.1),
    "scaled gd with log": dict(group="D4", encoding="template",
                               template_powers=[2.0, 1.0, 1.0, 3.0],
                               parameterisation="free", optimiser="scaled_gd",
                               scaled_log_factor=True, learning_rate=0.02, init_scale=0.1),
    "scaled gd": dict(group="C5", parameterisation="free", optimiser="scaled_gd",
                      learning_rate=1.0, init_scale=0.3),
    "adam": dict(group="C7:C3", parameterisation="free", optimiser="adam",
                 learning_rate=0.01, init_scale=0.1),
    "adamw decay shared": dict(group="C12", encoding="gaussian", shared_embedding=True,
                               parameterisation="free", optimiser="adamw",
                               weight_decay=0.1, learning_rate=0.01, init_scale=0.1),
    "gd decay": dict(group="C5", parameterisation="free", optimiser="gd",
                     weight_decay=0.001, learning_rate=2.0, init_scale=0.5),
    "sphere projected, stage II per neuron": dict(
        group="S4", parameterisation="sphere", optimiser="gd", learning_rate=0.5,
        sphere_scale=20.0, stage_two_after=150, stage_two_scale="per_neuron",
        stage_two_learning_rate=0.05),
    "sphere adam, stage II tied": dict(
        group="D4", encoding="template", template_powers=[1.0, 2.0, 3.0, 4.0],
        parameterisation="sphere", optimiser="adam", learning_rate=0.01, sphere_scale=20.0,
        stage_two_after=150, stage_two_learning_rate=0.05),
}


@pytest.mark.parametrize("name", RUNS)
def test_a_whole_run_follows_the_dense_loss_curve(name):
    dense, exact = pair_of_trainers(**RUNS[name], width=12)
    dense.step(300)
    exact.step(300)
    _, dense_losses = dense.recent_losses()
    _, exact_losses = exact.recent_losses()
    assert dense_losses[-1] < 0.9 * dense_losses[0]  # the run learns something
    assert np.max(np.abs(exact_losses / dense_losses - 1)) < 1e-6
    assert exact.stage == dense.stage


# --------------------------------------------------------------------- dispatcher
OBSTACLES = {
    "relu": (dict(activation="relu"), "activation = 'relu'"),
    "cross-entropy": (dict(loss="cross_entropy"), "loss = 'cross_entropy'"),
    "held-out split": (dict(train_fraction=0.5), "train_fraction = 0.5 holds pairs out"),
    "minibatch": (dict(batch_size=32), "batch_size = 32 draws minibatches"),
}


@pytest.mark.parametrize("name", OBSTACLES)
def test_auto_takes_the_dense_path_where_the_identity_does_not_hold(name):
    keys, reason = OBSTACLES[name]
    values = dict(group="S5", width=1024, loss="mse", parameterisation="free")
    values.update(keys)
    config = RunConfig(**values)
    assert choose_step_path(config, 120) == "dense"
    assert any(reason in text for text in exact_path_obstacles(config, 120))
    with pytest.raises(ConfigError, match="step_path = 'exact' needs .*" + reason.replace(
            "(", r"\(").split(" (")[0]):
        RunConfig(**values, step_path="exact").validate()


def test_a_batch_of_every_pair_is_not_a_minibatch():
    config = RunConfig(group="C5", loss="mse", batch_size=25)
    assert exact_path_obstacles(config, 5) == []
    assert exact_path_obstacles(config, 6) != []


def test_auto_picks_exact_on_large_groups_and_dense_on_small_ones():
    mse = dict(loss="mse", parameterisation="free")
    assert choose_step_path(RunConfig(group="S5", width=1024, **mse), 120) == "exact"
    assert choose_step_path(RunConfig(group="S6", width=2048, **mse), 720) == "exact"
    assert choose_step_path(RunConfig(group="C7:C3", width=512, **mse), 21) == "dense"
    assert choose_step_path(RunConfig(group="S5", width=256, **mse), 120) == "exact"
    assert choose_step_path(RunConfig(group="D30", width=512, **mse), 60) == "dense"
    assert choose_step_path(RunConfig(group="S5", width=4096, **mse), 120) == "dense"
    # on a GPU the dense products stay faster up to order ~200 (H200: S5 dense 2.4× faster)
    assert choose_step_path(RunConfig(group="S5", width=1024, **mse), 120, "cuda") == "dense"
    assert choose_step_path(RunConfig(group="A6", width=1024, **mse), 360, "cuda") == "exact"
    assert choose_step_path(RunConfig(group="S6", width=2048, step_path="dense", **mse),
                            720) == "dense"


def test_the_key_is_documented_with_its_paths():
    (help_text,) = [text for key, _, text, allowed in key_help() if key == "step_path"]
    assert "exact" in help_text and "dense" in help_text and "auto" in help_text


# --------------------------------------------------------------------- memory
def test_an_impossible_width_is_refused_before_any_work_with_the_estimate_and_the_fix():
    config = RunConfig(group="S6", width=50_000_000, loss="mse", parameterisation="free")
    with pytest.raises(ConfigError, match=r"needs at least [\d.]+ GiB .*width = \d+ or less"):
        Trainer(config)
    dense = RunConfig(group="S5", width=256, loss="mse", step_path="dense")
    targets = fixed_bytes(dense, 120, "dense")
    with pytest.raises(ConfigError, match="step_path = 'exact'"):
        check_memory(dense, 120, available=targets, step_path="dense")
    check_memory(dense, 120, available=targets, step_path="exact")


def test_the_exact_path_needs_no_pair_targets_but_its_gram_matrices():
    config = RunConfig(group="S6", width=2048, loss="mse")
    assert fixed_bytes(config, 720, "exact") == 0 < fixed_bytes(config, 720, "dense")
    assert gram_bytes(config, 2048, "exact") == 8 * 4 * 2048**2
    assert gram_bytes(config, 2048, "dense") == 0


# --------------------------------------------------------------------- metrics
@pytest.fixture(scope="module")
def large_exact_trainer():
    config = RunConfig(group="S5", width=64, loss="mse", encoding="template",
                       template_powers=[2.0, 1.0, 3.0], parameterisation="free",
                       init_scale=1.0, optimiser="gd", learning_rate=0.01)
    trainer = Trainer(config)
    trainer.step(2)
    return trainer


def test_a_large_group_on_the_exact_path_never_forms_the_targets(large_exact_trainer):
    trainer = large_exact_trainer
    assert trainer.step_path == "exact" and trainer.metric_pairs is not None
    trainer.metrics()
    trainer.majority_vote(3, 4)
    assert trainer.network._targets is None


def test_sampled_metrics_are_the_figures_of_the_sampled_pairs(large_exact_trainer):
    trainer = large_exact_trainer
    snapshot = trainer.metrics()
    pairs = trainer.metric_pairs
    assert snapshot.sampled_pairs == SAMPLED_PAIRS == len(pairs) == len(np.unique(pairs))
    assert snapshot.loss == pytest.approx(trainer.loss_value(), rel=1e-12)
    # independent: every pair's outputs from the dense forward, then the sample's rows
    outputs = trainer.all_outputs()[pairs]
    scores = outputs @ trainer.task.encoding.T
    classes = trainer.task.table.reshape(-1)[pairs]
    assert snapshot.train_accuracy == pytest.approx(np.mean(scores.argmax(1) == classes))
    transform = trainer.fourier
    power = transform.orbit_power(outputs).mean(axis=0)
    np.testing.assert_allclose(snapshot.function_power, power, rtol=1e-4, atol=1e-9)
    vote = trainer.majority_vote(1, 2)
    margins = scores[np.arange(len(pairs)), classes] - np.where(
        np.arange(scores.shape[1])[None, :] == classes[:, None], -np.inf, scores).max(1)
    assert vote.sampled_pairs == len(pairs)
    assert vote.table_fraction == pytest.approx(np.mean(margins > 0))


def test_the_pair_sample_is_fixed_and_small_groups_use_every_pair():
    first, second = metric_pair_sample(120, 0), metric_pair_sample(120, 0)
    np.testing.assert_array_equal(first, second)
    assert not np.array_equal(first, metric_pair_sample(120, 1))
    assert metric_pair_sample(60, 0) is None
    assert sampled_label("accuracy", 4096) == "accuracy, 4096 sampled pairs"
    assert sampled_label("accuracy", 0) == "accuracy"
    forms = sampled_label_forms("power", 4096)
    assert forms[0] == sampled_label("power", 4096) and forms[-1] == "power…"
    assert [len(f) for f in forms] == sorted((len(f) for f in forms), reverse=True)
    assert sampled_label_forms("power", 0) == ["power"]


def test_small_groups_keep_exact_metrics_on_the_exact_path():
    trainer = Trainer(RunConfig(group="S4", width=8, loss="mse", step_path="exact"))
    snapshot = trainer.metrics()
    assert snapshot.sampled_pairs == 0
    dense = Trainer(RunConfig(group="S4", width=8, loss="mse", step_path="dense")).metrics()
    assert snapshot.train_accuracy == dense.train_accuracy
    assert snapshot.loss == pytest.approx(dense.loss, rel=1e-5)
