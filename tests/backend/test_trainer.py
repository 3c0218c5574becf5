"""Trainer mechanics: determinism, divergence, perturbation, state, and the two
phenomena the presets are tuned to show (He et al. alignment, the AGF staircase)."""

import numpy as np
import pytest
import torch

from backend.config import ConfigError, RunConfig
from backend.presets import load_preset
from backend.training.trainer import CHECK_INTERVAL, Trainer, all_finite

SMALL = {
    "sphere-adam": dict(group="C7:C3", width=24, parameterisation="sphere", optimiser="adam",
                        learning_rate=0.01, stage_two_after=6, stage_two_scale="per_neuron"),
    "free-momentum-batch": dict(group="S3", width=16, parameterisation="free", loss="mse",
                                encoding="random_fourier", optimiser="gd", momentum=0.9,
                                learning_rate=0.05, init_scale=0.5, batch_size=11,
                                train_fraction=0.8),
    "scaled-template": dict(group="C7", width=16, parameterisation="free", loss="mse",
                            encoding="template", template_powers=[3.0, 2.0, 1.0],
                            optimiser="scaled_gd", learning_rate=0.05, init_scale=0.01),
    "adamw-gaussian-shared": dict(group="C8", width=12, parameterisation="free", loss="mse",
                                  encoding="gaussian", optimiser="adamw", weight_decay=0.1,
                                  shared_embedding=True, init_scale=0.3),
}


def snapshot(trainer):
    state = trainer.state_dict()
    return state["theta"].clone(), state["scale"]


@pytest.mark.parametrize("name", SMALL)
def test_same_trajectory_however_the_steps_are_split(name):
    config = RunConfig(**SMALL[name]).validate()
    whole, pieces = Trainer(config), Trainer(config)
    last = whole.step(10)
    steps_whole, losses_whole = whole.recent_losses()
    collected = []
    for k in (3, 1, 6):
        pieces.step(k)
        collected.append(pieces.recent_losses()[1])
    assert torch.equal(whole.theta, pieces.theta)
    assert whole.step_count == pieces.step_count == 10
    assert whole.stage == pieces.stage
    np.testing.assert_array_equal(np.concatenate(collected), losses_whole)
    np.testing.assert_array_equal(steps_whole, np.arange(10))
    assert last == losses_whole[-1]
    if isinstance(whole.scale, torch.Tensor):
        assert torch.equal(whole.scale, pieces.scale)


@pytest.mark.parametrize("name", ["sphere-adam", "scaled-template"])
def test_same_trajectory_whatever_the_thread_count(monkeypatch, name):
    """Blocks of two rows, so the step runs in two lanes: at once with two threads, one
    after the other with one; the weights and losses agree bit for bit."""
    import backend.training.network

    config = RunConfig(**SMALL[name]).validate()
    monkeypatch.setattr(backend.training.network, "STEP_BLOCK", 2 * 7 * config.width)
    threads = torch.get_num_threads()
    runs = []
    try:
        for count in (1, 2):
            torch.set_num_threads(count)
            trainer = Trainer(config)
            assert trainer.network.uses_lanes(config.width)
            trainer.step(9)
            runs.append((trainer.theta.clone(), trainer.recent_losses()[1]))
            assert torch.get_num_threads() == count
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(runs[0][0], runs[1][0])
    np.testing.assert_array_equal(runs[0][1], runs[1][1])


HELD_OUT = dict(group="C7", width=16, parameterisation="free", loss="mse",
                encoding="template", template_powers=[3.0, 2.0, 1.0], optimiser="gd",
                learning_rate=0.05, init_scale=0.5, train_fraction=0.7, precision="float64")


@pytest.mark.parametrize("config", [SMALL["sphere-adam"], SMALL["free-momentum-batch"],
                                    HELD_OUT], ids=["all-pairs", "minibatch", "held-out"])
def test_metrics_then_step_matches_metrics_and_step(config):
    config = RunConfig(**config).validate()
    plain, reusing = Trainer(config), Trainer(config)
    plain.step(4)
    reusing.step(4)
    expected = plain.metrics()
    plain.step(5)
    got = reusing.metrics_then_step(5)
    assert torch.equal(plain.theta, reusing.theta)
    assert reusing.step_count == plain.step_count == 9
    assert got.step == expected.step == 4
    assert got.loss == pytest.approx(expected.loss, rel=1e-6)
    assert got.train_accuracy == expected.train_accuracy
    assert got.test_accuracy == expected.test_accuracy
    np.testing.assert_allclose(got.function_power, expected.function_power, rtol=1e-5)
    np.testing.assert_array_equal(got.power, expected.power)
    np.testing.assert_array_equal(got.dominant_orbit, expected.dominant_orbit)


def test_metrics_then_step_after_a_divergence_only_measures():
    trainer = Trainer(RunConfig(**SMALL["sphere-adam"]).validate())
    trainer.step(3)
    trainer.divergence = "diverged for this test"
    snapshot = trainer.metrics_then_step(4)
    assert snapshot.step == trainer.step_count == 3
    assert np.isfinite(snapshot.loss)


def test_different_seeds_differ_and_reinitialise_matches_a_fresh_trainer():
    config = RunConfig(**SMALL["sphere-adam"]).validate()
    trainer = Trainer(config)
    trainer.step(8)
    trainer.reinitialise(5)
    fresh = Trainer(config.replace(seed=5))
    assert torch.equal(trainer.theta, fresh.theta)
    assert trainer.step_count == 0 and trainer.stage == "stage I"
    assert not torch.equal(fresh.theta, Trainer(config).theta)


def test_state_dict_round_trip_continues_exactly(tmp_path):
    from backend.recording import MetricHistory
    from backend.run_directory import RunDirectory

    config = RunConfig(**SMALL["free-momentum-batch"]).validate()
    original = Trainer(config)
    original.step(7)
    directory = RunDirectory(tmp_path / "run")
    directory.prepare()
    directory.write_config(config)
    directory.commit(config, original.state_dict(), MetricHistory())
    loaded_config, state, _ = RunDirectory.load(tmp_path / "run")
    restored = Trainer(loaded_config)
    restored.load_state_dict(state)
    original.step(9)
    restored.step(9)
    assert torch.equal(original.theta, restored.theta)
    np.testing.assert_array_equal(original.recent_losses()[1], restored.recent_losses()[1])


def test_stage_two_freezes_directions_and_trains_the_scale():
    config = RunConfig(**SMALL["sphere-adam"]).validate()
    trainer = Trainer(config)
    trainer.step(6)
    directions = trainer.theta.clone()
    trainer.step(5)
    assert trainer.stage == "stage II"
    assert torch.equal(trainer.theta, directions)
    assert trainer.scale.shape == (24,)
    assert not torch.allclose(trainer.scale, torch.full((24,), 1.0 / 24))
    losses = trainer.recent_losses()[1]
    assert losses[-1] < losses[0]


def test_divergence_stops_restores_and_explains():
    config = RunConfig(group="C5", width=8, parameterisation="free", loss="mse", optimiser="gd",
                       learning_rate=1e4, init_scale=1.0, encoding="random_fourier").validate()
    trainer = Trainer(config)
    trainer.step(3 * CHECK_INTERVAL)
    assert trainer.divergence is not None
    assert "learning rate" in trainer.divergence and "diverged" in trainer.divergence
    assert torch.isfinite(trainer.theta).all()
    assert np.isfinite(trainer.loss_value())
    frozen = trainer.theta.clone()
    count = trainer.step_count
    assert trainer.step(5) == trainer._last_loss
    assert torch.equal(trainer.theta, frozen) and trainer.step_count == count
    trainer.set_learning_rate(1e-3)
    assert trainer.divergence is None
    trainer.step(2)
    assert trainer.step_count == count + 2


def test_restore_falls_back_to_the_older_remembered_state_intact():
    """The two remembered states reuse each other's memory from call to call; restoring
    must still find the older one as it was when the newest turns out to be bad."""
    config = RunConfig(**SMALL["sphere-adam"]).validate()
    trainer = Trainer(config)
    for k in (2, 3, 1, 1):  # the remembered states are now steps 6 and 7, in reused buffers
        trainer.step(k)
    older_theta = trainer._older_good_state["theta"].clone()
    older_moment = trainer._older_good_state["optimiser"]["first"].clone()
    assert trainer._older_good_state["step_count"] == 6
    trainer._good_state["theta"].fill_(float("inf"))  # the newest state's loss is not finite
    trainer._restore_good_state()
    assert trainer.step_count == 6
    assert torch.equal(trainer.theta, older_theta)
    assert torch.equal(trainer.optimiser.first, older_moment)
    trainer.step(1)
    assert torch.equal(trainer._older_good_state["theta"], older_theta)


def test_perturb_touches_only_the_chosen_neurons():
    config = RunConfig(**SMALL["sphere-adam"]).validate()
    trainer = Trainer(config)
    before = trainer.theta.clone()
    trainer.perturb([1, 5], relative_scale=0.3, seed=2)
    changed = (trainer.theta != before).any(dim=(0, 1))
    assert changed.nonzero().flatten().tolist() == [1, 5]
    torch.testing.assert_close(trainer.theta.norm(dim=1), torch.ones(3, 24))
    again = Trainer(config)
    again.perturb([1, 5], relative_scale=0.3, seed=2)
    assert torch.equal(again.theta, trainer.theta)
    with pytest.raises(ConfigError, match="neuron index 99"):
        trainer.perturb([99], 0.1, 0)


def test_refusals_name_the_problem():
    with pytest.raises(ConfigError, match="commutative"):
        Trainer(RunConfig(group="S3", shared_embedding=True, width=4))
    with pytest.raises(ConfigError, match="template_powers has 4 entries"):
        Trainer(RunConfig(group="C5", encoding="template", loss="mse",
                          template_powers=[1.0, 1.0, 1.0, 1.0], width=4))
    from backend.groups import GroupError

    with pytest.raises(GroupError):
        Trainer(RunConfig(group="Q7", width=4))


def test_frobenius21_sphere_aligns_and_turns_rank_one():
    """He et al.: sparsity → 1, ĉ ∝₊ b̂ â, rank-one coefficients on the 3-dim orbit."""
    config = load_preset("frobenius21-sphere")
    trainer = Trainer(config)
    trainer.step(config.stage_two_after)
    snapshot = trainer.metrics()
    assert snapshot.mean_sparsity >= 0.95
    assert snapshot.mean_alignment >= 0.99
    fractions = snapshot.rank_one_fraction(trainer.spectral.orbit_dims)
    assert fractions["3"] >= 0.9
    assert snapshot.train_accuracy == 1.0


def find_plateaus(losses, window, tolerance=0.005):
    """(start, end, level) of stretches at least ``window`` long that stay within a
    relative ``tolerance`` of their mean."""
    plateaus, i = [], 0
    while i + window <= len(losses):
        level = losses[i : i + window].mean()
        if np.all(np.abs(losses[i : i + window] - level) <= tolerance * max(level, 1e-3)):
            j = i + window
            while j < len(losses) and abs(losses[j] - level) <= tolerance * max(level, 1e-3):
                j += 1
            plateaus.append((i, j, losses[i:j].mean()))
            i = j
        else:
            i += window // 2
    return plateaus


def test_c11_agf_plateaus_sit_at_the_unlearned_template_power():
    """Every plateau is within 2 % of (1/n) Σ_{unlearned O} P_O(t), and all five
    non-zero levels 37.5/11, 25/11, 15/11, 7.5/11 and 2.5/11 appear."""
    config = load_preset("c11-agf")
    trainer = Trainer(config)
    trainer.step(12000)
    losses = trainer.recent_losses()[1]
    powers = trainer.task.template_power[1:]
    np.testing.assert_allclose(powers, [12.5, 10, 7.5, 5, 2.5], rtol=1e-12)
    n = trainer.group.order
    levels = np.array([powers[k:].sum() / n for k in range(len(powers))])
    plateaus = find_plateaus(losses, window=len(losses) // 100)
    assert plateaus, "no plateau found"
    seen = set()
    for start, end, level in plateaus:
        errors = np.abs(level - levels) / levels
        assert errors.min() <= 0.02, f"plateau at {level:.4f} (steps {start}-{end}) off {levels}"
        seen.add(int(errors.argmin()))
    assert seen == set(range(len(levels)))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_all_finite_sees_every_kind_of_non_finite_entry(dtype):
    values = torch.full((3, 5, 7), torch.finfo(dtype).max, dtype=dtype)
    assert all_finite(values)  # huge but finite: no overflow in the check
    assert all_finite(torch.zeros(0, dtype=dtype))
    for bad in (float("inf"), float("-inf"), float("nan")):
        broken = values.clone()
        broken[2, 4, 6] = bad
        assert not all_finite(broken)
