"""The AGF comparison table: per position in the staircase, the orbit, drop step and
plateau level of AGF (closed form), AGF (simulated) and gradient descent, with each
prediction's signed relative errors (computed by backend.agf.comparison)."""

from __future__ import annotations

from typing import Any

import numpy as np
from PyQt6.QtCore import Qt
from PyQt6.QtGui import QColor
from PyQt6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHeaderView,
    QSizePolicy,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from backend.agf.comparison import LEVEL_TARGET, STEP_TARGET
from gui import theme
from gui.panels.base import ElidedLabel
from gui.run_context import RunContext

PREDICTIONS = {"simulated": "AGF (simulated)", "closed_form": "AGF (closed form)"}
SHORT = {"closed_form": "closed", "simulated": "sim.", "gradient_descent": "GD"}


def headers(prediction: str) -> list[str]:
    """Column headers (two lines) for one prediction beside gradient descent."""
    short = SHORT[prediction]
    return ["#", f"orbit\n{short}", "orbit\nGD", f"step\n{short}", "step\nGD", "step\nerror",
            f"level\n{short}", "level\nGD", "level\nerror"]


SIMULATED_NOTE = ("Steps: where each orbit is half learned (explained share 1/2), read "
                  "alike on both curves; levels: the plateau after each orbit.")
"""Under the simulated prediction's table (the closed form's gets its timing note)."""

SHOWN_ROWS = 3
"""Rows the table always has room for; more scroll."""


def comparison_rows(context: RunContext | None, rounds: list, history: Any,
                    simulated: list | None = None) -> list[dict]:
    """``ComparisonRow.as_dict()`` per position: the context's closed form, the simulated
    rounds (or their orbit drops read from the recorded curve) and the record of
    gradient descent, compared by backend.agf.comparison."""
    from backend.agf.comparison import (
        agf_orbit_drops_of_rounds,
        compare,
        measured_drops,
        run_from_snapshots,
    )
    from backend.errors import UserError

    if context is None or not rounds:
        return []
    measured = []
    if history is not None and len(history) >= 2:
        steps, losses = history.loss_curve()
        try:
            measured = measured_drops(run_from_snapshots(
                steps, losses, list(history.snapshots), list(context.orbit_labels),
                [int(d) for d in context.orbit_dims]))
        except UserError:
            measured = []
    if simulated is None:
        simulated = agf_orbit_drops_of_rounds(rounds, list(context.orbit_labels),
                                              [int(d) for d in context.orbit_dims])
    rows = [row.as_dict() for row in compare(list(context.predicted_drops), measured,
                                             float(rounds[0].loss_before), simulated)]
    if history is not None and len(history) >= 2:
        recorded = np.asarray(history.snapshot_steps, dtype=np.float64)
        for row in rows:
            row["gd_step_spacing"] = snapshot_spacing(recorded, row["step"]["gradient_descent"])
    return rows


def snapshot_spacing(recorded: np.ndarray, step: float | None) -> float | None:
    """How far apart the snapshots that bracket ``step`` are (gradient descent's orbit
    steps are interpolated between them); None without a step or a bracket."""
    if step is None or recorded.size < 2:
        return None
    after = int(np.clip(np.searchsorted(recorded, step), 1, recorded.size - 1))
    return float(recorded[after] - recorded[after - 1])


def _cell(value, form: str) -> str:
    return "—" if value is None else format(value, form)


def _error(value: float | None) -> str:
    """A signed relative error, "0.0%" where it rounds to zero (not "-0.0%")."""
    if value is None:
        return "—"
    return "0.0%" if abs(value) < 5e-4 else format(value, "+.1%")


def row_cells(row: dict, prediction: str) -> list[tuple[str, float | None, float]]:
    """(text, error or None, error target) of each column of one comparison row, for
    ``prediction`` ("simulated" or "closed_form") beside gradient descent."""
    both = (prediction, "gradient_descent")
    orbit, step, level = row["orbit"], row["step"], row["level"]
    step_error, level_error = row["step_error"][prediction], row["level_error"][prediction]
    spacing = row.get("gd_step_spacing")
    gd_step = _cell(step["gradient_descent"], ",.0f")
    if spacing is not None and spacing >= 2 and step["gradient_descent"] is not None:
        gd_step += f" ±{spacing / 2:,.0f}"  # read between snapshots this far apart
    return [(str(row["position"]), None, 0.0),
            *((str(orbit[k] or "—").split(" (")[0], None, 0.0) for k in both),
            (_cell(step[prediction], ",.0f"), None, 0.0), (gd_step, None, 0.0),
            (_error(step_error), step_error, STEP_TARGET),
            *((_cell(level[k], ".4g"), None, 0.0) for k in both),
            (_error(level_error), level_error, LEVEL_TARGET)]


class ComparisonTable(QWidget):
    """The table (room for ``SHOWN_ROWS`` rows, the rest scroll) and the closed form's
    timing note under it (one line, the whole note in its tooltip). An error beyond the
    validation's target (step 15 %, level 2 %) is shown in the error colour."""

    def __init__(self, tooltip: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.rows: list[dict] = []
        self.closed_form_note = ""
        self.prediction_choice = QComboBox()
        for key, name in PREDICTIONS.items():
            self.prediction_choice.addItem(f"{name} against gradient descent", key)
        self.prediction_choice.setToolTip("Which prediction the table sets beside gradient "
                                          "descent's measured orbits, steps and levels.")
        self.prediction_choice.currentIndexChanged.connect(lambda _index: self._fill())
        self.table = QTableWidget(0, len(headers("simulated")))
        self.table.setHorizontalHeaderLabels(headers("simulated"))
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ContiguousSelection)
        self.table.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.table.setToolTip(tooltip)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setDefaultAlignment(Qt.AlignmentFlag.AlignCenter)
        rows = self.table.verticalHeader()
        rows.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        rows.setDefaultSectionSize(self.table.fontMetrics().height() + 6)
        self.table.setMinimumHeight(header.sizeHint().height()
                                    + SHOWN_ROWS * rows.defaultSectionSize()
                                    + 2 * self.table.frameWidth() + 2)
        self.note = ElidedLabel("")  # one line; the whole sentence in its tooltip
        self.note.setObjectName("muted")
        self.note.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.prediction_choice)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.note)

    def prediction(self) -> str:
        """The prediction shown ("simulated" or "closed_form")."""
        return str(self.prediction_choice.currentData())

    def show_rows(self, rows: list[dict], note: str = "") -> None:
        """Fill the table with comparison rows (``comparison_rows``); ``note`` says where
        the closed form's times hold, shown under the closed form's table."""
        self.rows = list(rows)
        self.closed_form_note = note
        self._fill()

    def _fill(self) -> None:
        prediction = self.prediction()
        self.note.setText(self.closed_form_note if prediction == "closed_form" or not self.rows
                          else SIMULATED_NOTE)
        self.table.setHorizontalHeaderLabels(headers(prediction))
        self.table.setRowCount(len(self.rows))
        for i, row in enumerate(self.rows):
            for j, (text, error, target) in enumerate(row_cells(row, prediction)):
                item = QTableWidgetItem(text)
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight
                                      | Qt.AlignmentFlag.AlignVCenter)
                if error is not None and abs(error) > target:
                    item.setForeground(QColor(theme.ERROR))
                    item.setToolTip(f"beyond the validation's target of ±{target:.0%}")
                self.table.setItem(i, j, item)

    def cell_text(self, row: int, header: str) -> str:
        """The text in ``row`` under the column headed ``header`` (its two lines joined
        by a space, e.g. "step sim.")."""
        column = [h.replace("\n", " ") for h in headers(self.prediction())].index(header)
        item = self.table.item(row, column)
        return item.text() if item is not None else ""

    def clear(self) -> None:
        self.rows = []
        self.closed_form_note = ""
        self.table.setRowCount(0)
        self.note.setText("")
