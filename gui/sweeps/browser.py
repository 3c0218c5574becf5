"""The sweep browser: a dock with a sweep's results table (sortable) and a plot of any
column against a swept key, or a heat map over two swept keys, with error bars.
Double-clicking a row opens that run in the main window. While the sweep runs, the dock
rereads results.csv whenever it changes.

``install_sweep_browser(window)`` adds File › Open sweep… and creates the dock on first
use; ``window.sweep_browser`` is the SweepBrowser (or None before).
"""

from __future__ import annotations

import math
from pathlib import Path

from PyQt6.QtCore import QObject, Qt, QTimer, pyqtSignal
from PyQt6.QtWidgets import (
    QComboBox,
    QDockWidget,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from backend.errors import UserError
from backend.sweeps.report import SweepResults
from backend.sweeps.table import RESULTS_CSV
from gui.sweeps.sweep_plot import SweepPlot
from gui.window_actions import window_action

REFRESH_MS = 2000
NO_SECOND_KEY = "(none)"


class NumberItem(QTableWidgetItem):
    """A cell that sorts by its number (empty cells last), text otherwise."""

    def __init__(self, value: object) -> None:
        text = "" if value is None else (f"{value:.6g}" if isinstance(value, float) else str(value))
        super().__init__(text)
        self.number = float(value) if isinstance(value, int | float) else math.nan
        self.setFlags(self.flags() & ~Qt.ItemFlag.ItemIsEditable)

    def __lt__(self, other: QTableWidgetItem) -> bool:  # noqa: D105
        mine = self.number
        theirs = getattr(other, "number", math.nan)
        if math.isnan(mine) or math.isnan(theirs):
            if math.isnan(mine) and math.isnan(theirs):
                return self.text() < other.text()
            return not math.isnan(mine)
        return mine < theirs


class SweepBrowser(QWidget):
    """Table and plot of one sweep directory."""

    open_run_requested = pyqtSignal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.path: Path | None = None
        self.results: SweepResults | None = None
        self._stamp: tuple[int, int] | None = None
        self.status = QLabel("No sweep open")
        self.table = QTableWidget()
        self.table.setSortingEnabled(True)
        self.table.horizontalHeader().setSortIndicator(0, Qt.SortOrder.AscendingOrder)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.cellDoubleClicked.connect(self._row_double_clicked)
        self.column_box = QComboBox()
        self.key_box = QComboBox()
        self.key2_box = QComboBox()
        for box in (self.column_box, self.key_box, self.key2_box):
            box.currentTextChanged.connect(lambda _text: self.redraw_plot())
        self.plot = SweepPlot()
        controls = QHBoxLayout()
        for text, box in (("plot", self.column_box), ("against", self.key_box),
                          ("and", self.key2_box)):
            controls.addWidget(QLabel(text))
            controls.addWidget(box, 1)
        plot_area = QWidget()
        plot_layout = QVBoxLayout(plot_area)
        plot_layout.setContentsMargins(0, 0, 0, 0)
        plot_layout.addLayout(controls)
        plot_layout.addWidget(self.plot, 1)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.table)
        splitter.addWidget(plot_area)
        layout = QVBoxLayout(self)
        layout.addWidget(self.status)
        layout.addWidget(splitter, 1)
        self.timer = QTimer(self)
        self.timer.setInterval(REFRESH_MS)
        self.timer.timeout.connect(self.refresh)

    # ------------------------------------------------------------------ loading
    def open_sweep(self, path: str | Path) -> None:
        """Show the sweep in ``path``; raises UserError when it is not a sweep."""
        results = SweepResults.load(path)
        self.path = Path(path)
        self._show(results)
        self.timer.start()

    def refresh(self) -> bool:
        """Reread results.csv if it changed since it was shown; True when it did."""
        if self.path is None:
            return False
        stamp = self._file_stamp()
        if stamp is None or stamp == self._stamp:
            return False
        try:
            self._show(SweepResults.load(self.path))
        except (UserError, OSError, ValueError):
            return False  # caught mid-rename or gone: try again at the next tick
        return True

    def _file_stamp(self) -> tuple[int, int] | None:
        try:
            info = (self.path / RESULTS_CSV).stat()
        except OSError:
            return None
        return info.st_mtime_ns, info.st_size

    def _show(self, results: SweepResults) -> None:
        self._stamp = self._file_stamp()
        self.results = results
        counts = {status: sum(1 for r in results.rows if r.get("status") == status)
                  for status in ("done", "diverged", "failed", "pending")}
        self.status.setText(f"{self.path}: {len(results.rows)} runs · "
                            + " · ".join(f"{k} {v}" for k, v in counts.items()))
        self._fill_table(results)
        self._fill_boxes(results)
        self.redraw_plot()

    def _fill_table(self, results: SweepResults) -> None:
        sort_column = self.table.horizontalHeader().sortIndicatorSection()
        sort_order = self.table.horizontalHeader().sortIndicatorOrder()
        self.table.setSortingEnabled(False)
        self.table.clear()
        self.table.setColumnCount(len(results.columns))
        self.table.setRowCount(len(results.rows))
        self.table.setHorizontalHeaderLabels(results.columns)
        for i, row in enumerate(results.rows):
            for j, name in enumerate(results.columns):
                self.table.setItem(i, j, NumberItem(row.get(name)))
        self.table.setSortingEnabled(True)
        if 0 <= sort_column < len(results.columns):
            self.table.sortItems(sort_column, sort_order)

    def _fill_boxes(self, results: SweepResults) -> None:
        def refill(box: QComboBox, items: list[str], preferred: str | None) -> None:
            current = box.currentText() or preferred
            box.blockSignals(True)
            box.clear()
            box.addItems(items)
            if current in items:
                box.setCurrentText(current)
            box.blockSignals(False)

        numeric = results.numeric_columns()
        refill(self.column_box, numeric, "loss" if "loss" in numeric else None)
        keys = list(results.swept_keys)
        refill(self.key_box, keys, next((k for k in keys if k != "seed"), None))
        refill(self.key2_box, [NO_SECOND_KEY] + keys, NO_SECOND_KEY)

    # ------------------------------------------------------------------ plot
    def redraw_plot(self) -> None:
        results = self.results
        column, key, key2 = (self.column_box.currentText(), self.key_box.currentText(),
                             self.key2_box.currentText())
        if results is None or not column or not key:
            return
        try:
            if key2 and key2 != NO_SECOND_KEY and key2 != key:
                self.plot.show_heat_map(results, key, key2, column)
            else:
                self.plot.show_against_key(results, key, column)
        except UserError as error:
            self.status.setText(str(error))

    # ------------------------------------------------------------------ opening
    def run_path(self, table_row: int) -> Path | None:
        """The run directory of a row of the table (as sorted on screen)."""
        if self.results is None or self.path is None:
            return None
        index = self.results.columns.index("run_id")
        item = self.table.item(table_row, index)
        return None if item is None else self.path / "runs" / item.text()

    def _row_double_clicked(self, row: int, _column: int) -> None:
        path = self.run_path(row)
        if path is not None:
            self.open_run_requested.emit(str(path))


class SweepBrowserActions(QObject):
    """File › Open sweep… and the dock it fills, for one MainWindow."""

    def __init__(self, window: QMainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.dock: QDockWidget | None = None
        self.browser: SweepBrowser | None = None
        self.open_action = window_action(window, "Open sweep…", None,
                                         "Open a sweep directory (sweep --out): its table "
                                         "and plots", self.open_sweep)
        menu = getattr(getattr(window, "export_actions", None), "menu", None)
        if menu is None:
            menu = window.menuBar().addMenu("&File")
        menu.insertAction(menu.actions()[2] if len(menu.actions()) > 2 else None,
                          self.open_action)

    def open_sweep(self, path: str | Path | None = None) -> bool:
        if path is None or isinstance(path, bool):
            name = QFileDialog.getExistingDirectory(self.window, "Open sweep", str(Path.home()))
            if not name:
                return False
            path = name
        browser = self._ensure_dock()
        try:
            browser.open_sweep(path)
        except UserError as error:
            if hasattr(self.window, "show_error"):
                self.window.show_error(str(error))
            return False
        self.dock.show()
        self.dock.raise_()
        return True

    def _ensure_dock(self) -> SweepBrowser:
        if self.browser is None:
            self.browser = SweepBrowser()
            self.browser.open_run_requested.connect(self._open_run)
            self.dock = QDockWidget("Sweep", self.window)
            self.dock.setObjectName("dock_sweep")
            self.dock.setWidget(self.browser)
            self.window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.dock)
            self.dock.setFloating(True)  # a table and a plot need more room than a side
            self.dock.resize(1100, 760)
            self.window.sweep_browser = self.browser
        return self.browser

    def _open_run(self, path: str) -> None:
        actions = getattr(self.window, "export_actions", None)
        if actions is not None:
            actions.open_run_directory(path)


def install_sweep_browser(window: QMainWindow) -> SweepBrowserActions:
    """Add File › Open sweep… to ``window`` (once); the dock appears on first use."""
    existing = getattr(window, "sweep_actions", None)
    if existing is not None:
        return existing
    window.sweep_actions = SweepBrowserActions(window)
    window.sweep_browser = None
    return window.sweep_actions
