"""The sweep browser: File › Open sweep…, the sortable table, the plot with error bars,
refresh while the sweep runs, double-click to open a run. The sweep directory is written
by the sweep's own code (each run trained in this process, without Ray)."""


import numpy as np
import pytest

from backend.sweeps.directory import SweepDirectory
from backend.sweeps.report import SweepResults, by_key, by_two_keys
from backend.sweeps.run_one import execute_run
from backend.sweeps.spec import parse_sweep
from backend.sweeps.table import SweepTable, summary_columns
from gui.sweeps.browser import install_sweep_browser

SWEEP = """
[sweep]
seeds = 2
[base]
group = "C5"
width = 8
steps = 30
[grid]
learning_rate = [0.01, 0.05]
"""


def write_runs(spec, directory, runs):
    table = SweepTable(spec, directory.path)
    table.load()
    for run in runs:
        result = execute_run(run.config.to_dict(), "training", 1)
        directory.write_run(run.run_id, result["files"])
        table.record(run.run_id, result["status"], result["message"], result["wall_seconds"],
                     summary_columns(result["summary"], result["agf"]))
    table.save()


@pytest.fixture
def sweep_dir(tmp_path):
    spec = parse_sweep(SWEEP)
    directory = SweepDirectory(tmp_path / "sweep")
    directory.prepare(spec)
    write_runs(spec, directory, spec.runs[:3])
    return spec, directory


def test_open_sweep_table_plot_refresh_and_open_run(qtbot, window, sweep_dir):
    spec, directory = sweep_dir
    actions = install_sweep_browser(window)
    assert install_sweep_browser(window) is actions
    file_menu = window.export_actions.menu
    assert "Open sweep…" in [a.text() for a in file_menu.actions()]
    assert actions.open_sweep(directory.path)
    browser = window.sweep_browser
    results = SweepResults.load(directory.path)

    assert browser.table.rowCount() == 4
    headers = [browser.table.horizontalHeaderItem(j).text()
               for j in range(browser.table.columnCount())]
    assert headers == results.columns
    loss_column = headers.index("loss")
    browser.table.sortItems(loss_column)
    shown = [browser.table.item(i, loss_column).text() for i in range(4)]
    losses = sorted(float(r["loss"]) for r in results.rows if r["loss"] is not None)
    assert [float(text) for text in shown[:3]] == pytest.approx(losses, rel=1e-5)
    assert shown[3] == ""  # the pending run sorts last

    browser.column_box.setCurrentText("loss")
    browser.key_box.setCurrentText("learning_rate")
    expected = by_key(results, "learning_rate", "loss")
    assert browser.plot.means == pytest.approx([s.mean for _, s in expected], nan_ok=True)
    x, y = browser.plot.curve.getData()
    assert list(x) == [0.01, 0.05][: len(x)]

    browser.key2_box.setCurrentText("seed")
    _, _, mean, _ = by_two_keys(results, "learning_rate", "seed", "loss")
    assert np.allclose(browser.plot.means, mean, equal_nan=True)
    image = browser.plot.image.image
    assert image.shape == (2, 2)  # rows: seeds, columns: learning rates
    assert image[0, 1] == pytest.approx(mean[1, 0])

    # the last run finishes: the browser rereads the table
    write_runs(spec, directory, spec.runs[3:])
    assert browser.refresh()
    statuses = [browser.table.item(i, headers.index("status")).text() for i in range(4)]
    assert statuses == ["done"] * 4
    assert not browser.refresh()  # nothing changed since

    # double-clicking a row opens that run in the window
    row = next(i for i in range(4) if browser.table.item(i, 0).text() == spec.runs[2].run_id)
    browser.table.cellDoubleClicked.emit(row, 0)
    wanted = spec.runs[2].config
    qtbot.waitUntil(lambda: window.last_report is not None
                    and window.last_report.snapshot.step == wanted.steps
                    and window.context.config.learning_rate == wanted.learning_rate
                    and window.context.config.seed == wanted.seed, timeout=20000)


def test_opening_a_folder_that_is_no_sweep_shows_why(window, tmp_path):
    actions = install_sweep_browser(window)
    assert not actions.open_sweep(tmp_path)
    assert "not a sweep directory" in window.last_message
