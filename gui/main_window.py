"""The main window: controls, the dockable views, the timeline and the status bar.

The window owns no model. It sends commands to the TrainingWorker, keeps what it was shown
in a RunRecord, and draws either the latest snapshot (live) or the scrubbed moment.
"""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path
from typing import Any

from PyQt6.QtCore import QCoreApplication, QEvent, QSettings, Qt, QTimer, pyqtSignal
from PyQt6.QtGui import QAction, QKeySequence
from PyQt6.QtWidgets import (
    QCheckBox,
    QDockWidget,
    QDoubleSpinBox,
    QGraphicsView,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QPushButton,
    QScrollArea,
    QSlider,
    QSpinBox,
    QToolBar,
    QWidget,
)

from gui.config_form import ConfigForm
from gui.panels import (
    AgfRoundsPanel,
    AlignmentPanel,
    DiversificationPanel,
    FunctionPowerPanel,
    LossPanel,
    NeuronInspectorPanel,
    Panel,
    PhaseCirclesPanel,
    PowerHeatmapsPanel,
)
from gui.panels.base import settle_plots
from gui.run_context import RunContext
from gui.run_record import RunRecord
from gui.training_worker import IDLE, TrainingWorker
from gui.window_actions import window_action
from gui.worker_commands import (
    Inspect,
    LoadState,
    Pause,
    Perturb,
    Reset,
    RunToNextDrop,
    SetLearningRate,
    Start,
    Step,
    WorkerReport,
)

MESSAGE_SECONDS = 20
DRAWING_TIME_SHARE = 0.06  # live frames take at most about this share of the time
MIN_FRAME_SECONDS = 1 / 30
START_FALLBACK_MS = 400  # build the first run by then even if the window never painted


class MainWindow(QMainWindow):
    """Irrep Studio's window. ``config`` is the run it opens on; with ``state`` (and the
    recorded ``history``) it reopens a saved run instead of starting a fresh one."""

    agf_finished = pyqtSignal(object, object, str)  # token, AgfStates or None, note

    def __init__(self, config: Any, worker: TrainingWorker | None = None,
                 state: Any = None, history: Any = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Irrep Studio")
        self.setObjectName("IrrepStudio")
        self.resize(1680, 1000)
        self.record = RunRecord()
        self.context: RunContext | None = None
        self.mode = IDLE
        self.scrub_index: int | None = None
        self.selected_neurons: list[int] = []
        self.last_message = ""
        self.last_report: WorkerReport | None = None
        self.reports_drawn = 0  # reports taken from the worker
        self.frames_drawn = 0  # live frames drawn from them
        self._agf_token = 0
        self._perturb_seed = random.Random()
        self._closing = False
        self._drawn: dict[str, tuple] = {}  # panel key -> the moment it shows
        self._graphics_scenes: list = []
        self._frame_timer = QTimer(self)  # the next live frame, when training
        self._frame_timer.setSingleShot(True)
        self._frame_timer.timeout.connect(self._draw_live)
        self._frame_cost = 0.0  # seconds a live frame takes (smoothed)
        self._last_frame = 0.0
        self._pending_functions = None

        self.form = ConfigForm()
        self.panels: dict[str, Panel] = {}
        self._build_panels()
        self._build_actions()
        self._build_toolbar()
        self._build_timeline()
        self._build_status_bar()
        self._build_menus()

        self.worker = worker or TrainingWorker()
        self.worker.context_ready.connect(self._context_ready)
        self.worker.report_ready.connect(self._report_ready)
        self.worker.failed.connect(self.show_error)
        self.worker.mode_changed.connect(self._mode_changed)
        self.form.config_applied.connect(self._config_applied)
        self.form.learning_rate_changed.connect(
            lambda rate: self.worker.send(SetLearningRate(rate)))
        self.agf_finished.connect(self._agf_finished)
        self.form.set_config(config)
        # The first run is queued now and built once the window is on screen (building
        # loads the backend's numerical libraries, which takes a moment).
        self.worker.send(Reset(config=config) if state is None
                         else LoadState(config, state, history))
        self._started = False
        QTimer.singleShot(START_FALLBACK_MS, self._begin)

    def _begin(self) -> None:
        """Start the worker (once): it builds the queued first run."""
        if self._started or self._closing:
            return
        self._started = True
        self.worker.start()
        from gui.export_actions import install_export_actions  # the File menu

        install_export_actions(self)
        from gui.sweeps.browser import install_sweep_browser  # File › Open sweep…

        install_sweep_browser(self)

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().paintEvent(event)
        if not self._started:
            QTimer.singleShot(0, self._begin)

    # ================================================================= building
    def _build_panels(self) -> None:
        self.heatmaps = PowerHeatmapsPanel()
        self.loss_panel = LossPanel()
        self.function_panel = FunctionPowerPanel()
        self.phase_panel = PhaseCirclesPanel()
        self.alignment_panel = AlignmentPanel()
        self.diversification_panel = DiversificationPanel()
        self.inspector = NeuronInspectorPanel()
        self.agf_panel = AgfRoundsPanel()
        self.panels = {
            "heatmaps": self.heatmaps, "loss": self.loss_panel,
            "function_power": self.function_panel, "phases": self.phase_panel,
            "alignment": self.alignment_panel, "diversification": self.diversification_panel,
            "inspector": self.inspector, "agf": self.agf_panel,
        }
        self.setCentralWidget(self.heatmaps)
        self.heatmaps.neuron_clicked.connect(self._neuron_clicked)
        self.agf_panel.compute_requested.connect(self.simulate_agf)

        controls = QScrollArea()
        controls.setWidgetResizable(True)
        controls.setWidget(self.form)
        self.docks: dict[str, QDockWidget] = {}
        self._dock("controls", "Run settings", controls, Qt.DockWidgetArea.LeftDockWidgetArea)
        self._dock("loss", self.loss_panel.title, self.loss_panel,
                   Qt.DockWidgetArea.RightDockWidgetArea)
        self._dock("function_power", self.function_panel.title, self.function_panel,
                   Qt.DockWidgetArea.RightDockWidgetArea)
        self._dock("agf", self.agf_panel.title, self.agf_panel,
                   Qt.DockWidgetArea.RightDockWidgetArea)
        self._dock("phases", self.phase_panel.title, self.phase_panel,
                   Qt.DockWidgetArea.BottomDockWidgetArea)
        self._dock("alignment", self.alignment_panel.title, self.alignment_panel,
                   Qt.DockWidgetArea.BottomDockWidgetArea)
        self._dock("diversification", self.diversification_panel.title,
                   self.diversification_panel, Qt.DockWidgetArea.BottomDockWidgetArea)
        self._dock("inspector", self.inspector.title, self.inspector,
                   Qt.DockWidgetArea.BottomDockWidgetArea)
        self.tabifyDockWidget(self.docks["function_power"], self.docks["agf"])
        self.docks["function_power"].raise_()
        self.splitDockWidget(self.docks["phases"], self.docks["alignment"],
                             Qt.Orientation.Horizontal)
        self.splitDockWidget(self.docks["alignment"], self.docks["diversification"],
                             Qt.Orientation.Horizontal)
        self.splitDockWidget(self.docks["diversification"], self.docks["inspector"],
                             Qt.Orientation.Horizontal)
        self._arranged = False

    def _arrange_docks(self) -> None:
        """Share the window between the docks (once, when the window first shows)."""
        width = max(self.width(), 1200)
        self.resizeDocks([self.docks["controls"]], [int(0.17 * width)], Qt.Orientation.Horizontal)
        self.resizeDocks([self.docks["loss"]], [int(0.34 * width)], Qt.Orientation.Horizontal)
        self.resizeDocks([self.docks["phases"]], [int(0.36 * self.height())],
                         Qt.Orientation.Vertical)
        right = int(0.64 * self.height())
        self.resizeDocks([self.docks["loss"], self.docks["function_power"]],
                         [int(0.55 * right), int(0.45 * right)], Qt.Orientation.Vertical)
        bottom = [self.docks[key] for key in ("phases", "alignment", "diversification",
                                              "inspector")]
        self.resizeDocks(bottom, [int(f * width) for f in (0.3, 0.2, 0.2, 0.3)],
                         Qt.Orientation.Horizontal)

    def showEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        if not self._arranged:
            self._arranged = True
            self._arrange_docks()

    def _dock(self, key: str, title: str, widget: QWidget, area: Qt.DockWidgetArea) -> None:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock_{key}")
        dock.setWidget(widget)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                         | QDockWidget.DockWidgetFeature.DockWidgetFloatable
                         | QDockWidget.DockWidgetFeature.DockWidgetClosable)
        if isinstance(widget, Panel):
            dock.setToolTip(widget.definition)
        self.addDockWidget(area, dock)
        self.docks[key] = dock
        if key in self.panels:
            dock.visibilityChanged.connect(
                lambda visible, k=key: self._dock_shown(k, visible))

    def _action(self, text: str, shortcut: str | QKeySequence | None, tip: str,
                slot) -> QAction:
        return window_action(self, text, shortcut, tip, slot)

    def _build_actions(self) -> None:
        self.start_action = self._action("▶  Start", "Space", "Start or pause training",
                                         self.toggle_training)
        self.step_action = self._action("Step", "Right", "Train one step, then pause",
                                        self.step_once)
        self.step_many_action = self._action("Step N", "Shift+Right",
                                             "Train N steps, then pause", self.step_many)
        self.drop_action = self._action("Next drop", "D",
                                        "Train until the loss shows its next drop, then pause",
                                        self.run_to_next_drop)
        self.reset_action = self._action("Reset", "Ctrl+R",
                                         "Re-initialise the weights with the current seed",
                                         self.reset)
        self.perturb_action = self._action("Perturb", "P",
                                           "Add noise to all neurons, or the selected ones",
                                           self.perturb)
        self.new_seed_action = self._action("New seed", "N",
                                            "Re-initialise with a fresh random seed",
                                            self.new_seed)
        self.apply_action = self._action("Apply settings", "Ctrl+Return",
                                         "Build a new run from the settings", self.form.apply)
        self.live_action = self._action("Live", "End", "Follow the latest moment again",
                                        self.go_live)
        self.quit_action = self._action("Quit", "Ctrl+Q", "Close Irrep Studio", self.close)

    def _build_toolbar(self) -> None:
        bar = QToolBar("Training")
        bar.setObjectName("training_toolbar")
        bar.setMovable(False)
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, bar)
        bar.addAction(self.start_action)
        bar.addAction(self.step_action)
        bar.addAction(self.step_many_action)
        self.step_count_spin = QSpinBox()
        self.step_count_spin.setRange(1, 10_000_000)
        self.step_count_spin.setValue(100)
        self.step_count_spin.setToolTip("N for Step N (Shift+→)")
        bar.addWidget(self.step_count_spin)
        bar.addAction(self.drop_action)
        bar.addSeparator()
        bar.addAction(self.reset_action)
        bar.addAction(self.new_seed_action)
        bar.addSeparator()
        bar.addAction(self.perturb_action)
        self.perturb_scale_spin = QDoubleSpinBox()
        self.perturb_scale_spin.setRange(0.001, 10.0)
        self.perturb_scale_spin.setDecimals(3)
        self.perturb_scale_spin.setSingleStep(0.05)
        self.perturb_scale_spin.setValue(0.2)
        self.perturb_scale_spin.setToolTip("Noise size relative to each weight vector's norm")
        self.perturb_scale_spin.setPrefix("scale ")
        bar.addWidget(self.perturb_scale_spin)
        self.perturb_selected_box = QCheckBox("selected only")
        self.perturb_selected_box.setToolTip("Perturb only the neurons selected in the heat "
                                             "maps (click a row; Ctrl+click adds)")
        bar.addWidget(self.perturb_selected_box)
        bar.addSeparator()
        self.presets_button = QPushButton("Presets ▾")
        self.presets_button.setToolTip("Open a preset run")
        bar.addWidget(self.presets_button)
        self.training_toolbar = bar

    def _build_timeline(self) -> None:
        bar = QToolBar("Timeline")
        bar.setObjectName("timeline_toolbar")
        bar.setMovable(False)
        self.addToolBar(Qt.ToolBarArea.BottomToolBarArea, bar)
        holder = QWidget()
        row = QHBoxLayout(holder)
        row.setContentsMargins(6, 0, 6, 0)
        title = QLabel("Timeline")
        title.setObjectName("muted")
        row.addWidget(title)
        self.timeline = QSlider(Qt.Orientation.Horizontal)
        self.timeline.setRange(0, 0)
        self.timeline.setToolTip("Scrub the recorded history: every view shows that moment. "
                                 "End returns to the live view.")
        self.timeline.valueChanged.connect(self._timeline_moved)
        row.addWidget(self.timeline, 1)
        self.timeline_label = QLabel("live")
        self.timeline_label.setMinimumWidth(150)
        row.addWidget(self.timeline_label)
        self.live_button = QPushButton("Live")
        self.live_button.setToolTip("Follow the latest moment (End)")
        self.live_button.clicked.connect(self.go_live)
        row.addWidget(self.live_button)
        bar.addWidget(holder)

    def _build_status_bar(self) -> None:
        status = self.statusBar()
        self.step_label = QLabel("step 0")
        self.rate_label = QLabel("— steps/s")
        self.device_label = QLabel("device —")
        self.stage_label = QLabel("")
        self.mode_label = QLabel("paused")
        for label, width in ((self.step_label, "step 00,000,000"),
                             (self.rate_label, "000,000 steps/s"),
                             (self.device_label, "device cuda:0")):
            label.setMinimumWidth(label.fontMetrics().horizontalAdvance(width) + 12)
        for label, tip in ((self.step_label, "optimiser steps taken"),
                           (self.rate_label, "optimiser steps per second, over the last second"),
                           (self.device_label, "where the model trains"),
                           (self.stage_label, "training stage"),
                           (self.mode_label, "what the worker is doing")):
            label.setToolTip(tip)
            label.setObjectName("status")
            status.addPermanentWidget(label)

    def _build_menus(self) -> None:
        from PyQt6.QtWidgets import QMenu

        self.presets_menu = QMenu(self)
        self.presets_button.setMenu(self.presets_menu)
        menu_bar = self.menuBar()
        run_menu = menu_bar.addMenu("&Run")
        for action in (self.start_action, self.step_action, self.step_many_action,
                       self.drop_action, self.reset_action, self.new_seed_action,
                       self.perturb_action, self.apply_action):
            run_menu.addAction(action)
        run_menu.addSeparator()
        run_menu.addAction(self.quit_action)
        presets = menu_bar.addMenu("&Presets")
        view_menu = menu_bar.addMenu("&View")
        for dock in self.docks.values():
            view_menu.addAction(dock.toggleViewAction())
        view_menu.addAction(self.live_action)
        for name, description in _list_presets():
            for menu in (presets, self.presets_menu):
                action = menu.addAction(name)
                action.setToolTip(description)
                action.setStatusTip(description)
                action.triggered.connect(lambda _checked=False, n=name: self.load_preset(n))
            presets.setToolTipsVisible(True)
            self.presets_menu.setToolTipsVisible(True)

    # ================================================================= commands
    def toggle_training(self) -> None:
        """Start when paused, pause when training (Space)."""
        self.worker.send(Pause() if self.mode != IDLE else Start())
        self.mode = "pausing" if self.mode != IDLE else "starting"

    def start(self) -> None:
        self.worker.send(Start())

    def pause(self) -> None:
        self.worker.send(Pause())

    def step_once(self) -> None:
        """One optimiser step, then pause (→)."""
        self.worker.send(Step(1))

    def step_many(self) -> None:
        """N optimiser steps (the toolbar's N), then pause (Shift+→)."""
        self.worker.send(Step(int(self.step_count_spin.value())))

    def run_to_next_drop(self) -> None:
        """Train until the loss curve shows its next drop, then pause (D); the worker gives
        up with a message when none comes."""
        self.worker.send(RunToNextDrop())

    def reset(self) -> None:
        """Re-initialise the weights with the current seed (the history starts afresh)."""
        self.worker.send(Reset())

    def new_seed(self) -> None:
        """Re-initialise with a fresh random seed (shown in the settings)."""
        seed = random.randrange(0, 2**31 - 1)
        self.form.seed_spin.blockSignals(True)
        self.form.seed_spin.setValue(seed)
        self.form.seed_spin.blockSignals(False)
        self.form.base_config = self.form.base_config.replace(seed=seed)
        self.worker.send(Reset(seed=seed))

    def perturb(self) -> None:
        """Add noise of the chosen scale to every neuron, or to the selected ones."""
        neurons = None
        if self.perturb_selected_box.isChecked():
            if not self.selected_neurons:
                self.show_error("No neuron is selected: click a heat-map row first, or "
                                "untick 'selected only' to perturb every neuron.")
                return
            neurons = list(self.selected_neurons)
        seed = self._perturb_seed.randrange(0, 2**31 - 1)
        self.worker.send(Perturb(neurons, float(self.perturb_scale_spin.value()), seed))

    def load_preset(self, name: str) -> None:
        """Fill the settings from a preset and start a fresh run from it."""
        try:
            from backend.presets import load_preset

            config = load_preset(name)
        except ValueError as error:
            self.show_error(str(error))
            return
        self.form.set_config(config)
        self.form.apply()

    def open_run(self, config: Any, state: Any, history: Any = None) -> None:
        """Show a recorded run: its configuration, its final weights and its history."""
        self.form.set_config(config)
        self.worker.send(LoadState(config, state, history))

    def simulate_agf(self) -> None:
        """Run the AGF simulation for the current configuration in the background, and
        measure the network after each of its rounds."""
        if self.context is None:
            return
        self._agf_token += 1
        token, config = self._agf_token, self.context.config
        self.agf_panel.set_busy(True)

        def work() -> None:
            try:
                from backend.agf.rounds import simulate_agf

                self.agf_finished.emit(token, simulate_agf(config), "")
            except ValueError as error:  # the backend's UserError: a message for people
                self.agf_finished.emit(token, None, str(error))
            except Exception as error:  # shown, not raised: the window must stay up
                self.agf_finished.emit(token, None, f"AGF simulation failed: {error}")

        threading.Thread(target=work, name="agf-simulation", daemon=True).start()

    def go_live(self) -> None:
        """Leave the scrubbed moment and follow the latest snapshot."""
        self.scrub_index = None
        self._sync_timeline()
        self.redraw()

    def show_error(self, message: str) -> None:
        """Show a problem in the status bar (never a traceback)."""
        self.last_message = message
        self.statusBar().showMessage(message, MESSAGE_SECONDS * 1000)
        self.statusBar().setToolTip(message)

    # ================================================================= worker events
    def _config_applied(self, config: Any) -> None:
        self.worker.send(Reset(config=config))

    def _context_ready(self, context: RunContext) -> None:
        self.context = context
        self.form.offer_cuda()
        history = context.recorded_history
        self.record = RunRecord() if history is None else RunRecord.from_history(history)
        self._pending_functions = None
        self._agf_token += 1  # a simulation still running belongs to the previous run
        self.agf_panel.set_busy(False)
        self._drawn.clear()
        self.scrub_index = None
        self.selected_neurons = [m for m in self.selected_neurons if m < context.width]
        for panel in self.panels.values():
            panel.set_context(context)
            settle_plots(panel)  # legends and ticks made for this run
        self.heatmaps.set_selection(self.selected_neurons)
        self.inspector.set_neuron(self.selected_neurons[0] if self.selected_neurons else None)
        self.device_label.setText(f"device {context.device}")
        self.setWindowTitle(f"Irrep Studio — {context.group_name}, width {context.width}")
        if context.config.preset:
            self.setWindowTitle(self.windowTitle() + f" ({context.config.preset})")

    def _report_ready(self, report: WorkerReport) -> None:
        try:
            if self._closing:
                return
            self.last_report = report
            self.record.add_losses(report.loss_steps, report.loss_values)
            for snapshot in report.snapshots:
                self.record.add_snapshot(snapshot)
            self.step_label.setText(f"step {int(report.snapshot.step):,}")
            if report.running:
                self.rate_label.setText(f"{report.steps_per_second:,.0f} steps/s")
            self.stage_label.setText(report.stage)
            if report.message:
                self.show_error(report.message)
            self._sync_timeline()
            if report.neuron_functions is not None:
                self._pending_functions = report.neuron_functions
            self.reports_drawn += 1
            if not report.running:
                self._draw_live()  # a pause, a step or a reset shows at once
            elif not self._frame_timer.isActive():
                wait = self._last_frame + self._frame_cost / DRAWING_TIME_SHARE
                delay = max(0.0, max(wait, self._last_frame + MIN_FRAME_SECONDS)
                            - time.perf_counter())
                self._frame_timer.start(int(1000 * delay))
        finally:
            self.worker.acknowledge_report()

    def _draw_live(self) -> None:
        """Draw and paint the latest report (the views follow live unless scrubbed)."""
        self._frame_timer.stop()
        started = time.perf_counter()
        if self.scrub_index is None:
            self.redraw()
        if self._pending_functions is not None:
            self.inspector.show_functions(self._pending_functions)
            self._pending_functions = None
        self.paint_now()
        self.frames_drawn += 1
        self._last_frame = time.perf_counter()
        cost = self._last_frame - started
        self._frame_cost = cost if self._frame_cost == 0 else 0.7 * self._frame_cost + 0.3 * cost

    def _mode_changed(self, mode: str) -> None:
        self.mode = mode
        running = mode != IDLE
        self.start_action.setText("❚❚  Pause" if running else "▶  Start")
        self.mode_label.setText(mode if running else "paused")
        self.mode_label.setProperty("running", running)
        self.mode_label.style().unpolish(self.mode_label)
        self.mode_label.style().polish(self.mode_label)

    def _agf_finished(self, token: int, states: Any, note: str) -> None:
        if token != self._agf_token or self._closing:
            return
        self.agf_panel.set_busy(False)
        if len(self.record):
            self.agf_panel.show_history(self.record, self.shown_step())
        self.agf_panel.set_states(states, note=note)
        self.loss_panel.show_simulated(states.rounds if states is not None else ())
        if note:
            self.show_error(note)

    # ================================================================= drawing
    def shown_step(self) -> int | None:
        """The step the views show (None: the latest)."""
        if self.scrub_index is None or not len(self.record):
            return None
        return int(self.record.snapshot_steps[self.scrub_index])

    def redraw(self) -> None:
        """Draw the visible panels at the shown moment.

        A panel that is hidden (a closed dock, a tab behind another) is drawn when it shows
        again; a panel that already shows this moment of this record is left alone.
        """
        if self.context is None or not len(self.record):
            return
        for key, panel in self.panels.items():
            if _on_screen(panel):
                self._draw_panel(key)

    def _draw_panel(self, key: str) -> None:
        if self.context is None or not len(self.record):
            return
        step = self.shown_step()
        snapshot = self.record.snapshot_at(step)
        moment = (id(self.record), self.record.version, step, id(snapshot))
        if self._drawn.get(key) == moment:
            return
        panel = self.panels[key]
        panel.show_snapshot(snapshot)
        panel.show_history(self.record, step)
        self._drawn[key] = moment

    def paint_now(self) -> None:
        """Paint what the last drawing changed, now (not at the next turn of the event
        loop), so that the cost of a frame is known and paid at once.

        A plot whose range changed moves its data only when its scene is about to be
        painted; that is done first here, so that the move is part of this paint rather
        than the cause of a second one at the next turn of the event loop.
        """
        for scene in self._scenes():
            prepare = getattr(scene, "prepareForPaint", None)
            if prepare is not None:
                prepare()
        for scene in self._scenes():  # a scene tells its views what changed by a queued call
            QCoreApplication.sendPostedEvents(scene, QEvent.Type.MetaCall)
        QCoreApplication.sendPostedEvents(self, QEvent.Type.UpdateRequest)

    def _scenes(self) -> list:
        if not self._graphics_scenes:
            views = [view for panel in self.panels.values()
                     for view in panel.findChildren(QGraphicsView)]
            self._graphics_scenes = list({id(v.scene()): v.scene() for v in views}.values())
        return self._graphics_scenes

    def draw_frame(self) -> float:
        """Draw the shown moment and paint it; the seconds it took."""
        started = time.perf_counter()
        self.redraw()
        self.paint_now()
        return time.perf_counter() - started

    def _dock_shown(self, key: str, visible: bool) -> None:
        if visible and not self._closing:
            self._draw_panel(key)

    def _sync_timeline(self) -> None:
        last = max(len(self.record) - 1, 0)
        self.timeline.blockSignals(True)
        self.timeline.setRange(0, last)
        self.timeline.setValue(last if self.scrub_index is None else self.scrub_index)
        self.timeline.blockSignals(False)
        if self.scrub_index is None:
            self.timeline_label.setText("live")
        else:
            self.timeline_label.setText(f"step {self.shown_step():,} (scrubbed)")

    def _timeline_moved(self, value: int) -> None:
        if not len(self.record):
            return
        self.scrub_index = None if value >= len(self.record) - 1 else int(value)
        self._sync_timeline()
        self.redraw()

    def scrub_to_step(self, step: int) -> None:
        """Show the recorded moment at (or just before) ``step``."""
        if len(self.record):
            self._timeline_moved(self.record.index_at(step))

    def _neuron_clicked(self, neuron: int, additive: bool) -> None:
        if additive:
            if neuron in self.selected_neurons:
                self.selected_neurons.remove(neuron)
            else:
                self.selected_neurons.append(neuron)
        else:
            self.selected_neurons = [neuron]
        self.select_neurons(self.selected_neurons)

    def select_neurons(self, neurons: list[int]) -> None:
        """Select neurons (heat-map marks, the inspector shows the first)."""
        self.selected_neurons = list(neurons)
        self.heatmaps.set_selection(self.selected_neurons)
        first = self.selected_neurons[0] if self.selected_neurons else None
        self.inspector.set_neuron(first)
        if self.record:
            self.inspector.show_snapshot(self.record.snapshot_at(self.shown_step()))
            self.inspector.show_history(self.record, self.shown_step())
        self.worker.send(Inspect(first))

    # ================================================================= closing
    def closeEvent(self, event) -> None:  # noqa: N802 - Qt override
        self._closing = True
        self.worker.shutdown(900)
        QSettings("IrrepStudio", "IrrepStudio").setValue("geometry", self.saveGeometry())
        super().closeEvent(event)

    def screenshot(self, path: str | Path) -> bool:
        """Save the whole window as an image; True on success."""
        return self.grab().save(str(path))


def _on_screen(widget: QWidget) -> bool:
    """Whether some of ``widget`` can be seen: shown, and not in a tab behind another
    (Qt keeps such a dock shown but moves it out of its window)."""
    return widget.isVisible() and not widget.visibleRegion().isEmpty()


def _list_presets() -> list[tuple[str, str]]:
    try:
        from backend.presets import list_presets

        return list(list_presets())
    except ImportError:
        return []

