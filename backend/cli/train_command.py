"""``train``: run a preset (or a config file) headless, record it and print a summary.

    python main.py train --preset NAME [--set key=value ...] [--steps N] --out DIR
    python main.py train --resume DIR [--steps N] [--set key=value ...]
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
from backend.config import RESUMABLE_KEYS, ConfigError, RunConfig

if TYPE_CHECKING:
    from backend.live_session import LiveSession, Progress
    from backend.recording import MetricHistory
    from backend.run_directory import RunDirectory
    from backend.training.trainer import Trainer


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train a network headless and record the run",
        description="Train the group-composition network of a preset (or a config file) "
        "without the window, with a progress bar on stderr and a closing summary. With "
        "--out the run directory receives config.toml, history.npz, checkpoint.npz and "
        "summary.json.",
    )
    add_configuration_arguments(parser)
    parser.add_argument("--steps", type=int, metavar="N", help="number of steps (overrides the "
                        "configuration's steps)")
    parser.add_argument("--out", metavar="DIR", help="run directory to write")
    parser.add_argument("--resume", metavar="DIR",
                        help="continue the run saved in DIR, exactly where it stopped, up to "
                        "--steps steps in all (default: its configured steps), writing into DIR; "
                        "--set may change " + ", ".join(RESUMABLE_KEYS[1:]) + " (the change "
                        "is recorded in the history)")
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
    changes: list[dict] = []
    if args.resume:
        config, trainer, history, directory, earlier_wall, changes = resume(args)
    else:
        config = build_config(args)  # before loading the engine: errors come at once
    from backend.live_session import LiveSession

    if args.resume:
        session = LiveSession.from_trainer(trainer, history)
    else:
        session = LiveSession(config)  # every check (group, memory) before the folder
        directory = prepare_directory(args.out, args.overwrite, config) if args.out else None
        session.snapshot()  # the run as it starts, as the window shows it
    trainer = session.trainer
    total = config.steps
    checkpoint_every = args.checkpoint_every or max(total // 10, 1)
    progress = None if args.quiet else ProgressBar(total, label=config.preset or "train")
    if progress is not None:
        progress.start_done = trainer.step_count
    start = (time.perf_counter(), trainer.step_count, earlier_wall)
    try:
        _train(session, total, checkpoint_every, directory, progress, start, changes)
    except KeyboardInterrupt:
        _finish(session, directory, start, progress, config, changes)
        raise
    _finish(session, directory, start, progress, config, changes)
    if trainer.divergence:
        print(f"stopped: {trainer.divergence}", file=sys.stderr)
        if directory is not None:
            key = "stage_two_learning_rate" if trainer.stage == "stage II" else "learning_rate"
            print(f"to continue at a lower rate: python main.py train --resume {directory.path} "
                  f"--set {key}={trainer.learning_rate / 10:g}", file=sys.stderr)
        return 1
    return 0


def prepare_directory(path: str, overwrite: bool, config: RunConfig) -> RunDirectory:
    """The run directory of ``--out``, ready: created (or the old run's files removed with
    --overwrite) and holding the configuration."""
    from backend.run_directory import RunDirectory

    directory = RunDirectory(path)
    directory.prepare(overwrite=overwrite)
    try:
        directory.write_config(config)
    except BaseException:
        directory.discard_if_unused()
        raise
    return directory


def resume(args: argparse.Namespace):
    """(configuration with steps set to the new total, restored Trainer, history, the
    directory of ``--resume DIR``, the wall time its checkpoint records, the setting
    changes so far). Refuses options that would change the run, a directory without a
    checkpoint and files that disagree; repairs an interrupted save with a note."""
    given = [name for name, value in (("--preset", args.preset), ("--config", args.config),
                                      ("--out", args.out), ("--overwrite", args.overwrite))
             if value]
    if given:
        raise ConfigError(
            f"--resume continues a saved run with its own configuration, so {given[0]} cannot "
            "be used with it; to change the run, start a new one with --config "
            f"{args.resume}/config.toml --set ... --out NEW_DIR"
        )
    from backend.file_reading import check_writable_folder
    from backend.run_checks import restore_trainer
    from backend.run_directory import RunDirectory, RunDirectoryError, describe_change

    directory = RunDirectory(args.resume)
    saved = RunDirectory.read(args.resume)
    check_writable_folder(directory.path, "continued run")
    if saved.state is None:
        raise RunDirectoryError(
            f"{args.resume} holds no checkpoint (the run stopped before its first save, or "
            "the file was removed), so it cannot be continued; start it again with "
            f"`train --config {args.resume}/config.toml --out {args.resume} --overwrite`"
        )
    if saved.history is None:
        raise RunDirectoryError(
            f"{args.resume} has a checkpoint but no {RunDirectory.HISTORY}, so continuing would "
            "leave the record without its first part; put the file back, or start again with "
            "--overwrite"
        )
    if saved.hole:
        raise RunDirectoryError(
            f"{saved.hole}; put back the history saved with the checkpoint, or start again "
            "with --overwrite"
        )
    committed = saved.config
    config = committed.with_overrides(args.overrides) if args.overrides else committed
    changed = [key for key in committed.to_dict()
               if getattr(config, key) != getattr(committed, key)]
    fixed = [key for key in changed if key not in RESUMABLE_KEYS]
    if fixed:
        raise ConfigError(
            f"--resume cannot change {fixed[0]}: it changes the shape or the meaning of the "
            f"saved weights; --set may change {', '.join(RESUMABLE_KEYS[1:])}. To change "
            f"{fixed[0]}, start a new run with --config {args.resume}/config.toml --set ... "
            "--out NEW_DIR"
        )
    state = saved.state
    trainer = restore_trainer(config, state, str(args.resume))
    _apply_rates(trainer, committed, config)
    if trainer.divergence and not any(key in changed for key in ("learning_rate",
                                                                   "stage_two_learning_rate")):
        raise ConfigError(
            f"the run in {args.resume} diverged ({trainer.divergence.split('.')[0]}); continue "
            f"it at a lower rate: train --resume {args.resume} --set learning_rate=VALUE"
        )
    total = trainer.config.steps if args.steps is None else args.steps
    summarised = (directory.path / RunDirectory.SUMMARY).exists() and not saved.stale_summary
    if total < trainer.step_count or (total == trainer.step_count and summarised):
        raise ConfigError(
            f"the run in {args.resume} has already taken {trainer.step_count} steps; give "
            f"--steps N with N greater than {trainer.step_count} (the total to reach)"
        )
    directory.repair(saved)
    for note in saved.notes:
        print(f"note: {note}", file=sys.stderr)
    changes = list(saved.changes)
    for key in changed:
        if key != "steps":
            changes.append({"step": trainer.step_count, "key": key,
                            "from": getattr(committed, key), "to": getattr(config, key)})
            print(f"note: {describe_change(changes[-1])}", file=sys.stderr)
    earlier_wall = float(state.get("wall_seconds", 0.0))
    config = trainer.config.replace(steps=total)
    trainer.config.steps = total
    return config, trainer, history_of(saved), directory, earlier_wall, changes


def history_of(saved) -> MetricHistory:
    from backend.recording import MetricHistory

    return saved.history if saved.history is not None else MetricHistory()


def _apply_rates(trainer: Trainer, committed: RunConfig, config: RunConfig) -> None:
    """Give the restored optimisers the learning rates ``--set`` changed (the saved
    optimiser state carries the old ones); a new rate also clears a divergence."""
    stage_two = trainer.stage == "stage II"
    if config.learning_rate != committed.learning_rate:
        if stage_two:
            trainer.config.learning_rate = config.learning_rate
        else:
            trainer.set_learning_rate(config.learning_rate)
    if config.stage_two_learning_rate != committed.stage_two_learning_rate:
        if stage_two:
            trainer.set_learning_rate(config.stage_two_learning_rate)
        else:
            trainer.config.stage_two_learning_rate = config.stage_two_learning_rate


def _checkpoint(trainer: Trainer, start: tuple[float, int, float]) -> dict:
    """The trainer's state and the run's wall time so far (read back by --resume)."""
    start_time, _, earlier_wall = start
    return {**trainer.state_dict(), "wall_seconds": earlier_wall + time.perf_counter() - start_time}


def _train(session: LiveSession, total: int, checkpoint_every: int,
           directory: RunDirectory | None, progress: ProgressBar | None,
           start: tuple[float, int, float], changes: list[dict]) -> None:
    """The session trained to ``total`` steps, with periodic checkpoints and progress."""
    next_checkpoint = [session.step_count + checkpoint_every]

    def on_progress(report: Progress) -> None:
        if directory is not None and report.step >= next_checkpoint[0]:
            directory.commit(session.trainer.config, _checkpoint(session.trainer, start),
                             session.history, changes=changes)
            next_checkpoint[0] = report.step + checkpoint_every
        if progress is not None:
            progress.update(report.step, report.loss)

    session.train_to(total, on_progress)


def _finish(session: LiveSession, directory: RunDirectory | None,
            start: tuple[float, int, float], progress: ProgressBar | None,
            config: RunConfig, changes: list[dict]) -> None:
    """Record the last snapshot, write the run and print the summary. ``start`` is the
    (time, step) this session began at and the wall time of the sessions before it: a
    resumed run reports its own speed and the wall time of the whole run."""
    from backend.run_directory import trainer_summary

    trainer, history = session.trainer, session.history
    start_time, start_step, earlier_wall = start
    session_wall = time.perf_counter() - start_time
    wall = earlier_wall + session_wall
    snapshot = session.snapshot()
    if progress is not None:
        progress.finish(trainer.step_count, snapshot.loss)
    rate = (trainer.step_count - start_step) / session_wall if session_wall > 0 else 0.0
    summary = trainer_summary(trainer, snapshot, steps_per_second=rate, wall_seconds=wall)
    if directory is not None:
        directory.commit(trainer.config, {**trainer.state_dict(), "wall_seconds": wall},
                         history, summary=summary, changes=changes)
    print(summary_text(summary, config, trainer, directory))


def summary_text(summary: dict, config: RunConfig, trainer: Trainer, directory) -> str:
    """The closing summary printed to stdout."""
    name = config.preset or "custom configuration"
    lines = [
        f"{name} · {trainer.group.name} (order {trainer.group.order}) · width {config.width} · "
        f"{trainer.step_path_label} · {summary['steps']} steps in "
        f"{format_duration(summary['wall_seconds'])} "
        f"({summary['steps_per_second']:,.0f} steps/s)",
    ]
    test = summary["test_accuracy"]
    test_text = "held-out accuracy n/a" if test is None else f"held-out accuracy {test:.1%}"
    sampled = summary.get("sampled_pairs", 0)
    lines.append(
        f"loss {summary['loss']:.5g}   train accuracy {summary['train_accuracy']:.1%}"
        + (f" ({sampled} sampled pairs)   " if sampled else "   ") + test_text
    )
    from backend.metrics import rank_one_over_quaternions_text

    rank = ", ".join(f"{d}-dim {v:.1%}" for d, v in summary["rank_one_fraction"].items())
    quaternionic = rank_one_over_quaternions_text(
        summary.get("quaternionic_rank_one_fraction", {}))
    lines.append(
        f"mean sparsity {summary['mean_sparsity']:.3f}   mean |z| {summary['mean_alignment']:.3f}"
        + (f"   rank one (σ₂/σ₁ < 0.1): {rank}" if rank else "")
        + (f"   {quaternionic}" if quaternionic else "")
    )
    counts = ", ".join(f"{label}: {count}" for label, count in summary["orbit_counts"].items()
                       if count)
    lines.append(f"neurons per dominant orbit: {counts}")
    if trainer.divergence:
        lines.append("diverged: see the message above")
    if directory is not None:
        lines.append(f"run saved in {directory.path}")
    return "\n".join(lines)
