"""The sweep file: validation before anything starts, and the expansion into runs."""

import pytest

from backend.presets import load_preset
from backend.sweeps.spec import LARGE_SWEEP, SweepSpecError, count_runs, load_sweep, parse_sweep

TINY = """
[sweep]
preset = "z3xz5-sphere"
seeds = [3, 5]

[base]
width = 8
steps = 20

[grid]
group = ["C5", "D3"]
learning_rate = [0.01, 0.1, 1.0]
"""


def test_runs_are_the_cartesian_product_in_file_order_with_the_seed_last():
    spec = parse_sweep(TINY)
    assert len(spec.runs) == 2 * 3 * 2 == count_runs(spec.grid, spec.seeds)
    assert spec.swept_keys == ["group", "learning_rate", "seed"]
    combos = [(r.config.group, r.config.learning_rate, r.config.seed) for r in spec.runs]
    expected = [(g, lr, s) for g in ("C5", "D3") for lr in (0.01, 0.1, 1.0) for s in (3, 5)]
    assert combos == expected
    preset = load_preset("z3xz5-sphere")
    for run in spec.runs:
        assert run.config.width == 8 and run.config.steps == 20
        assert run.config.optimiser == preset.optimiser
        assert run.config.stage_two_after == preset.stage_two_after
    assert len({run.run_id for run in spec.runs}) == len(spec.runs)
    assert spec.runs[7].run_id == "007_group=D3_learning_rate=0.01_seed=5"


def test_seeds_as_a_count_and_on_both_seed_keys():
    spec = parse_sweep('[sweep]\nseeds = 3\nseed_keys = ["seed", "data_seed"]\n'
                       '[base]\nencoding = "random_fourier"\nloss = "mse"\n')
    assert [(r.config.seed, r.config.data_seed) for r in spec.runs] == [(0, 0), (1, 1), (2, 2)]
    assert [r.values for r in spec.runs] == [{"seed": 0}, {"seed": 1}, {"seed": 2}]


def test_group_specs_with_colons_give_plain_folder_names():
    spec = parse_sweep('[grid]\ngroup = ["C7:C3"]\ntemplate_powers = [[1.0, 2.5]]\n'
                       '[base]\nencoding = "template"\nloss = "mse"\n')
    assert spec.runs[0].run_id == "000_group=C7-C3_template_powers=1-2.5"


@pytest.mark.parametrize(
    "text, words",
    [
        ("[sweep]\nseeds = 2\n[grids]\nwidth = [1]\n", ["grids", "did you mean 'grid'"]),
        ("[sweep]\nseed = 2\n", ["unknown key 'seed' in [sweep]", "did you mean 'seeds'"]),
        ("[sweep]\nseeds = 2\n[base]\nwidht = 3\n", ["'widht'", "did you mean 'width'"]),
        ("[grid]\nlearning_rat = [1.0]\n", ["'learning_rat'", "[grid]"]),
        ("[grid]\nwidth = []\n", ["width", "is empty"]),
        ("[sweep]\nname = 'x'\n", ["sweeps nothing"]),
        ("[grid]\nwidth = 8\n", ["must be a list", "width = [8]"]),
        ("[grid]\nactivation = ['relu', 'sigmod']\n", ["'sigmod'", "choose one of"]),
        ("[grid]\ngroup = ['C5', 'Q7']\n", ["group 'Q7'"]),
        ("[sweep]\ncompute = 'everything'\nseeds = 1\n", ["compute", "'training' or 'agf'"]),
        ("[sweep]\nseeds = 0\n", ["seeds = 0"]),
        ("[sweep]\nseeds = [1, 1]\n", ["repeats"]),
        ("[sweep]\nseeds = 2\n[grid]\nseed = [1, 2]\n", ["'seed'", "seeds already set"]),
        ("[sweep]\nseeds = 2\nseed_keys = ['width']\n", ["seed_keys", "'width'"]),
        ("[sweep]\npreset = 'nope'\nseeds = 1\n", ["unknown preset 'nope'"]),
        ("[sweep]\ncompute = 'agf'\npreset = 'z3xz5-sphere'\nseeds = 1\n",
         ["compute = 'agf'", "parameterisation"]),
        ("[sweep\nseeds = 1\n", ["not valid TOML"]),
    ],
)
def test_bad_sweep_files_are_refused_in_one_line_naming_the_problem(text, words):
    with pytest.raises(SweepSpecError) as caught:
        parse_sweep(text, source="s.toml")
    message = str(caught.value)
    assert "\n" not in message
    for word in words:
        assert word in message


def test_thousands_of_runs_need_yes():
    text = f"[sweep]\nseeds = {LARGE_SWEEP + 1}\n"
    with pytest.raises(SweepSpecError, match="--yes"):
        parse_sweep(text)
    assert len(parse_sweep(text, allow_large=True).runs) == LARGE_SWEEP + 1


def test_same_sweep_ignores_layout_but_not_content(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(TINY)
    spec = load_sweep(path)
    assert spec.same_sweep_as("# a comment\n" + TINY.replace('"C5", "D3"', "'C5','D3'"))
    assert not spec.same_sweep_as(TINY.replace("seeds = [3, 5]", "seeds = [3, 6]"))
    with pytest.raises(SweepSpecError, match="does not exist"):
        load_sweep(tmp_path / "missing.toml")


def test_the_question_sweeps_are_valid():
    from pathlib import Path

    folder = Path(__file__).resolve().parents[3] / "resources" / "sweeps"
    sizes = {path.stem: len(load_sweep(path).runs) for path in folder.glob("*.toml")}
    assert sizes == {"diversification-c3xc5": 8, "nonabelian-shares": 24,
                     "agf-order-random-templates": 24}
    agf = load_sweep(folder / "agf-order-random-templates.toml")
    assert agf.compute == "agf"
    assert all(run.config.seed == run.config.data_seed for run in agf.runs)
