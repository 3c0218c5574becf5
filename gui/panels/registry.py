"""Every view of the window, in one list: a new panel is one new module and one line here.

Each entry names the panel's key (used by the View menu, the exports and the video
layouts), its class, where its dock goes in the default layout, and whether the
offscreen frames of videos and pictures may hold it (panels that draw from recorded
snapshots and history alone).
"""

from __future__ import annotations

from dataclasses import dataclass

from gui.panels.agf_rounds import AgfRoundsPanel
from gui.panels.alignment import AlignmentPanel
from gui.panels.answers import AnswersPanel
from gui.panels.base import Panel
from gui.panels.diversification import DiversificationPanel
from gui.panels.function_power import FunctionPowerPanel
from gui.panels.loss import LossPanel
from gui.panels.neuron_inspector import NeuronInspectorPanel
from gui.panels.phase_circles import PhaseCirclesPanel
from gui.panels.power_heatmaps import PowerHeatmapsPanel

CENTRAL, RIGHT, BOTTOM = "central", "right", "bottom"


@dataclass(frozen=True)
class PanelEntry:
    """One view: ``area`` is central (the views there are tabs of the centre, the first
    in front), right or bottom; ``tab_with`` puts its dock in a tab behind another
    panel's; ``share`` is its part of its row or column."""

    key: str
    panel_class: type[Panel]
    area: str
    tab_with: str = ""
    share: float = 1.0
    in_frames: bool = True


PANELS: tuple[PanelEntry, ...] = (
    PanelEntry("heatmaps", PowerHeatmapsPanel, CENTRAL),
    PanelEntry("answers", AnswersPanel, CENTRAL, in_frames=False),
    PanelEntry("loss", LossPanel, RIGHT, share=0.55),
    PanelEntry("function_power", FunctionPowerPanel, RIGHT, share=0.45),
    PanelEntry("agf", AgfRoundsPanel, RIGHT, tab_with="function_power", in_frames=False),
    PanelEntry("phases", PhaseCirclesPanel, BOTTOM, share=0.3),
    PanelEntry("alignment", AlignmentPanel, BOTTOM, share=0.2),
    PanelEntry("diversification", DiversificationPanel, BOTTOM, share=0.2),
    PanelEntry("inspector", NeuronInspectorPanel, BOTTOM, share=0.3, in_frames=False),
)


def panel_entry(key: str) -> PanelEntry:
    """The entry called ``key`` (KeyError when there is none)."""
    for entry in PANELS:
        if entry.key == key:
            return entry
    raise KeyError(key)


def frame_panel_classes() -> dict[str, str]:
    """Key -> class name of the panels offscreen frames may hold."""
    return {entry.key: entry.panel_class.__name__ for entry in PANELS if entry.in_frames}
