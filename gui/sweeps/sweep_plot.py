"""A plot of one results column against a swept key (mean ± std over the other runs),
or a heat map of its mean over two swept keys. Every number comes from
backend.sweeps.report; this widget only draws."""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PyQt6.QtWidgets import QVBoxLayout, QWidget

from backend.sweeps.report import SweepResults, by_key, by_two_keys
from gui import theme
from gui.panels.base import fit_axis_label


def _positions(values: list[object]) -> tuple[np.ndarray, list[tuple[float, str]] | None]:
    """x positions: the values themselves when all are numbers, else 0, 1, 2… with the
    values as tick labels."""
    if values and all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return np.asarray(values, dtype=np.float64), None
    return np.arange(len(values), dtype=np.float64), [(i, str(v)) for i, v in enumerate(values)]


class SweepPlot(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.plot = pg.PlotWidget()
        self.plot.showGrid(x=True, y=True, alpha=0.2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot)
        self.curve = pg.PlotDataItem(pen=pg.mkPen(theme.ACCENT, width=2), symbol="o",
                                     symbolBrush=theme.ACCENT, symbolSize=8)
        self.bars = pg.ErrorBarItem(pen=pg.mkPen(theme.ACCENT, width=1.5), beam=0.0)
        self.image = pg.ImageItem()
        self.colour_bar = None
        self.labels: list[pg.TextItem] = []
        self.plot.addItem(self.curve)
        self.plot.addItem(self.bars)
        self.plot.addItem(self.image)
        self.means = np.zeros(0)
        self.stds = np.zeros(0)

    def _clear_labels(self) -> None:
        for label in self.labels:
            self.plot.removeItem(label)
        self.labels = []

    def show_against_key(self, results: SweepResults, key: str, column: str) -> None:
        """``column``'s mean ± std over the finished runs, per value of ``key``."""
        stats = by_key(results, key, column)
        values = [value for value, _ in stats]
        x, ticks = _positions(values)
        self.means = np.array([s.mean for _, s in stats])
        self.stds = np.array([s.std if math.isfinite(s.std) else 0.0 for _, s in stats])
        self._clear_labels()
        self.image.clear()
        self.image.setVisible(False)
        self.curve.setVisible(True)
        self.bars.setVisible(True)
        shown = np.isfinite(self.means)
        self.curve.setData(x[shown], self.means[shown])
        width = 0.3 * (np.min(np.diff(np.sort(x))) if x.size > 1 else 1.0)
        self.bars.setData(x=x[shown], y=self.means[shown], height=2 * self.stds[shown],
                          beam=width)
        axis = self.plot.getAxis("bottom")
        axis.setTicks([ticks] if ticks is not None else None)
        self.plot.setLabel("bottom", key)
        fit_axis_label(self.plot.getAxis("left"), [f"{column} (mean ± std)", column])
        self.plot.setLogMode(False, False)
        self.plot.autoRange()

    def show_heat_map(self, results: SweepResults, first: str, second: str, column: str
                      ) -> None:
        """The mean of ``column`` in every cell of ``first`` × ``second`` (mean ± std
        written in the cell)."""
        rows, columns, mean, std = by_two_keys(results, first, second, column)
        self.means, self.stds = mean, std
        self.curve.setVisible(False)
        self.bars.setVisible(False)
        self.image.setVisible(True)
        finite = mean[np.isfinite(mean)]
        low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        if high <= low:
            high = low + 1.0
        # row-major images (gui.theme): image rows are y (the second key), columns x
        self.image.setImage(np.ascontiguousarray(np.nan_to_num(mean.T, nan=low), np.float32),
                            levels=(low, high))
        self.image.setColorMap(pg.colormap.get("viridis"))
        self._clear_labels()
        for i in range(len(rows)):
            for j in range(len(columns)):
                if not math.isfinite(mean[i, j]):
                    continue
                spread = f"\n± {std[i, j]:.2g}" if math.isfinite(std[i, j]) else ""
                label = pg.TextItem(f"{mean[i, j]:.3g}{spread}", color="w", anchor=(0.5, 0.5))
                label.setPos(i + 0.5, j + 0.5)
                self.plot.addItem(label)
                self.labels.append(label)
        self.plot.getAxis("bottom").setTicks([[(i + 0.5, str(v)) for i, v in enumerate(rows)]])
        self.plot.getAxis("left").setTicks([[(j + 0.5, str(v)) for j, v in enumerate(columns)]])
        self.plot.setLabel("bottom", first)
        fit_axis_label(self.plot.getAxis("left"),
                       [f"{second}   (colour: mean {column})", second])
        self.plot.autoRange()
