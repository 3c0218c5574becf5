"""Line widths of the time curves: one pixel in the window, their full width in pictures.

Qt strokes an antialiased line of at most one pixel on a fast path; a wider antialiased
line is filled as a polygon, which costs about ten times as much (a loss curve of 20 000
steps, 570 pixels wide: 1.2 ms at one pixel, 11 ms at 1.6 pixels; 3.3 ms at 1.6 pixels
without antialiasing, and jagged). The curves that grow with a run (loss, accuracies,
learned power, the inspector's race, the AGF panel's gradient-descent loss) are drawn one
pixel wide in the window, antialiased, while exported pictures and video frames, painted
once each, draw the width a curve was made with (``full_widths``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pyqtgraph as pg
from PyQt6.QtGui import QPen
from PyQt6.QtWidgets import QWidget

LIVE_WIDTH = 1.0
FULL_PEN = "full_pen"  # the attribute that holds a curve's full-width pen


def live_pen(pen: QPen) -> QPen:
    """``pen`` at most LIVE_WIDTH wide (a copy)."""
    thin = QPen(pen)
    thin.setWidthF(min(pen.widthF(), LIVE_WIDTH))
    return thin


def thin_in_window(curve, pen: QPen):
    """Draw ``curve`` (a PlotDataItem or PlotCurveItem) with ``pen`` in pictures and with
    its one-pixel copy in the window; returns the curve."""
    setattr(curve, FULL_PEN, QPen(pen))
    curve.setPen(live_pen(pen))
    return curve


def time_curves(widget: QWidget) -> list:
    """The curves of ``widget``'s plots made with ``thin_in_window``."""
    views = widget.findChildren(pg.GraphicsView)
    if isinstance(widget, pg.GraphicsView):
        views.append(widget)
    return [item for view in views for item in view.scene().items()
            if getattr(item, FULL_PEN, None) is not None]


def set_full_widths(widget: QWidget, full: bool) -> None:
    """Draw the time curves of ``widget``'s plots at their full width (True) or one pixel
    wide (False)."""
    for curve in time_curves(widget):
        pen = getattr(curve, FULL_PEN)
        curve.setPen(pen if full else live_pen(pen))


@contextlib.contextmanager
def full_widths(widget: QWidget) -> Iterator[None]:
    """Within the block, ``widget``'s time curves are drawn at their full width; after it,
    with the pens they had before."""
    curves = time_curves(widget)
    before = [QPen(curve.opts["pen"]) for curve in curves]
    for curve in curves:
        curve.setPen(getattr(curve, FULL_PEN))
    try:
        yield
    finally:
        for curve, pen in zip(curves, before, strict=True):
            curve.setPen(pen)
