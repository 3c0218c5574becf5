"""(h) The network's answers: the table of all pairs, and one pair's majority vote.

Top: the n × n table of the moment shown, row g1, column g2 — green where the network
answers g1·g2, red where it does not (or the margin, in the same colours); held-out
pairs are drawn paler. Groups beyond backend.answers.MAX_SIDE elements are shown as a
grid of blocks of consecutive elements (share of correct pairs, mean margin); where the
snapshots are sampled (large groups on the exact path) each cell holds the figures of a
few sampled pairs of its block, and the summary says how many.
Bottom: click a cell to see that pair's vote: each orbit's summed contribution to every
class score (measured on the live weights), the correct product framed.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtGui import QFontMetricsF
from PyQt6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QToolTip

from backend.pair_sample import answers_label
from gui import theme
from gui.panels.base import HeatMapImage, Panel, fix_text_height, fix_text_width
from gui.panels.orbit_axis import ColumnAxis, abbreviate
from gui.run_context import RunContext

DEFINITION = (
    "The network's answers. Table: row g1, column g2; green where the class score of "
    "g1·g2 is the largest (the pair is answered correctly), red where another class wins; "
    "in margin mode the colour is the margin s[g1·g2] − max over the other classes, "
    "clipped at ± its largest size. Held-out pairs are paler. Large groups: blocks of "
    "consecutive elements, each the share of correct pairs (or the mean margin); on the "
    "largest groups those of a fixed seeded sample of pairs in each block, as the "
    "summary says (\"answers, 4 sampled pairs per cell\").\n"
    "Click a cell: its majority vote (theory, MATH §4) — the score of class j is "
    "Σ_m s_m σ(a_m(g1) + b_m(g2)) c_m(j); the rows split it by the neurons' dominant orbit. "
    "The correct product is framed. The vote is measured on the live weights."
)
MODES = ("correct / wrong", "margin")
RIGHT_COLOUR = np.array([139, 212, 156])
WRONG_COLOUR = np.array([247, 108, 108])
PALE = 0.45  # brightness of held-out cells


def table_picture(values: np.ndarray, held_out: np.ndarray | None, signed: bool
                  ) -> np.ndarray:
    """RGBA (R, R, 4) uint8 of a table: ``values`` in [0, 1] (share correct, 0.5 grey)
    or signed in [−1, 1] (margins, scaled); held-out cells paler."""
    values = np.nan_to_num(np.asarray(values, dtype=np.float64))
    weight = (np.clip(values, -1, 1) + 1) / 2 if signed else np.clip(values, 0, 1)
    background = np.array([32, 37, 47], dtype=np.float64)
    strength = np.abs(2 * weight - 1)[..., None]
    hue = np.where(weight[..., None] >= 0.5, RIGHT_COLOUR, WRONG_COLOUR)
    colour = background + strength * (hue - background)
    if held_out is not None and held_out.shape == values.shape:
        colour = colour * (1 - (1 - PALE) * held_out[..., None])
    picture = np.empty(values.shape + (4,), dtype=np.uint8)
    picture[..., :3] = np.clip(colour, 0, 255)
    picture[..., 3] = 255
    return picture


class AnswersPanel(Panel):
    """The answer table of the moment shown and the vote of the clicked pair."""

    title = "Answers and votes"
    definition = DEFINITION
    pair_clicked = pyqtSignal(int, int)  # g1, g2

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        bar = QHBoxLayout()
        bar.addWidget(QLabel("Show"))
        self.mode_box = QComboBox()
        self.mode_box.addItems(MODES)
        self.mode_box.setToolTip("Colour the pairs by correct / wrong, or by the margin.")
        self.mode_box.currentIndexChanged.connect(lambda _i: self._draw_table())
        bar.addWidget(self.mode_box)
        self.summary = QLabel("")
        self.summary.setObjectName("muted")
        fix_text_width(self.summary)
        bar.addWidget(self.summary, 1)
        self.layout_.addLayout(bar)
        self.canvas = pg.GraphicsLayoutWidget()
        self.canvas.setToolTip(DEFINITION)
        self.layout_.addWidget(self.canvas, 1)
        self.table_plot = self.canvas.addPlot(row=0, col=0)
        self.vote_plot = self.canvas.addPlot(row=0, col=1,
                                             axisItems={"bottom": ColumnAxis()})
        for plot in (self.table_plot, self.vote_plot):
            plot.setMenuEnabled(False)
            plot.hideButtons()
            plot.setMouseEnabled(x=False, y=False)
            plot.invertY(True)
        self.table_plot.setTitle(theme.plot_title("g1 (rows) · g2 (columns)"))
        self.table_plot.setAspectLocked(True)
        self.table_plot.hideAxis("bottom")
        self.table_plot.hideAxis("left")
        self.vote_plot.setTitle(theme.plot_title("vote: orbit (rows) → class score"))
        self.table_image = HeatMapImage(axisOrder="row-major")
        self.table_plot.addItem(self.table_image)
        self.pick = pg.PlotCurveItem(pen=pg.mkPen(theme.CURSOR_COLOUR, width=2))
        self.table_plot.addItem(self.pick)
        self.vote_image = HeatMapImage(axisOrder="row-major")
        self.vote_image.setLookupTable(pg.colormap.get("CET-D1").getLookupTable(
            0.0, 1.0, 256, alpha=True))
        self.vote_plot.addItem(self.vote_image)
        self.correct_frame = pg.PlotCurveItem(pen=pg.mkPen(theme.PREDICTION_COLOUR, width=2))
        self.vote_plot.addItem(self.correct_frame)
        self.vote_note = QLabel("Click a cell of the table to see how the neurons vote.")
        self.vote_note.setObjectName("muted")
        self.vote_note.setWordWrap(True)
        fix_text_height(self.vote_note, 2)
        self.layout_.addWidget(self.vote_note)
        self.vote_plot.vb.sigResized.connect(self._label_vote_rows)
        self._row_stride = 0
        self.canvas.scene().sigMouseClicked.connect(self._clicked)
        self.canvas.scene().sigMouseMoved.connect(self._hovered)
        self.vote: Any = None
        self.picked: tuple[int, int] | None = None

    # -------------------------------------------------------------- drawing
    def set_context(self, context: RunContext) -> None:
        super().set_context(context)
        self.table_image.clear()
        self.vote_image.clear()
        self.pick.setData([], [])
        self.correct_frame.setData([], [])
        self.vote = None
        self.picked = None
        self.vote_note.setText("Click a cell of the table to see how the neurons vote.")
        rows = len(context.answer_edges) - 1 if context.answer_edges is not None else 0
        self.table_plot.setRange(xRange=(0, max(rows, 1)), yRange=(0, max(rows, 1)),
                                 padding=0)
        self.vote_plot.getAxis("bottom").set_labels(list(context.element_names))
        self.vote_plot.setRange(xRange=(0, context.order), yRange=(0, context.num_orbits),
                                padding=0)
        self._row_stride = 0
        self._label_vote_rows()

    def _label_vote_rows(self, *_args) -> None:
        """Name the vote's rows (orbits), every one when a line of text fits a row, else
        every second, third… (the tooltips name them all)."""
        context = self.context
        if context is None or context.num_orbits == 0:
            return
        line = QFontMetricsF(self.vote_plot.getAxis("left").font()).height()
        height = max(self.vote_plot.vb.height(), 1.0)
        stride = max(1, int(np.ceil(context.num_orbits * line / height)))
        if stride == self._row_stride:
            return
        self._row_stride = stride
        labels = [abbreviate(label) for label in context.orbit_labels]
        self.vote_plot.getAxis("left").setTicks(
            [[(i + 0.5, labels[i]) for i in range(0, context.num_orbits, stride)], []])

    def show_snapshot(self, snapshot: Any) -> None:
        super().show_snapshot(snapshot)
        self._draw_table()

    def _draw_table(self) -> None:
        snapshot, context = self.snapshot, self.context
        if snapshot is None or context is None:
            return
        margin = getattr(snapshot, "answer_margin", None)
        correct = getattr(snapshot, "answer_correct", None)
        if margin is None or correct is None:
            self.table_image.clear()
            self.summary.setText("this recording has no answer table")
            return
        signed = self.mode_box.currentIndex() == 1
        values = correct
        if signed:
            scale = float(np.nanmax(np.abs(margin))) if np.size(margin) else 1.0
            values = np.asarray(margin) / (scale if scale > 0 else 1.0)
        self.table_image.setImage(table_picture(values, context.held_out, signed),
                                  autoLevels=False)
        share = float(np.mean(np.asarray(correct)))
        block = "" if len(context.answer_edges) - 1 == context.order else \
            f", blocks of ~{context.order / (len(context.answer_edges) - 1):.1f} elements"
        sampled = int(getattr(snapshot, "answer_pairs_per_cell", 0))
        label = f"{answers_label(sampled)}: " if sampled else ""
        self.summary.setText(f"{label}{100 * share:.1f}% of the cells right{block}")
        self.summary.setToolTip(self.summary.text())

    def show_vote(self, vote: Any, step: int, note: str = "") -> None:
        """Draw a measured vote (None: show ``note`` instead)."""
        context = self.context
        if vote is None or context is None:
            self.vote_note.setText(note or "no vote")
            return
        self.vote = vote
        per_orbit = np.asarray(vote.per_orbit, dtype=np.float64)
        extent = float(np.max(np.abs(per_orbit))) if per_orbit.size else 1.0
        extent = extent if extent > 0 else 1.0
        self.vote_image.setImage(per_orbit.astype(np.float32), autoLevels=False,
                                 levels=(-extent, extent))
        self.vote_image.setRect(0.0, 0.0, float(per_orbit.shape[1]), float(per_orbit.shape[0]))
        j, k = vote.correct, per_orbit.shape[0]
        self.correct_frame.setData([j, j + 1, j + 1, j, j], [0, 0, k, k, 0])
        names = context.element_names
        verdict = "right" if vote.answer == vote.correct else \
            f"wrong: it answers {names[vote.answer]}"
        self.vote_note.setText(
            f"{names[vote.g1]} · {names[vote.g2]} = {names[vote.correct]} (framed); the "
            f"network is {verdict}, margin {vote.margin:+.3g}; live weights, step {step:,}")

    # -------------------------------------------------------------- interaction
    def cell_at(self, position) -> tuple[int, int] | None:
        """(row, column) of the table cell under a scene position (None outside)."""
        view = self.table_plot.vb
        context = self.context
        if context is None or context.answer_edges is None or \
                not view.sceneBoundingRect().contains(position):
            return None
        point = view.mapSceneToView(position)
        row, column = int(np.floor(point.y())), int(np.floor(point.x()))
        rows = len(context.answer_edges) - 1
        if 0 <= row < rows and 0 <= column < rows:
            return row, column
        return None

    def pair_of_cell(self, row: int, column: int) -> tuple[int, int]:
        """The pair (g1, g2) a cell stands for (the first of its block)."""
        edges = self.context.answer_edges
        return int(edges[row]), int(edges[column])

    def cell_text(self, row: int, column: int) -> str | None:
        snapshot, context = self.snapshot, self.context
        if snapshot is None or context is None or getattr(snapshot, "answer_margin",
                                                          None) is None:
            return None
        names, edges = context.element_names, context.answer_edges
        margin = float(np.asarray(snapshot.answer_margin)[row, column])
        correct = float(np.asarray(snapshot.answer_correct)[row, column])
        held = context.held_out is not None and context.held_out[row, column] > 0
        if edges[row + 1] - edges[row] == 1 and edges[column + 1] - edges[column] == 1:
            g1, g2 = int(edges[row]), int(edges[column])
            product = names[int(context.cayley_table[g1, g2])] \
                if context.cayley_table is not None else "?"
            return (f"{names[g1]} · {names[g2]} = {product}\n"
                    f"{'right' if correct > 0.5 else 'wrong'}, margin {margin:+.3g}"
                    f"{'  (held out)' if held else '  (trained)'}")
        sampled = int(getattr(snapshot, "answer_pairs_per_cell", 0))
        pairs = f" of {sampled} sampled pairs" if sampled else ""
        return (f"rows {names[edges[row]]}…{names[edges[row + 1] - 1]}, columns "
                f"{names[edges[column]]}…{names[edges[column + 1] - 1]}\n"
                f"{100 * correct:.0f}% right{pairs}, mean margin {margin:+.3g}\n"
                f"click: the vote of {names[edges[row]]} · {names[edges[column]]}")

    def _clicked(self, event) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            return
        cell = self.cell_at(event.scenePos())
        if cell is None:
            return
        row, column = cell
        self.picked = cell
        self.pick.setData([column, column + 1, column + 1, column, column],
                          [row, row, row + 1, row + 1, row])
        self.vote_note.setText("measuring the vote…")
        self.pair_clicked.emit(*self.pair_of_cell(row, column))

    def _hovered(self, position) -> None:
        cell = self.cell_at(position)
        text = self.cell_text(*cell) if cell is not None else self._vote_text(position)
        if text:
            QToolTip.showText(self.canvas.mapToGlobal(self.canvas.mapFromScene(position)),
                              text, self.canvas)

    def _vote_text(self, position) -> str | None:
        view, vote, context = self.vote_plot.vb, self.vote, self.context
        if vote is None or context is None or not view.sceneBoundingRect().contains(position):
            return None
        point = view.mapSceneToView(position)
        orbit, j = int(np.floor(point.y())), int(np.floor(point.x()))
        per_orbit = np.asarray(vote.per_orbit)
        if not (0 <= orbit < per_orbit.shape[0] and 0 <= j < per_orbit.shape[1]):
            return None
        mark = " (the correct product)" if j == vote.correct else ""
        return (f"orbit {context.orbit_labels[orbit]} → class {context.element_names[j]}"
                f"{mark}\ncontribution {per_orbit[orbit, j]:+.4g}; "
                f"total score {float(vote.scores[j]):+.4g}")
