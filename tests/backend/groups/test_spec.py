import json

import numpy as np
import pytest

from backend.groups import MAX_ORDER, GroupError, irreps_of, parse_group
from backend.groups.permutations import close_under_generators, permutations_from_text

EXPECTED_ORDERS = {
    "C12": 12, "D5": 10, "S4": 24, "A5": 60, "Q8": 8, "Dic3": 12, "C7:C3": 21,
    "SL(2,3)": 24, "C3xC5": 15, "S3xC4": 24, "Q8xS3": 48, "perm:(1 2 3)(4 5),(1 2)": 12,
    "S6": 720, "A6": 360, "c12": 12, "Z6": 6, "C3 x C5": 15, "C3×C5": 15, "sl(2, 3)": 24,
}  # fmt: skip


@pytest.mark.parametrize("spec", list(EXPECTED_ORDERS))
def test_spec_forms_parse_to_the_right_order(spec):
    group = parse_group(spec)
    assert group.order == EXPECTED_ORDERS[spec]


def test_names_and_abelian_flags():
    assert parse_group("C7:C3").name == "C7:C3"
    assert parse_group("C3xC5").name == "C3xC5"
    assert parse_group("C3xC5").is_abelian
    assert not parse_group("D5").is_abelian
    assert parse_group("perm:(1 2 3)(4 5),(1 2)").name == "perm:(1 2 3)(4 5),(1 2)"


def test_permutation_group_is_s3_x_c2():
    # (1 2 3)(4 5) and (1 2) generate S3 x C2: centre of order 2, 6 classes
    group = parse_group("perm:(1 2 3)(4 5),(1 2)")
    assert len(group.conjugacy_classes) == 6
    assert sorted(irreps_of(group).dims.tolist()) == [1, 1, 1, 1, 2, 2]


def test_permutation_composition_convention():
    # (p q)(i) = p(q(i)): (1 2)(2 3) = (1 2 3) as a product of (1 2) after (2 3)
    perms = permutations_from_text("(1 2),(2 3)")
    product = perms[0][perms[1]]
    assert product.tolist() == [1, 2, 0]  # 1->2, 2->3, 3->1
    elements = close_under_generators(perms)
    assert len(elements) == 6 and elements[0].tolist() == [0, 1, 2]


@pytest.mark.parametrize(
    "spec, message",
    [
        ("foo", "unknown group 'foo'; write one of: C<n>"),
        ("C0", "order 0"),
        ("C1001", f"order 1001, which is too large: groups of order at most {MAX_ORDER}"),
        ("S7", "order 5040, which is too large"),
        ("A7", "order 2520, which is too large"),
        ("S99", "S99 has order about 9.3e+155, which is too large"),  # no int64 wrap
        ("A21", "A21 has order about 2.6e+19, which is too large"),
        ("D600", "order 1200"),
        ("C40xC40", "order 1600"),
        ("C6:C4", "C6:C4 does not exist"),
        ("C7:C4", "no unit has order 4 mod 7"),
        ("C3x", "needs a group on both sides"),
        ("", "no group given"),
        ("perm:(1 2 3 4 5 6 7),(1 2)", "generate a group of order more than 1000"),
        ("perm:(1 2 a)", "points must be positive integers"),
        ("perm:1 2 3", "write it as cycles"),
        ("perm:(1 1 2)", "repeats a point"),
        ("perm:(0 1)", "point 0"),
        ("missing_table.csv", "no such table file"),
    ],
)
def test_invalid_specs_are_refused_with_their_message(spec, message):
    with pytest.raises(GroupError) as info:
        parse_group(spec)
    assert message in str(info.value)


def _s3_table():
    return parse_group("S3").table


def test_csv_table_of_indices(tmp_path):
    path = tmp_path / "s3.csv"
    path.write_text("\n".join(",".join(map(str, row)) for row in _s3_table()))
    group = parse_group(str(path))
    assert group.order == 6 and not group.is_abelian
    assert np.array_equal(group.table, _s3_table())


def test_one_based_csv_is_shifted(tmp_path):
    path = tmp_path / "c3.csv"
    path.write_text("1,2,3\n2,3,1\n3,1,2\n")
    assert np.array_equal(parse_group(str(path)).table, parse_group("C3").table)


def test_csv_with_names_and_identity_not_first(tmp_path):
    # Klein four-group, identity "e" listed last
    names = ["a", "b", "c", "e"]
    product = {("e", x): x for x in names} | {(x, "e"): x for x in names}
    product |= {(x, x): "e" for x in "abc"}
    product |= {("a", "b"): "c", ("b", "a"): "c", ("a", "c"): "b", ("c", "a"): "b",
                ("b", "c"): "a", ("c", "b"): "a"}  # fmt: skip
    lines = ["*," + ",".join(names)] + [x + "," + ",".join(product[x, y] for y in names)
                                      for x in names]  # fmt: skip
    path = tmp_path / "v4.csv"
    path.write_text("\n".join(lines) + "\n")
    group = parse_group(str(path))
    assert group.element_names[0] == "e"
    assert group.element_orders.tolist() == [1, 2, 2, 2]
    assert irreps_of(group).dims.tolist() == [1, 1, 1, 1]


def test_json_table_forms(tmp_path):
    plain = tmp_path / "c4.json"
    plain.write_text(json.dumps(parse_group("C4").table.tolist()))
    assert parse_group(str(plain)).order == 4
    named = tmp_path / "c2.json"
    named.write_text(json.dumps({"elements": ["1", "-1"], "table": [["1", "-1"], ["-1", "1"]]}))
    group = parse_group(str(named))
    assert group.element_names == ("1", "-1")


@pytest.mark.parametrize(
    "content, suffix, message",
    [
        ("0,1\n1,1\n", ".csv", "cancellation fails"),
        ("0,1,2\n1,2\n2,0,1\n", ".csv", "row 2 has 2 cells but the table has 3 rows"),
        ("0,1\n1,y\n", ".csv", "not an integer"),
        ("[[0, 1], [1, 0", ".json", "not valid JSON"),
        ('{"rows": []}', ".json", 'must have a "table" entry'),
        ("[[0,1,2,3,4],[1,0,3,4,2],[2,4,0,1,3],[3,2,4,0,1],[4,3,1,2,0]]", ".json",
         "associativity fails"),
        ("0 1\n", ".txt", "must end in .csv or .json"),
    ],
)  # fmt: skip
def test_invalid_table_files(tmp_path, content, suffix, message):
    path = tmp_path / f"table{suffix}"
    path.write_text(content)
    with pytest.raises(GroupError, match=message.replace("(", r"\(")):
        parse_group(str(path))
