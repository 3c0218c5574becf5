"""Bad files met in the window: the message is shown where the user looks (a dialog and
the status bar, or under the field), never a traceback, and what was shown stays."""

from __future__ import annotations

import shutil

import pytest
from PyQt6.QtWidgets import QApplication, QMessageBox

from gui.config_form import ConfigForm
from gui.export_actions import install_export_actions
from tests.bad_runs import noise, record_run, truncate


@pytest.mark.parametrize(("name", "data", "message"), [
    ("table.csv", noise(500, 9), "binary|not UTF-8"),
    ("latin.csv", "0,1\n1,0 # \xe9\n".encode("latin-1"), "not UTF-8"),
    ("table.json", b"\x00\x01\x02", "binary"),
])
def test_a_binary_table_in_the_group_field_shows_the_error_under_it(qtbot, tmp_path, capfd,
                                                                     name, data, message):
    form = ConfigForm()
    qtbot.addWidget(form)
    form.group_edit.setText("C5")
    assert form.validate_group()
    assert form.group_status.text() == "order 5, abelian"
    path = tmp_path / name
    path.write_bytes(data)
    form.group_edit.setText(str(path))
    assert not form.validate_group()
    import re

    assert re.search(message, form.group_status.text())
    assert str(path) in form.group_status.text()
    assert form.group_edit.property("invalid")
    assert "order 5" not in form.group_status.text()
    assert "Traceback" not in capfd.readouterr().err


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    return record_run(tmp_path_factory.mktemp("recorded") / "run")


@pytest.mark.parametrize("damage", ["checkpoint", "history"])
def test_a_damaged_run_opened_from_the_file_menu_shows_a_dialog(qtbot, window, tmp_path, capfd,
                                                                 recorded, damage):
    run = tmp_path / "run"
    shutil.copytree(recorded, run)
    truncate(run / f"{damage}.npz")
    actions = install_export_actions(window)
    context = window.context
    assert not actions.open_run_directory(run)
    assert str(run) in actions.last_error and "damaged" in actions.last_error
    assert window.last_message == actions.last_error
    dialogs = [w for w in QApplication.topLevelWidgets()
               if isinstance(w, QMessageBox) and w.isVisible()]
    assert dialogs and dialogs[-1].text() == actions.last_error
    for dialog in dialogs:
        dialog.close()
    assert window.context is context  # the run on screen stays
    assert "Traceback" not in capfd.readouterr().err


def test_a_session_of_another_group_is_refused_in_the_window(qtbot, window, tmp_path, recorded):
    import numpy as np

    from backend.run_directory import RunDirectory
    from backend.session_file import save_session
    from tests.bad_runs import rewrite

    config, state, history = RunDirectory.load(recorded)
    path = save_session(tmp_path / "run.irrep", config, state, history)
    rewrite(path, lambda m: m.update(config=np.array(
        str(m["config"]).replace('group = "C5"', 'group = "C7"'))))
    actions = install_export_actions(window)
    assert not actions.open_session(path)
    assert "belong to another run" in actions.last_error
    for dialog in [w for w in QApplication.topLevelWidgets() if isinstance(w, QMessageBox)]:
        dialog.close()
