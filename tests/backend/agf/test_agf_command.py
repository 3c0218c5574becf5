"""End-to-end: python main.py agf ... prints the tables and writes the JSON keys."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest
import torch

from backend.cli import main


def test_agf_command_with_compare_writes_the_documented_keys(tmp_path, capsys):
    """A shortened c11-agf run (2500 steps: the first three drops; width 64, which learns
    them at steps 915, 1287 and 1653, a quarter of the preset's cost)."""
    out = tmp_path / "agf.json"
    code = main(["agf", "--preset", "c11-agf", "--set", "steps=2500", "--set", "width=64",
                 "--compare", "--quiet", "--json", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "AGF (closed form)" in printed and "AGF (simulated)" in printed
    assert "AGF against gradient descent" in printed and "inside AGF's regime" in printed
    data = json.loads(out.read_text(encoding="utf-8"))
    assert set(data) == {"regime", "rounds", "closed_form", "closed_form_timing", "simulated",
                         "simulated_seconds", "simulated_drops", "optimiser_steps",
                         "optimiser_evaluations", "relaxation_evaluations",
                         "closed_form_seconds", "measured",
                         "comparison", "gd_seconds", "simulated_problem", "simulated_spike",
                         "gd_climb"}
    assert data["gd_climb"] is None  # a staircase: gradient descent never climbs
    assert data["simulated_problem"] == "dense"  # C11 is below the exact problem's order
    assert "on the dense problem" in printed
    assert data["simulated_drops"] == "optimiser" and data["optimiser_steps"] > 0  # default
    assert data["regime"]["inside"] is True
    assert len(data["rounds"]) >= 3, "k=±1, ±2 and ±3 activate within 2500 steps"
    assert set(data["rounds"][0]) == {"round", "step", "orbits", "neurons", "loss_before",
                                      "loss_after", "dropped", "level_step"}
    assert all(r["level_step"] >= r["step"] for r in data["rounds"])
    closed = data["closed_form"]
    assert [p["orbit"] for p in closed] == ["k=±1", "k=±2", "k=±3", "k=±4", "k=±5"]
    assert set(closed[0]) == {"orbit", "dim", "utility", "step", "step_lower_bound", "level"}
    assert closed[0]["step"] is not None and closed[1]["step"] is None  # scaled SGD
    # the header names the changes; the comparison gives a lower bound as one, no error
    assert printed.startswith("AGF for C11 (c11-agf with steps=2500, width=64)")
    table = printed[printed.index("AGF against gradient descent"):].splitlines()
    second = next(line for line in table if line.startswith(" 2 |"))
    step_cells = second.split("|")[2].split()
    assert step_cells[0] == f"≥{closed[1]['step_lower_bound']:.0f}" and step_cells[3] == "—"
    assert [m["orbit"] for m in data["measured"]] == ["k=±1", "k=±2", "k=±3"]
    assert set(data["measured"][0]) == {"orbit", "dim", "step", "level"}
    for predicted, measured in zip(closed, data["measured"], strict=False):
        assert measured["level"] is not None
        assert abs(predicted["level"] - measured["level"]) <= 0.02 * predicted["level"]
    row = data["comparison"][0]
    assert set(row) == {"position", "orbit", "step", "level", "step_error", "level_error"}
    assert row["orbit"] == {"closed_form": "k=±1", "simulated": "k=±1",
                            "gradient_descent": "k=±1"}
    assert abs(row["level_error"]["simulated"]) <= 0.02
    assert data["gd_seconds"] > 0 and data["closed_form_seconds"] > 0


def test_agf_command_resolves_drops_by_the_optimiser_on_request(tmp_path, capsys):
    """--drops optimiser: the first drop of a short c11-agf run is taken by optimiser steps,
    counted in the JSON, and lands on the closed form's first level."""
    out = tmp_path / "agf.json"
    code = main(["agf", "--preset", "c11-agf", "--set", "steps=1100", "--set", "width=32",
                 "--drops", "optimiser", "--json", str(out)])
    assert code == 0
    captured = capsys.readouterr()
    assert "drops by the optimiser" in captured.out
    # without --quiet the simulation's progress goes to stderr, ending at the run's end
    assert "AGF (simulated) [" in captured.err and "1100/1100 steps" in captured.err
    assert "loss" not in captured.err  # the simulation's bar has no loss to show
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["simulated_drops"] == "optimiser"
    assert 0 < data["optimiser_steps"] < 1100
    assert 0 < data["optimiser_evaluations"] <= data["optimiser_steps"] + 1
    first = data["rounds"][0]
    assert first["orbits"] == ["k=±1"]
    level = data["closed_form"][0]["level"]
    assert abs(first["loss_after"] - level) <= 2e-3 * level


def test_agf_command_refuses_an_unknown_drop_mode(capsys):
    try:
        code = main(["agf", "--preset", "c11-agf", "--drops", "jump"])
    except SystemExit as stop:
        code = stop.code
    assert code == 2
    assert "--drops" in capsys.readouterr().err


def test_agf_command_refuses_a_sphere_configuration(capsys):
    code = main(["agf", "--preset", "c11-agf", "--set", "parameterisation=sphere"])
    assert code == 2
    assert "parameterisation" in capsys.readouterr().err


def test_agf_command_refuses_a_missing_json_folder(tmp_path, capsys):
    code = main(["agf", "--preset", "c11-agf", "--json", str(tmp_path / "no" / "x.json")])
    assert code == 2
    assert "does not exist" in capsys.readouterr().err


def test_agf_command_refuses_a_run_of_no_steps(capsys):
    code = main(["agf", "--preset", "c11-agf", "--set", "steps=0", "--compare"])
    err = capsys.readouterr().err
    assert code == 2 and "steps = 0" in err and "steps=N" in err


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")
def test_agf_command_refuses_a_missing_gpu_before_any_work(capsys):
    code = main(["agf", "--preset", "d3-agf-onehot", "--set", "device=cuda", "--compare"])
    captured = capsys.readouterr()
    assert code == 2 and "no CUDA GPU" in captured.err
    assert captured.out == ""  # refused before the prediction is printed


VALIDATION = Path(__file__).resolve().parents[3] / "benchmarks" / "validate_agf.py"


@pytest.fixture(scope="module")
def validation():
    spec = importlib.util.spec_from_file_location("validate_agf", VALIDATION)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


@pytest.mark.parametrize("argv, words", [
    (["--drops", "bogus"], "unknown drop mode bogus; choose from cost, optimiser"),
    (["--cases", "c11,bogus"], "unknown case bogus"),
    (["--seeds", "0"], "--seeds must be at least 1"),
    (["--cases", "random", "--groups", "D5,XYZ"], "cannot read 'XYZ'"),
    (["--json", "/no/such/folder/v.json"], "does not exist"),
])
def test_the_validation_script_refuses_bad_arguments_before_any_run(validation, capsys,
                                                                     argv, words):
    with pytest.raises(SystemExit) as stop:
        validation.arguments(argv)
    err = capsys.readouterr().err
    assert stop.value.code == 2 and words in err and "Traceback" not in err


def test_the_validation_script_refuses_a_case_the_trainer_refuses_before_any_run(
        validation, capsys):
    args = validation.arguments(["--cases", "random", "--groups", "C1", "--seeds", "1"])
    with pytest.raises(SystemExit) as stop:
        validation.checked_cases(args)
    err = capsys.readouterr().err
    assert stop.value.code == 2 and "C1 random t, seed 0" in err and "single element" in err
