import numpy as np
import pytest

from backend.groups import catalogue, irreps_of, parse_group
from backend.groups.irreps import build_irrep_set
from backend.groups.numerical_irreps import (
    character_table,
    class_constant_combination,
    class_multiplication_constants,
)
from backend.groups.verification import verify

from .catalogue_cases import CATALOGUE_SPECS

TOLERANCE = 1e-10


def _check(irrep_set):
    report = verify(irrep_set)
    assert report.dimension_sum == 0, report
    assert report.worst < TOLERANCE, report


@pytest.mark.parametrize("spec", CATALOGUE_SPECS)
def test_every_catalogue_group_passes_all_checks(spec):
    group = parse_group(spec)
    assert group.order <= 200
    _check(irreps_of(group))
    if group.closed_form is not None:
        _check(irreps_of(group, "numerical"))


def test_random_products_pass_all_checks():
    rng = np.random.default_rng(7)
    pool = ["C2", "C3", "C4", "C5", "D3", "D4", "Q8", "S3", "A4", "Dic3", "C7:C3"]
    for _ in range(6):
        factors = rng.choice(pool, size=2)
        group = parse_group("x".join(factors))
        if group.order > 200:
            continue
        _check(irreps_of(group))


def _character_multiset(irrep_set):
    classes = [c[0] for c in irrep_set.group.conjugacy_classes]
    return sorted(tuple(np.round(chi[classes], 8)) for chi in irrep_set.characters)


@pytest.mark.parametrize(
    "spec", ["C1", "C12", "C13", "D4", "D5", "Q8", "S4", "S5", "C3xC5", "S3xC4", "Q8xS3"]
)
def test_closed_form_and_numerical_agree_on_characters(spec):
    group = parse_group(spec)
    closed, numerical = irreps_of(group, "closed form"), irreps_of(group, "numerical")
    assert closed.method == "closed form" and numerical.method == "numerical"
    assert _character_multiset(closed) == _character_multiset(numerical)
    assert sorted(closed.dims.tolist()) == sorted(numerical.dims.tolist())
    indicators = [sorted(i.indicator for i in s.irreps) for s in (closed, numerical)]
    assert indicators[0] == indicators[1]


def test_burnside_character_table_against_known_s3_table():
    group = catalogue.symmetric(3)
    table = character_table(group)
    sizes = [len(c) for c in group.conjugacy_classes]  # e, transpositions, 3-cycles
    assert sizes == [1, 3, 2]
    expected = {(1, 1, 1), (1, -1, 1), (2, 0, -1)}
    got = {tuple(np.round(row.real).astype(int)) for row in table}
    assert got == expected
    assert np.abs(table.imag).max() < 1e-12


def test_class_multiplication_constants_by_direct_count():
    group = catalogue.dihedral(4)
    classes = group.conjugacy_classes
    constants = class_multiplication_constants(group)
    for i, ci in enumerate(classes):
        for j, cj in enumerate(classes):
            for l, cl in enumerate(classes):
                z = cl[0]
                count = sum(1 for x in ci for y in cj if group.table[x, y] == z)
                assert constants[i, j, l] == count
    weights = np.random.default_rng(0).standard_normal(len(classes)) + 0j
    expected = np.tensordot(weights, constants, axes=1)
    assert np.allclose(class_constant_combination(group, weights), expected)


def test_cyclic_labels_orbits_and_indicators():
    irrep_set = irreps_of(parse_group("C12"))
    assert irrep_set.labels == [f"k={k}" for k in range(12)]
    assert irrep_set.orbit_labels == ["k=0", "k=±1", "k=±2", "k=±3", "k=±4", "k=±5", "k=6"]
    assert irrep_set.orbits[0].is_trivial and not irrep_set.orbits[1].is_trivial
    assert irrep_set.orbits[3].irreps == (3, 9)
    assert [i.indicator for i in irrep_set.irreps] == [1] + [0] * 5 + [1] + [0] * 5
    m = np.arange(12)
    assert np.allclose(irrep_set.irreps[3].matrices[:, 0, 0], np.exp(2j * np.pi * 3 * m / 12))
    assert irrep_set.nontrivial_orbits.tolist() == [1, 2, 3, 4, 5, 6]
    assert irrep_set.orbit_of_irrep.tolist() == [0, 1, 2, 3, 4, 5, 6, 5, 4, 3, 2, 1]


def test_known_frobenius_schur_indicators():
    q8 = irreps_of(parse_group("Q8"))
    assert [i.indicator for i in q8.irreps] == [1, 1, 1, 1, -1]
    assert q8.irreps[4].dim == 2 and q8.irreps[4].kind == "quaternionic"
    c7c3 = irreps_of(parse_group("C7:C3"))
    types = sorted((i.dim, i.indicator) for i in c7c3.irreps)
    assert types == [(1, 0), (1, 0), (1, 1), (3, 0), (3, 0)]
    sl23 = irreps_of(parse_group("SL(2,3)"))
    assert sorted((i.dim, i.indicator) for i in sl23.irreps) == [
        (1, 0), (1, 0), (1, 1), (2, -1), (2, 0), (2, 0), (3, 1)
    ]  # fmt: skip
    s5 = irreps_of(parse_group("S5"))
    assert all(i.indicator == 1 for i in s5.irreps)
    assert sorted(s5.dims.tolist()) == [1, 1, 4, 4, 5, 5, 6]
    a5 = irreps_of(parse_group("A5"))
    assert sorted(a5.dims.tolist()) == [1, 3, 3, 4, 5]
    # tensor products multiply indicators: quaternionic x real is quaternionic
    product = irreps_of(parse_group("Q8xS3"))
    by_label = {irrep.label: irrep for irrep in product.irreps}
    assert by_label["2-dim ⊗ [1,1,1]"].indicator == -1
    assert by_label["2-dim ⊗ [2,1]"].indicator == -1 and by_label["2-dim ⊗ [2,1]"].dim == 4
    assert by_label["i↦1, j↦−1 ⊗ [2,1]"].indicator == 1
    c4xq8 = irreps_of(parse_group("C4xQ8"))
    assert {i.indicator for i in c4xq8.irreps if i.label.startswith("k=1 ⊗")} == {0}


def test_dihedral_and_symmetric_counts():
    for n in (3, 4, 5, 6, 7, 8):
        irrep_set = irreps_of(catalogue.dihedral(n))
        ones = 2 if n % 2 else 4
        assert (irrep_set.dims == 1).sum() == ones
        assert (irrep_set.dims == 2).sum() == (n - 1) // 2 if n % 2 else n // 2 - 1
        assert all(np.abs(i.matrices.imag).max() == 0 for i in irrep_set.irreps)
    s4 = irreps_of(catalogue.symmetric(4))
    assert s4.labels == ["[4]", "[1,1,1,1]", "[2,2]", "[3,1]", "[2,1,1]"]


def test_young_orthogonal_form_is_real_orthogonal():
    for irrep in irreps_of(catalogue.symmetric(5)).irreps:
        assert np.abs(irrep.matrices.imag).max() == 0


def test_sign_irrep_of_s_n_is_the_permutation_sign():
    group = catalogue.symmetric(4)
    sign = irreps_of(group).irreps[1]
    perms = catalogue.all_permutations(4)
    assert np.allclose(sign.character, catalogue.permutation_sign(perms))


def test_numerical_construction_is_deterministic_and_sorted():
    first = irreps_of(parse_group("SL(2,3)"))
    rebuilt = build_irrep_set(first.group, [i.matrices for i in first.irreps], None, "numerical")
    assert rebuilt.labels == first.labels
    from backend.groups.numerical_irreps import numerical_irreps

    again = build_irrep_set(first.group, numerical_irreps(first.group), None, "numerical")
    for a, b in zip(first.irreps, again.irreps, strict=True):
        assert np.array_equal(a.matrices, b.matrices)
    dims = first.dims.tolist()
    assert dims == sorted(dims)
    assert first.labels[0] == "χ1 (1-dim, real)"
    assert first.labels[-1] == "χ7 (3-dim, real)"


def test_orbit_labels_are_unique_and_pairs_are_conjugate():
    for spec in ["C3xC5", "C7:C3", "SL(2,3)", "C4xC6", "Dic5", "S3xC4"]:
        irrep_set = irreps_of(parse_group(spec))
        labels = irrep_set.orbit_labels
        assert len(set(labels)) == len(labels)
        assert irrep_set.orbits[0].is_trivial
        for orbit in irrep_set.orbits:
            if len(orbit.irreps) == 2:
                a, b = (irrep_set.irreps[i].character for i in orbit.irreps)
                assert np.allclose(a, np.conj(b)) and orbit.indicator == 0
                assert orbit.irreps[1] == orbit.irreps[0] + 1 or spec in ("S3xC4", "C3xC5", "C4xC6")
            else:
                assert orbit.indicator != 0


def test_cyclic_product_labels():
    irrep_set = irreps_of(parse_group("C3xC5"))
    assert irrep_set.labels[:3] == ["k=(0,0)", "k=(0,1)", "k=(0,2)"]
    assert "k=±(1,1)" in irrep_set.orbit_labels
    assert "k=±(1,1)" == irrep_set.orbits[irrep_set.orbit_index("k=±(1,1)")].label


def test_irreps_are_cached_per_group():
    group = parse_group("D5")
    assert irreps_of(group) is irreps_of(group)
    assert parse_group("D5") is group
