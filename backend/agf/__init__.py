"""Alternating Gradient Flows: closed-form staircase, numerical rounds, comparison with GD."""

from backend.agf.simulation import AgfResult, AgfRound, run_agf
from backend.agf.staircase import DetectedDrop, detect_drops
from backend.agf.theory import PredictedDrop, predict_staircase

__all__ = [
    "AgfResult",
    "AgfRound",
    "DetectedDrop",
    "PredictedDrop",
    "detect_drops",
    "predict_staircase",
    "run_agf",
]
