"""``train``: run a preset (or a config file) headless, record it and print a summary.

    python main.py train --preset NAME [--set key=value ...] [--steps N] --out DIR
    python main.py train --resume DIR [--steps N]
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import TYPE_CHECKING

from backend.cli.configuration_arguments import (
    add_configuration_arguments,
    configuration_from_arguments,
)
from backend.cli.progress import ProgressBar, format_duration
from backend.config import ConfigError, RunConfig

if TYPE_CHECKING:
    from backend.live_session import LiveSession, Progress
    from backend.recording import MetricHistory, RunDirectory
    from backend.training.trainer import Trainer


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train a network headless and record the run",
        description="Train the group-composition network of a preset (or a config file) "
        "without the window, with a progress bar on stderr and a closing summary. With "
        "--out the run directory receives config.toml, history.npz, checkpoint.pt and "
        "summary.json.",
    )
    add_configuration_arguments(parser)
    parser.add_argument("--steps", type=int, metavar="N", help="number of steps (overrides the "
                        "configuration's steps)")
    parser.add_argument("--out", metavar="DIR", help="run directory to write")
    parser.add_argument("--resume", metavar="DIR",
                        help="continue the run saved in DIR, exactly where it stopped, up to "
                        "--steps steps in all (default: its configured steps), writing into DIR")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace a run already in --out")
    parser.add_argument("--checkpoint-every", type=int, metavar="N", default=0,
                        help="save a checkpoint every N steps (default: every tenth of the run)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def build_config(args: argparse.Namespace) -> RunConfig:
    config = configuration_from_arguments(args)
    if args.steps is not None:
        if args.steps < 0:
            raise ConfigError(f"--steps {args.steps} must be 0 or more")
        config = config.replace(steps=args.steps)
    return config


def run(args: argparse.Namespace) -> int:
    if args.checkpoint_every < 0:
        raise ConfigError("--checkpoint-every must be 0 (automatic) or a positive step count")
    earlier_wall = 0.0
    if args.resume:
        config, trainer, history, directory, earlier_wall = resume(args)
    else:
        config = build_config(args)  # before loading the engine: errors come at once
    from backend.live_session import LiveSession
    from backend.recording import RunDirectory

    if args.resume:
        session = LiveSession.from_trainer(trainer, history)
    else:
        directory = RunDirectory(args.out) if args.out else None
        if directory is not None:
            directory.prepare(overwrite=args.overwrite)
        session = LiveSession(config)
        session.snapshot()  # the run as it starts, as the window shows it
    trainer = session.trainer
    if directory is not None:
        directory.write_config(config)
    total = config.steps
    checkpoint_every = args.checkpoint_every or max(total // 10, 1)
    progress = None if args.quiet else ProgressBar(total, label=config.preset or "train")
    if progress is not None:
        progress.start_done = trainer.step_count
    start = (time.perf_counter(), trainer.step_count, earlier_wall)
    try:
        _train(session, total, checkpoint_every, directory, progress, start)
    except KeyboardInterrupt:
        _finish(session, directory, start, progress, config)
        raise
    _finish(session, directory, start, progress, config)
    if trainer.divergence:
        print(f"stopped: {trainer.divergence}", file=sys.stderr)
        return 1
    return 0


def resume(
    args: argparse.Namespace,
) -> tuple[RunConfig, Trainer, MetricHistory, RunDirectory, float]:
    """The configuration (steps set to the new total), the restored Trainer, the history,
    the directory of ``--resume DIR`` and the wall time its checkpoint records; refuses
    options that would change the run."""
    given = [name for name, value in (("--preset", args.preset), ("--config", args.config),
                                      ("--set", args.overrides), ("--out", args.out),
                                      ("--overwrite", args.overwrite)) if value]
    if given:
        raise ConfigError(
            f"--resume continues a saved run with its own configuration, so {given[0]} cannot "
            "be used with it; to change the run, start a new one with --config "
            f"{args.resume}/config.toml --set ... --out NEW_DIR"
        )
    from backend.recording import RunDirectory
    from backend.training.trainer import Trainer

    config, state, history = RunDirectory.load(args.resume)
    trainer = Trainer(config)
    if state is not None:
        trainer.load_state_dict(state)
    earlier_wall = float(state.get("wall_seconds", 0.0)) if state is not None else 0.0
    total = trainer.config.steps if args.steps is None else args.steps
    if total <= trainer.step_count:
        raise ConfigError(
            f"the run in {args.resume} has already taken {trainer.step_count} steps; give "
            f"--steps N with N greater than {trainer.step_count} (the total to reach)"
        )
    config = trainer.config.replace(steps=total)
    trainer.config.steps = total
    return config, trainer, history, RunDirectory(args.resume), earlier_wall


def _checkpoint(trainer: Trainer, start: tuple[float, int, float]) -> dict:
    """The trainer's state and the run's wall time so far (read back by --resume)."""
    start_time, _, earlier_wall = start
    return {**trainer.state_dict(), "wall_seconds": earlier_wall + time.perf_counter() - start_time}


def _train(session: LiveSession, total: int, checkpoint_every: int,
           directory: RunDirectory | None, progress: ProgressBar | None,
           start: tuple[float, int, float]) -> None:
    """The session trained to ``total`` steps, with periodic checkpoints and progress."""
    next_checkpoint = [session.step_count + checkpoint_every]

    def on_progress(report: Progress) -> None:
        if directory is not None and report.step >= next_checkpoint[0]:
            directory.save_checkpoint(_checkpoint(session.trainer, start))
            directory.save_history(session.history)
            next_checkpoint[0] = report.step + checkpoint_every
        if progress is not None:
            progress.update(report.step, report.loss)

    session.train_to(total, on_progress)


def _finish(session: LiveSession, directory: RunDirectory | None,
            start: tuple[float, int, float], progress: ProgressBar | None,
            config: RunConfig) -> None:
    """Record the last snapshot, write the run and print the summary. ``start`` is the
    (time, step) this session began at and the wall time of the sessions before it: a
    resumed run reports its own speed and the wall time of the whole run."""
    from backend.recording import build_summary

    trainer, history = session.trainer, session.history
    start_time, start_step, earlier_wall = start
    session_wall = time.perf_counter() - start_time
    wall = earlier_wall + session_wall
    snapshot = session.snapshot()
    if progress is not None:
        progress.finish(trainer.step_count, snapshot.loss)
    rate = (trainer.step_count - start_step) / session_wall if session_wall > 0 else 0.0
    summary = build_summary(
        snapshot,
        trainer.spectral.labels,
        trainer.spectral.orbit_dims,
        steps_per_second=rate,
        wall_seconds=wall,
    )
    if directory is not None:
        directory.save_checkpoint({**trainer.state_dict(), "wall_seconds": wall})
        directory.save_history(history)
        directory.write_summary(summary)
    print(summary_text(summary, config, trainer, directory))


def summary_text(summary: dict, config: RunConfig, trainer: Trainer, directory) -> str:
    """The closing summary printed to stdout."""
    name = config.preset or "custom configuration"
    lines = [
        f"{name} · {trainer.group.name} (order {trainer.group.order}) · width {config.width} · "
        f"{summary['steps']} steps in {format_duration(summary['wall_seconds'])} "
        f"({summary['steps_per_second']:,.0f} steps/s)",
    ]
    test = summary["test_accuracy"]
    test_text = "held-out accuracy n/a" if test is None else f"held-out accuracy {test:.1%}"
    lines.append(
        f"loss {summary['loss']:.5g}   train accuracy {summary['train_accuracy']:.1%}   "
        + test_text
    )
    rank = ", ".join(f"{d}-dim {v:.1%}" for d, v in summary["rank_one_fraction"].items())
    lines.append(
        f"mean sparsity {summary['mean_sparsity']:.3f}   mean |z| {summary['mean_alignment']:.3f}"
        + (f"   rank one (σ₂/σ₁ < 0.1): {rank}" if rank else "")
    )
    counts = ", ".join(f"{label}: {count}" for label, count in summary["orbit_counts"].items()
                       if count)
    lines.append(f"neurons per dominant orbit: {counts}")
    if trainer.divergence:
        lines.append("diverged: see the message above")
    if directory is not None:
        lines.append(f"run saved in {directory.path}")
    return "\n".join(lines)
