"""The rank-one panel on a quaternionic group says rank one over ℍ, not "0 % rank one"."""

from __future__ import annotations

from backend.config import RunConfig
from backend.training.trainer import Trainer
from gui.panels.alignment import AlignmentPanel
from gui.run_context import context_from_trainer


def test_q8_panel_reports_rank_one_over_the_quaternions(qtbot):
    trainer = Trainer(RunConfig(group="Q8", width=16, init_scale=1.0))
    panel = AlignmentPanel()
    qtbot.addWidget(panel)
    panel.set_context(context_from_trainer(trainer))
    panel.show_snapshot(trainer.metrics())
    text = panel.summary.text()
    assert "2-dim quaternionic: rank one over ℍ by construction" in text
    assert "0% of the neurons on 2-dim" not in text
