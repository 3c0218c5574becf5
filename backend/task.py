"""The composition task: input encodings, ordered pairs, targets and the training split.

An element g is encoded as x_g = λ(g)t, i.e. x_g(h) = t(g⁻¹h), for a template t ∈ ℝⁿ:
one-hot (t = e, so x_g = e_g), a class-function template with prescribed power per real
orbit, a random (white) template, or a Gaussian bump around the identity. The target of
the pair (g1, g2) is x_{g1 g2}; its class is the index of g1 g2.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from backend.config import ConfigError, RunConfig


@dataclass(frozen=True)
class Task:
    """Everything the network needs to know about the data.

    Attributes:
        order: n.
        one_hot: True when x_g = e_g (the encoding matrix is the identity).
        template: t (n,) float64.
        encoding: X (n, n) float64 with row g equal to x_g.
        table: (n, n) int64, the class of the pair (g1, g2) is table[g1, g2].
        train_pairs: flat pair indices p = g1·n + g2 used for training (sorted).
        test_pairs: the held-out flat pair indices (sorted; empty without a split).
        template_power: P_O(t) per real orbit (num_orbits,).
    """

    order: int
    one_hot: bool
    template: np.ndarray
    encoding: np.ndarray
    table: np.ndarray
    train_pairs: np.ndarray
    test_pairs: np.ndarray
    template_power: np.ndarray

    @property
    def uses_all_pairs(self) -> bool:
        return self.test_pairs.size == 0

    def targets(self) -> np.ndarray:
        """Target vectors y(g1, g2) = x_{g1 g2} for every flat pair, shape (n², n)."""
        return self.encoding[self.table.reshape(-1)]


def build_task(config: RunConfig, group, irrep_set, fourier) -> Task:
    """Build the task of ``config`` on ``group`` (with its irreps and Fourier transform)."""
    n = group.order
    template = build_template(config, group, irrep_set)
    encoding = translate_rows(template, group)
    train, test = split_pairs(n, config.train_fraction, config.data_seed)
    # per irrep then per orbit: needs only F, not the real orbit basis (SVDs, seconds on S6)
    power = np.asarray(fourier.irrep_power(template) @ fourier.irrep_to_orbit, dtype=np.float64)
    return Task(
        order=n,
        one_hot=config.encoding == "onehot",
        template=template,
        encoding=encoding,
        table=np.asarray(group.table, dtype=np.int64),
        train_pairs=train,
        test_pairs=test,
        template_power=power,
    )


def translate_rows(template: np.ndarray, group) -> np.ndarray:
    """X[g, h] = t(g⁻¹ h): row g is the left translate λ(g)t."""
    table = np.asarray(group.table)
    inverse = np.asarray(group.inverse)
    return template[table[inverse[:, None], np.arange(group.order)[None, :]]]


def build_template(config: RunConfig, group, irrep_set) -> np.ndarray:
    """The template t of the configured encoding (float64, length n)."""
    n = group.order
    if config.encoding == "onehot":
        template = np.zeros(n)
        template[0] = 1.0
        return template
    if config.encoding == "template":
        return template_with_orbit_powers(config.template_powers, irrep_set)
    if config.encoding == "random_fourier":
        rng = np.random.default_rng(config.data_seed)
        return _unit_mean_square(_centre(rng.standard_normal(n)))
    if config.encoding == "gaussian":
        distance = word_distance_from_identity(group)
        bump = np.exp(-(distance.astype(np.float64) ** 2) / (2.0 * config.template_width**2))
        centred = _centre(bump)
        if not np.any(centred):
            raise ConfigError(
                f"the Gaussian bump on {group.name} is constant, so its mean-centred template "
                "is zero; use a smaller template_width or encoding = 'random_fourier'"
            )
        return _unit_mean_square(centred)
    raise ConfigError(f"unknown encoding {config.encoding!r}")


def template_with_orbit_powers(powers: list[float], irrep_set) -> np.ndarray:
    """The class function t = Σ_ρ d_ρ c_ρ χ_ρ with t̂[ρ] = c_ρ I, c_ρ = sqrt(P_ρ/(n d_ρ²)).

    ``powers[k]`` is the power of the k-th non-trivial real orbit, shared equally by the
    members of a complex pair, so that P_O(t) = powers[k] exactly; the trivial power is
    0 (the template is mean-centred).
    """
    nontrivial = list(irrep_set.nontrivial_orbits)
    if len(powers) > len(nontrivial):
        labels = ", ".join(irrep_set.orbits[k].label for k in nontrivial)
        raise ConfigError(
            f"template_powers has {len(powers)} entries but {irrep_set.group.name} has "
            f"{len(nontrivial)} non-trivial real orbits ({labels}); give at most "
            f"{len(nontrivial)} powers"
        )
    n = irrep_set.group.order
    template = np.zeros(n, dtype=np.complex128)
    for orbit_index, power in zip(nontrivial, powers, strict=False):
        orbit = irrep_set.orbits[orbit_index]
        members = orbit.irreps
        for irrep_index in members:
            irrep = irrep_set.irreps[irrep_index]
            d = irrep.dim
            coefficient = np.sqrt(power / len(members) / (n * d * d))
            template += d * coefficient * np.asarray(irrep.character)
    return np.ascontiguousarray(template.real)


def word_distance_from_identity(group) -> np.ndarray:
    """Length of the shortest word in a symmetric generating set for every element.

    Breadth-first search over the Cayley graph, one vectorised expansion per distance.
    """
    table = np.asarray(group.table)
    generators = np.asarray(group.generating_set(), dtype=np.int64)
    generators = np.unique(np.concatenate([generators, np.asarray(group.inverse)[generators]]))
    distance = np.full(group.order, -1, dtype=np.int64)
    distance[0] = 0
    frontier = np.array([0])
    level = 0
    while frontier.size:
        level += 1
        reached = np.unique(table[frontier][:, generators])
        reached = reached[distance[reached] < 0]
        distance[reached] = level
        frontier = reached
    return distance


def split_pairs(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded split of the n² flat pair indices into (train, held out), both sorted."""
    total = n * n
    if fraction >= 1.0:
        return np.arange(total, dtype=np.int64), np.zeros(0, dtype=np.int64)
    count = int(round(fraction * total))
    if count < 1:
        raise ConfigError(
            f"train_fraction = {fraction} keeps no pair of the {total}; "
            f"use at least {1 / total:.3g}"
        )
    order = np.random.default_rng(seed).permutation(total)
    return np.sort(order[:count]), np.sort(order[count:])


def _centre(vector: np.ndarray) -> np.ndarray:
    return vector - vector.mean()


def _unit_mean_square(vector: np.ndarray) -> np.ndarray:
    """Scale so that ‖t‖² = n (initial mean-squared error 1)."""
    return vector * np.sqrt(vector.size / np.sum(vector**2))
