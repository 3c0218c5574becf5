"""End-to-end: python main.py agf ... prints the tables and writes the JSON keys."""

from __future__ import annotations

import json

from backend.cli import main


def test_agf_command_with_compare_writes_the_documented_keys(tmp_path, capsys):
    """A shortened c11-agf run (2500 steps: the first three drops)."""
    out = tmp_path / "agf.json"
    code = main(["agf", "--preset", "c11-agf", "--set", "steps=2500", "--compare",
                 "--quiet", "--json", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "closed form" in printed and "rounds of the numerical AGF" in printed
    assert "predicted against measured" in printed
    data = json.loads(out.read_text(encoding="utf-8"))
    assert set(data) == {"rounds", "predicted", "measured", "agf_seconds", "gd_seconds"}
    assert len(data["rounds"]) >= 3, "k=±1, ±2 and ±3 activate within 2500 steps"
    assert set(data["rounds"][0]) == {"round", "step", "orbits", "neurons", "loss_before",
                                      "loss_after"}
    assert [p["orbit"] for p in data["predicted"]] == ["k=±1", "k=±2", "k=±3", "k=±4", "k=±5"]
    assert set(data["predicted"][0]) == {"orbit", "dim", "step", "level"}
    assert [m["orbit"] for m in data["measured"]] == ["k=±1", "k=±2", "k=±3"]
    assert set(data["measured"][0]) == {"orbit", "dim", "step", "level"}
    for predicted, measured in zip(data["predicted"], data["measured"], strict=False):
        assert measured["level"] is not None
        assert abs(predicted["level"] - measured["level"]) <= 0.02 * predicted["level"]
    assert data["gd_seconds"] > 0 and data["agf_seconds"] > 0


def test_agf_command_refuses_a_sphere_configuration(capsys):
    code = main(["agf", "--preset", "c11-agf", "--set", "parameterisation=sphere"])
    assert code == 2
    assert "parameterisation" in capsys.readouterr().err


def test_agf_command_refuses_a_missing_json_folder(tmp_path, capsys):
    code = main(["agf", "--preset", "c11-agf", "--json", str(tmp_path / "no" / "x.json")])
    assert code == 2
    assert "does not exist" in capsys.readouterr().err
