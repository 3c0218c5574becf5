"""``sweep-report DIR``: the text, PNG and SVG plots, and one-line refusals."""

import main
from backend.sweeps.directory import SweepDirectory
from backend.sweeps.spec import parse_sweep
from backend.sweeps.table import SweepTable, summary_columns

SWEEP = "[sweep]\nseeds = 2\n[base]\ngroup = 'C5'\n[grid]\nwidth = [4, 8]\n"


def make_sweep(folder):
    spec = parse_sweep(SWEEP)
    directory = SweepDirectory(folder)
    directory.prepare(spec)
    table = SweepTable(spec, folder)
    for run in spec.runs:
        width = run.config.width
        columns = summary_columns({"loss": 1.0 / width + run.config.seed,
                                   "orbit_counts": {"k=0": 0, "k=±1": width - 1, "k=±2": 1}},
                                  None)
        table.record(run.run_id, "done", "", 1.0, columns)
    table.save()


def test_report_with_png_and_svg_plots(tmp_path, capsys):
    make_sweep(tmp_path / "s")
    png, svg = tmp_path / "loss.png", tmp_path / "heat.svg"
    assert main.main(["sweep-report", str(tmp_path / "s"), "--columns", "loss",
                      "--plot", "loss", "--key", "width", "--out", str(png)]) == 0
    out = capsys.readouterr().out
    assert "per width:" in out and "0.75 ± 0.71" in out  # mean and std of 0.25 and 1.25
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main.main(["sweep-report", str(tmp_path / "s"), "--plot", "share k=±1",
                      "--key", "width", "--key2", "seed", "--out", str(svg)]) == 0
    assert "<svg" in svg.read_text()


def test_report_refusals_are_one_line(tmp_path, capsys):
    make_sweep(tmp_path / "s")
    cases = [
        ([str(tmp_path)], "not a sweep directory"),
        ([str(tmp_path / "s"), "--plot", "loss"], "--plot needs --key"),
        ([str(tmp_path / "s"), "--plot", "los", "--key", "width", "--out", "x.png"],
         "no column 'los'"),
        ([str(tmp_path / "s"), "--plot", "loss", "--key", "depth", "--out", "x.png"],
         "'depth' is not a swept key"),
        ([str(tmp_path / "s"), "--plot", "loss", "--key", "width", "--out", "x.gif"], ".gif"),
    ]
    for arguments, words in cases:
        assert main.main(["sweep-report", *arguments]) == 2
        error = capsys.readouterr().err
        assert error.startswith("error: ") and error.count("\n") == 1 and words in error
