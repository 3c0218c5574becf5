import numpy as np
import pytest

from backend.errors import UserError
from backend.groups import catalogue
from backend.groups.finite_group import (
    MAX_ORDER,
    FiniteGroup,
    GroupError,
    magma_generating_set,
    subgroup_closure,
    validate_cayley_table,
)


def test_group_error_is_a_user_error():
    assert issubclass(GroupError, UserError)


def test_cyclic_table_inverse_and_orders():
    group = catalogue.cyclic(12)
    assert group.order == 12
    assert group.is_abelian
    assert np.array_equal(group.inverse, (-np.arange(12)) % 12)
    expected_orders = [12 // np.gcd(m, 12) for m in range(12)]
    assert group.element_orders.tolist() == expected_orders


def test_associativity_of_every_catalogue_table_by_brute_force():
    for group in (
        catalogue.dihedral(5),
        catalogue.quaternion(),
        catalogue.special_linear_2_3(),
        catalogue.dicyclic(3),
        catalogue.metacyclic(7, 3),
    ):
        t = group.table
        # (ab)c == a(bc) for all triples
        n = group.order
        a, b, c = np.meshgrid(np.arange(n), np.arange(n), np.arange(n), indexing="ij")
        assert np.array_equal(t[t[a, b], c], t[a, t[b, c]])


def test_conjugacy_classes_of_s4():
    group = catalogue.symmetric(4)
    sizes = [len(c) for c in group.conjugacy_classes]
    assert sizes[0] == 1 and group.conjugacy_classes[0].tolist() == [0]
    assert sorted(sizes) == [1, 3, 6, 6, 8]
    # every class is closed under conjugation and they partition the group
    all_elements = np.sort(np.concatenate(group.conjugacy_classes))
    assert np.array_equal(all_elements, np.arange(24))
    for members in group.conjugacy_classes:
        conjugates = group.conjugation[:, members]
        assert set(conjugates.ravel()) == set(members.tolist())


def test_known_element_names_and_relations_of_q8():
    group = catalogue.quaternion()
    index = {name: i for i, name in enumerate(group.element_names)}
    i, j, k, minus_one = index["i"], index["j"], index["k"], index["-1"]
    assert group.multiply(i, j) == k
    assert group.multiply(j, i) == index["-k"]
    for x in (i, j, k):
        assert group.multiply(x, x) == minus_one


def test_generating_set_generates():
    group = catalogue.symmetric(5)
    generators = group.generating_set()
    assert len(generators) <= 4
    assert subgroup_closure(group.table, generators).all()


def test_cancellation_failure_names_row_and_columns():
    table = np.array([[0, 1, 2], [1, 1, 0], [2, 0, 1]])
    expected = r"cancellation fails.*row 1 holds 1 twice.*columns 0 and 1"
    with pytest.raises(GroupError, match=expected):
        validate_cayley_table(table)


def test_missing_identity():
    table = np.array([[1, 0], [0, 1]])  # a Latin square whose identity is element 1
    with pytest.raises(GroupError, match="identity must be element 0"):
        validate_cayley_table(table)
    table = (-np.arange(3)[:, None] - np.arange(3)[None, :]) % 3  # x*y = -x-y: no identity
    with pytest.raises(GroupError, match="no identity element"):
        validate_cayley_table(table)


def test_non_associative_latin_square_names_a_triple():
    # a loop of order 5 that is not a group (the smallest non-associative loops have order 5)
    table = np.array(
        [[0, 1, 2, 3, 4], [1, 0, 3, 4, 2], [2, 4, 0, 1, 3], [3, 2, 4, 0, 1], [4, 3, 1, 2, 0]]
    )
    expected = r"associativity fails: \(x\*y\)\*z != x\*\(y\*z\)"
    with pytest.raises(GroupError, match=expected) as info:
        validate_cayley_table(table)
    message = str(info.value)
    x, y, z = (int(message.split(f"{v} = ")[1].split(",")[0]) for v in "xyz")
    assert table[table[x, y], z] != table[x, table[y, z]]


def test_bad_shapes_and_entries():
    with pytest.raises(GroupError, match="square"):
        validate_cayley_table(np.zeros((2, 3), dtype=int))
    with pytest.raises(GroupError, match=r"entry \[1, 1\] = 7 is not an element index 0..1"):
        validate_cayley_table(np.array([[0, 1], [1, 7]]))
    with pytest.raises(GroupError, match="integer"):
        validate_cayley_table(np.array([[0.0, 1.0], [1.0, 0.0]]))


def test_order_limit_is_refused_before_building():
    with pytest.raises(GroupError, match=f"at most {MAX_ORDER}"):
        catalogue.cyclic(MAX_ORDER + 1)
    with pytest.raises(GroupError, match="order 5040"):
        catalogue.symmetric(7)


def test_generating_set_of_a_product():
    group = catalogue.direct_product([catalogue.cyclic(2), catalogue.cyclic(2)])
    assert len(magma_generating_set(group.table)) == 2


def test_finite_group_from_valid_table_keeps_names():
    group = FiniteGroup(
        "V4", [[0, 1, 2, 3], [1, 0, 3, 2], [2, 3, 0, 1], [3, 2, 1, 0]], ["e", "a", "b", "c"]
    )
    assert group.element_names == ("e", "a", "b", "c")
    assert group.is_abelian and group.element_orders.tolist() == [1, 2, 2, 2]
