"""The views of a run. Each panel draws a pure function of (snapshot, RunContext, history),
so the same classes serve the live window, the timeline and offscreen video frames.

The list of panels, with where each one docks, is gui.panels.registry.PANELS."""

from gui.panels.base import Panel
from gui.panels.loss import LossPanel
from gui.panels.power_heatmaps import PowerHeatmapsPanel

__all__ = ["LossPanel", "Panel", "PowerHeatmapsPanel"]
