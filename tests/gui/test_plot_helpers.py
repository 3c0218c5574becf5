"""Plot helpers shared by the panels: axis ranges that do not jitter, and plots that
repaint little when their data change."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import Qt
from PyQt6.QtGui import QColor, QImage

from gui import theme
from gui.panels.base import HeatMapImage, Panel, SteadyRange, WrappedLabel
from tests.gui.conftest import axis_labels


def test_a_ceiling_is_kept_while_the_counts_wander_below_it(qtbot):
    plot = pg.PlotWidget()
    qtbot.addWidget(plot)
    axis_range = SteadyRange(plot.getPlotItem(), "y")
    axis_range.set_ceiling(410)
    assert axis_range.current == (0.0, 500.0)
    for count in (480, 380, 430, 210):  # within the ceiling, filling at least 40 % of it
        axis_range.set_ceiling(count)
        assert axis_range.current == (0.0, 500.0)
    axis_range.set_ceiling(520)
    assert axis_range.current == (0.0, 600.0)
    axis_range.set_ceiling(100)
    assert axis_range.current == (0.0, 100.0)


def test_shown_plots_are_opaque_and_keep_their_axis_labels(qtbot):
    panel = Panel()
    qtbot.addWidget(panel)
    item = panel.add_main_plot("a plot", left="power", bottom="step")
    panel.show()
    qtbot.waitExposed(panel)
    item.setYRange(0.0, 0.05)  # pyqtgraph's automatic prefix would write "power (x0.001)"
    axis = item.getAxis("left")
    assert "power" in axis.labelString() and "x0.001" not in axis.labelString()
    assert panel.plot.viewport().testAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
    assert axis.cacheMode() == axis.CacheMode.DeviceCoordinateCache


def test_heat_maps_are_kept_as_premultiplied_pictures_of_the_colour_map():
    image = HeatMapImage(axisOrder="row-major")
    lut = theme.lookup_table("viridis")
    image.setLookupTable(lut)
    image.setImage(np.array([[0.0, 1.0]], dtype=np.float32), autoLevels=False,
                   levels=(0.0, 1.0))
    image.render()
    assert image.qimage.format() == QImage.Format.Format_ARGB32_Premultiplied
    assert QColor(image.qimage.pixel(0, 0)).getRgb() == tuple(int(v) for v in lut[0])
    assert QColor(image.qimage.pixel(1, 0)).getRgb() == tuple(int(v) for v in lut[-1])


def test_a_wrapped_label_is_as_tall_as_its_text_within_its_bounds(qtbot):
    """Its height follows the lines its text takes at its width (never below the fewest,
    never above the most, where the tooltip holds the whole text), and a new text of as
    many lines leaves the height, and so the layout around it, as it was."""
    label = WrappedLabel(2, 4)
    qtbot.addWidget(label)
    label.resize(240, 10)
    label.show()  # a hidden widget gets its resize events only when shown
    line = label.fontMetrics().lineSpacing()
    label.setText("short")
    assert label.height() == 2 * line + 4 and not label.toolTip()
    words = " ".join(["neurons per orbit"] * 6)
    label.setText(words)
    assert label.lines_needed() >= 3
    expected = min(4, label.lines_needed())
    assert label.height() == expected * line + 4
    label.setText(words.replace("neurons", "neuronz"))
    assert label.height() == expected * line + 4
    assert label.mask().isEmpty()  # every line shown whole
    label.setText(" ".join(["neurons per orbit"] * 40))
    assert label.height() == 4 * line + 4
    assert label.toolTip() == label.text()
    # cut after four whole lines: the top of the fifth does not show in the margin
    shown = label.mask().boundingRect().height()
    assert 4 * line - 2 <= shown < label.height() + 1 and shown < 4 * line + 4
    label.setText("<b>Round 1</b>: " + " ".join(["neurons per orbit"] * 40))
    assert label.lines_needed() > 4 and not label.mask().isEmpty()  # rich text alike
    label.setText(" ".join(["neurons per orbit"] * 40))
    label.resize(2000, label.height())  # wider: the same long text takes 2-3 lines
    assert 2 <= label.lines_needed() <= 3
    assert label.height() == label.lines_needed() * line + 4 and not label.toolTip()
    assert label.mask().isEmpty()
    label.setText(words)
    assert label.lines_needed() == 1
    assert label.height() == 2 * line + 4 and not label.toolTip()


def test_an_axis_title_shows_whenever_it_fits_its_axis(qtbot):
    """fit_axis_label hides a title only when it is longer than its axis: three pixels
    to spare keep it (at 1280x800 the loss plot's 60-pixel axis holds "accuracy", 54
    pixels), three too few hide it, and the longer form takes over where it fits."""
    from PyQt6.QtGui import QFontMetricsF

    from gui.panels.base import fit_axis_label

    plot = pg.PlotWidget()
    qtbot.addWidget(plot)
    plot.resize(300, 200)
    plot.show()
    axis = plot.getPlotItem().getAxis("left")
    fit_axis_label(axis, ["accuracy, 4096 sampled pairs", "accuracy"])
    text = QFontMetricsF(axis.label.font()).horizontalAdvance("accuracy")

    def room_of(target: float) -> float:
        for _ in range(3):  # the axis's length follows the widget's height one to one
            plot.resize(300, plot.height() + round(target - axis.geometry().height()))
            qtbot.wait(10)
        return axis.geometry().height()

    assert room_of(text + 3) >= text + 2
    assert axis.label.isVisible() and axis.labelText == "accuracy"
    assert axis.toolTip() == "accuracy, 4096 sampled pairs"
    assert room_of(text - 3) < text
    assert not axis.label.isVisible()
    room_of(400)
    assert axis.label.isVisible() and axis.labelText == "accuracy, 4096 sampled pairs"
    assert axis.toolTip() == ""


def _drawn_step_labels(qtbot, axis: pg.AxisItem, width: int,
                       scale: float = 1.0) -> list[tuple[str, object]]:
    """(text, rectangle) of every label the bottom ``axis`` draws for steps 0–3000 on a
    plot ``width`` pixels wide (the data in units of ``scale`` steps)."""
    plot = pg.PlotWidget(axisItems={"bottom": axis})
    qtbot.addWidget(plot)
    plot.resize(width, 120)
    plot.show()
    qtbot.waitExposed(plot)
    axis.setScale(scale)
    plot.setXRange(0, 3000 / scale, padding=0)
    return _drawn_labels(qtbot, axis)


def _drawn_labels(qtbot, axis: pg.AxisItem) -> list[tuple[str, object]]:
    qtbot.wait(20)
    return axis_labels(axis)


def test_step_labels_of_a_narrow_plot_never_touch(qtbot):
    """On a plot 110 pixels wide pyqtgraph's own spacing writes 1000, 2000 and 3000 as
    one word; the SpacedAxis keeps a gap between labels, and leaves a wide axis as it
    was."""
    from gui.panels.spaced_axis import GAP, SpacedAxis, next_step

    def touching(labels):
        rects = sorted((rect for _, rect in labels), key=lambda rect: rect.left())
        return any(right.left() - left.right() < GAP / 2
                   for left, right in zip(rects, rects[1:], strict=False))

    assert touching(_drawn_step_labels(qtbot, pg.AxisItem("bottom"), 110))
    narrow = _drawn_step_labels(qtbot, SpacedAxis("bottom"), 110)
    assert narrow and not touching(narrow)
    plain = [text for text, _ in _drawn_step_labels(qtbot, SpacedAxis("bottom"), 160)]
    scaled = _drawn_step_labels(qtbot, SpacedAxis("bottom"), 160, scale=1000.0)
    assert [text for text, _ in scaled] == plain == ["1000", "2000"]  # measured as drawn
    wide = [text for text, _ in _drawn_step_labels(qtbot, SpacedAxis("bottom"), 800)]
    assert wide == [text for text, _ in _drawn_step_labels(qtbot, pg.AxisItem("bottom"), 800)]
    assert [next_step(s) for s in (1.0, 2.0, 5.0, 500.0, 0.02)] == [2.0, 5.0, 10.0, 1000.0,
                                                                   0.05]


def test_hand_set_labels_that_would_touch_are_left_out(qtbot):
    """A histogram's count axis labelled at 0 and its top: on a plot one line high the
    two labels print over each other (here two ticks a pixel or two apart); the
    SpacedAxis keeps the first."""
    from gui.panels.spaced_axis import SpacedAxis

    def labels(axis):
        plot = pg.PlotWidget(axisItems={"left": axis})
        qtbot.addWidget(plot)
        plot.resize(200, 120)
        plot.show()
        qtbot.waitExposed(plot)
        plot.setYRange(0, 60, padding=0)  # 0 and 1.2 a pixel or two apart
        axis.setTicks([[(0.0, "0"), (1.2, "1.2")], []])
        return _drawn_labels(qtbot, axis)

    plain = labels(pg.AxisItem("left"))
    assert [text for text, _ in plain] == ["0", "1.2"] and plain[0][1].intersects(plain[1][1])
    assert [text for text, _ in labels(SpacedAxis("left"))] == ["0"]
