"""(a) Neuron × orbit power heat maps of θ¹, θ² and ξ, rows sorted by dominant orbit."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QPushButton, QToolTip

from backend.dormancy import DORMANT_SHARE, dormant_neurons
from gui import theme
from gui.panels.base import HeatMapImage, Panel, fit_axis_label, fix_text_width
from gui.panels.orbit_axis import ColumnAxis
from gui.run_context import RunContext

DEFINITION = (
    "Normalised orbit power p(m, O) = P_O(ν_m) / ‖ν_m‖² of each neuron m's effective "
    "functions ν ∈ {a, b, c} (from θ¹, θ², ξ) on every real orbit O of irreps.\n"
    "P_O(ν) = Σ_{ρ∈O} n d_ρ ‖ν̂[ρ]‖_F², so each row sums to 1. Rows are neurons, sorted "
    "by dominant orbit (argmax of the power over the three layers). Theory: every row "
    "concentrates on one nontrivial orbit. Click a row to inspect that neuron.\n"
    f"Greyed rows are dormant neurons: ‖(a, b, c)‖ below {DORMANT_SHARE:.0%} of the "
    "largest neuron's. Hover a cell for its neuron, orbit and value."
)
DORMANT_SHADE = (27, 31, 39, 190)  # RGBA laid over a dormant neuron's row


class PowerHeatmapsPanel(Panel):
    """Three heat maps (θ¹, θ², ξ) of neurons × orbits with a stable sort by dominant orbit."""

    title = "Orbit power per neuron"
    definition = DEFINITION
    neuron_clicked = pyqtSignal(int, bool)  # neuron, add to the selection

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        bar = QHBoxLayout()
        self.sort_box = QCheckBox("Sort rows by dominant orbit")
        self.sort_box.setChecked(True)
        self.sort_box.setToolTip("Rows grouped by dominant orbit; a neuron keeps its place "
                                 "inside its group until you re-sort.")
        self.sort_box.toggled.connect(self._sorting_toggled)
        self.resort_button = QPushButton("Re-sort")
        self.resort_button.setToolTip("Sort again by dominant orbit, then by its power.")
        self.resort_button.clicked.connect(self.resort)
        self.selection_label = QLabel("")
        self.selection_label.setObjectName("muted")
        bar.addWidget(self.sort_box)
        bar.addWidget(self.resort_button)
        fix_text_width(self.selection_label)
        self.selection_label.setAlignment(Qt.AlignmentFlag.AlignRight
                                          | Qt.AlignmentFlag.AlignVCenter)
        bar.addWidget(self.selection_label, 1)
        self.layout_.addLayout(bar)

        self.canvas = pg.GraphicsLayoutWidget()
        self.canvas.setToolTip(DEFINITION)
        self.layout_.addWidget(self.canvas, 1)
        self.plots: list[pg.PlotItem] = []
        self.images: list[pg.ImageItem] = []
        self.separators: list[pg.PlotCurveItem] = []
        self.markers: list[pg.PlotCurveItem] = []
        self.shades: list[pg.ImageItem] = []
        lut = theme.lookup_table("viridis")
        for layer, name in enumerate(theme.LAYER_NAMES):
            plot = self.canvas.addPlot(row=0, col=layer, axisItems={"bottom": ColumnAxis()})
            plot.setTitle(theme.plot_title(f"{name}  ({'abc'[layer]})"))
            plot.setMenuEnabled(False)
            plot.hideButtons()
            plot.setMouseEnabled(x=False, y=False)
            plot.invertY(True)
            plot.getAxis("bottom").setStyle(tickTextOffset=2)
            if layer == 0:
                fit_axis_label(plot.getAxis("left"), ["neuron (sorted)", "neuron"])
            else:
                plot.getAxis("left").setStyle(showValues=False)
                plot.setYLink(self.plots[0])
            image = HeatMapImage(axisOrder="row-major")
            image.setLookupTable(lut)
            image.setLevels((0.0, 1.0))
            plot.addItem(image)
            # horizontal lines along pixel rows: antialiasing would only blur them
            separator = pg.PlotCurveItem(pen=pg.mkPen((255, 255, 255, 90), width=1),
                                         connect="pairs", skipFiniteCheck=True, antialias=False)
            marker = pg.PlotCurveItem(pen=pg.mkPen(theme.CURSOR_COLOUR, width=2),
                                      connect="pairs", skipFiniteCheck=True, antialias=False)
            shade = pg.ImageItem(axisOrder="row-major")
            plot.addItem(shade)
            self.shades.append(shade)
            plot.addItem(separator)
            plot.addItem(marker)
            self.plots.append(plot)
            self.images.append(image)
            self.separators.append(separator)
            self.markers.append(marker)
        axes = [plot.getAxis("bottom") for plot in self.plots]
        axes[0].share_layout(axes)
        self.colour_bar = pg.ColorBarItem(values=(0, 1), colorMap=theme.colour_map("viridis"),
                                          interactive=False, width=12)
        self.colour_bar.setImageItem(self.images, insert_in=self.plots[-1])
        self.canvas.scene().sigMouseClicked.connect(self._scene_clicked)
        self.canvas.scene().sigMouseMoved.connect(self._scene_hovered)
        self.dormant = np.zeros(0, dtype=bool)

        self.order = np.zeros(0, dtype=np.int64)
        self.selected: list[int] = []

    # -------------------------------------------------------------- drawing
    def set_context(self, context: RunContext) -> None:
        super().set_context(context)
        self.order = np.arange(context.width, dtype=np.int64)
        self.selected = [m for m in self.selected if m < context.width]
        k = context.num_orbits
        for plot in self.plots:
            plot.getAxis("bottom").set_labels(list(context.orbit_labels))
            plot.setXRange(0, k, padding=0)
            plot.setYRange(0, context.width, padding=0)
        self._needs_full_sort = True
        for image in self.images:
            image.clear()
        for shade in self.shades:
            shade.clear()
        self.dormant = np.zeros(context.width, dtype=bool)

    def show_snapshot(self, snapshot: Any) -> None:
        super().show_snapshot(snapshot)
        if self.context is None or snapshot is None:
            return
        power = np.asarray(snapshot.power)
        dominant = np.asarray(snapshot.dominant_orbit)
        if power.shape[1] != len(self.order):
            self.order = np.arange(power.shape[1], dtype=np.int64)
        self._update_order(power, dominant)
        rows = self.order
        for layer, image in enumerate(self.images):
            image.setImage(np.ascontiguousarray(power[layer][rows], dtype=np.float32),
                           autoLevels=False, levels=(0.0, 1.0))
        self._draw_separators(dominant[rows], power.shape[2])
        self._draw_selection(power.shape[2])
        self._draw_dormant(dormant_neurons(snapshot.norms)[rows], power.shape[2])

    def _draw_dormant(self, dormant: np.ndarray, k: int) -> None:
        """Grey out the rows of dormant neurons (sorted order)."""
        self.dormant = dormant
        if not dormant.any():
            for shade in self.shades:
                if shade.image is not None:
                    shade.clear()
            return
        picture = np.zeros((len(dormant), 1, 4), dtype=np.uint8)
        picture[dormant] = DORMANT_SHADE
        for shade in self.shades:
            shade.setImage(picture, autoLevels=False)
            shade.setRect(0.0, 0.0, float(k), float(len(dormant)))

    def cell_text(self, layer: int, row: int, column: int) -> str | None:
        """What the tooltip says of one cell: neuron, orbit (full name), value."""
        snapshot, context = self.snapshot, self.context
        neuron = self.neuron_at_row(row)
        if snapshot is None or context is None or neuron is None \
                or not 0 <= column < context.num_orbits:
            return None
        power = np.asarray(snapshot.power)
        dominant = int(np.asarray(snapshot.dominant_orbit)[neuron])
        text = (f"neuron {neuron}, {theme.LAYER_NAMES[layer]} ({'abc'[layer]})\n"
                f"orbit {context.orbit_labels[column]} "
                f"(dim {int(context.orbit_dims[column])})\n"
                f"p = {float(power[layer, neuron, column]):.3f}   "
                f"dominant: {context.orbit_labels[dominant]}")
        if 0 <= row < len(self.dormant) and self.dormant[row]:
            text += (f"\ndormant: ‖(a, b, c)‖ below {DORMANT_SHARE:.0%} of the largest "
                     "neuron's")
        return text

    def _update_order(self, power: np.ndarray, dominant: np.ndarray) -> None:
        if not self.sort_box.isChecked():
            self.order = np.arange(power.shape[1], dtype=np.int64)
            return
        if getattr(self, "_needs_full_sort", True):
            layers_mean = power.mean(axis=0)  # display key only: strength on the dominant orbit
            strength = layers_mean[np.arange(power.shape[1]), dominant]
            self.order = np.lexsort((-strength, dominant)).astype(np.int64)
            self._needs_full_sort = False
            return
        # stable: neurons keep their relative order within an orbit group
        self.order = self.order[np.argsort(dominant[self.order], kind="stable")]

    def _draw_separators(self, sorted_dominant: np.ndarray, k: int) -> None:
        if not self.sort_box.isChecked() or len(sorted_dominant) == 0:
            for separator in self.separators:
                separator.setData([], [])
            return
        edges = np.flatnonzero(np.diff(sorted_dominant)) + 1.0
        x = np.tile(np.array([0.0, float(k)]), len(edges))
        y = np.repeat(edges, 2)
        for separator in self.separators:
            separator.setData(x, y)

    def _draw_selection(self, k: int) -> None:
        if not self.selected or len(self.order) == 0:
            for marker in self.markers:
                marker.setData([], [])
            self.selection_label.setText("")
            return
        position = np.empty(len(self.order), dtype=np.int64)
        position[self.order] = np.arange(len(self.order))
        rows = position[np.asarray(self.selected, dtype=np.int64)]
        x = np.tile(np.array([0.0, float(k), 0.0, float(k)]), len(rows))
        y = np.column_stack([rows, rows, rows + 1.0, rows + 1.0]).ravel().astype(float)
        for marker in self.markers:
            marker.setData(x, y)
        names = ", ".join(str(m) for m in self.selected[:6])
        more = "…" if len(self.selected) > 6 else ""
        self.selection_label.setText(f"selected: {names}{more}")

    # -------------------------------------------------------------- interaction
    def resort(self) -> None:
        """Sort afresh by dominant orbit, then by power on it."""
        self._needs_full_sort = True
        if self.snapshot is not None:
            self.show_snapshot(self.snapshot)

    def _sorting_toggled(self, _checked: bool) -> None:
        self.resort()

    def set_selection(self, neurons: list[int]) -> None:
        """Mark these neurons (indices into the layer) as selected."""
        width = len(self.order)
        self.selected = [int(m) for m in neurons if 0 <= int(m) < max(width, 1)]
        if self.snapshot is not None:
            self._draw_selection(np.asarray(self.snapshot.power).shape[2])

    def neuron_at_row(self, row: int) -> int | None:
        """The neuron drawn in sorted row ``row`` (None outside the map)."""
        if 0 <= row < len(self.order):
            return int(self.order[row])
        return None

    def _scene_hovered(self, position) -> None:
        for layer, plot in enumerate(self.plots):
            if plot.vb.sceneBoundingRect().contains(position):
                point = plot.vb.mapSceneToView(position)
                text = self.cell_text(layer, int(np.floor(point.y())), int(np.floor(point.x())))
                if text:
                    view = self.canvas
                    QToolTip.showText(view.mapToGlobal(view.mapFromScene(position)), text, view)
                return

    def _scene_clicked(self, event) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            return
        position = event.scenePos()
        for plot in self.plots:
            if plot.sceneBoundingRect().contains(position):
                point = plot.vb.mapSceneToView(position)
                neuron = self.neuron_at_row(int(np.floor(point.y())))
                if neuron is not None:
                    additive = bool(event.modifiers() & (Qt.KeyboardModifier.ControlModifier
                                                         | Qt.KeyboardModifier.ShiftModifier))
                    self.neuron_clicked.emit(neuron, additive)
                return
