"""RunConfig: TOML round trip, --set overrides and refusals that name the key."""

import pytest

from backend.config import ConfigError, RunConfig, known_keys, parse_assignment
from backend.presets import DEFAULT_PRESET, list_presets, load_preset, preset_names

ISSUE_PRESETS = {"frobenius21-sphere", "z3xz5-sphere", "c11-agf", "d3-agf-onehot", "a5-agf",
                 "s4-onehot", "c31-grokking", "s6-agf", "s5-sphere-mse"}


def test_toml_round_trip(tmp_path):
    config = RunConfig(group="C12", template_powers=[1.0, 2.5], encoding="template",
                       loss="mse", width=17, shared_embedding=True, learning_rate=3e-4)
    path = tmp_path / "config.toml"
    config.to_toml(path)
    assert RunConfig.from_toml(path) == config
    assert [p.name for p in tmp_path.iterdir()] == ["config.toml"]


def test_overrides_parse_toml_values_and_bare_words():
    config = RunConfig().with_overrides(
        ["learning_rate=1e-3", "group=C3xC5", "width=64", "shared_embedding=true",
         "template_powers=[1, 2]", "encoding = template", "loss=mse"]
    )
    assert config.learning_rate == 1e-3 and isinstance(config.learning_rate, float)
    assert config.group == "C3xC5" and config.width == 64 and config.shared_embedding is True
    assert config.template_powers == [1.0, 2.0]
    assert config.encoding == "template"
    assert parse_assignment("sphere_scale=2") == ("sphere_scale", 2)
    assert RunConfig().with_overrides(["sphere_scale=2"]).sphere_scale == 2.0


@pytest.mark.parametrize(
    "assignment, message",
    [
        ("lerning_rate=0.1", r"unknown key 'lerning_rate' in --set \(did you mean 'learning_rate'"),
        ("activation=sqare", r"activation = 'sqare' is not allowed; choose one of 'square'.*did "
                             r"you mean 'square'"),
        ("width=0", r"width = 0 must be at least 1"),
        ("width=2.5", r"width = 2.5 is not a whole number"),
        ("learning_rate=-1", r"learning_rate = -1.0 must be positive"),
        ("momentum=1", r"momentum = 1.0 must be in \[0, 1\)"),
        ("train_fraction=0", r"train_fraction = 0.0 must be in \(0, 1\]"),
        ("shared_embedding=maybe", r"shared_embedding = 'maybe' is not true or false"),
        ("device=tpu", r"device = 'tpu' is not allowed; choose one of 'auto', 'cpu', 'cuda'"),
        ("learning_rate", r"write key=value"),
        ("encoding=gaussian", r"loss = 'cross_entropy' needs encoding = 'onehot'"),
        ("optimiser=scaled_gd", r"scaled_gd.*sphere"),
    ],
)
def test_bad_values_are_refused_by_name(assignment, message):
    with pytest.raises(ConfigError, match=message):
        RunConfig().with_overrides([assignment])


def test_unknown_key_in_a_file_lists_the_known_keys(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('group = "C5"\nwidht = 3\n')
    with pytest.raises(ConfigError) as error:
        RunConfig.from_toml(path)
    text = str(error.value)
    assert "unknown key 'widht'" in text and "did you mean 'width'" in text
    assert all(key in text for key in known_keys())


def test_template_needs_powers_and_unreadable_files_are_reported(tmp_path):
    with pytest.raises(ConfigError, match="template_powers"):
        RunConfig(encoding="template", loss="mse").validate()
    with pytest.raises(ConfigError, match="does not exist"):
        RunConfig.from_toml(tmp_path / "missing.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("group = ")
    with pytest.raises(ConfigError, match="not valid TOML"):
        RunConfig.from_toml(broken)


def test_presets_are_complete_and_valid():
    assert set(preset_names()) == ISSUE_PRESETS
    assert preset_names()[0] == DEFAULT_PRESET
    for name, description in list_presets():
        config = load_preset(name)
        assert config.preset == name
        assert description and "\n" not in description
    assert load_preset("c11-agf").template_powers == [12.5, 10.0, 7.5, 5.0, 2.5]
    with pytest.raises(ConfigError, match="unknown preset 'c11agf'.*did you mean 'c11-agf'"):
        load_preset("c11agf")


def test_the_grokking_preset_fits_first_and_generalises_later():
    """Training pairs fitted within 1000 steps while the held-out pairs are still mostly
    wrong; thousands of steps later most held-out pairs are right (docs/training.md)."""
    from backend.training.trainer import Trainer

    trainer = Trainer(load_preset("c31-grokking"))
    trainer.step(1000)
    early = trainer.metrics()
    assert early.train_accuracy == 1.0 and early.test_accuracy < 0.3
    trainer.step(9000)
    late = trainer.metrics()
    assert late.train_accuracy == 1.0 and late.test_accuracy > 0.6
