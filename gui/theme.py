"""Colours, colour maps, fonts and the style sheet: one place for how the app looks."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PyQt6.QtGui import QColor

RESOURCES = Path(__file__).resolve().parents[1] / "resources"
STYLE_SHEET = RESOURCES / "style" / "studio.qss"
ICONS = RESOURCES / "icons"

BACKGROUND = "#1b1f27"
PANEL_BACKGROUND = "#20252f"
FOREGROUND = "#d8dee9"
MUTED = "#8a93a6"
ACCENT = "#5fb3f9"
ERROR = "#ff7a7a"
GOOD = "#8bd49c"

LAYER_NAMES = ("θ¹", "θ²", "ξ")
LAYER_COLOURS = ("#5fb3f9", "#f7b955", "#c792ea")
LOSS_COLOUR = "#e6edf7"
TRAIN_ACCURACY_COLOUR = "#8bd49c"
TEST_ACCURACY_COLOUR = "#f78c6c"
PREDICTION_COLOUR = "#ffcb6b"
SIMULATED_COLOUR = "#c792ea"  # AGF (simulated) on the loss plot
CURSOR_COLOUR = "#ff5370"

# Okabe-Ito first (colour-blind safe), then evenly spaced hues for large groups; ordered
# so that the first five differ in hue, not only in shade (its two blues read alike on
# the dark background: C11's k=±1 and k=±5 were both blue).
_CATEGORICAL = ("#56b4e9", "#e69f00", "#009e73", "#f0e442", "#d55e00", "#0072b2",
                "#cc79a7", "#9ad0f5", "#ffd27f", "#7fd6b9", "#b3b3b3")


def configure_pyqtgraph() -> None:
    """Global pyqtgraph options: row-major images, antialiasing, the dark palette."""
    pg.setConfigOptions(
        imageAxisOrder="row-major", antialias=True, background=PANEL_BACKGROUND,
        foreground=FOREGROUND, useOpenGL=False,
    )


def orbit_colour(index: int, count: int) -> QColor:
    """A distinct colour for orbit ``index`` of ``count`` (the trivial orbit is grey)."""
    if index == 0:
        return QColor("#6b7385")
    if count <= len(_CATEGORICAL):
        return QColor(_CATEGORICAL[(index - 1) % len(_CATEGORICAL)])
    return pg.intColor(index - 1, hues=max(count - 1, 1), values=1, minValue=200)


@lru_cache(maxsize=4)
def colour_map(name: str = "viridis") -> pg.ColorMap:
    """A perceptually uniform colour map from pyqtgraph (viridis, cividis, inferno...)."""
    return pg.colormap.get(name)


@lru_cache(maxsize=4)
def lookup_table(name: str = "viridis") -> np.ndarray:
    """A 256-entry RGBA lookup table of ``name`` for ImageItem."""
    return colour_map(name).getLookupTable(0.0, 1.0, 256, alpha=True)


def style_sheet() -> str:
    """The application's Qt style sheet (empty when the resource is missing)."""
    try:
        return STYLE_SHEET.read_text(encoding="utf-8")
    except OSError:
        return ""


def plot_title(text: str) -> str:
    """HTML for a small panel title inside a plot."""
    return f"<span style='color:{MUTED};font-size:9pt'>{text}</span>"
