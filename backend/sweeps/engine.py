"""Ray as the sweep's engine: a local instance by default, or an existing cluster.

Without an address (and without RAY_ADDRESS) a local Ray instance starts with every core
of this machine (or ``num_cpus``) and stops with the sweep. With an address the sweep
attaches to that cluster and only disconnects at the end. Each run is a Ray task that
asks for ``cpus_per_run`` CPUs (and ``gpus_per_run`` GPUs); it trains on that many torch
threads. The nodes need the project installed; they need no shared file system.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from dataclasses import dataclass

from backend.errors import UserError
from backend.threads import usable_cores

CONNECT_TIMEOUT = 30.0
"""Seconds to wait for a cluster's address to answer."""


class RayEngineError(UserError):
    """Ray cannot be started or reached."""


@dataclass
class EngineOptions:
    address: str | None = None
    cpus_per_run: int = 1
    gpus_per_run: float = 0.0
    num_cpus: int | None = None
    """Local instance only: the CPUs Ray may use (default: every core)."""
    object_store_memory: int | None = None
    """Local instance only: bytes of the object store (default: Ray's choice)."""


def resolve_address(address: str | None) -> str | None:
    """The cluster to attach to: ``--address``, else RAY_ADDRESS, else None (local)."""
    chosen = address or os.environ.get("RAY_ADDRESS") or None
    if chosen in ("local",):
        return None
    return chosen


def check_address_answers(address: str, timeout: float = CONNECT_TIMEOUT) -> None:
    """Refuse an address whose host:port does not accept a connection within ``timeout``."""
    if address == "auto":
        return
    target = address.removeprefix("ray://")
    host, separator, port_text = target.rpartition(":")
    if not separator or not host:
        raise RayEngineError(
            f"--address {address!r} is not host:port; give the head's address, e.g. "
            "--address 10.0.0.5:6379 (printed by `ray start --head`)"
        )
    try:
        port = int(port_text)
    except ValueError:
        raise RayEngineError(
            f"--address {address!r} has no port number; write host:port, e.g. 10.0.0.5:6379"
        ) from None
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as error:
        reason = (f"no answer within {timeout:.0f} s" if isinstance(error, TimeoutError)
                  else (error.strerror or str(error)))
        raise RayEngineError(
            f"the Ray cluster at {address} does not answer ({reason}); start it with "
            "`ray start --head` or check the address"
        ) from None


def use_token_when_available() -> None:
    """Authenticate with the user's Ray token (RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH or
    ~/.ray/auth_token) when RAY_AUTH_MODE is unset, as Ray itself does for a cluster it
    finds on this machine; with an explicit address Ray would not, and a cluster started
    with token authentication would refuse the sweep."""
    try:
        from ray._private.authentication.authentication_token_setup import (
            maybe_enable_token_auth_if_token_available,
        )
    except ImportError:  # a Ray without token authentication
        return
    maybe_enable_token_auth_if_token_available(warn_if_disabled=False)


class RayEngine:
    """Starts or attaches Ray, submits runs, waits for them, stops what it started."""

    def __init__(self, options: EngineOptions) -> None:
        if options.cpus_per_run < 1:
            raise RayEngineError(f"--cpus-per-run {options.cpus_per_run} must be 1 or more")
        if options.gpus_per_run < 0:
            raise RayEngineError(f"--gpus-per-run {options.gpus_per_run} must be 0 or more")
        self.options = options
        self.address = resolve_address(options.address)
        if self.address is not None and options.num_cpus is not None:
            raise RayEngineError(
                "--num-cpus sets the CPUs of a local Ray instance; a cluster given by "
                "--address or RAY_ADDRESS has its own, so leave --num-cpus out"
            )
        self.started_seconds = 0.0
        self._remote = None
        self._address_checked = False

    def check_address(self) -> None:
        """Refuse (within CONNECT_TIMEOUT) a cluster address that does not answer."""
        if self.address is not None and not self._address_checked:
            check_address_answers(self.address)
            self._address_checked = True

    @property
    def attached(self) -> bool:
        return self.address is not None

    def start(self) -> None:
        import ray

        self.check_address()
        begin = time.perf_counter()
        common = {"include_dashboard": False, "log_to_driver": False,
                  "logging_level": logging.WARNING, "ignore_reinit_error": False}
        try:
            if self.address is not None:
                use_token_when_available()
                ray.init(address=self.address, **common)
            else:
                ray.init(
                    address="local",
                    num_cpus=self.options.num_cpus or usable_cores(),
                    object_store_memory=self.options.object_store_memory,
                    **common,
                )
        except (ConnectionError, RuntimeError, ValueError, ray.exceptions.RayError) as error:
            where = f"attach to the Ray cluster at {self.address}" if self.address else (
                "start a local Ray instance")
            cause = error.__cause__ or error
            first = str(cause).strip().splitlines()[0] if str(cause).strip() else ""
            raise RayEngineError(f"cannot {where}: {type(cause).__name__}: {first}") from None
        self.started_seconds = time.perf_counter() - begin
        from backend.sweeps.run_one import execute_run

        self._remote = ray.remote(
            num_cpus=self.options.cpus_per_run,
            num_gpus=self.options.gpus_per_run,
            max_retries=0,
        )(execute_run)
        resources = ray.cluster_resources()
        if resources.get("CPU", 0) < self.options.cpus_per_run or (
            resources.get("GPU", 0) < self.options.gpus_per_run
        ):
            self.stop()
            raise RayEngineError(
                f"the Ray cluster has {resources.get('CPU', 0):g} CPUs and "
                f"{resources.get('GPU', 0):g} GPUs, fewer than one run asks for "
                f"(--cpus-per-run {self.options.cpus_per_run}, --gpus-per-run "
                f"{self.options.gpus_per_run:g})"
            )

    def capacity(self) -> int:
        """How many runs fit on the cluster at once (at least 1)."""
        import ray

        resources = ray.cluster_resources()
        slots = resources.get("CPU", 0) // self.options.cpus_per_run
        if self.options.gpus_per_run > 0:
            slots = min(slots, resources.get("GPU", 0) // self.options.gpus_per_run)
        return max(int(slots), 1)

    def submit(self, config_values: dict, compute: str):
        return self._remote.remote(config_values, compute, self.options.cpus_per_run)

    @staticmethod
    def wait(references: list, timeout: float) -> tuple[list, list]:
        import ray

        return ray.wait(references, num_returns=1, timeout=timeout)

    @staticmethod
    def result(reference) -> dict:
        """The run's result; a crashed worker or a lost node becomes a failed run."""
        import ray

        try:
            return ray.get(reference)
        except ray.exceptions.RayError as error:
            lines = str(error).strip().splitlines()
            message = type(error).__name__ + (f": {lines[0]}" if lines else "")
            return {"status": "failed", "message": message, "wall_seconds": 0.0,
                    "files": {}, "summary": None, "agf": None}

    @staticmethod
    def cancel(references: list) -> None:
        import ray

        for reference in references:
            try:
                ray.cancel(reference, force=True)
            except Exception:  # noqa: BLE001 - already finished or gone
                pass

    def stop(self) -> None:
        """Disconnect; a local instance started here stops with it."""
        import ray

        if ray.is_initialized():
            ray.shutdown()
