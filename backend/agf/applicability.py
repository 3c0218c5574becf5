"""Which configurations Alternating Gradient Flows describes (MATH §5): free
parameterisation, σ(z) = z², mean-squared error, gradient descent from a small
initialisation. Shared by the closed form (theory) and the simulated rounds (simulation)."""

from __future__ import annotations

from backend.config import RunConfig
from backend.errors import UserError


class AgfTheoryError(UserError):
    """A configuration that the AGF theory does not describe."""


def check_agf_config(config: RunConfig) -> None:
    """Refuse, before any work, a configuration that AGF does not describe."""
    problems = []
    if config.parameterisation != "free":
        problems.append(
            "parameterisation = 'sphere' keeps every weight vector at unit norm, so no neuron "
            "is ever dormant; set parameterisation = 'free' with a small init_scale"
        )
    if config.activation != "square":
        problems.append(
            f"activation = {config.activation!r}: AGF here is derived for σ(z) = z²; "
            "set activation = 'square'"
        )
    if config.loss != "mse":
        problems.append("loss = 'cross_entropy': AGF needs loss = 'mse'")
    if config.optimiser not in ("gd", "scaled_gd"):
        problems.append(
            f"optimiser = {config.optimiser!r}: AGF predicts gradient descent; set optimiser "
            "= 'gd' (optionally with momentum) or 'scaled_gd'"
        )
    if config.weight_decay > 0:
        problems.append("weight_decay > 0 is not part of AGF; set weight_decay = 0")
    if config.init_scale >= 0.1:
        problems.append(
            f"init_scale = {config.init_scale:g} is not small; AGF needs a small "
            "initialisation, e.g. init_scale = 1e-3"
        )
    if problems:
        raise AgfTheoryError(
            "this configuration is outside Alternating Gradient Flows: " + "; ".join(problems)
        )
