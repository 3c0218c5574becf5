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

from PyQt6.QtCore import QCoreApplication, QEvent, QSize, Qt, QTimer, pyqtSignal
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
    QSpinBox,
    QTabWidget,
    QToolBar,
    QWidget,
)

from gui.config_form import ConfigForm
from gui.focus_keys import NUMERIC, WindowKeys
from gui.pair_votes import PairVotes
from gui.panels.base import Panel, settle_plots
from gui.panels.registry import BOTTOM, CENTRAL, PANELS, RIGHT
from gui.run_context import RunContext
from gui.run_record import RunRecord
from gui.timeline import TICKS, TimelineSlider, nearest_index, step_positions
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
PROGRESS_SECONDS = 0.25  # an AGF simulation's progress is shown at most this often
DRAWING_TIME_SHARE = 0.06  # live frames take at most about this share of the time
MIN_FRAME_SECONDS = 1 / 30
START_FALLBACK_MS = 400  # build the first run by then even if the window never painted
PREFERRED_SIZE = (1600, 900)  # the default window, shrunk to the screen it opens on
SCREEN_SHARE = 0.94  # of the available screen, at most, for the default window
DOCK_MINIMUM = {"controls": QSize(190, 120), RIGHT: QSize(220, 140), BOTTOM: QSize(170, 130)}
CENTRAL_MINIMUM = QSize(240, 160)
RIGHT_SHARE = 0.3  # for the right column (loss, power, answers, AGF)
COLLAPSED_SHARE = 0.6  # a dock below this share of its default size is re-grown on resize
RESIZE_SETTLE_MS = 120
AREAS = {RIGHT: Qt.DockWidgetArea.RightDockWidgetArea,
         BOTTOM: Qt.DockWidgetArea.BottomDockWidgetArea}


class MainWindow(QMainWindow):
    """Irrep Studio's window. ``config`` is the run it opens on; with ``state`` (and the
    recorded ``history``) it reopens a saved run instead of starting a fresh one."""

    agf_finished = pyqtSignal(object, object, str)  # token, AgfStates or None, note
    agf_progress = pyqtSignal(object, float, float)  # token, step reached, horizon
    agf_ended = pyqtSignal(object)  # token: its thread has left the simulation

    def __init__(self, config: Any, worker: TrainingWorker | None = None,
                 state: Any = None, history: Any = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Irrep Studio")
        self.setObjectName("IrrepStudio")
        self.resize(default_window_size(self))
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
        self._agf_stopping: int | None = None  # the token of a simulation told to stop
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
        self.form.lr_edit.setProperty(NUMERIC, True)
        self.form.init_edit.setProperty(NUMERIC, True)
        self.panels: dict[str, Panel] = {}
        self.log_steps = False
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
        self.agf_progress.connect(self._agf_progress)
        self.agf_ended.connect(self._agf_ended)
        self.votes = PairVotes(self.worker, self)
        self.votes.vote_ready.connect(self._vote_ready)
        self.answers_panel.pair_clicked.connect(self._pair_clicked)
        self.keys = WindowKeys(self)
        self.form.config_applied.connect(lambda _config: self.keys.leave_field())
        self._resize_timer = QTimer(self)
        self._resize_timer.setSingleShot(True)
        self._resize_timer.setInterval(RESIZE_SETTLE_MS)
        self._resize_timer.timeout.connect(self._regrow_collapsed_docks)
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
        """One dock per registered panel (gui.panels.registry), the settings on the left."""
        for entry in PANELS:
            self.panels[entry.key] = entry.panel_class()
        self.heatmaps = self.panels["heatmaps"]
        self.loss_panel = self.panels["loss"]
        self.function_panel = self.panels["function_power"]
        self.phase_panel = self.panels["phases"]
        self.alignment_panel = self.panels["alignment"]
        self.diversification_panel = self.panels["diversification"]
        self.inspector = self.panels["inspector"]
        self.agf_panel = self.panels["agf"]
        self.answers_panel = self.panels["answers"]
        self.central_tabs = QTabWidget()
        self.central_tabs.setObjectName("central_tabs")
        self.central_tabs.setDocumentMode(True)
        for entry in PANELS:
            if entry.area == CENTRAL:
                panel = self.panels[entry.key]
                index = self.central_tabs.addTab(panel, panel.title)
                self.central_tabs.setTabToolTip(index, panel.definition)
        self.central_tabs.currentChanged.connect(self._central_tab_changed)
        self.setCentralWidget(self.central_tabs)
        self.centralWidget().setMinimumSize(CENTRAL_MINIMUM)
        self.centralWidget().setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self.heatmaps.neuron_clicked.connect(self._neuron_clicked)
        self.agf_panel.compute_requested.connect(self.simulate_agf)
        self.agf_panel.stop_requested.connect(self.stop_agf)

        controls = QScrollArea()
        controls.setWidgetResizable(True)
        controls.setWidget(self.form)
        self.settings_scroll = controls
        self.docks: dict[str, QDockWidget] = {}
        self._dock("controls", "Run settings", controls, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.docks["controls"].setMinimumSize(DOCK_MINIMUM["controls"])
        for entry in PANELS:
            if entry.area == CENTRAL:
                continue
            panel = self.panels[entry.key]
            self._dock(entry.key, panel.title, panel, AREAS[entry.area])
            self.docks[entry.key].setMinimumSize(DOCK_MINIMUM[entry.area])
        previous: dict[str, QDockWidget] = {}
        for entry in PANELS:
            if entry.area == CENTRAL:
                continue
            dock = self.docks[entry.key]
            if entry.tab_with:
                self.tabifyDockWidget(self.docks[entry.tab_with], dock)
            elif entry.area in previous:
                orientation = (Qt.Orientation.Vertical if entry.area == RIGHT
                               else Qt.Orientation.Horizontal)
                self.splitDockWidget(previous[entry.area], dock, orientation)
                previous[entry.area] = dock
            else:
                previous[entry.area] = dock
        for entry in PANELS:
            if entry.area != CENTRAL and not entry.tab_with:
                self.docks[entry.key].raise_()
        self._default_state = self.saveState()
        self._arranged = False

    def show_panel(self, key: str) -> None:
        """Bring a view to the front: its centre tab, or its dock (shown and raised)."""
        panel = self.panels[key]
        index = self.central_tabs.indexOf(panel)
        if index >= 0:
            self.central_tabs.setCurrentIndex(index)
            return
        dock = self.docks[key]
        dock.show()
        dock.raise_()

    def _central_tab_changed(self, index: int) -> None:
        widget = self.central_tabs.widget(index)
        for key, panel in self.panels.items():
            if panel is widget and not self._closing:
                self._draw_panel(key)

    def settings_width(self) -> int:
        """The settings dock's width that shows every field of the form whole: the form's
        preferred width, the vertical scroll bar, the scroll area's frame and the dock's
        own margins (the form never needs a horizontal scroll bar)."""
        dock, scroll = self.docks["controls"], self.settings_scroll
        margins = max(dock.width() - scroll.width(), 0) if scroll.width() > 0 else 0
        return (self.form.sizeHint().width() + scroll.verticalScrollBar().sizeHint().width()
                + 2 * scroll.frameWidth() + margins)

    def _fit_settings(self) -> int:
        """Keep the settings dock at least as wide as its fields need (a narrower dock
        would cut them); the heat maps in the centre give up the room. Returns the width."""
        width = self.settings_width()
        if self.docks["controls"].minimumWidth() != width:
            self.docks["controls"].setMinimumWidth(width)
        return width

    def _default_sizes(self) -> dict[str, tuple[Qt.Orientation, int]]:
        """Each dock's default size along the direction its area shares out."""
        width, height = max(self.width(), 640), max(self.height(), 480)
        sizes = {"controls": (Qt.Orientation.Horizontal, self._fit_settings())}
        rows = {RIGHT: int(0.62 * height), BOTTOM: int(0.84 * width)}
        for area, orientation in ((RIGHT, Qt.Orientation.Vertical),
                                  (BOTTOM, Qt.Orientation.Horizontal)):
            entries = [e for e in PANELS if e.area == area and not e.tab_with]
            total = sum(e.share for e in entries) or 1.0
            for entry in entries:
                sizes[entry.key] = (orientation, int(rows[area] * entry.share / total))
        return sizes

    def _arrange_docks(self) -> None:
        """Share the window between the docks: the settings on the left, the right
        column and the bottom row in their registered shares."""
        width, height = max(self.width(), 640), max(self.height(), 480)
        right = [self.docks[e.key] for e in PANELS if e.area == RIGHT and not e.tab_with]
        bottom = [self.docks[e.key] for e in PANELS if e.area == BOTTOM and not e.tab_with]
        self.resizeDocks([self.docks["controls"]], [self._fit_settings()],
                         Qt.Orientation.Horizontal)
        if right:
            self.resizeDocks([right[0]], [int(RIGHT_SHARE * width)], Qt.Orientation.Horizontal)
        if bottom:
            self.resizeDocks([bottom[0]], [int(0.34 * height)], Qt.Orientation.Vertical)
        for orientation in (Qt.Orientation.Horizontal, Qt.Orientation.Vertical):
            chosen = [(self.docks[key], size) for key, (o, size) in
                      self._default_sizes().items() if o == orientation and key != "controls"]
            if chosen:
                self.resizeDocks([d for d, _ in chosen], [size for _, size in chosen],
                                 orientation)

    def reset_layout(self) -> None:
        """Every dock back in its place, shown, at its default size (View › Reset layout)."""
        self.restoreState(self._default_state)
        for dock in self.docks.values():
            dock.setFloating(False)
            dock.show()
        for entry in PANELS:
            if entry.area != CENTRAL and not entry.tab_with:
                self.docks[entry.key].raise_()
        self._arrange_docks()
        self._drawn.clear()
        self.redraw()

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        if self._arranged:
            self._resize_timer.start()

    def _regrow_collapsed_docks(self) -> None:
        """After a resize, give back their default size to the docks that were squeezed
        far below it (a window shrunk and grown again leaves them at their minimum)."""
        defaults = self._default_sizes()
        for key, (orientation, size) in defaults.items():
            dock = self.docks[key]
            if dock.isFloating() or not dock.isVisible():
                continue
            current = dock.width() if orientation == Qt.Orientation.Horizontal \
                else dock.height()
            if current < COLLAPSED_SHARE * size:
                self.resizeDocks([dock], [size], orientation)
        width, height = max(self.width(), 640), max(self.height(), 480)
        for area, orientation, size in ((RIGHT, Qt.Orientation.Horizontal, RIGHT_SHARE * width),
                                        (BOTTOM, Qt.Orientation.Vertical, 0.34 * height)):
            first = next((self.docks[e.key] for e in PANELS
                          if e.area == area and not e.tab_with), None)
            if first is None or first.isFloating() or not first.isVisible():
                continue
            current = first.width() if orientation == Qt.Orientation.Horizontal \
                else first.height()
            if current < COLLAPSED_SHARE * size:
                self.resizeDocks([first], [int(size)], orientation)

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
        self.reset_layout_action = self._action("Reset layout", "Ctrl+0",
                                                "Every view back in its place and size",
                                                self.reset_layout)
        self.log_steps_action = self._action("Logarithmic step axis", "L",
                                             "Steps on a log scale in the timeline and the "
                                             "loss, power and race plots",
                                             lambda: self.set_log_steps(
                                                 self.log_steps_action.isChecked()))
        self.log_steps_action.setCheckable(True)
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
        self.timeline = TimelineSlider()
        self.timeline.setToolTip("Scrub the recorded history: click or drag to a moment, "
                                 "every view shows it. End returns to the live view; L "
                                 "puts the steps on a log scale.")
        self.timeline.valueChanged.connect(self._timeline_moved)
        row.addWidget(self.timeline, 1)
        self.log_steps_box = QCheckBox("log steps")
        self.log_steps_box.setToolTip(self.log_steps_action.toolTip())
        self.log_steps_box.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.log_steps_box.toggled.connect(self.set_log_steps)
        row.addWidget(self.log_steps_box)
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
        view_menu.addSeparator()
        view_menu.addAction(self.live_action)
        view_menu.addAction(self.log_steps_action)
        view_menu.addAction(self.reset_layout_action)
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
        drops = self.agf_panel.drops_mode()
        self.agf_panel.set_busy(True)
        from backend.agf.simulation import SimulationStopped

        shown = [0.0]  # when progress was last shown

        def progress(step: float, horizon: float) -> None:
            if token != self._agf_token or self._closing:  # stopped, or another run
                raise SimulationStopped
            now = time.monotonic()
            if now - shown[0] >= PROGRESS_SECONDS:
                shown[0] = now
                self.agf_progress.emit(token, step, horizon)

        def work() -> None:
            try:
                from backend.agf.rounds import simulate_agf

                self.agf_finished.emit(token, simulate_agf(config, drops, progress), "")
            except SimulationStopped:
                pass
            except ValueError as error:  # the backend's UserError: a message for people
                self.agf_finished.emit(token, None, str(error))
            except Exception as error:  # shown, not raised: the window must stay up
                self.agf_finished.emit(token, None, f"AGF simulation failed: {error}")
            finally:
                self.agf_ended.emit(token)

        threading.Thread(target=work, name="agf-simulation", daemon=True).start()

    def stop_agf(self) -> None:
        """Stop the AGF simulation running in the background: it ends at its next step
        and its results are dropped. The panel says "stopping…" until its thread has left
        (a phase without steps takes up to a second or so), so that two never run at
        once; the rounds shown before stay."""
        self._agf_stopping = self._agf_token
        self._agf_token += 1
        self.agf_panel.set_stopping()

    def _agf_ended(self, token: int) -> None:
        if token == self._agf_stopping and not self._closing:
            self._agf_stopping = None
            self.agf_panel.set_stopped()
            if self.agf_panel.rounds:  # the panel's label reads as before: say it here
                self.statusBar().showMessage(
                    "AGF simulation stopped: the rounds shown are those of the simulation "
                    "before it", MESSAGE_SECONDS * 1000)

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
        self._agf_stopping = None
        self.votes.forget()
        self.agf_panel.set_busy(False)
        self._drawn.clear()
        self.scrub_index = None
        self.selected_neurons = [m for m in self.selected_neurons if m < context.width]
        for panel in self.panels.values():
            panel.set_log_steps(self.log_steps)
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
            self.record.add_accuracies(report.loss_steps, report.accuracy_values)
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

    def _agf_progress(self, token: int, step: float, horizon: float) -> None:
        if token == self._agf_token and not self._closing:
            self.agf_panel.set_progress(step, horizon)

    def _agf_finished(self, token: int, states: Any, note: str) -> None:
        if token != self._agf_token or self._closing:
            return
        self.agf_panel.set_busy(False)
        if len(self.record):
            self.agf_panel.show_history(self.record, self.shown_step())
        self.agf_panel.set_states(states, note=note)
        self.loss_panel.show_simulated(states.rounds if states is not None else (),
                                       states.curve if states is not None else None)
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
        self.timeline.blockSignals(True)
        if self.scrub_index is None or not len(self.record):
            self.timeline.setValue(TICKS)
        else:
            positions = step_positions(self.record.snapshot_steps, self.log_steps)
            self.timeline.setValue(int(round(positions[self.scrub_index])))
        self.timeline.blockSignals(False)
        if self.scrub_index is None:
            self.timeline_label.setText("live")
        else:
            self.timeline_label.setText(f"step {self.shown_step():,} (scrubbed)")

    def _timeline_moved(self, value: int) -> None:
        if not len(self.record):
            return
        self.scrub_index = None if value >= TICKS else nearest_index(
            self.record.snapshot_steps, value, self.log_steps)
        self._sync_timeline()
        self.redraw()

    def timeline_position(self, step: int) -> int:
        """The timeline's position for the recorded moment nearest ``step``."""
        steps = self.record.snapshot_steps
        index = int(abs(steps - int(step)).argmin())
        return int(round(step_positions(steps, self.log_steps)[index]))

    def set_log_steps(self, on: bool) -> None:
        """Put the steps on a log scale (timeline, loss, power and race plots) or not."""
        on = bool(on)
        for control in (self.log_steps_action, self.log_steps_box):
            control.blockSignals(True)
            control.setChecked(on)
            control.blockSignals(False)
        if on == self.log_steps:
            return
        self.log_steps = on
        for panel in self.panels.values():
            panel.set_log_steps(on)
        self._sync_timeline()
        self._drawn.clear()
        self.redraw()

    def _neuron_clicked(self, neuron: int, additive: bool) -> None:
        if additive:
            if neuron in self.selected_neurons:
                self.selected_neurons.remove(neuron)
            else:
                self.selected_neurons.append(neuron)
        else:
            self.selected_neurons = [neuron]
        self.select_neurons(self.selected_neurons)

    def _pair_clicked(self, g1: int, g2: int) -> None:
        """Measure the clicked pair's majority vote on the live weights."""
        if self.context is not None:
            self.votes.request(self.context.config, g1, g2)

    def _vote_ready(self, vote: Any, step: int, note: str) -> None:
        if self._closing:
            return
        self.answers_panel.show_vote(vote, step, note)
        if note:
            self.show_error(note)

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
        self.keys.detach()
        self.worker.shutdown(900)
        super().closeEvent(event)

    def screenshot(self, path: str | Path) -> bool:
        """Save the whole window as an image; True on success."""
        return self.grab().save(str(path))


def default_window_size(window: QWidget) -> QSize:
    """PREFERRED_SIZE, shrunk to SCREEN_SHARE of the screen the window opens on."""
    width, height = PREFERRED_SIZE
    screen = window.screen()
    if screen is not None:
        available = screen.availableGeometry()
        if available.width() > 0 and available.height() > 0:
            width = min(width, int(SCREEN_SHARE * available.width()))
            height = min(height, int(SCREEN_SHARE * available.height()))
    return QSize(max(width, 640), max(height, 480))


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

