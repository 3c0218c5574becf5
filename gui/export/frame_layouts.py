"""Named arrangements of panels for video frames and command-line snapshots.

A layout is a grid: each entry places one panel at (row, column) spanning some rows and
columns; ``column_stretch`` and ``row_stretch`` share out the frame.
"""

from __future__ import annotations

from dataclasses import dataclass

from backend.errors import UserError


@dataclass(frozen=True)
class Placement:
    panel: str
    row: int
    column: int
    row_span: int = 1
    column_span: int = 1


@dataclass(frozen=True)
class FrameLayout:
    name: str
    description: str
    placements: tuple[Placement, ...]
    column_stretch: tuple[int, ...]
    row_stretch: tuple[int, ...]


LAYOUTS: dict[str, FrameLayout] = {
    layout.name: layout
    for layout in (
        FrameLayout(
            "overview",
            "six views: power heat maps, loss, learned power; phases, alignment, "
            "diversification",
            (
                Placement("heatmaps", 0, 0), Placement("loss", 0, 1),
                Placement("function_power", 0, 2), Placement("phases", 1, 0),
                Placement("alignment", 1, 1), Placement("diversification", 1, 2),
            ),
            (4, 3, 3), (1, 1),
        ),
        FrameLayout(
            "learning",
            "power heat maps beside the loss staircase and the learned power",
            (
                Placement("heatmaps", 0, 0, row_span=2), Placement("loss", 0, 1),
                Placement("function_power", 1, 1),
            ),
            (1, 1), (1, 1),
        ),
        FrameLayout(
            "geometry",
            "phases and alignment over the heat maps and the diversification",
            (
                Placement("phases", 0, 0, column_span=2), Placement("heatmaps", 1, 0),
                Placement("alignment", 1, 1),
            ),
            (1, 1), (1, 1),
        ),
        FrameLayout("heatmaps", "the power heat maps alone",
                    (Placement("heatmaps", 0, 0),), (1,), (1,)),
        FrameLayout("loss", "the loss staircase alone",
                    (Placement("loss", 0, 0),), (1,), (1,)),
        FrameLayout("phases", "the phase circles alone",
                    (Placement("phases", 0, 0),), (1,), (1,)),
    )
}
DEFAULT_LAYOUT = "overview"


def layout_named(name: str) -> FrameLayout:
    """The layout called ``name``; a UserError lists the choices otherwise."""
    try:
        return LAYOUTS[name]
    except KeyError:
        choices = ", ".join(LAYOUTS)
        raise UserError(f"unknown layout {name!r}; choose one of {choices}") from None
