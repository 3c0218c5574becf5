"""(e) Rank-one and alignment summary: σ₂/σ₁ of â, b̂, ĉ and the alignment |z|."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PyQt6.QtWidgets import QLabel

from gui import theme
from gui.panels.base import Panel, SteadyRange, fit_axis_label, fix_text_height
from gui.panels.spaced_axis import SpacedAxis
from gui.run_context import RunContext

DEFINITION = (
    "Rank one: for neurons whose dominant orbit has irreps of dimension ≥ 2, the ratio "
    "σ₂/σ₁ of the two largest singular values of â[ρ], b̂[ρ], ĉ[ρ] at the dominant irrep "
    "(0 = rank one; theory: all three become rank one). The summary gives the share of "
    "those neurons with σ₂/σ₁ < 0.1 in θ¹, θ² and ξ, per irrep dimension. At a quaternionic "
    "irrep the singular values pair up, so the measure is rank one over the quaternions: "
    "σ₃/σ₁ (2-dim quaternionic irreps are rank one over ℍ by construction).\n"
    "Alignment: |z| with z = tr(ĉ† b̂ â) / (‖b̂ â‖_F ‖ĉ‖_F), for every neuron (theory: "
    "ĉ is a positive multiple of b̂ â, so |z| → 1 and arg z → 0)."
)
BINS = np.linspace(0.0, 1.0, 26)


def end_ticks(plot: pg.PlotItem, steady: SteadyRange) -> None:
    """Label a short count axis at 0 and its top only (more labels would run together
    in a histogram a few lines high)."""
    if steady.current is None:
        return
    top = steady.current[1]
    axis = plot.getAxis("left")
    if getattr(axis, "end_tick", None) != top:  # new ticks redraw the axis: only on change
        axis.end_tick = top
        axis.setTicks([[(0.0, "0"), (top, f"{top:g}")], []])


def layer_key() -> str:
    """θ¹ θ² ξ, each in the colour of its histogram (HTML)."""
    return " ".join(f"<span style='color:{colour}'>{name}</span>"
                    for name, colour in zip(theme.LAYER_NAMES, theme.LAYER_COLOURS, strict=True))


class AlignmentPanel(Panel):
    """Histograms of σ₂/σ₁ per layer (matrix irreps) and of |z|, with a one-line summary."""

    title = "Rank one and alignment"
    definition = DEFINITION

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.summary = QLabel("")
        self.summary.setObjectName("muted")
        self.summary.setWordWrap(True)
        fix_text_height(self.summary, 3)
        self.summary.setToolTip(DEFINITION)
        self.layout_.addWidget(self.summary)
        self.canvas = pg.GraphicsLayoutWidget()
        self.canvas.setToolTip(DEFINITION)
        self.layout_.addWidget(self.canvas, 1)
        self.rank_plot = self.canvas.addPlot(row=0, col=0,
                                             axisItems={"left": SpacedAxis("left")})
        # the layers' names in their colours stand for a legend: a legend inside a plot
        # a few lines high would sit on the bars
        self.rank_plot.setTitle(theme.plot_title("σ₂/σ₁, dim ≥ 2: " + layer_key()))
        self.align_plot = self.canvas.addPlot(row=1, col=0,
                                              axisItems={"left": SpacedAxis("left")})
        self.align_plot.setTitle(theme.plot_title("|z|"))
        for plot in (self.rank_plot, self.align_plot):
            plot.setMenuEnabled(False)
            plot.hideButtons()
            plot.setMouseEnabled(x=False, y=False)
            plot.setXRange(0, 1, padding=0.02)
            fit_axis_label(plot.getAxis("left"), ["neurons"])
        self.rank_y_range = SteadyRange(self.rank_plot, "y")
        self.align_y_range = SteadyRange(self.align_plot, "y")
        self.rank_curves = []
        for colour in theme.LAYER_COLOURS:
            fill = pg.mkColor(colour)
            fill.setAlpha(45)
            curve = self.rank_plot.plot(stepMode="center", fillLevel=0, brush=pg.mkBrush(fill),
                                        pen=pg.mkPen(colour, width=1.5), antialias=False)
            self.rank_curves.append(curve)
        self.align_bars = self.align_plot.plot(
            stepMode="center", fillLevel=0, pen=pg.mkPen(theme.GOOD, width=1.2),
            brush=pg.mkBrush(139, 212, 156, 90), antialias=False)  # bars: edges on pixels

    def set_context(self, context: RunContext) -> None:
        super().set_context(context)
        for curve in self.rank_curves:
            curve.setData([], [])
        self.align_bars.setData([], [])
        self.summary.setText("")

    def show_snapshot(self, snapshot: Any) -> None:
        super().show_snapshot(snapshot)
        if snapshot is None or self.context is None:
            return
        dominant = np.asarray(snapshot.dominant_orbit)
        matrix = self.context.orbit_dims[dominant] >= 2
        ratios = np.asarray(snapshot.sigma_ratio, dtype=float)[:, matrix]
        highest = 0
        for layer, curve in enumerate(self.rank_curves):
            values = ratios[layer][np.isfinite(ratios[layer])]
            counts, _ = np.histogram(values, bins=BINS)
            curve.setData(BINS, counts)
            highest = max(highest, int(counts.max()))
        self.rank_y_range.set_ceiling(1.05 * max(highest, 1))
        end_ticks(self.rank_plot, self.rank_y_range)
        modulus = np.abs(np.asarray(snapshot.alignment))
        modulus = modulus[np.isfinite(modulus)]
        counts, _ = np.histogram(np.clip(modulus, 0, 1), bins=BINS)
        self.align_bars.setData(BINS, counts)
        self.align_y_range.set_ceiling(1.05 * max(int(counts.max()), 1))
        end_ticks(self.align_plot, self.align_y_range)
        from backend.metrics import rank_one_over_quaternions_text  # torch: not at launch

        indicators = self.context.orbit_indicators
        fractions = snapshot.rank_one_fraction(self.context.orbit_dims, indicators)
        quaternionic = ("" if indicators is None else rank_one_over_quaternions_text(
            snapshot.quaternionic_rank_one_fraction(self.context.orbit_dims, indicators)))
        text = []
        if quaternionic:
            text.append(quaternionic)
        if fractions:
            text.append("rank one: " + ", ".join(
                f"{100 * share:.0f}% ({dim}-dim)" for dim, share in fractions.items()))
        elif not quaternionic:
            text.append("no neuron on a matrix irrep")
        text.append(f"mean |z| {snapshot.mean_alignment:.3f}, "
                    f"|sin arg z| {snapshot.mean_abs_sin_phase:.3f}")
        self.summary.setText(";  ".join(text))
        self.summary.setToolTip(self.summary.text() + "\n\n" + DEFINITION)  # never cut
