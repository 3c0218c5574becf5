"""Reading a sweep back: the table's columns, statistics over seeds, shares and laws."""

import csv

import numpy as np
import pytest

from backend.errors import UserError
from backend.sweeps.directory import SweepDirectory
from backend.sweeps.laws import fit, fit_laws, law_shares
from backend.sweeps.report import SweepReportError, SweepResults, by_key, by_two_keys
from backend.sweeps.report_text import report_text
from backend.sweeps.spec import parse_sweep
from backend.sweeps.table import SweepTable, summary_columns

SWEEP = """
[sweep]
seeds = 3
[base]
group = "S4"
width = 10
[grid]
learning_rate = [0.01, 0.1]
"""
LABELS = ["[4]", "[1,1,1,1]", "[2,2]", "[3,1]", "[2,1,1]"]


def summary(loss: float, counts: list[int]) -> dict:
    return {"steps": 5, "loss": loss, "train_accuracy": 0.5, "test_accuracy": None,
            "mean_sparsity": 0.9, "mean_alignment": 0.8,
            "rank_one_fraction": {"2": 0.25, "3": 0.5},
            "orbit_counts": dict(zip(LABELS, counts, strict=True)),
            "steps_per_second": 100.0, "wall_seconds": 0.05}


def test_summary_columns_flatten_every_scalar_and_the_orbits():
    columns = summary_columns(summary(0.3, [0, 1, 2, 3, 4]), None)
    assert columns["loss"] == 0.3 and columns["test_accuracy"] is None
    assert columns["neurons [3,1]"] == 3 and columns["rank_one 3-dim"] == 0.5
    assert "orbit_counts" not in columns and "rank_one_fraction" not in columns


@pytest.fixture
def sweep(tmp_path):
    """Six finished runs with random losses and counts; the last run failed."""
    spec = parse_sweep(SWEEP)
    directory = SweepDirectory(tmp_path / "sweep")
    directory.prepare(spec)
    table = SweepTable(spec, directory.path)
    rng = np.random.default_rng(4)
    losses = rng.uniform(0.1, 1.0, len(spec.runs))
    counts = rng.integers(0, 6, (len(spec.runs), 5))
    for i, run in enumerate(spec.runs[:-1]):
        table.record(run.run_id, "done", "", 1.0,
                     summary_columns(summary(float(losses[i]), counts[i].tolist()), None))
    table.record(spec.runs[-1].run_id, "failed", "boom", 0.1, {})
    table.save()
    return spec, directory, losses, counts


def test_csv_has_one_row_per_run_with_the_swept_keys(sweep):
    spec, directory, losses, _ = sweep
    with open(directory.path / "results.csv", newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert len(rows) == len(spec.runs)
    assert [float(r["learning_rate"]) for r in rows] == [0.01] * 3 + [0.1] * 3
    assert [float(r["loss"]) for r in rows[:-1]] == list(losses[:-1])
    assert rows[-1]["status"] == "failed" and rows[-1]["message"] == "boom"


def test_statistics_per_key_and_per_cell_match_numpy(sweep):
    spec, directory, losses, counts = sweep
    results = SweepResults.load(directory.path)
    stats = dict(by_key(results, "learning_rate", "loss"))
    assert stats[0.01].mean == pytest.approx(losses[:3].mean())
    assert stats[0.01].std == pytest.approx(losses[:3].std(ddof=1))
    assert stats[0.1].count == 2  # the failed run is left out
    assert stats[0.1].mean == pytest.approx(losses[3:5].mean())
    share = dict(by_key(results, "learning_rate", "share [2,2]"))
    expected = counts[:3, 2] / counts[:3].sum(axis=1)
    assert share[0.01].mean == pytest.approx(expected.mean())
    rows, columns, mean, std = by_two_keys(results, "learning_rate", "seed", "loss")
    assert rows == [0.01, 0.1] and columns == [0, 1, 2]
    assert mean[1, 1] == pytest.approx(losses[4]) and np.isnan(mean[1, 2])
    assert np.isnan(std).all()  # one run per cell
    with pytest.raises(SweepReportError, match="no column 'los'"):
        by_key(results, "learning_rate", "los")
    with pytest.raises(SweepReportError, match="not a swept key"):
        by_key(results, "width", "loss")


def test_report_text_names_the_runs_and_the_laws(sweep):
    spec, directory, _, counts = sweep
    text = report_text(SweepResults.load(directory.path), laws=True)
    assert "6 runs (done 5, diverged 0, failed 1, pending 0)" in text
    assert "learning_rate=0.1 seed=2: failed boom" in text
    assert f"S4: share of the neurons on non-trivial orbits, 5 runs ({counts[:5, 1:].sum()}" \
        in text


def test_law_shares_and_fit_against_hand_computation():
    dims, real = np.array([3, 3, 4, 5]), np.array([9, 9, 16, 25])
    laws = law_shares(dims, real)
    assert laws["∝ d"] == pytest.approx([3 / 15, 3 / 15, 4 / 15, 5 / 15])
    assert laws["∝ d²"] == pytest.approx(np.array([9, 9, 16, 25]) / 59)
    counts = np.array([101, 90, 146, 175])
    result = fit(counts, laws["∝ d"])
    n = counts.sum()
    tv = 0.5 * sum(abs(c / n - p) for c, p in zip(counts, laws["∝ d"], strict=True))
    chi = sum((c - n * p) ** 2 / (n * p) for c, p in zip(counts, laws["∝ d"], strict=True))
    assert result.total_variation == pytest.approx(tv)
    assert result.chi_square == pytest.approx(chi) and result.degrees_of_freedom == 3
    ranked = fit_laws(counts, dims, real)
    assert [f.total_variation for f in ranked] == sorted(f.total_variation for f in ranked)
    assert ranked[0].law == "∝ d"  # the A5 run of 101/90/146/175 neurons


def test_agf_columns_and_their_counts(tmp_path):
    spec = parse_sweep("[sweep]\nseeds = 3\ncompute = 'agf'\npreset = 'a5-agf'\n")
    directory = SweepDirectory(tmp_path / "agf")
    directory.prepare(spec)
    table = SweepTable(spec, directory.path)
    orders = [(["a", "b", "c"], ["a", "b"], ["a", "b"]),   # same first, same order
              (["a", "b", "c"], ["a", "b", "c"], ["b", "a"]),  # both differ
              (["a", "b"], ["a"], ["a"])]  # one orbit in common: no order to compare
    for run, (predicted, within, measured) in zip(spec.runs, orders, strict=True):
        agf = {"order_matches": predicted[:len(measured)] == measured,
               "all_learned_in_order": predicted == measured,
               "predicted_within_steps": within, "same_orbits_learned": within == measured,
               "common_order_matches": [x for x in within if x in measured]
               == [x for x in measured if x in within],
               "predicted_order": predicted, "measured_order": measured,
               "mean_level_error": 0.1}
        columns = summary_columns({"loss": 1.0}, agf)
        assert columns["agf_common_orbits"] == len(set(within) & set(measured))
        table.record(run.run_id, "done", "", 1.0, columns)
    table.save()
    text = report_text(SweepResults.load(directory.path))
    assert ("first orbit learned as predicted in 2/3 runs; same order in 1/2 runs" in text)
    assert "orbits learned = orbits predicted within the steps in 2/3 runs" in text


@pytest.mark.parametrize("name, content", [
    ("sweep.toml", b"\x89PNG\r\n\x1a\n\x00\x00binary"),
    ("sweep.toml", "group = 'S4'\n".encode("utf-16")),
    ("results.csv", b"\xff\xfe\x00garbage"),
])
def test_a_damaged_sweep_directory_is_refused_by_name(sweep, name, content):
    _, directory, _, _ = sweep
    (directory.path / name).write_bytes(content)
    with pytest.raises(UserError) as refused:
        SweepResults.load(directory.path)
    message = str(refused.value)
    assert name in message and ("binary" in message or "UTF-8" in message)


@pytest.mark.parametrize("content", [b"\x00\x01", b"{not json", b'{"runs": 3}', b"[1, 2]"])
def test_a_damaged_sweep_record_is_refused_before_any_run(sweep, content):
    spec, directory, _, _ = sweep
    (directory.path / "results.json").write_bytes(content)
    table = SweepTable(spec, directory.path)
    with pytest.raises(UserError, match="results.json") as refused:
        table.load()
    assert "remove it" in str(refused.value)


def test_a_failed_write_mid_sweep_keeps_the_stored_runs_and_says_how_to_resume(
        sweep, monkeypatch):
    import errno

    from backend.sweeps import runner

    spec, directory, _, _ = sweep
    before = (directory.path / "results.csv").read_bytes()
    table = SweepTable(spec, directory.path)
    table.load()

    def full_disk(*_args, **_kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(runner.SweepDirectory, "write_run", full_disk)
    result = {"status": "done", "files": {"summary.json": b"{}"}, "summary": None}
    with pytest.raises(UserError) as refused:
        runner._store(spec.runs[0], result, table, directory)
    message = str(refused.value)
    assert "the disk is full" in message and "resumes the sweep" in message
    assert (directory.path / "results.csv").read_bytes() == before
