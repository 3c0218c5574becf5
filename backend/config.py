"""RunConfig: the single, flat, serialisable description of a training run.

Every field is a TOML scalar or a list of numbers, so a configuration round-trips through
``config.toml`` unchanged and any picture or run can be reproduced from its file. The
mathematics behind the keys is in the mathematics reference, sections 3 and 5.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

from backend.errors import UserError


class ConfigError(UserError):
    """A configuration key or value that cannot be used; the message names the fix."""


ENCODINGS = ("onehot", "template", "random_fourier", "gaussian")
ACTIVATIONS = ("square", "relu", "abs", "gelu", "tanh", "identity")
PARAMETERISATIONS = ("free", "sphere")
LOSSES = ("mse", "cross_entropy")
OPTIMISERS = ("gd", "adam", "adamw", "scaled_gd")
STAGE_TWO_SCALES = ("tied", "per_neuron")
DEVICES = ("auto", "cpu", "cuda")
MAX_SEED = 2**63 - 1
"""Largest seed: every generator the seeds feed (PyTorch's and NumPy's) takes it."""
RESUMABLE_KEYS = (
    "steps", "learning_rate", "stage_two_learning_rate", "weight_decay", "momentum",
    "adam_beta1", "adam_beta2", "adam_eps", "device",
)
"""Keys ``train --resume DIR --set key=value`` may change: they change neither the
shapes of the weights nor the structure of the optimiser state."""
MAX_COUNT = 10**12
"""Largest step count, batch size or stage switch: far beyond any run, within int64."""
PRECISIONS = ("float32", "float64")
STEP_PATHS = ("auto", "dense", "exact")


def _key(default: Any, help: str, allowed: tuple[str, ...] | None = None) -> Any:
    metadata = {"help": help, "allowed": allowed}
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass
class RunConfig:
    """Everything that defines a run: group, encoding, model, regime, optimiser, seed."""

    preset: str = _key("", "name of the preset this configuration started from (information)")
    group: str = _key("C7:C3", "group spec, e.g. C12, D5, S4, A5, C7:C3, C3xC5 or a table file")
    encoding: str = _key(
        "onehot",
        "input encoding x_g = λ(g)t: one-hot (t = e), a template with prescribed orbit "
        "powers, a random template, or a Gaussian bump around the identity",
        ENCODINGS,
    )
    template_powers: list[float] = _key(
        [],
        "encoding = template: power P_O(t) of each non-trivial real orbit, in the group's "
        "orbit order (missing entries are 0)",
    )
    template_width: float = _key(
        1.0, "encoding = gaussian: width of the bump in steps of the Cayley graph"
    )
    train_fraction: float = _key(
        1.0, "fraction of the n² ordered pairs used for training; the rest is held out"
    )
    data_seed: int = _key(0, "seed of the training split and of the random template")
    width: int = _key(512, "number of hidden neurons M")
    activation: str = _key("square", "activation σ; square is σ(z) = z²", ACTIVATIONS)
    shared_embedding: bool = _key(
        False, "use one embedding θ¹ = θ² for both inputs (commutative groups only)"
    )
    parameterisation: str = _key(
        "sphere",
        "free: small Gaussian initialisation, output scale 1 (AGF); sphere: every weight "
        "vector on the unit sphere, output scale a/M (He et al.)",
        PARAMETERISATIONS,
    )
    init_scale: float = _key(1e-3, "parameterisation = free: initial scale α of the weights")
    sphere_scale: float = _key(
        1.0, "parameterisation = sphere: output scale a, the network is (a/M)·Σ_m ξ_m σ(·)"
    )
    loss: str = _key(
        "cross_entropy",
        "mse: mean over pairs and output coordinates; cross_entropy: softmax over the n "
        "classes (one-hot encoding only)",
        LOSSES,
    )
    optimiser: str = _key(
        "adam",
        "gd: gradient descent with optional momentum; adam / adamw; scaled_gd: per-neuron "
        "scaled gradient descent (free parameterisation). On the sphere gd and adam take "
        "projected (Riemannian) steps",
        OPTIMISERS,
    )
    learning_rate: float = _key(0.01, "learning rate η")
    momentum: float = _key(0.0, "optimiser = gd: heavy-ball momentum μ in [0, 1)")
    adam_beta1: float = _key(0.9, "Adam: first-moment decay")
    adam_beta2: float = _key(0.999, "Adam: second-moment decay")
    adam_eps: float = _key(1e-8, "Adam: denominator guard")
    weight_decay: float = _key(
        0.0, "L2 weight decay (decoupled for adamw); on the sphere it only acts on the scale"
    )
    scaled_exponent: float = _key(
        2.0, "optimiser = scaled_gd: k in θ_m ← θ_m − η‖θ_m‖^(1−k) ∇_θm L"
    )
    scaled_log_factor: bool = _key(
        False, "optimiser = scaled_gd: also multiply the step by log(1/α)"
    )
    batch_size: int = _key(0, "pairs per step drawn at random; 0 uses every training pair")
    stage_two_after: int = _key(
        0, "parameterisation = sphere: switch to Stage II after this many steps (0: never)"
    )
    stage_two_scale: str = _key(
        "tied", "Stage II trains one tied scale a or one a_m per neuron", STAGE_TWO_SCALES
    )
    stage_two_learning_rate: float = _key(0.01, "learning rate of the Stage II scale")
    steps: int = _key(2000, "number of optimiser steps of a run")
    seed: int = _key(0, "seed of the initial weights (and of the minibatch draws)")
    device: str = _key("auto", "auto uses CUDA when available, else the CPU", DEVICES)
    precision: str = _key("float32", "floating-point type of the weights", PRECISIONS)
    step_path: str = _key(
        "auto",
        "how a step computes the loss: dense evaluates the network on every pair; exact "
        "uses the identity for σ = square with MSE on all pairs (O(n²M + nM²), no pair "
        "formed; not for other activations, cross-entropy, a held-out split or "
        "minibatches); auto takes exact where it holds and is faster",
        STEP_PATHS,
    )

    # ------------------------------------------------------------------ validation
    def validate(self) -> RunConfig:
        """Check every key; raise ConfigError naming the key and the allowed values."""
        for spec in dataclasses.fields(self):
            setattr(self, spec.name, _coerce(spec.name, getattr(self, spec.name)))
            _check_type(spec, getattr(self, spec.name))
            allowed = spec.metadata.get("allowed")
            value = getattr(self, spec.name)
            if allowed is not None and value not in allowed:
                raise ConfigError(
                    f"{spec.name} = {value!r} is not allowed; choose one of "
                    + ", ".join(repr(choice) for choice in allowed)
                    + _closest(str(value), allowed)
                )
        if not self.group.strip():
            raise ConfigError("group is empty; give a group spec such as C12, D5, S4 or C7:C3")
        _require(self, "width", self.width >= 1, "must be at least 1")
        for name in ("seed", "data_seed"):
            _require(self, name, 0 <= getattr(self, name) <= MAX_SEED,
                     f"is out of range; choose a whole number from 0 to {MAX_SEED}")
        for name, lowest in (("steps", "0"), ("batch_size", "0 (all pairs)"),
                             ("stage_two_after", "0")):
            _require(self, name, 0 <= getattr(self, name) <= MAX_COUNT,
                     f"is out of range; choose from {lowest} to {MAX_COUNT}")
        _require(
            self, "train_fraction", 0.0 < self.train_fraction <= 1.0, "must be in (0, 1]"
        )
        for name in ("learning_rate", "stage_two_learning_rate", "adam_eps", "template_width"):
            _require(self, name, getattr(self, name) > 0, "must be positive")
        _require(self, "init_scale", self.init_scale > 0, "must be positive (e.g. 1e-3)")
        _require(self, "sphere_scale", self.sphere_scale > 0, "must be positive")
        _require(self, "weight_decay", self.weight_decay >= 0, "must be 0 or more")
        _require(self, "momentum", 0.0 <= self.momentum < 1.0, "must be in [0, 1)")
        _require(self, "adam_beta1", 0.0 <= self.adam_beta1 < 1.0, "must be in [0, 1)")
        _require(self, "adam_beta2", 0.0 <= self.adam_beta2 < 1.0, "must be in [0, 1)")
        _require(self, "scaled_exponent", self.scaled_exponent >= 1.0, "must be at least 1")
        for power in self.template_powers:
            _require(self, "template_powers", power >= 0, "must hold non-negative powers")
        if self.encoding == "template" and not any(p > 0 for p in self.template_powers):
            raise ConfigError(
                "encoding = 'template' needs template_powers, the power of each non-trivial "
                "orbit, e.g. template_powers = [12.5, 10, 7.5, 5, 2.5]"
            )
        if self.loss == "cross_entropy" and self.encoding != "onehot":
            raise ConfigError(
                f"loss = 'cross_entropy' needs encoding = 'onehot' (the classes are the group "
                f"elements), but encoding = {self.encoding!r}; use loss = 'mse' with templates"
            )
        if self.optimiser == "scaled_gd" and self.parameterisation == "sphere":
            raise ConfigError(
                "optimiser = 'scaled_gd' rescales steps by the neuron norm, which is fixed on "
                "the sphere; use optimiser = 'gd' or 'adam' with parameterisation = 'sphere', "
                "or parameterisation = 'free'"
            )
        if self.scaled_log_factor and self.init_scale >= 1.0:
            raise ConfigError(
                "scaled_log_factor = true multiplies the step by log(1/α), which is not "
                f"positive for init_scale = {self.init_scale}; use init_scale < 1"
            )
        if self.step_path == "exact":
            from backend.training.step_path import exact_path_obstacles

            obstacles = exact_path_obstacles(self)
            if obstacles:
                raise ConfigError(
                    "step_path = 'exact' needs σ = square, MSE and every pair, but "
                    + "; ".join(obstacles) + "; use step_path = 'auto' or 'dense'"
                )
        return self

    # ------------------------------------------------------------------ conversion
    def to_dict(self) -> dict[str, Any]:
        """Plain dictionary of every key (lists copied)."""
        return {
            spec.name: list(getattr(self, spec.name))
            if isinstance(getattr(self, spec.name), list)
            else getattr(self, spec.name)
            for spec in dataclasses.fields(self)
        }

    @classmethod
    def from_dict(
        cls, values: Mapping[str, Any], *, source: str = "the configuration"
    ) -> RunConfig:
        """Build and validate a configuration; unknown keys are refused by name."""
        known = known_keys()
        for key in values:
            if key not in known:
                raise ConfigError(unknown_key_message(key, source))
        config = cls()
        for key, value in values.items():
            setattr(config, key, _coerce(key, value))
        return config.validate()

    def replace(self, **changes: Any) -> RunConfig:
        """A validated copy with some keys changed."""
        values = self.to_dict()
        values.update(changes)
        return RunConfig.from_dict(values)

    def to_toml_text(self) -> str:
        return tomli_w.dumps(self.to_dict())

    @classmethod
    def from_toml_text(cls, text: str, *, source: str = "the configuration") -> RunConfig:
        try:
            values = tomllib.loads(text)
        except (tomllib.TOMLDecodeError, RecursionError) as error:
            raise ConfigError(f"{source} is not valid TOML: {error}") from None
        return cls.from_dict(values, source=source)

    def to_toml(self, path: str | Path) -> None:
        """Write the configuration atomically (temporary file, then rename)."""
        from backend.atomic_files import write_text_atomic

        write_text_atomic(Path(path), self.to_toml_text())

    @classmethod
    def from_toml(cls, path: str | Path) -> RunConfig:
        from backend.file_reading import FileReadError, read_text

        path = Path(path)
        try:
            text = read_text(path, "configuration file", "give a TOML configuration such as "
                             "a run's config.toml (`python main.py presets` lists the presets)")
        except FileReadError as error:
            raise ConfigError(str(error)) from None
        return cls.from_toml_text(text, source=str(path))

    def with_overrides(self, assignments: Iterable[str]) -> RunConfig:
        """Apply ``key=value`` strings (values in TOML syntax; bare words are strings)."""
        values = self.to_dict()
        for assignment in assignments:
            key, value = parse_assignment(assignment)
            values[key] = value
        return RunConfig.from_dict(values, source="--set")


# ---------------------------------------------------------------------- helpers
def known_keys() -> tuple[str, ...]:
    return tuple(spec.name for spec in dataclasses.fields(RunConfig))


def key_help() -> list[tuple[str, Any, str, tuple[str, ...] | None]]:
    """(key, default, description, allowed values) for every configuration key."""
    defaults = RunConfig()
    return [
        (spec.name, getattr(defaults, spec.name), spec.metadata["help"], spec.metadata["allowed"])
        for spec in dataclasses.fields(RunConfig)
    ]


def unknown_key_message(key: str, source: str) -> str:
    known = known_keys()
    return (
        f"unknown key {key!r} in {source}{_closest(key, known)}. Known keys: "
        + ", ".join(known)
    )


def parse_assignment(assignment: str) -> tuple[str, Any]:
    """Split ``key=value``; the value is read as TOML (numbers, booleans, lists, quoted
    strings) and otherwise kept as the bare string."""
    if "=" not in assignment:
        raise ConfigError(
            f"cannot read {assignment!r}: write key=value, e.g. --set learning_rate=0.01"
        )
    key, text = (part.strip() for part in assignment.split("=", 1))
    if key not in known_keys():
        raise ConfigError(unknown_key_message(key, "--set"))
    try:
        value = tomllib.loads(f"value = {text}")["value"]
    except tomllib.TOMLDecodeError:
        value = text
    if isinstance(value, float) and _beyond_doubles(text, value):
        raise ConfigError(f"{key} = {text} is beyond double precision (it would read as "
                          f"{value}); write a number between 1e-300 and 1e300 in size")
    return key, value


def _beyond_doubles(text: str, value: float) -> bool:
    """Whether a written number under- or overflowed: 1e-400 reads as 0.0, 1e400 as inf."""
    mantissa = text.lower().split("e")[0]
    if value == 0.0:
        return any(digit in mantissa for digit in "123456789")
    return math.isinf(value) and "inf" not in text.lower()


def _closest(word: str, choices: Iterable[str]) -> str:
    match = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {match[0]!r}?)" if match else ""


_FIELD_TYPES = {spec.name: spec.type for spec in dataclasses.fields(RunConfig)}


def _coerce(key: str, value: Any) -> Any:
    kind = _FIELD_TYPES[key]
    if kind == "float" and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if kind == "str" and isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    if kind == "list[float]" and isinstance(value, list):
        return [float(v) if isinstance(v, int) and not isinstance(v, bool) else v for v in value]
    return value


def _check_type(spec: dataclasses.Field, value: Any) -> None:
    kind = spec.type
    ok = {
        "str": isinstance(value, str),
        "int": isinstance(value, int) and not isinstance(value, bool),
        "float": isinstance(value, float) and math.isfinite(value),
        "bool": isinstance(value, bool),
        "list[float]": isinstance(value, list)
        and all(isinstance(v, float) and math.isfinite(v) for v in value),
    }[kind]
    if not ok:
        expected = {
            "str": "a string",
            "int": "a whole number",
            "float": "a finite number",
            "bool": "true or false",
            "list[float]": "a list of numbers, e.g. [1.0, 2.5]",
        }[kind]
        raise ConfigError(f"{spec.name} = {value!r} is not {expected}")


def _require(config: RunConfig, key: str, condition: bool, what: str) -> None:
    if not condition:
        raise ConfigError(f"{key} = {getattr(config, key)!r} {what}")
