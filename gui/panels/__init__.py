"""The views of a run. Each panel draws a pure function of (snapshot, RunContext, history),
so the same classes serve the live window, the timeline and offscreen video frames."""

from gui.panels.agf_rounds import AgfRoundsPanel
from gui.panels.alignment import AlignmentPanel
from gui.panels.base import Panel
from gui.panels.diversification import DiversificationPanel
from gui.panels.function_power import FunctionPowerPanel
from gui.panels.loss import LossPanel
from gui.panels.neuron_inspector import NeuronInspectorPanel
from gui.panels.phase_circles import PhaseCirclesPanel
from gui.panels.power_heatmaps import PowerHeatmapsPanel

__all__ = [
    "AgfRoundsPanel", "AlignmentPanel", "DiversificationPanel", "FunctionPowerPanel",
    "LossPanel", "NeuronInspectorPanel", "Panel", "PhaseCirclesPanel", "PowerHeatmapsPanel",
]
