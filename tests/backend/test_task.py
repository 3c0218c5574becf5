"""Encodings, templates, targets and the training split against direct constructions."""

import numpy as np
import pytest

from backend.config import RunConfig
from backend.groups import fourier_transform_of, irreps_of, parse_group
from backend.task import build_task, split_pairs, word_distance_from_identity


def task_of(**values):
    config = RunConfig(loss="mse", **values).validate()
    group = parse_group(config.group)
    irreps = irreps_of(group)
    return group, build_task(config, group, irreps, fourier_transform_of(irreps))


@pytest.mark.parametrize("spec, powers", [("C11", [12.5, 10, 7.5, 5, 2.5]),
                                          ("S4", [1.0, 2.0, 0.0, 3.0]),
                                          ("C7:C3", [2.0, 5.0]), ("Q8", [1, 2, 3, 4])])
def test_template_has_exactly_the_prescribed_orbit_powers(spec, powers):
    group, task = task_of(group=spec, encoding="template", template_powers=powers)
    np.testing.assert_allclose(task.template_power[1:], powers, atol=1e-10)
    assert abs(task.template.mean()) < 1e-12
    # a class function: t(h g h⁻¹) = t(g)
    for h in range(group.order):
        np.testing.assert_allclose(
            task.template[group.table[group.table[h], group.inverse[h]]], task.template,
            atol=1e-12)


@pytest.mark.parametrize("encoding", ["onehot", "random_fourier", "gaussian"])
def test_rows_are_translates_and_targets_are_products(encoding):
    group, task = task_of(group="D4", encoding=encoding)
    n = group.order
    for g in range(n):
        for h in range(n):
            assert task.encoding[g, h] == task.template[group.table[group.inverse[g], h]]
    targets = task.targets()
    for g1, g2 in [(1, 2), (5, 7), (3, 3)]:
        np.testing.assert_array_equal(targets[g1 * n + g2],
                                      task.encoding[group.table[g1, g2]])
    if encoding == "onehot":
        np.testing.assert_array_equal(task.encoding, np.eye(n))
    else:
        assert np.sum(task.template**2) == pytest.approx(n)


def test_word_distance_on_a_cycle_is_the_circular_distance():
    group = parse_group("C12")
    distance = word_distance_from_identity(group)
    k = np.arange(12)
    np.testing.assert_array_equal(distance, np.minimum(k, 12 - k))


def test_split_is_seeded_disjoint_and_complete():
    train, test = split_pairs(10, 0.3, seed=4)
    assert len(train) == 30 and len(test) == 70
    assert np.intersect1d(train, test).size == 0
    np.testing.assert_array_equal(np.union1d(train, test), np.arange(100))
    again, _ = split_pairs(10, 0.3, seed=4)
    np.testing.assert_array_equal(train, again)
    assert not np.array_equal(train, split_pairs(10, 0.3, seed=5)[0])
